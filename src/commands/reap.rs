//! `gascale reap --older-than AGE`: destroy every gascale deployment in the
//! region whose VPC was created longer ago than AGE — the clean-up for CI
//! pipelines whose teardown job never ran. Works without config files: the
//! VPC's tags name the deployment, its creation time and its bucket.

use std::io::{self, Write};
use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use serde::Serialize;

use super::destroy;
use super::session::Session;
use super::Context;
use crate::aws::errors::on;
use crate::aws::{tags, Clients};
use crate::config;
use crate::error::{exit, Error, Result};
use crate::output::Report;

#[derive(Debug, Serialize)]
pub struct Candidate {
    pub deployment: String,
    pub created: String,
    pub age_seconds: u64,
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
}

impl Report for Reaped {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
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
            writeln!(out, "{verb:<10} {:<20} created {} ({}h ago)", c.deployment, c.created, c.age_seconds / 3600)?;
        }
        Ok(())
    }
}

/// gascale deployments in the region: (name, created, bucket) from VPC tags.
async fn deployments(c: &Clients) -> Result<Vec<(String, String, Option<String>)>> {
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
            found.push((name.to_owned(), created.to_owned(), tags::get(t, tags::BUCKET).map(str::to_owned)));
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found)
}

pub async fn run(ctx: &Context, older_than: Duration, dry_run: bool, final_snapshot: bool) -> Result<u8> {
    // Checked before anything: one confirmation per deployment is no way
    // to run unattended, and nothing may be claimed as reaped that was not.
    if !dry_run && !ctx.yes && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(Error::Usage("reap without a terminal needs --yes (or --dry-run)".into()));
    }
    let clients = ctx.clients_without_config().await?;
    let identity = clients.identity().await?;
    let now = chrono::Utc::now();
    let mut candidates = Vec::new();
    for (name, created, bucket) in deployments(&clients).await? {
        let Ok(when) = chrono::DateTime::parse_from_rfc3339(&created) else {
            ctx.progress.warn(format!("deployment {name}: unreadable creation time {created:?}; kept"));
            continue;
        };
        let age = (now - when.with_timezone(&chrono::Utc)).to_std().unwrap_or_default();
        candidates.push((
            Candidate { deployment: name, created, age_seconds: age.as_secs(), reap: age > older_than, error: None },
            bucket,
        ));
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
    let region = clients.region.clone();
    ctx.output.emit(&Reaped { region, dry_run, deployments: candidates.into_iter().map(|(c, _)| c).collect() })?;
    match failures.into_iter().next() {
        None => Ok(exit::OK),
        Some((name, e)) => Err(Error::Partial(format!("deployment {name} was not fully reaped: {e}"))),
    }
}
