//! `gascale up`: converge AWS to the config by executing the plan that
//! `plan` prints, then wait for GitLab's bootstrap and print the outputs.

use std::io::{self, Write};
use std::sync::Arc;

use serde::Serialize;

use super::session::{Purpose, Session};
use super::Context;
use crate::aws::ec2::public_dns;
use crate::aws::iam;
use crate::cli::UpArgs;
use crate::error::{exit, Error, Result};
use crate::output::Report;
use crate::plan::apply::{self, Env};
use crate::plan::desired::{self, Role};
use crate::plan::{Action, PlanReport};

pub async fn run(ctx: &Context, args: &UpArgs) -> Result<u8> {
    let (mut session, _lock, inventory) =
        Session::open_discovered(ctx, (!args.dry_run).then_some("up"), Purpose::Plan).await?;
    if let Some(from) = &args.restore_from {
        session.d.gitlab.restore_from = Some(restore_source(&session, &inventory, from).await?);
    }
    let (state, shared_intents) = session.state(&inventory)?;
    let plan = session.plan(ctx, &inventory, state.as_ref(), args.allow_unlisted_version).await?;
    if args.dry_run {
        ctx.output.emit(&PlanReport::new(&plan, ctx.verbose > 0))?;
        return Ok(exit::OK);
    }
    let mut text = Vec::new();
    plan.write_text(&mut text, ctx.verbose > 0).map_err(Error::io("formatting the plan"))?;
    ctx.progress.info(String::from_utf8_lossy(&text).trim_end());
    if !plan.problems.is_empty() {
        return Err(Error::Usage(format!("nothing was changed; fix these first:\n  {}", plan.problems.join("\n  "))));
    }
    if !plan.conflicts.is_empty() {
        return Err(Error::Failed(format!(
            "refusing to touch resources that are not ours:\n  {}",
            plan.conflicts.join("\n  ")
        )));
    }
    if plan.steps.iter().any(|s| s.action == Action::Replace) && !args.allow_host_replacement {
        return Err(Error::Failed(format!(
            "the GitLab host would have to be replaced: {}. Its data volume is kept; re-run with --allow-host-replacement to do it",
            crate::plan::host_replacement_reason()
        )));
    }
    let env = session.env(ctx, &inventory, state, args.allow_host_replacement, &plan);
    env.shared_intents.store(shared_intents, std::sync::atomic::Ordering::SeqCst);
    // A bootstrap that failed on a host this run keeps runs again: its cause
    // (a data volume attached late, a registry down) may be gone.
    let kept_host = plan.step(desired::HOST).filter(|s| s.action != Action::Replace).and_then(|s| s.id.clone());
    let failed = inventory.bootstrap.as_deref().and_then(|b| b.strip_prefix("failed:")).map(str::to_owned);
    let rerun = kept_host.zip(failed);
    let result = converge(ctx, args, &session, &plan, &env, rerun, inventory.expires()).await;
    match &result {
        Err(Error::Interrupted) => {
            ctx.progress.warn(super::resume_hint(ctx, &session.store, &env.state(), false, "interrupted"))
        }
        Err(_) if plan.has_changes() => {
            ctx.progress.warn(super::resume_hint(ctx, &session.store, &env.state(), false, "up failed"))
        }
        _ => {}
    }
    result
}

/// `--restore-from`: a snapshot ID, `latest` (this deployment's newest
/// snapshot) or `latest:NAME` (another deployment's), for a data volume this
/// run creates.
async fn restore_source(session: &Session, inventory: &crate::aws::discover::Inventory, from: &str) -> Result<String> {
    if let Some(volume) = inventory.id(desired::DATA_VOLUME) {
        return Err(Error::Usage(format!(
            "--restore-from: deployment {} already has its data volume {volume}; a restore creates a new one \
             (destroy this deployment first, or restore into another name)",
            session.d.name()
        )));
    }
    let name = match from.strip_prefix("latest") {
        None if crate::config::is_snapshot_id(from) => return Ok(from.to_owned()),
        Some("") => session.d.name(),
        Some(rest) if rest.starts_with(':') && rest.len() > 1 => &rest[1..],
        _ => return Err(Error::Usage(format!("--restore-from {from:?}: give snap-…, latest or latest:DEPLOYMENT"))),
    };
    let all = crate::aws::snapshots::list(&session.clients, Some(name)).await?;
    let newest = all.iter().rev().find(|s| s.state == "completed").ok_or_else(|| {
        Error::Usage(format!(
            "--restore-from {from}: deployment {name} has no completed snapshot in {}",
            session.d.region()
        ))
    })?;
    Ok(newest.id.clone())
}

