//! `gitlab/app`: the GitLab the host runs, upgraded in place along GitLab's
//! upgrade path (`upgrade.rs`) — never by a new host, which would boot the
//! new version onto data that may have to stop somewhere first.
//!
//! After a snapshot (the step's `snapshot_first`), each stop is one SSM
//! command (`gitlab-upgrade.sh`: pull, restart GitLab's container on the
//! image, wait for readiness), then gascale polls the batched background
//! migrations until none is queued (GitLab's docs, "Check migrations before
//! upgrade": `Gitlab::Database::BackgroundMigration::BatchedMigration.queued.count`
//! through `gitlab-rails runner`, 0 when done) before the next stop, all
//! bounded by `--timeout`. After each stop the host and the data volume
//! record the version reached (`gascale:gitlab`), so a failure leaves the
//! truth behind and a re-run goes on from there.

use std::time::{Duration, Instant};

use super::apply::Env;
use super::desired;
use super::{attrs, Step};
use crate::aws::{ec2, network, ssm, tags};
use crate::error::{Error, Result};
use crate::upgrade::{self, Stop};

/// The line `gitlab-upgrade.sh` ends with, and the migration check's.
const VERSION_LINE: &str = "gascale-gitlab-version: ";
const PENDING_LINE: &str = "gascale-batched-migrations-pending: ";

pub async fn converge(env: &Env, step: &Step) -> Result<String> {
    let host = env.id(desired::HOST)?;
    let running = env.data_gitlab.lock().expect("data lock").clone().unwrap_or_else(|| attrs::gitlab(&env.d));
    let target = attrs::gitlab(&env.d);
    if upgrade::parse_tag(&running) == upgrade::parse_tag(&target) {
        // The same GitLab, recorded in another form (`19.3.0-ee.0`): the
        // host's tag takes the one `plan` compares.
        if running != target && env.data_gitlab.lock().expect("data lock").is_some() {
            network::set_spec(&env.clients, &host, &[(tags::GITLAB.to_owned(), target)]).await?;
        }
        return Ok(host);
    }
    let (from, (edition, to)) = upgrade::parse_tag(&running).zip(upgrade::parse_tag(&target)).ok_or_else(|| {
        Error::Failed(format!("{}: cannot read GitLab versions {running:?} -> {target:?}", step.address))
    })?;
    // The plan's preflight refused what GitLab does not allow.
    let stops = upgrade::way(from, (edition, to), true).map_err(|e| Error::Failed(format!("{}: {e}", step.address)))?;
    // A host launched moments ago boots first: no upgrade under a bootstrap
    // (GitLab waiting for its domain's DNS runs, and may upgrade).
    ec2::wait_bootstrap(&env.clients, &env.progress, &host, env.timeout).await?;
    let snapshot = match &step.snapshot_first {
        Some(first) => Some(super::backup::snapshot(env, &env.id(desired::DATA_VOLUME)?, first, Some(&host)).await?),
        None => None,
    };
    let rollback = rollback_hint(&running, from.1, snapshot.as_deref());
    let deadline = Instant::now() + env.timeout;
    let inputs = env.host_inputs()?;
    let mut reached = running.clone();
    for stop in &stops {
        let fail = |why: String| {
            Error::Failed(format!("{}: at stop GitLab {stop}: {why}; GitLab runs {reached}. {rollback}", step.address))
        };
        // The command's own wait and the migrations' share the deadline.
        let at_stop = |e: Error| match e {
            Error::Timeout(why) => {
                Error::Timeout(format!("{}: at stop GitLab {stop}: {why}. {rollback}", step.address))
            }
            other => other,
        };
        env.progress.info(format!("{}: upgrading GitLab {reached} -> {stop}", step.address));
        let script = crate::render::gitlab_upgrade(&env.d, &inputs, &stop.label())?;
        let sent = ssm::run_command(&env.clients, &env.progress, &host, &[script], left(deadline)).await;
        let r = sent.map_err(at_stop)?;
        if r.status != "Success" || r.exit_code != 0 {
            return Err(fail(format!("SSM status {}, exit {}: {}", r.status, r.exit_code, r.stderr.trim())));
        }
        let version = line_value(&r.stdout, VERSION_LINE)
            .map(str::to_owned)
            .or_else(|| stop.patch.map(|_| stop.label()))
            .ok_or_else(|| fail("the host did not say which release it upgraded to".into()))?;
        reached = format!("{edition} {version}");
        record(env, &host, &reached, &inputs).await?;
        wait_migrations(env, &host, stop, deadline).await.map_err(at_stop)?;
    }
    Ok(host)
}

/// What the host and its data volume carry once GitLab runs `gitlab`: the
/// version (so `plan` and a new host know it) and the host's fingerprint
/// computed with it (so the new version is no host replacement).
async fn record(env: &Env, host: &str, gitlab: &str, inputs: &crate::render::HostInputs) -> Result<()> {
    *env.data_gitlab.lock().expect("data lock") = Some(gitlab.to_owned());
    let fingerprint = super::host_fingerprint(&env.booting(), inputs, &env.ids.lock().expect("ids lock"));
    let mut host_tags = tags::converged(&env.d.metadata.tags, &fingerprint);
    host_tags.push((tags::GITLAB.into(), gitlab.into()));
    let volume_tags = [(tags::GITLAB.to_owned(), gitlab.to_owned())];
    let volume = env.id(desired::DATA_VOLUME)?;
    tokio::try_join!(
        network::set_spec(&env.clients, host, &host_tags),
        network::set_spec(&env.clients, &volume, &volume_tags)
    )?;
    Ok(())
}

/// Polls the queued batched background migrations until there are none.
async fn wait_migrations(env: &Env, host: &str, stop: &Stop, deadline: Instant) -> Result<()> {
    let check = ssm::rails_runner(
        &[],
        &format!("puts \"{PENDING_LINE}#{{Gitlab::Database::BackgroundMigration::BatchedMigration.queued.count}}\""),
    );
    let mut delay = Duration::from_secs(2);
    loop {
        let r =
            ssm::run_command(&env.clients, &env.progress, host, std::slice::from_ref(&check), left(deadline)).await?;
        let pending = line_value(&r.stdout, PENDING_LINE).and_then(|n| n.trim().parse::<u64>().ok());
        match pending {
            Some(0) => return Ok(()),
            Some(n) if Instant::now() + delay < deadline => {
                env.progress.info(format!("GitLab {stop}: {n} batched background migrations still queued"));
            }
            Some(n) => {
                return Err(Error::Timeout(format!("{n} batched background migrations still queued at the --timeout")))
            }
            None => {
                return Err(Error::Failed(format!(
                    "GitLab {stop}: could not read its batched background migrations (SSM status {}, exit {}): {}",
                    r.status,
                    r.exit_code,
                    r.stderr.trim()
                )))
            }
        }
        crate::interrupt::sleep(delay).await?;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1))
}

fn line_value<'a>(stdout: &'a str, prefix: &str) -> Option<&'a str> {
    stdout.lines().rev().find_map(|l| l.trim().strip_prefix(prefix))
}

/// How to go back to the snapshot taken before the upgrade.
fn rollback_hint(running: &str, from: upgrade::Version, snapshot: Option<&str>) -> String {
    match snapshot {
        Some(snap) => format!(
            "To roll back to snapshot {snap} (GitLab {running}): gascale destroy --yes --no-final-snapshot, \
             then with gitlab.version: {from}, gascale up --restore-from {snap}"
        ),
        None => "No snapshot was taken before this upgrade.".into(),
    }
}
