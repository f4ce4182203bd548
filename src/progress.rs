//! Logs and progress on stderr: indicatif spinners on a terminal, plain
//! timestamped lines otherwise (CI logs), colour only on a terminal without
//! NO_COLOR. AWS code narrates through `&Progress` and never prints itself.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
    Debug,
}

#[derive(Debug, Clone)]
pub struct Progress {
    level: Level,
    color: bool,
    bars: Option<MultiProgress>,
}

impl Progress {
    pub fn new(verbose: u8, quiet: bool) -> Progress {
        let level = match (quiet, verbose) {
            (true, _) => Level::Quiet,
            (false, 0) => Level::Normal,
            (false, 1) => Level::Verbose,
            _ => Level::Debug,
        };
        let tty = std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let color = tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let bars = (tty && level > Level::Quiet).then(MultiProgress::new);
        Progress { level, color, bars }
    }

    /// A progress sink that prints nothing (tests, library use).
    pub fn silent() -> Progress {
        Progress { level: Level::Quiet, color: false, bars: None }
    }

    pub fn level(&self) -> Level {
        self.level
    }

    pub fn info(&self, msg: impl AsRef<str>) {
        self.line(Level::Normal, msg.as_ref());
    }

    pub fn verbose(&self, msg: impl AsRef<str>) {
        self.line(Level::Verbose, msg.as_ref());
    }

    pub fn debug(&self, msg: impl AsRef<str>) {
        self.line(Level::Debug, msg.as_ref());
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        let prefix = if self.color { "\x1b[33mwarning:\x1b[0m" } else { "warning:" };
        self.emit(&format!("{prefix} {}", msg.as_ref()));
    }

    /// Errors are printed whatever the level.
    pub fn error(&self, msg: impl AsRef<str>) {
        let prefix = if self.color { "\x1b[31merror:\x1b[0m" } else { "error:" };
        self.emit(&format!("{prefix} {}", msg.as_ref()));
    }

    /// A long-running step: a spinner with elapsed time on a terminal, a
    /// start line and a done line otherwise.
    pub fn task(&self, msg: impl Into<String>) -> Task {
        let msg = msg.into();
        let bar = match &self.bars {
            Some(multi) => {
                let template =
                    if self.color { "{spinner:.cyan} {msg} ({elapsed})" } else { "{spinner} {msg} ({elapsed})" };
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message(msg.clone());
                Some(bar)
            }
            None => {
                self.line(Level::Normal, &format!("{msg} ..."));
                None
            }
        };
        let now = Instant::now();
        let show = self.level >= Level::Normal;
        Task { bar, msg, started: now, show, plain: self.bars.is_none(), said: std::sync::Mutex::new(now) }
    }

    fn line(&self, at: Level, msg: &str) {
        if self.level >= at {
            self.emit(msg);
        }
    }

    fn emit(&self, msg: &str) {
        match &self.bars {
            Some(multi) => {
                let _ = multi.println(msg);
            }
            None => {
                let stamp = chrono::Utc::now().format("%H:%M:%S");
                let _ = writeln!(std::io::stderr().lock(), "[{stamp}] {msg}");
            }
        }
    }
}

/// One running step; see `Progress::task`.
pub struct Task {
    bar: Option<ProgressBar>,
    msg: String,
    started: Instant,
    show: bool,
    plain: bool,
    /// When the last line was printed (plain output).
    said: std::sync::Mutex<Instant>,
}

/// Without a terminal, a wait prints a line at least this often, so a CI
/// job's watchdog (GitLab's "no output" timeout, …) sees life.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Whether a wait last heard from at `said` is due a line at `now`.
fn heartbeat_due(said: Instant, now: Instant) -> bool {
    now.saturating_duration_since(said) >= HEARTBEAT
}

impl Task {
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Updates a wait's message (e.g. "waiting for X: pending, 40s").
    /// Without a terminal the update is printed once `HEARTBEAT` passed
    /// since the last line.
    pub fn update(&self, msg: impl Into<String>) {
        let msg = msg.into();
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            return;
        }
        let mut said = self.said.lock().expect("heartbeat lock");
        if self.show && self.plain && heartbeat_due(*said, Instant::now()) {
            *said = Instant::now();
            let stamp = chrono::Utc::now().format("%H:%M:%S");
            let _ = writeln!(std::io::stderr().lock(), "[{stamp}] {msg}");
        }
    }

    pub fn done(self, outcome: &str) {
        let secs = self.started.elapsed().as_secs_f32();
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!("{} {outcome} ({secs:.1}s)", self.msg)),
            None if self.show && self.plain => {
                let stamp = chrono::Utc::now().format("%H:%M:%S");
                let _ = writeln!(std::io::stderr().lock(), "[{stamp}] {} {outcome} ({secs:.1}s)", self.msg);
            }
            None => {}
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_wait_speaks_every_thirty_seconds() {
        let start = Instant::now();
        assert!(!heartbeat_due(start, start + Duration::from_secs(29)));
        assert!(heartbeat_due(start, start + HEARTBEAT));
        assert!(heartbeat_due(start, start + Duration::from_secs(31)));
    }
}
