//! `gascale snapshot` takes a snapshot of the data volume now (GitLab
//! stopped for the moment it starts); `gascale snapshots` lists gascale's
//! snapshots — of the deployment, or of every deployment in the region —
//! from their tags alone, so it works after the deployment is gone.

use std::io::{self, Write};

use serde::Serialize;

use super::session::{Purpose, Session};
use super::Context;
use crate::aws::snapshots::{self, Snapshot};
use crate::error::{exit, Error, Result};
use crate::output::Report;
use crate::plan::{backup, data_gitlab, desired, SnapshotFirst};

#[derive(Debug, Serialize)]
pub struct Taken {
    pub snapshot: String,
    pub volume: String,
    pub gitlab: String,
    /// Snapshots `backup.keep` deleted after this one.
    pub pruned: Vec<String>,
}

impl Report for Taken {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.snapshot)
    }
}

pub async fn take(ctx: &Context, wait: bool) -> Result<u8> {
    let (session, _lock, inventory) = Session::open_discovered(ctx, Some("snapshot"), Purpose::Look).await?;
    let d = &session.d;
    let volume = inventory.id(desired::DATA_VOLUME).ok_or_else(|| {
        Error::Failed(format!("deployment {} has no data volume in {} to snapshot", d.name(), d.region()))
    })?;
    let host = inventory.found.get(desired::HOST).filter(|h| h.state == "running").map(|h| h.id.as_str());
    let first = SnapshotFirst {
        reason: "on-demand".into(),
        gitlab: data_gitlab(&inventory).unwrap_or_else(|| crate::plan::attrs::gitlab(d)),
    };
    let (id, pruned) = backup::take(&session.clients, &ctx.progress, d, volume, &first, host, ctx.timeout).await?;
    if wait {
        snapshots::wait_completed(&session.clients, &ctx.progress, &id, ctx.timeout).await?;
    }
    ctx.output.emit(&Taken { snapshot: id, volume: volume.to_owned(), gitlab: first.gitlab, pruned })?;
    Ok(exit::OK)
}

#[derive(Debug, Serialize)]
pub struct Listed {
    pub region: String,
    pub snapshots: Vec<Snapshot>,
}

impl Report for Listed {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.snapshots.is_empty() {
            return writeln!(out, "no gascale snapshots in {}", self.region);
        }
        writeln!(
            out,
            "{:<24} {:<20} {:<12} {:<24} {:<10} {:>6}  TAKEN",
            "SNAPSHOT", "DEPLOYMENT", "GITLAB", "REASON", "STATE", "GiB"
        )?;
        for s in &self.snapshots {
            writeln!(
                out,
                "{:<24} {:<20} {:<12} {:<24} {:<10} {:>6}  {}",
                s.id, s.deployment, s.gitlab, s.reason, s.state, s.size_gb, s.taken_at
            )?;
        }
        Ok(())
    }
}

/// `deployment`, else the config file's name, else every deployment.
pub async fn list(ctx: &Context, deployment: Option<String>) -> Result<u8> {
    let clients = ctx.clients_without_config().await?;
    let name = match deployment {
        Some(name) => Some(name),
        None if ctx.config_path.exists() => Some(ctx.deployment()?.name().to_owned()),
        None => None,
    };
    let snapshots = snapshots::list(&clients, name.as_deref()).await?;
    ctx.output.emit(&Listed { region: clients.region.clone(), snapshots })?;
    Ok(exit::OK)
}
