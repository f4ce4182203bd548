//! `gascale reap --expired` / `--older-than AGE`: destroy every gascale
//! deployment in the region past its expiry (`metadata.ttl`, `up --ttl`),
//! or whose VPC was created longer ago than AGE — the clean-up for CI
//! pipelines whose teardown job never ran. Works without config files: the
//! VPC's tags name the deployment, its creation time, expiry and bucket.

use std::io::{self, Write};
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use serde::Serialize;

use super::destroy;
use super::session::Session;
use super::Context;
use crate::aws::errors::on;
use crate::aws::{tags, Clients};
use crate::cli::ReapArgs;
use crate::config;
use crate::error::{exit, Error, Result};
use crate::output::Report;

#[derive(Debug, Serialize)]
pub struct Candidate {
    pub deployment: String,
    pub created: String,
    pub age_seconds: u64,
    /// Its expiry, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub reap: bool,
    /// Why reaping it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Reaped {
    pub region: String,
    pub dry_run: bool,
    pub deployments: Vec<Candidate>,
    /// Locks of deployments that no longer exist, whose holder is gone
    /// (removed, or to be removed with --dry-run): "NAME (held by …)".
    pub stale_locks: Vec<String>,
}

impl Report for Reaped {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let verb = if self.dry_run { "would remove" } else { "removed" };
        for lock in &self.stale_locks {
            writeln!(out, "{verb} the stale lock of {lock}")?;
        }
        if self.deployments.is_empty() {
            return writeln!(out, "no gascale deployments in {}", self.region);
        }
        for c in &self.deployments {
            let verb = match (c.reap, self.dry_run, &c.error) {
                (true, true, _) => "would reap",
                (true, false, Some(_)) => "failed",
                (true, false, None) => "reaped",
                (false, _, _) => "kept",
            };
            let expires = c.expires.as_ref().map(|e| format!(", expires {e}")).unwrap_or_default();
            writeln!(
                out,
                "{verb:<10} {:<20} created {} ({}h ago{expires})",
                c.deployment,
                c.created,
                c.age_seconds / 3600
            )?;
        }
        Ok(())
    }
}

/// A deployment as its VPC's tags describe it.
struct Found {
    name: String,
    created: String,
    expires: Option<String>,
    bucket: Option<String>,
}

/// gascale deployments in the region, from VPC tags.
async fn deployments(c: &Clients) -> Result<Vec<Found>> {
    let out = c
        .ec2
        .describe_vpcs()
        .filters(Filter::builder().name(format!("tag:{}", tags::MANAGED_BY)).values(tags::MANAGER).build())
        .send()
        .await
        .map_err(on("ec2:DescribeVpcs", &c.region))?;
    let mut found = Vec::new();
    for v in out.vpcs() {
        let t = v.tags();
        if tags::get(t, tags::MANAGED_BY) != Some(tags::MANAGER) {
            continue;
        }
        if let (Some(name), Some(created)) = (tags::get(t, tags::DEPLOYMENT), tags::get(t, tags::CREATED)) {
            found.push(Found {
                name: name.to_owned(),
                created: created.to_owned(),
                expires: tags::get(t, tags::EXPIRES).map(str::to_owned),
                bucket: tags::get(t, tags::BUCKET).map(str::to_owned),
            });
        }
    }
    found.sort_by(|a, b| (&a.name, &a.created).cmp(&(&b.name, &b.created)));
    found.dedup_by(|a, b| a.name == b.name);
    Ok(found)
}

/// Whether a deployment goes: past its expiry with `--expired` (its expiry
/// alone decides then), else older than `--older-than`.
fn due(f: &Found, age: Duration, args: &ReapArgs, now: chrono::DateTime<chrono::Utc>) -> bool {
    let expiry = f.expires.as_deref().and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok());
    match (args.expired, expiry) {
        (true, Some(at)) => at < now,
        _ => args.older_than.is_some_and(|limit| age > limit),
    }
}

pub async fn run(ctx: &Context, args: &ReapArgs) -> Result<u8> {
    let (dry_run, final_snapshot) = (args.dry_run, !args.no_final_snapshot);
    // Checked before anything: one confirmation per deployment is no way
    // to run unattended, and nothing may be claimed as reaped that was not.
    if !dry_run && !ctx.yes && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Error::Usage("reap without a terminal needs --yes (or --dry-run)".into()));
    }
    let clients = ctx.clients_without_config().await?;
    let identity = clients.identity().await?;
    let now = chrono::Utc::now();
    let mut candidates = Vec::new();
    for f in deployments(&clients).await? {
        let Ok(when) = chrono::DateTime::parse_from_rfc3339(&f.created) else {
            ctx.progress.warn(format!("deployment {}: unreadable creation time {:?}; kept", f.name, f.created));
            continue;
        };
        let age = (now - when.with_timezone(&chrono::Utc)).to_std().unwrap_or_default();
        let reap = due(&f, age, args, now);
        let candidate = Candidate {
            deployment: f.name,
            created: f.created,
            age_seconds: age.as_secs(),
            expires: f.expires,
            reap,
            error: None,
        };
        candidates.push((candidate, f.bucket));
    }
    let mut failures = Vec::new();
    if !dry_run {
        for (c, bucket) in candidates.iter_mut().filter(|(c, _)| c.reap) {
            let mut d = config::parse(&format!("metadata: {{name: {}, region: {}}}", c.deployment, clients.region))
                .map_err(|p| Error::Failed(format!("deployment name {:?} from AWS: {}", c.deployment, p[0].message)))?;
            d.cache.bucket = bucket.clone();
            ctx.progress.info(format!("reaping deployment {} (created {})", c.deployment, c.created));
            let session = Session::of(ctx, d, clients.clone(), identity.clone());
            if let Err(e) = destroy::destroy(ctx, &session, false, final_snapshot).await {
                ctx.progress.error(format!("deployment {}: {e}", c.deployment));
                c.error = Some(e.to_string());
                failures.push((c.deployment.clone(), e));
            }
        }
    }
    // What a run killed at its very end left: a lock of a deployment gone.
    let mut stale_locks = Vec::new();
    for (name, holder) in crate::aws::lock::stale(&clients).await? {
        if candidates.iter().any(|(c, _)| c.deployment == name && !c.reap) {
            continue; // the deployment is kept: its next run takes the lock over
        }
        if !dry_run {
            crate::aws::lock::remove(&clients, &name).await?;
        }
        stale_locks.push(format!("{name} (held by {})", holder.describe()));
    }
    let region = clients.region.clone();
    let deployments = candidates.into_iter().map(|(c, _)| c).collect();
    ctx.output.emit(&Reaped { region, dry_run, deployments, stale_locks })?;
    match failures.into_iter().next() {
        None => Ok(exit::OK),
        Some((name, e)) => Err(Error::Partial(format!("deployment {name} was not fully reaped: {e}"))),
    }
}
