//! SIGINT and SIGTERM. The first asks the running command to wind down: no
//! new step starts, waits end at once, in-flight calls finish, the state
//! (written after every step anyway) stays on disk, the lock is released and
//! the command says how to resume — exit 130. CI runners send SIGKILL 7.5 s
//! after SIGTERM, so nothing here waits long. A second signal exits at once,
//! removing the lock on the way out.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::Notify;

use crate::error::{exit, Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);
static LOCK: Mutex<Option<PathBuf>> = Mutex::new(None);

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
                if let Some(lock) = LOCK.lock().ok().and_then(|l| l.clone()) {
                    let _ = std::fs::remove_file(lock);
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
    REQUESTED.load(Ordering::SeqCst)
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

/// The lock file to remove if a second signal ends the process.
pub fn hold_lock(path: Option<PathBuf>) {
    if let Ok(mut l) = LOCK.lock() {
        *l = path;
    }
}
