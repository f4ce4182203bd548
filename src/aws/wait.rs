//! Bounded waits with backoff: every wait says what it waits for and how long
//! it has been, and fails fast on a terminal state with AWS's reason.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::progress::Progress;

pub enum Poll<T> {
    Ready(T),
    /// Still waiting; the state to show.
    Pending(String),
    /// A state that will never become ready, with the reason.
    Failed(String),
}

/// Polls `check` (1 s, then backing off to 15 s) until it is ready, fails,
/// or `timeout` passes (exit 5).
pub async fn wait_for<T, F, Fut>(progress: &Progress, what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    let task = progress.task(format!("waiting for {what}"));
    let mut delay = Duration::from_millis(250);
    loop {
        match check().await? {
            Poll::Ready(v) => {
                task.done("done");
                return Ok(v);
            }
            Poll::Failed(why) => {
                task.done("failed");
                return Err(Error::Failed(format!("{what}: {why}")));
            }
            Poll::Pending(state) => {
                let elapsed = started.elapsed();
                if elapsed >= timeout {
                    task.done("timed out");
                    return Err(Error::Timeout(format!("{what} after {}s (last state: {state})", elapsed.as_secs())));
                }
                // Also the line a plain log prints every 30 s: what, how long,
                // and the limit.
                task.update(format!(
                    "waiting for {what}: {state}, {}s of at most {}s",
                    elapsed.as_secs(),
                    timeout.as_secs()
                ));
                if let Err(e) = crate::interrupt::sleep(delay.min(timeout.saturating_sub(elapsed))).await {
                    task.done("interrupted");
                    return Err(e);
                }
                delay = (delay * 2).min(Duration::from_secs(15));
            }
        }
    }
}
