//! Sending a request again while AWS catches up. What counts as catching up,
//! and for how long, is `errors::transient_for`'s decision; this only waits
//! (200 ms, doubling to 10 s) and resends the same request. Throttling and
//! server errors are the SDK's standard mode's to retry first; throttling it
//! gave up on comes here too.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::{code, transient_for};

/// Sends `request` with `call`, again while its failure is transient for
/// `op` (`service:Operation`). The last failure is returned as it came, so
/// callers still read its code ("already exists", "gone").
pub async fn send<B, T, E, R, Fut>(op: &str, request: B, call: impl Fn(B) -> Fut) -> Result<T, SdkError<E, R>>
where
    B: Clone,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let err = match call(request.clone()).await {
            Ok(out) => return Ok(out),
            Err(err) => err,
        };
        let message = err.as_service_error().and_then(|e| e.message()).unwrap_or_default();
        let window = code(&err).and_then(|c| transient_for(op, c, message));
        match window {
            Some(window) if started.elapsed() + delay < window && !crate::interrupt::requested() => {
                if crate::interrupt::sleep(delay).await.is_err() {
                    return Err(err);
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            _ => return Err(err),
        }
    }
}
