//! Snapshots of the data volume: taken before anything that could lose the
//! data (destroy, a new host, a GitLab upgrade) and on demand, found again by
//! their tags alone (no local file), listed, pruned and restored from.
//!
//! They carry the deployment's ownership tags but no `gascale:resource`, so
//! discovery never takes one for a resource of the plan and `destroy` or
//! `reap` never deletes one: snapshots outlive their deployment.
//!
//! Consistency: the whole of GitLab's state — /etc/gitlab (with
//! `gitlab-secrets.json`), /var/opt/gitlab (PostgreSQL, Gitaly's
//! repositories, uploads) — is on this one volume (`docker-compose.yaml`).
//! GitLab's backup docs name an EBS snapshot of such a volume as a backup
//! ("Back up GitLab", "Alternative backup strategies": "you could make an
//! application backup by taking an EBS snapshot. The backup includes all
//! repositories, uploads and PostgreSQL data") and add that "on live
//! systems, file system transfers and snapshot runs fail to capture parts of
//! the transaction still in memory", recommending `gitlab-ctl stop` first.
//! So GitLab is quiesced: on a running host its container is stopped
//! through SSM, the snapshot started, and the container started again at
//! once — an EBS snapshot copies the point in time of `CreateSnapshot`
//! while the volume goes on being used (EBS user guide, "Amazon EBS
//! snapshots"). `destroy` snapshots after the host is terminated, when
//! nothing writes any more. If the host cannot be reached the snapshot is
//! still taken and says so (crash-consistent: PostgreSQL replays its WAL as
//! after a power loss).

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, ResourceType};
use serde::Serialize;

use super::errors::{aws_error, on};
use super::tags::{self, ec2_spec};
use super::wait::{wait_for, Poll};
use super::{retry, Clients};
use crate::error::Result;
use crate::progress::Progress;

/// `gascale:role` of a snapshot.
pub const ROLE: &str = "snapshot";
/// Why it was taken: `final`, `on-demand`, `before-upgrade`, `before-host-replacement`.
pub const REASON: &str = "gascale:reason";
pub const TAKEN_AT: &str = "gascale:taken-at";

/// One of gascale's snapshots, as read back from its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub id: String,
    pub deployment: String,
    /// `ee 19.3.0`: the GitLab whose data it holds.
    pub gitlab: String,
    pub reason: String,
    pub taken_at: String,
    pub state: String,
    pub size_gb: i32,
    pub volume: String,
}

/// What a new snapshot records.
pub struct Taking<'a> {
    pub volume: &'a str,
    pub deployment: &'a str,
    pub gitlab: &'a str,
    pub reason: &'a str,
    pub user_tags: &'a std::collections::BTreeMap<String, String>,
}

/// Starts a snapshot; EBS copies the point in time of this call while the
/// volume goes on being used.
pub async fn take(c: &Clients, t: &Taking<'_>) -> Result<String> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut tag_list: Vec<(String, String)> = t.user_tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    tag_list.extend([
        ("Name".to_owned(), format!("gascale-{}-data-{}", t.deployment, t.reason)),
        (tags::DEPLOYMENT.to_owned(), t.deployment.to_owned()),
        (tags::MANAGED_BY.to_owned(), tags::MANAGER.to_owned()),
        (tags::ROLE.to_owned(), ROLE.to_owned()),
        (tags::GITLAB.to_owned(), t.gitlab.to_owned()),
        (REASON.to_owned(), t.reason.to_owned()),
        (TAKEN_AT.to_owned(), now),
    ]);
    let request = c
        .ec2
        .create_snapshot()
        .volume_id(t.volume)
        .description(format!("gascale {}: GitLab data ({}, {})", t.deployment, t.gitlab, t.reason))
        .tag_specifications(ec2_spec(ResourceType::Snapshot, &tag_list));
    let out = retry::send("ec2:CreateSnapshot", request, |r| r.send())
        .await
        .map_err(|e| aws_error("ec2:CreateSnapshot", t.volume, e))?;
    Ok(out.snapshot_id().unwrap_or_default().to_owned())
}

/// `take` with GitLab stopped on `host` while the snapshot starts, and
/// started again whatever happened; a host SSM cannot reach costs a warning
/// and gives a crash-consistent snapshot.
pub async fn take_quiesced(
    c: &Clients,
    progress: &Progress,
    host: Option<&str>,
    t: &Taking<'_>,
    timeout: Duration,
) -> Result<String> {
    let Some(host) = host else { return take(c, t).await };
    let run = |script: String| async move {
        let short = timeout.min(Duration::from_secs(300));
        match super::ssm::run_command(c, progress, host, &[script], short).await {
            Ok(r) if r.status == "Success" && r.exit_code == 0 => Ok(()),
            Ok(r) => Err(format!("SSM status {}, exit {}: {}", r.status, r.exit_code, r.stderr.trim())),
            Err(e) => Err(e.to_string()),
        }
    };
    // `docker compose stop` ends the container's processes with SIGTERM
    // and waits (Omnibus's runit stops its services on it); `sync` flushes
    // what the kernel still holds.
    let stopped = run(format!("{} stop gitlab && sync", super::ssm::COMPOSE)).await;
    if let Err(e) = &stopped {
        progress.warn(format!("could not stop GitLab on {host} for the snapshot ({e}); it is crash-consistent"));
    }
    let taken = take(c, t).await;
    if let Err(e) = run(format!("{} start gitlab", super::ssm::COMPOSE)).await {
        progress.warn(format!(
            "GitLab on {host} did not start again after the snapshot ({e}): gascale exec -- {} start gitlab",
            super::ssm::COMPOSE
        ));
    }
    taken
}

