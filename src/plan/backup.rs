//! Snapshots gascale takes of the data volume (before a destroy, an upgrade
//! or a new host, and on demand) and the retention that prunes them
//! (`backup.keep`): only this deployment's own, tagged by gascale.

use std::time::Duration;

use super::SnapshotFirst;
use crate::aws::snapshots::{self, Snapshot, Taking};
use crate::aws::Clients;
use crate::config::{Deployment, Keep};
use crate::error::Result;
use crate::progress::Progress;

/// Where a destroy records its final snapshot (for its report).
pub const FINAL_SNAPSHOT: &str = "snapshot/final";

/// Takes a snapshot of `volume` — GitLab stopped for the moment it starts
/// when `host` runs it — then applies the retention; returns its ID and
/// those the retention deleted.
pub async fn take(
    c: &Clients,
    progress: &Progress,
    d: &Deployment,
    volume: &str,
    first: &SnapshotFirst,
    host: Option<&str>,
    timeout: Duration,
) -> Result<(String, Vec<String>)> {
    let taking = Taking {
        volume,
        deployment: d.name(),
        gitlab: &first.gitlab,
        reason: &first.reason,
        user_tags: &d.metadata.tags,
    };
    let id = snapshots::take_quiesced(c, progress, host, &taking, timeout).await?;
    progress.info(format!("snapshot {id} of {volume} started ({}, GitLab {})", first.reason, first.gitlab));
    let pruned = prune(c, progress, d, &id).await?;
    Ok((id, pruned))
}

/// The executor's form of `take`.
pub async fn snapshot(
    env: &super::apply::Env,
    volume: &str,
    first: &SnapshotFirst,
    host: Option<&str>,
) -> Result<String> {
    Ok(take(&env.clients, &env.progress, &env.d, volume, first, host, env.timeout).await?.0)
}

/// Deletes this deployment's snapshots beyond `backup.keep`, never `just_taken`
/// and never one still being copied.
pub async fn prune(c: &Clients, progress: &Progress, d: &Deployment, just_taken: &str) -> Result<Vec<String>> {
    let Some(keep) = &d.backup.keep else { return Ok(Vec::new()) };
    let all = snapshots::list(c, Some(d.name())).await?;
    let now = chrono::Utc::now();
    let doomed: Vec<&Snapshot> = match keep {
        Keep::Count(n) => snapshots::beyond(&all, *n as usize).iter().collect(),
        Keep::Age(age) => {
            let age = humantime::parse_duration(age).unwrap_or(Duration::MAX);
            all.iter()
                .filter(|s| {
                    chrono::DateTime::parse_from_rfc3339(&s.taken_at)
                        .is_ok_and(|t| now.signed_duration_since(t).to_std().is_ok_and(|since| since > age))
                })
                .collect()
        }
    };
    let mut deleted = Vec::new();
    for s in doomed.into_iter().filter(|s| s.id != just_taken && s.state == "completed") {
        snapshots::delete(c, &s.id).await?;
        progress.info(format!("backup.keep: deleted snapshot {} ({}, {})", s.id, s.reason, s.taken_at));
        deleted.push(s.id.clone());
    }
    Ok(deleted)
}
