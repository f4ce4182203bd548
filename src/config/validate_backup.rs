//! Checks of the backup settings (`backup.*`, `gitlab.restore_from`): what
//! Data Lifecycle Manager and EC2 accept, named by key.

use super::model::{Backup, Keep};
use super::validate::Problems;

/// `snap-` and 8 or 17 hex digits (EC2's ID forms).
pub fn is_snapshot_id(s: &str) -> bool {
    s.strip_prefix("snap-").is_some_and(|h| {
        matches!(h.len(), 8 | 17) && h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// DLM's CreateRule intervals (DLM API reference, CreateRule `Interval`).
pub const SCHEDULE_HOURS: [u32; 8] = [1, 2, 3, 4, 6, 8, 12, 24];

pub(super) fn backup(p: &mut Problems, b: &Backup) {
    if let Some(s) = &b.schedule {
        let hours = s.strip_suffix('h').and_then(|h| h.parse::<u32>().ok());
        let cron = s.starts_with("cron(") && s.ends_with(')') && s.len() > 6;
        p.check(hours.is_some_and(|h| SCHEDULE_HOURS.contains(&h)) || cron, "backup.schedule", || {
            format!("{s:?} must be 1h, 2h, 3h, 4h, 6h, 8h, 12h, 24h or a cron(…) expression")
        });
        p.check(b.keep.is_some(), "backup.keep", || {
            "backup.schedule needs backup.keep: how many, or how long, AWS keeps its snapshots".into()
        });
        match &b.keep {
            Some(Keep::Count(n)) => {
                p.check(*n <= 1000, "backup.keep", || format!("{n}: a schedule keeps at most 1000 snapshots"))
            }
            Some(Keep::Age(age)) => {
                let whole_days = humantime::parse_duration(age).is_ok_and(|d| d.as_secs() % 86_400 == 0);
                p.check(whole_days, "backup.keep", || {
                    format!("{age:?}: a schedule keeps snapshots for whole days, like 30d")
                })
            }
            None => {}
        }
    }
    match &b.keep {
        Some(Keep::Count(n)) => p.check(*n >= 1, "backup.keep", || "must keep at least 1 snapshot".into()),
        Some(Keep::Age(age)) => p.check(humantime::parse_duration(age).is_ok(), "backup.keep", || {
            format!("{age:?} must be a count like 7 or an age like 30d")
        }),
        None => {}
    }
}
