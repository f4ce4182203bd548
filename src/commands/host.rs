//! Commands run on the GitLab host through SSM Run Command — no SSH:
//! `gascale exec -- CMD...` and `gascale fetch-root-password`, which is
//! `exec` of one fixed script whose output is the password alone.

use std::io::{self, Write};

use serde::Serialize;

use super::session::{bootstrap_failed, Session};
use super::Context;
use crate::aws::ec2;
use crate::aws::ssm::{self, CommandResult, OUTPUT_LIMIT};
use crate::aws::wait::{wait_for, Poll};
use crate::error::{exit, Error, Result};
use crate::output::Report;
use crate::plan::desired;

/// Where GitLab writes the initial root password (deleted after 24 hours).
const PASSWORD_FILE: &str = "/srv/gitlab/config/initial_root_password";
/// The script's exit code when the file is gone.
const NO_FILE: i32 = 3;

/// The host's instance ID once it runs (and, with `bootstrapped`, its
/// bootstrap is complete); with `wait`, waits for that (bounded by
/// `--timeout`), else says what is missing.
pub(super) async fn ready_host(ctx: &Context, session: &Session, wait: bool, bootstrapped: bool) -> Result<String> {
    ready_host_in(ctx, session, &session.discover().await?, wait, bootstrapped).await
}

/// `ready_host` with what discovery found already.
pub(super) async fn ready_host_in(
    ctx: &Context,
    session: &Session,
    inventory: &crate::aws::discover::Inventory,
    wait: bool,
    bootstrapped: bool,
) -> Result<String> {
    let host = inventory.found.get(desired::HOST).ok_or_else(|| {
        Error::Failed(format!(
            "deployment {} has no GitLab host in {}; run `gascale up`",
            session.d.name(),
            session.d.region()
        ))
    })?;
    if host.state != "running" {
        if !wait {
            return Err(Error::Failed(format!(
                "the GitLab host {} is {}; start it, or pass --wait",
                host.id, host.state
            )));
        }
        ec2::wait_running(&session.clients, &ctx.progress, &host.id, ctx.timeout).await?;
    }
    match inventory.bootstrap.as_deref() {
        _ if !bootstrapped => {}
        Some("complete") | Some(super::session::WAITING_DNS) => {}
        Some(failed) if failed.starts_with("failed:") => {
            return Err(Error::Failed(bootstrap_failed(&failed["failed:".len()..])))
        }
        step if !wait => {
            let step = step.unwrap_or("not started");
            return Err(Error::Failed(format!(
                "GitLab's bootstrap is still in progress ({step}); retry later, or pass --wait"
            )));
        }
        _ => {
            ec2::wait_bootstrap(&session.clients, &ctx.progress, &host.id, ctx.timeout).await?;
        }
    }
    Ok(host.id.clone())
}

/// Runs a script on the host; an instance SSM does not know yet is said so
/// (and waited for with `wait`).
pub(super) async fn run_on_host(
    ctx: &Context,
    session: &Session,
    host: &str,
    script: Vec<String>,
    wait: bool,
) -> Result<CommandResult> {
    let c = &session.clients;
    let not_registered = |e: &Error| e.aws_code() == Some("InvalidInstanceId");
    match ssm::run_command(c, &ctx.progress, host, &script, ctx.timeout).await {
        Err(e) if not_registered(&e) && wait => {
            wait_for(&ctx.progress, &format!("{host} to register with SSM"), ctx.timeout, || async {
                match ssm::run_command(c, &ctx.progress, host, &script, ctx.timeout).await {
                    Ok(r) => Ok(Poll::Ready(r)),
                    Err(e) if not_registered(&e) => Ok(Poll::Pending("not registered".into())),
                    Err(e) => Err(e),
                }
            })
            .await
        }
        Err(e) if not_registered(&e) => Err(Error::Failed(format!(
            "the GitLab host {host} is not registered with SSM yet (its agent starts a minute or two after boot); retry, or pass --wait"
        ))),
        other => other,
    }
}

fn warn_truncated(ctx: &Context, r: &CommandResult) {
    if r.truncated() {
        ctx.progress.warn(format!(
            "SSM keeps only the first {OUTPUT_LIMIT} characters of a command's output; the rest was cut"
        ));
    }
}

pub async fn exec(ctx: &Context, command: &[String]) -> Result<u8> {
    let session = Session::open(ctx).await?;
    // exec is also the tool to look into a bootstrap: a running host will do.
    let host = ready_host(ctx, &session, false, false).await?;
    let r = run_on_host(ctx, &session, &host, vec![command.join(" ")], false).await?;
    io::stdout().write_all(r.stdout.as_bytes()).map_err(Error::io("writing to stdout"))?;
    io::stderr().write_all(r.stderr.as_bytes()).map_err(Error::io("writing to stderr"))?;
    warn_truncated(ctx, &r);
    if r.status != "Success" && r.exit_code <= 0 {
        return Err(Error::Failed(format!("the command ended with SSM status {}", r.status)));
    }
    Ok(u8::try_from(r.exit_code).unwrap_or(exit::ERROR))
}

#[derive(Serialize)]
struct RootPassword {
    username: &'static str,
    password: String,
}

impl Report for RootPassword {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.password)
    }
}

pub async fn fetch_root_password(ctx: &Context, wait: bool) -> Result<u8> {
    let session = Session::open(ctx).await?;
    let host = ready_host(ctx, &session, wait, true).await?;
    let script = vec![format!(
        "f={PASSWORD_FILE}; if [ ! -f \"$f\" ]; then echo \"$f: No such file\" >&2; exit {NO_FILE}; fi; sed -n 's/^Password: //p' \"$f\""
    )];
    let r = run_on_host(ctx, &session, &host, script, wait).await?;
    let password = r.stdout.trim().to_owned();
    if r.exit_code == NO_FILE || r.stderr.contains("No such file") {
        return Err(Error::Failed(format!(
            "GitLab deleted {PASSWORD_FILE} (it does so 24 hours after the first start), so the initial password is gone. \
             Reset the root password with: gascale exec -- 'cd /srv/gitlab/gascale && docker compose -p gascale exec -T gitlab gitlab-rake \"gitlab:password:reset[root]\"'"
        )));
    }
    if r.status != "Success" || r.exit_code != 0 {
        return Err(Error::Failed(format!(
            "reading the password failed on {host} (SSM status {}, exit {})",
            r.status, r.exit_code
        )));
    }
    if password.is_empty() || password.contains('\n') {
        return Err(Error::Failed(format!("{PASSWORD_FILE} on {host} holds no `Password:` line")));
    }
    ctx.output.emit(&RootPassword { username: "root", password })?;
    Ok(exit::OK)
}
