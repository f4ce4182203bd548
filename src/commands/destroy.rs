//! `gascale destroy`: delete everything the deployment owns — found by tags
//! and IAM path, so a lost state file loses nothing — including the workers
//! the runner launched; then look again and exit 3 naming any survivor.

use std::io::{self, BufRead, IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;

use super::session::Session;
use super::Context;
use crate::aws::discover::Inventory;
use crate::aws::{ssm, workers};
use crate::error::{exit, Error, Result};
use crate::output::Report;
use crate::plan::apply;
use crate::plan::{desired, destroy_plan, Plan, PlanReport};
use crate::state::State;

/// Everything owned: the inventory (minus look-alikes) and the workers.
async fn owned(session: &Session, state: Option<&State>) -> Result<(Inventory, workers::Workers)> {
    let mut inventory = session.discover().await?;
    // An untagged bucket is ours only if our state file says we created it.
    if let Some(b) = inventory.found.get(desired::BUCKET).filter(|b| b.spec == "untagged") {
        if state.is_none_or(|s| s.resources.get(desired::BUCKET) != Some(&b.id)) {
            inventory
                .conflicts
                .push(format!("skipped S3 bucket {}: it exists but carries no tags of this deployment", b.id));
            inventory.found.remove(desired::BUCKET);
        }
    }
    let vpc = inventory.id(desired::VPC).map(str::to_owned);
    let subnets: Vec<String> =
        inventory.found.values().filter(|f| f.kind == desired::Kind::Subnet).map(|f| f.id.clone()).collect();
    let workers =
        workers::find(&session.clients, session.d.name(), vpc.as_deref(), &subnets, workers::Scope::All).await?;
    Ok((inventory, workers))
}

#[derive(Debug, Serialize)]
pub struct Destroyed {
    pub deployment: String,
    pub deleted: Vec<String>,
    pub skipped: Vec<String>,
    /// The snapshot of the data volume taken before it was deleted; it
    /// outlives the deployment.
    pub final_snapshot: Option<String>,
    #[serde(skip)]
    region: String,
}

impl Report for Destroyed {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.deleted.is_empty() {
            writeln!(out, "nothing to destroy")?;
        } else {
            writeln!(out, "destroyed deployment {}: {} resources deleted", self.deployment, self.deleted.len())?;
        }
        for s in &self.skipped {
            writeln!(out, "  ! {s}")?;
        }
        if let Some(snap) = &self.final_snapshot {
            writeln!(
                out,
                "kept the final snapshot {snap} of GitLab's data: restore it with `gitlab.restore_from: {snap}`, \
                 delete it with `aws ec2 delete-snapshot --region {} --snapshot-id {snap}` (`gascale snapshots {}` lists them all)",
                self.region, self.deployment
            )?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Context, dry_run: bool, final_snapshot: bool) -> Result<u8> {
    let session = Session::open(ctx).await?;
    match destroy(ctx, &session, dry_run, final_snapshot).await? {
        Some(done) => ctx.output.emit(&done)?,
        None => ctx.output.emit(&PlanReport::new(&dry_run_plan(&session, final_snapshot).await?, ctx.verbose > 0))?,
    }
    Ok(exit::OK)
}

async fn dry_run_plan(session: &Session, final_snapshot: bool) -> Result<Plan> {
    let state = session.store.load()?;
    let (inventory, workers) = owned(session, state.as_ref()).await?;
    let d = &session.d;
    Ok(destroy_plan((d.name(), d.region(), &session.identity.account), &inventory, &workers, final_snapshot))
}

/// Destroys one deployment; `None` for a dry run (nothing done). With
/// `final_snapshot` the data volume is snapshotted before it goes.
pub async fn destroy(
    ctx: &Context,
    session: &Session,
    dry_run: bool,
    final_snapshot: bool,
) -> Result<Option<Destroyed>> {
    if dry_run {
        return Ok(None);
    }
    let _lock = ctx.lock(&session.clients, session.d.name(), "destroy").await?;
    let state = session.store.load()?;
    let (inventory, workers) = owned(session, state.as_ref()).await?;
    let d = &session.d;
    let plan = destroy_plan((d.name(), d.region(), &session.identity.account), &inventory, &workers, final_snapshot);
    if plan.steps.is_empty() {
        ctx.progress.info(format!("nothing to destroy: deployment {} owns no resources in {}", d.name(), d.region()));
        session.store.remove()?;
        return Ok(Some(Destroyed {
            deployment: d.name().into(),
            deleted: Vec::new(),
            skipped: plan.conflicts,
            final_snapshot: None,
            region: d.region().into(),
        }));
    }
    let mut text = Vec::new();
    plan.write_text(&mut text, ctx.verbose > 0).map_err(Error::io("formatting the plan"))?;
    ctx.progress.info(String::from_utf8_lossy(&text).trim_end());
    confirm(ctx, d.name())?;
    ctx.progress.info(format!("acting as {}", session.whoami()));
    stop_runner(ctx, session, &inventory).await;
    let env = session.env(ctx, &inventory, state, false, &plan);
    let outcome = apply::apply(env.clone(), &plan, ctx.parallelism).await?;
    if outcome.interrupted {
        ctx.progress.warn(super::resume_hint(ctx, &session.store, &env.state(), true, "interrupted"));
        return Err(Error::Interrupted);
    }
    // The post-condition: look again, independently of what we think we did.
    // IAM and S3 reads lag their deletes ("Changes that I make are not always
    // immediately visible", IAM user guide; a deleted bucket may still list,
    // S3 knowledge center): what this run deleted there gets 30 s to vanish.
    let started = std::time::Instant::now();
    let mut looked_again = false;
    let left = loop {
        let (after, workers_left) = owned(session, None).await?;
        let left = destroy_plan((d.name(), d.region(), &session.identity.account), &after, &workers_left, false);
        let lagging = left.steps.iter().all(|s| {
            matches!(s.kind, desired::Kind::IamRole | desired::Kind::InstanceProfile | desired::Kind::Bucket)
                && outcome.changed.contains(&s.address)
        });
        // At least one more look, however long the first took (throttling).
        let waited = looked_again && started.elapsed() > std::time::Duration::from_secs(30);
        if left.steps.is_empty() || !lagging || waited {
            break left;
        }
        looked_again = true;
        crate::interrupt::sleep(std::time::Duration::from_secs(1)).await?;
    };
    if left.steps.is_empty() {
        session.store.remove()?;
        // What a killed run meant to create is gone with the rest.
        crate::aws::intents::write(&session.clients, d.name(), &Default::default()).await?;
        let final_snapshot = env.ids.lock().expect("ids lock").get(crate::plan::backup::FINAL_SNAPSHOT).cloned();
        return Ok(Some(Destroyed {
            deployment: d.name().into(),
            deleted: outcome.changed,
            skipped: plan.conflicts,
            final_snapshot,
            region: d.region().into(),
        }));
    }
    Err(Error::Partial(survivors(&left, &outcome)))
}

/// "N owned resources remain" with each one's ID and last error.
fn survivors(left: &Plan, outcome: &apply::Outcome) -> String {
    let mut msg = format!("{} owned resources remain:", left.steps.len());
    for s in &left.steps {
        let id = if s.kind == desired::Kind::Workers {
            s.reason.clone().unwrap_or_default()
        } else {
            s.id.clone().unwrap_or_default()
        };
        let why = outcome
            .failed
            .iter()
            .find(|(a, _)| a == &s.address)
            .map(|(_, e)| e.to_string())
            .or_else(|| {
                outcome
                    .skipped
                    .contains(&s.address)
                    .then(|| "not attempted: something it depends on was not deleted".into())
            })
            .unwrap_or_else(|| "still present after deletion".into());
        msg.push_str(&format!("\n  {} {id}: {why}", s.address));
    }
    msg.push_str("\nfix the cause and run `gascale destroy` again");
    msg
}

/// On a terminal, the user types the deployment name; without one, `--yes`
/// is required so a CI job never hangs on a prompt.
fn confirm(ctx: &Context, name: &str) -> Result<()> {
    if ctx.yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(Error::Usage("destroy without a terminal needs --yes".into()));
    }
    eprint!("Type the deployment name ({name}) to delete everything above: ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer).map_err(Error::io("reading the confirmation"))?;
    if answer.trim() == name {
        Ok(())
    } else {
        Err(Error::Failed("destroy cancelled: the name did not match".into()))
    }
}

/// Stops the runner first so it launches no new workers while we reap; the
/// host may be gone or unreachable, which only costs a warning.
async fn stop_runner(ctx: &Context, session: &Session, inventory: &Inventory) {
    let Some(host) = inventory.found.get(desired::HOST).filter(|h| h.state == "running") else { return };
    let script = vec![format!("{} stop runner", ssm::COMPOSE)];
    match ssm::run_command(&session.clients, &ctx.progress, &host.id, &script, Duration::from_secs(60)).await {
        Ok(r) if r.status == "Success" => ctx.progress.info("stopped the runner on the host"),
        Ok(r) => ctx
            .progress
            .warn(format!("could not stop the runner (SSM status {}); reaping its workers anyway", r.status)),
        Err(e) => ctx.progress.warn(format!("could not reach the host through SSM ({e}); reaping the workers anyway")),
    }
}