async fn converge(
    ctx: &Context,
    args: &UpArgs,
    session: &Session,
    plan: &crate::plan::Plan,
    env: &Arc<Env>,
    rerun: Option<(String, String)>,
    recorded_expiry: Option<String>,
) -> Result<u8> {
    if plan.has_changes() {
        ctx.progress.info(format!("acting as {}", session.whoami()));
        apply::apply(env.clone(), plan, ctx.parallelism).await?.into_result()?;
        ctx.progress.info(format!("state saved to {}", session.store.path().display()));
    } else {
        ctx.progress.info("no changes: the deployment matches the config");
        session.store.save(&env.state())?;
    }
    if let Some((host, step)) = rerun {
        rerun_bootstrap(ctx, session, &host, &step).await?;
    }
    let expires = expiry(ctx, args, session, env, recorded_expiry).await?;
    let outputs = outputs(session, env).expiring(expires);
    let host = outputs.host_instance_id.clone();
    let bootstrap = match (args.no_wait, host.clone()) {
        (true, _) | (_, None) => None,
        (false, Some(host)) => {
            Some(crate::aws::ec2::wait_bootstrap(&session.clients, &ctx.progress, &host, ctx.timeout).await?)
        }
    };
    if let (Some(_), Some(host)) = (&bootstrap, &host) {
        // Where the host's time went (the timeline the bootstrap published).
        if let Ok(Some(t)) = crate::aws::ec2::timeline(&session.clients, host).await {
            let mut text = Vec::new();
            t.write_text(&mut text).map_err(Error::io("formatting the timeline"))?;
            ctx.progress.info(format!("the host's bootstrap:\n{}", String::from_utf8_lossy(&text).trim_end()));
        }
    }
    if let (Some(super::session::WAITING_DNS), Some(domain), Some(ip)) =
        (bootstrap.as_deref(), &session.d.gitlab.domain, &outputs.elastic_ip)
    {
        ctx.progress.warn(format!(
            "GitLab is up with a self-signed certificate: create the DNS record `{domain}. A {ip}`; \
             the host switches to Let's Encrypt within 5 minutes of it resolving"
        ));
    }
    ctx.output.emit(&Outputs { bootstrap, ..outputs })?;
    match host.filter(|_| args.verify) {
        // The outputs are stdout's; the verification's lines go to stderr.
        Some(host) => {
            // The inputs this run rendered the host from: no second discovery.
            let inputs = env.host_inputs()?;
            let v = super::verify::verify(ctx, session, &host, &inputs, args.verify_within).await?;
            let mut text = Vec::new();
            v.text(&mut text).map_err(Error::io("formatting the verification"))?;
            ctx.progress.info(String::from_utf8_lossy(&text).trim_end());
            Ok(super::verify::code(&v))
        }
        None => Ok(exit::OK),
    }
}

/// The deployment's expiry, recorded on its VPC (where `reap` reads it):
/// `--ttl` from now (extending one already set), else `metadata.ttl` from
/// now when none is recorded yet, else what is recorded.
async fn expiry(
    ctx: &Context,
    args: &UpArgs,
    session: &Session,
    env: &Env,
    recorded: Option<String>,
) -> Result<Option<String>> {
    let configured = session.d.metadata.ttl.as_deref().and_then(|t| humantime::parse_duration(t).ok());
    let ttl = match (args.ttl, configured, &recorded) {
        (Some(ttl), _, _) => ttl,
        (None, Some(ttl), None) => ttl,
        _ => return Ok(recorded),
    };
    let at = chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let vpc = env.id(desired::VPC)?;
    crate::aws::network::set_spec(&session.clients, &vpc, &[(crate::aws::tags::EXPIRES.to_owned(), at.clone())])
        .await?;
    ctx.progress.info(format!("deployment {} expires at {at} (reap --expired destroys it after)", session.d.name()));
    Ok(Some(at))
}

/// Starts the host's bootstrap unit again through SSM (the bootstrap
/// installs `gascale-bootstrap.service`, which runs until it completes),
/// after marking the status `running:restart` so a wait does not read the
/// old failure.
async fn rerun_bootstrap(ctx: &Context, session: &Session, host: &str, step: &str) -> Result<()> {
    ctx.progress.info(format!("the host's bootstrap failed at step {step}; running it again"));
    crate::aws::ec2::set_bootstrap_status(&session.clients, host, "running:restart").await?;
    let script = vec![
        "systemctl reset-failed gascale-bootstrap.service 2>/dev/null || true".to_owned(),
        "systemctl start --no-block gascale-bootstrap.service".to_owned(),
    ];
    let r = crate::aws::ssm::run_command(&session.clients, &ctx.progress, host, &script, ctx.timeout).await?;
    if r.status != "Success" {
        return Err(Error::Failed(format!(
            "could not start the bootstrap again on {host} (SSM status {}); see gascale exec -- journalctl -u gascale-bootstrap",
            r.status
        )));
    }
    Ok(())
}

