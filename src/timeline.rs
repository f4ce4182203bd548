//! The host's timeline: when the instance launched, when its bootstrap
//! started, and when each bootstrap step ran. The bootstrap publishes it as
//! the host's tag `gascale:timeline` ("START;step=BEGIN,END;…", seconds from
//! START, Unix time; templates/user-data.sh.hbs `publish_timeline`), so
//! `status` shows it any time later without reaching the host.

use std::io::{self, Write};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeline {
    /// When the bootstrap started (RFC 3339).
    pub bootstrap_started_at: String,
    /// From the instance's launch to its bootstrap's start: the time to
    /// `running` and cloud-init's own work.
    pub seconds_to_bootstrap: Option<i64>,
    /// Every step the bootstrap started, in its order.
    pub steps: Vec<Step>,
    /// From the launch (else the bootstrap's start) to the last step's end.
    pub total_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub name: String,
    /// Seconds after the bootstrap's start.
    pub started: i64,
    /// `None` while it runs (or when the bootstrap stopped in it).
    pub ended: Option<i64>,
    pub seconds: Option<i64>,
}

impl Timeline {
    /// The tag's value, with the instance's launch time (Unix seconds).
    pub fn parse(tag: &str, launched: Option<i64>) -> Option<Timeline> {
        let mut parts = tag.split(';');
        let start: i64 = parts.next()?.trim().parse().ok()?;
        let mut steps = Vec::new();
        for part in parts {
            let (name, times) = part.split_once('=')?;
            let (begin, end) = times.split_once(',')?;
            let started = begin.parse().ok()?;
            let ended = if end.is_empty() { None } else { Some(end.parse().ok()?) };
            steps.push(Step { name: name.to_owned(), started, ended, seconds: ended.map(|e: i64| e - started) });
        }
        let last = steps.iter().filter_map(|s| s.ended).max();
        let from = launched.map(|l| start - l);
        Some(Timeline {
            bootstrap_started_at: chrono::DateTime::from_timestamp(start, 0)?
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            seconds_to_bootstrap: from,
            total_seconds: last.map(|l| l + from.unwrap_or(0)),
            steps,
        })
    }

    /// One line per step, a bar placing it on the bootstrap's time.
    pub fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        let span = self.steps.iter().filter_map(|s| s.ended.or(Some(s.started))).max().unwrap_or(0).max(1);
        if let Some(s) = self.seconds_to_bootstrap {
            writeln!(out, "  {:<14} {:>5}s  (launch to bootstrap)", "boot", s)?;
        }
        for step in &self.steps {
            let width = 30;
            let at = (step.started * width / span) as usize;
            let len = (step.ended.unwrap_or(span).saturating_sub(step.started) * width / span).max(1) as usize;
            let seconds = step.seconds.map(|s| format!("{s:>5}s")).unwrap_or_else(|| "  ...".into());
            writeln!(out, "  {:<14} {seconds}  +{:<5} {}{}", step.name, step.started, " ".repeat(at), "#".repeat(len))?;
        }
        if let Some(total) = self.total_seconds {
            writeln!(out, "  {:<14} {:>5}s", "total", total)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_bootstrap_publishes() {
        let t =
            Timeline::parse("1796600000;docker=0,41;files=2,3;gitlab=60,300;runner=300,", Some(1796599940)).unwrap();
        assert_eq!(t.bootstrap_started_at, "2026-12-06T23:33:20Z");
        assert_eq!(t.seconds_to_bootstrap, Some(60));
        assert_eq!(t.steps.len(), 4);
        assert_eq!(t.steps[0], Step { name: "docker".into(), started: 0, ended: Some(41), seconds: Some(41) });
        assert_eq!(t.steps[3].ended, None, "a step still running");
        assert_eq!(t.total_seconds, Some(360), "launch to the last end");
        let mut text = Vec::new();
        t.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("docker") && text.contains("41s") && text.contains("total"), "{text}");
        assert_eq!(Timeline::parse("garbage", None), None);
        assert_eq!(Timeline::parse("17;docker=zero,1", None), None);
    }
}
