//! `gascale verify` (and `up --verify`): proves end to end that the fleet
//! runs jobs. The host runs `verify.sh` (templates/verify.sh.hbs) through
//! SSM: a throwaway project's two-job pipeline, the first job writing the
//! runner cache and an artifact, the second reading both on a worker. A
//! failure names its layer and exits with that layer's code (10–18, the
//! script's own); with docker-autoscaler, a worker that never came up is
//! explained by the Auto Scaling group's failed scaling activities.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::host::{ready_host_in, run_on_host};
use super::session::Session;
use super::Context;
use crate::error::{exit, Error, Result};
use crate::output::Report;

/// The script's last line starts with this.
const VERDICT: &str = "gascale-verify: ";
/// Exit code of the layer where no worker came up.
const WORKER_LAUNCH: i32 = 13;

#[derive(Debug, Serialize)]
pub struct Verified {
    pub ok: bool,
    /// `ok`, or the failing layer (`worker-reach`, …).
    pub layer: String,
    pub exit_code: i32,
    pub message: String,
    /// What the script printed before its verdict: the log lines that show it.
    pub log: Vec<String>,
}

impl Report for Verified {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for line in &self.log {
            writeln!(out, "{line}")?;
        }
        writeln!(out, "{VERDICT}{}: {}", self.layer, self.message)
    }
}

pub async fn run(ctx: &Context, within: Duration) -> Result<u8> {
    let session = Session::open(ctx).await?;
    let inventory = session.discover().await?;
    let host = ready_host_in(ctx, &session, &inventory, false, true).await?;
    let d = &session.d;
    let inputs = crate::plan::found_host_inputs(d, &session.identity.account, &inventory)
        .ok_or_else(|| Error::Failed(format!("deployment {} is incomplete; run `gascale up`", d.name())))?;
    let verified = verify(ctx, &session, &host, &inputs, within).await?;
    ctx.output.emit(&verified)?;
    Ok(code(&verified))
}

/// The exit code of a verification: the layer's.
pub fn code(v: &Verified) -> u8 {
    u8::try_from(v.exit_code).unwrap_or(exit::ERROR)
}

/// Runs the pipeline on `host` (whose template inputs are `inputs`); the
/// pipeline may take `within`.
pub async fn verify(
    ctx: &Context,
    session: &Session,
    host: &str,
    inputs: &crate::render::HostInputs,
    within: Duration,
) -> Result<Verified> {
    let d = &session.d;
    let seconds = within.as_secs();
    let script = crate::render::verify(d, inputs, seconds, seconds)?;
    ctx.progress.info(format!("verifying on {host}: a two-job pipeline in a throwaway project (up to {seconds}s)"));
    let r = run_on_host(ctx, session, host, vec![script], false).await?;
    let mut log: Vec<String> = r.stdout.lines().map(str::to_owned).collect();
    let verdict = log.iter().rposition(|l| l.starts_with(VERDICT)).map(|i| log.remove(i));
    let Some((layer, message)) = verdict.as_deref().and_then(|v| v[VERDICT.len()..].split_once(": ")) else {
        return Err(Error::Failed(format!(
            "the verification on {host} ended without a verdict (SSM status {}, exit {}): {}",
            r.status,
            r.exit_code,
            r.stderr.trim()
        )));
    };
    let mut verified = Verified {
        ok: r.exit_code == 0,
        layer: layer.to_owned(),
        exit_code: r.exit_code,
        message: message.to_owned(),
        log,
    };
    if verified.exit_code == WORKER_LAUNCH && d.autoscaler() {
        // The fleeting plugin only sets the group's desired capacity; why no
        // instance came is in the group's scaling activities (Auto Scaling
        // user guide, "Verify a scaling activity for an Auto Scaling group").
        let group = d.worker_group_name();
        let failed = crate::aws::fleet::failed_activities(&session.clients, &group).await?;
        verified.log.push(match failed.first() {
            Some(why) => format!("--- Auto Scaling group {group}'s last failed launch: {why}"),
            None => format!("--- Auto Scaling group {group} reports no failed launch"),
        });
    }
    if !verified.ok {
        ctx.progress.error(format!("verification failed at {}: {}", verified.layer, verified.message));
    }
    Ok(verified)
}