/// What a user needs after `up`: where GitLab is and what was created.
#[derive(Debug, Serialize)]
pub struct Outputs {
    pub deployment: String,
    pub region: String,
    pub gitlab_url: Option<String>,
    pub host_instance_id: Option<String>,
    /// The volume GitLab's data lives on (`/srv/gitlab`).
    pub data_volume_id: Option<String>,
    pub elastic_ip: Option<String>,
    pub vpc_id: Option<String>,
    pub public_subnet_ids: Vec<String>,
    pub private_subnet_ids: Vec<String>,
    pub host_security_group_id: Option<String>,
    pub worker_security_group_id: Option<String>,
    pub bucket: String,
    pub host_role_arn: String,
    pub worker_role_arn: String,
    pub state_file: String,
    /// `complete` once GitLab and the runner are up; absent with `--no-wait`.
    pub bootstrap: Option<String>,
    /// When the deployment expires (`metadata.ttl`, `--ttl`), if it does.
    pub expires_at: Option<String>,
    /// Seconds until then (negative once past); `reap --expired` goes by it.
    pub expires_in_seconds: Option<i64>,
}

impl Outputs {
    /// With the expiry `expires` (RFC 3339) and the time left until it.
    pub fn expiring(self, expires: Option<String>) -> Outputs {
        let left = expires.as_deref().and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok());
        let left = left.map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds());
        Outputs { expires_at: expires, expires_in_seconds: left, ..self }
    }
}

fn outputs(session: &Session, env: &Env) -> Outputs {
    let ids = env.ids.lock().expect("ids lock").clone();
    let eips = env.eip_ips.lock().expect("eip lock").clone();
    outputs_of(session, &ids, &eips)
}

/// The outputs of what exists (`ids`, `eips` by address): `up` prints them
/// from its run, `status` from discovery.
pub fn outputs_of(
    session: &Session,
    ids: &std::collections::BTreeMap<String, String>,
    eips: &std::collections::BTreeMap<String, String>,
) -> Outputs {
    let d = &session.d;
    let get = |a: &str| ids.get(a).cloned();
    let ip = eips.get(desired::HOST_EIP).cloned();
    let url = match (&d.gitlab.domain, &ip) {
        (Some(domain), _) => Some(format!("https://{domain}")),
        (None, Some(ip)) => Some(format!("http://{}", public_dns(d.region(), ip))),
        _ => None,
    };
    let azs = d.network.azs as usize;
    Outputs {
        deployment: d.name().into(),
        region: d.region().into(),
        gitlab_url: url,
        host_instance_id: get(desired::HOST),
        data_volume_id: get(desired::DATA_VOLUME),
        elastic_ip: ip,
        vpc_id: get(desired::VPC),
        public_subnet_ids: (0..azs).filter_map(|i| get(&desired::public_subnet(i))).collect(),
        private_subnet_ids: (0..azs).filter_map(|i| get(&desired::private_subnet(i))).collect(),
        host_security_group_id: get(desired::SG_HOST),
        worker_security_group_id: get(desired::SG_WORKERS),
        bucket: session.bucket.clone(),
        host_role_arn: iam::role_arn(&session.identity.account, d, Role::Host),
        worker_role_arn: iam::role_arn(&session.identity.account, d, Role::Workers),
        state_file: session.store.path().display().to_string(),
        bootstrap: None,
        expires_at: None,
        expires_in_seconds: None,
    }
}

impl Report for Outputs {
    fn dotenv(&self) -> Option<Vec<(String, String)>> {
        Some(crate::output::dotenv_vars(&serde_json::to_value(self).ok()?))
    }

    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        writeln!(out, "gitlab_url               = {}", opt(&self.gitlab_url))?;
        writeln!(out, "host_instance_id         = {}", opt(&self.host_instance_id))?;
        writeln!(out, "data_volume_id           = {}", opt(&self.data_volume_id))?;
        writeln!(out, "elastic_ip               = {}", opt(&self.elastic_ip))?;
        writeln!(out, "vpc_id                   = {}", opt(&self.vpc_id))?;
        writeln!(out, "public_subnet_ids        = {}", self.public_subnet_ids.join(","))?;
        writeln!(out, "private_subnet_ids       = {}", self.private_subnet_ids.join(","))?;
        writeln!(out, "host_security_group_id   = {}", opt(&self.host_security_group_id))?;
        writeln!(out, "worker_security_group_id = {}", opt(&self.worker_security_group_id))?;
        writeln!(out, "bucket                   = {}", self.bucket)?;
        writeln!(out, "host_role_arn            = {}", self.host_role_arn)?;
        writeln!(out, "worker_role_arn          = {}", self.worker_role_arn)?;
        writeln!(out, "bootstrap                = {}", opt(&self.bootstrap))?;
        if let (Some(at), Some(left)) = (&self.expires_at, self.expires_in_seconds) {
            let span = humantime::format_duration(std::time::Duration::from_secs(left.unsigned_abs()));
            let when = if left >= 0 { format!("in {span}") } else { format!("{span} ago") };
            writeln!(out, "expires_at               = {at} ({when})")?;
        }
        Ok(())
    }
}