/// Waits until the snapshot is `completed` (EBS: "pending until the snapshot
/// is complete").
pub async fn wait_completed(c: &Clients, progress: &Progress, id: &str, timeout: Duration) -> Result<()> {
    wait_for(progress, &format!("snapshot {id}"), timeout, || async {
        let out = retry::send("ec2:DescribeSnapshots", c.ec2.describe_snapshots().snapshot_ids(id), |r| r.send())
            .await
            .map_err(on("ec2:DescribeSnapshots", id))?;
        let snap = out.snapshots().first();
        let state = snap.and_then(|s| s.state()).map(|s| s.as_str().to_owned()).unwrap_or_default();
        Ok(match state.as_str() {
            "completed" => Poll::Ready(()),
            "error" => Poll::Failed(snap.and_then(|s| s.state_message()).unwrap_or("state error").to_owned()),
            _ => Poll::Pending(format!("{state} {}", snap.and_then(|s| s.progress()).unwrap_or_default())),
        })
    })
    .await
}

/// gascale's snapshots of `deployment` (of every deployment with `None`),
/// oldest first.
pub async fn list(c: &Clients, deployment: Option<&str>) -> Result<Vec<Snapshot>> {
    let mut filters = vec![
        Filter::builder().name(format!("tag:{}", tags::MANAGED_BY)).values(tags::MANAGER).build(),
        Filter::builder().name(format!("tag:{}", tags::ROLE)).values(ROLE).build(),
    ];
    if let Some(name) = deployment {
        filters.push(Filter::builder().name(format!("tag:{}", tags::DEPLOYMENT)).values(name).build());
    }
    let mut pages = c.ec2.describe_snapshots().owner_ids("self").set_filters(Some(filters)).into_paginator().send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(on("ec2:DescribeSnapshots", deployment.unwrap_or("all deployments")))?;
        out.extend(page.snapshots().iter().filter_map(|s| read(s, deployment)));
    }
    out.sort_by(|a, b| (&a.taken_at, &a.id).cmp(&(&b.taken_at, &b.id)));
    Ok(out)
}

/// One snapshot by ID, whoever took it (`gitlab` empty when untagged). A
/// user names one taken long ago: not-found is an answer, not retried.
pub async fn describe(c: &Clients, id: &str) -> Result<Snapshot> {
    let out = c.ec2.describe_snapshots().snapshot_ids(id).send().await.map_err(on("ec2:DescribeSnapshots", id))?;
    out.snapshots()
        .first()
        .map(|s| read(s, None).unwrap_or_else(|| untagged(s)))
        .ok_or_else(|| crate::error::Error::Failed(format!("snapshot {id} does not exist")))
}

pub async fn delete(c: &Clients, id: &str) -> Result<()> {
    retry::send("ec2:DeleteSnapshot", c.ec2.delete_snapshot().snapshot_id(id), |r| r.send())
        .await
        .map_err(on("ec2:DeleteSnapshot", id))?;
    Ok(())
}

/// A gascale snapshot (of `deployment` when given), read from its tags.
fn read(s: &aws_sdk_ec2::types::Snapshot, deployment: Option<&str>) -> Option<Snapshot> {
    let t = s.tags();
    let ours = tags::get(t, tags::MANAGED_BY) == Some(tags::MANAGER) && tags::get(t, tags::ROLE) == Some(ROLE);
    let name = tags::get(t, tags::DEPLOYMENT)?;
    if !ours || deployment.is_some_and(|d| d != name) {
        return None;
    }
    let mut snap = untagged(s);
    snap.deployment = name.to_owned();
    snap.gitlab = tags::get(t, tags::GITLAB).unwrap_or_default().to_owned();
    snap.reason = tags::get(t, REASON).unwrap_or_default().to_owned();
    snap.taken_at = tags::get(t, TAKEN_AT).map(str::to_owned).unwrap_or(snap.taken_at);
    Some(snap)
}

fn untagged(s: &aws_sdk_ec2::types::Snapshot) -> Snapshot {
    Snapshot {
        id: s.snapshot_id().unwrap_or_default().to_owned(),
        deployment: String::new(),
        gitlab: tags::get(s.tags(), tags::GITLAB).unwrap_or_default().to_owned(),
        reason: String::new(),
        taken_at: s.start_time().map(|t| t.to_string()).unwrap_or_default(),
        state: s.state().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        size_gb: s.volume_size().unwrap_or_default(),
        volume: s.volume_id().unwrap_or_default().to_owned(),
    }
}

/// The snapshots retention removes: all but the newest `keep` of `all`
/// (oldest first, as `list` returns them).
pub fn beyond(all: &[Snapshot], keep: usize) -> &[Snapshot] {
    &all[..all.len().saturating_sub(keep)]
}
