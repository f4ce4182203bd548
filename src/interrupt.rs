//! SIGINT and SIGTERM. The first asks the running command to wind down: no
//! new step starts, waits end at once, in-flight calls finish, the state
//! (written after every step anyway) stays on disk, the lock is released and
//! the command says how to resume — exit 130. CI runners send SIGKILL 7.5 s
//! after SIGTERM, so nothing here waits long. A second signal exits at once,
//! removing the lock on the way out.
//!
//! A run whose lock lease ran out (it was paused, or could not reach SSM to
//! renew it: `aws::lock`) winds down the same way: another machine may hold
//! the lock by now.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::aws::lock::Release;

use tokio::sync::Notify;

use crate::error::{exit, Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<Option<Release>> = Mutex::new(None);
/// Until when the held lock's lease runs, in ms since the epoch; 0: no lock.
static LEASE_UNTIL: AtomicU64 = AtomicU64::new(0);
static LEASE_REPORTED: AtomicBool = AtomicBool::new(false);

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Starts listening for the signals; call once, inside the runtime.
pub fn install() {
    #[cfg(unix)]
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return;
        };
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if REQUESTED.swap(true, Ordering::SeqCst) {
                let held = LOCK.lock().ok().and_then(|l| l.clone());
                if let Some(release) = held {
                    let _ = tokio::time::timeout(Duration::from_secs(3), release.run()).await;
                }
                eprintln!("interrupted again: exiting now (the state file is up to date)");
                std::process::exit(exit::INTERRUPTED as i32);
            }
            eprintln!(
                "interrupted: finishing the calls in flight, starting nothing new (press Ctrl-C again to exit at once)"
            );
            notify().notify_waiters();
        }
    });
}

pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst) || lease_ran_out()
}

/// The held lock's lease has run out (see `aws::lock::Fence`).
pub fn lease_ran_out() -> bool {
    let until = LEASE_UNTIL.load(Ordering::SeqCst);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let out = until != 0 && now > until;
    if out && !LEASE_REPORTED.swap(true, Ordering::SeqCst) {
        eprintln!("the lock's lease ran out before it was renewed: another run may hold it now, so this one stops");
        notify().notify_waiters();
    }
    out
}

/// Until when the held lock's lease runs (`None`: no lock held).
pub fn lease(until: Option<SystemTime>) {
    let ms = until.map(|t| t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(1).max(1));
    LEASE_UNTIL.store(ms.unwrap_or(0), Ordering::SeqCst);
    if until.is_none() {
        LEASE_REPORTED.store(false, Ordering::SeqCst);
    }
}

/// `Err(Interrupted)` once a signal came.
pub fn check() -> Result<()> {
    if requested() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Resolves when a signal comes (at once if one came already).
pub async fn wait() {
    let notified = notify().notified();
    if requested() {
        return;
    }
    notified.await;
}

/// Sleeps, or returns `Err(Interrupted)` as soon as a signal comes.
pub async fn sleep(d: std::time::Duration) -> Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => check(),
        _ = wait() => Err(Error::Interrupted),
    }
}

/// The lock to release if a second signal ends the process.
pub fn hold_lock(release: Option<Release>) {
    if let Ok(mut l) = LOCK.lock() {
        *l = release;
    }
}
