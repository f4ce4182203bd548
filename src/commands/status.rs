//! `gascale status`: who we are in AWS, and every resource the deployment
//! owns with its live state — found by tags and IAM path, not the state file.

use std::io::{self, Write};

use serde::Serialize;

use super::session::{Purpose, Session};
use super::Context;
use crate::aws::discover::Found;
use crate::aws::Identity;
use crate::error::{exit, Result};
use crate::output::Report;

#[derive(Debug, Serialize)]
pub struct Status {
    pub deployment: String,
    pub identity: Identity,
    pub resources: Vec<Found>,
    /// The host's `gascale:bootstrap` status, if it has one.
    pub bootstrap: Option<String>,
    /// When the host's bootstrap ran, step by step, once it published it.
    pub timeline: Option<crate::timeline::Timeline>,
    pub conflicts: Vec<String>,
    /// What `up` prints, read from what exists.
    pub outputs: super::up::Outputs,
}

impl Report for Status {
    /// The outputs, as `up --output dotenv` prints them.
    fn dotenv(&self) -> Option<Vec<(String, String)>> {
        self.outputs.dotenv()
    }

    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "deployment: {}", self.deployment)?;
        writeln!(out, "account:    {}", self.identity.account)?;
        writeln!(out, "caller:     {}", self.identity.arn)?;
        writeln!(out, "region:     {}", self.identity.region)?;
        if let Some(b) = &self.bootstrap {
            writeln!(out, "bootstrap:  {b}")?;
        }
        if let Some(t) = &self.timeline {
            writeln!(out, "timeline:   bootstrap started {}", t.bootstrap_started_at)?;
            t.write_text(out)?;
        }
        if self.resources.is_empty() {
            writeln!(out, "resources:  none")?;
        } else {
            writeln!(out, "resources:")?;
            let width = self.resources.iter().map(|r| r.address.len()).max().unwrap_or(0);
            for r in &self.resources {
                writeln!(out, "  {:<width$}  {:<24}  {}", r.address, r.id, r.state)?;
            }
        }
        for c in &self.conflicts {
            writeln!(out, "  ! {c}")?;
        }
        writeln!(out, "outputs:")?;
        let mut text = Vec::new();
        self.outputs.text(&mut text)?;
        for line in String::from_utf8_lossy(&text).lines() {
            writeln!(out, "  {line}")?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Context) -> Result<u8> {
    let (session, _, inventory) = Session::open_discovered(ctx, None, Purpose::Look).await?;
    let mut outputs =
        super::up::outputs_of(&session, &inventory.ids(), &inventory.eip_ips).expiring(inventory.expires());
    outputs.bootstrap = inventory.bootstrap.clone();
    let timeline = host_timeline(&inventory);
    let mut resources: Vec<Found> = inventory.found.into_values().chain(inventory.duplicates).collect();
    resources.sort_by(|a, b| (a.kind, &a.address).cmp(&(b.kind, &b.address)));
    ctx.output.emit(&Status {
        deployment: session.d.name().to_owned(),
        identity: session.identity,
        resources,
        bootstrap: inventory.bootstrap,
        timeline,
        conflicts: inventory.conflicts,
        outputs,
    })?;
    Ok(exit::OK)
}

/// The host's timeline, from its tags as discovery read them.
fn host_timeline(inventory: &crate::aws::discover::Inventory) -> Option<crate::timeline::Timeline> {
    let host = crate::plan::desired::HOST;
    let launched = inventory.setting(host, "launched").and_then(|l| l.parse().ok());
    crate::timeline::Timeline::parse(inventory.setting(host, "timeline")?, launched)
}
