//! SSM Run Command on the GitLab host: send a shell script, poll its
//! invocation with backoff until it ends or the timeout passes (exit 5).
//! Output is returned to the caller only — never logged, since it can hold
//! a password.

use std::time::Duration;

use super::errors::{code, on};
use super::wait::{wait_for, Poll};
use super::Clients;
use crate::error::Result;
use crate::progress::Progress;

/// `docker compose` of the host's project, in its folder on the data volume.
pub const COMPOSE: &str = "cd /srv/gitlab/gascale && docker compose -p gascale";

/// `gitlab-rails runner` of `ruby` in GitLab's container with `env`, as one
/// shell line for the host: every word single-quoted for its shell.
pub fn rails_runner(env: &[(&str, &str)], ruby: &str) -> String {
    let q = crate::render::quote::shell;
    let mut line = format!("{COMPOSE} exec -T");
    for (k, v) in env {
        line.push_str(&format!(" -e {}", q(&format!("{k}={v}"))));
    }
    format!("{line} gitlab gitlab-rails runner {}", q(ruby))
}

/// AWS keeps at most this many characters of a command's output.
pub const OUTPUT_LIMIT: usize = 24_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandResult {
    /// SSM's status: Success, Failed, Cancelled, TimedOut, ...
    pub status: String,
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CommandResult {
    /// True when AWS cut the output at its 24,000-character limit.
    pub fn truncated(&self) -> bool {
        self.stdout.chars().count() >= OUTPUT_LIMIT || self.stderr.chars().count() >= OUTPUT_LIMIT
    }
}

pub async fn run_command(
    c: &Clients,
    progress: &Progress,
    instance: &str,
    script: &[String],
    timeout: Duration,
) -> Result<CommandResult> {
    let sent = c
        .ssm
        .send_command()
        .instance_ids(instance)
        .document_name("AWS-RunShellScript")
        .parameters("commands", script.to_vec())
        .comment("gascale")
        .send()
        .await
        .map_err(on("ssm:SendCommand", instance))?;
    let id = sent.command().and_then(|c| c.command_id()).unwrap_or_default().to_owned();
    wait_for(progress, &format!("command {id} on {instance}"), timeout, || async {
        let out = match c.ssm.get_command_invocation().command_id(&id).instance_id(instance).send().await {
            Ok(out) => out,
            // Right after SendCommand the invocation may not exist yet.
            Err(e) if code(&e) == Some("InvocationDoesNotExist") => return Ok(Poll::Pending("not started".into())),
            Err(e) => return Err(on("ssm:GetCommandInvocation", instance)(e)),
        };
        let status = out.status().map(|s| s.as_str().to_owned()).unwrap_or_default();
        Ok(match status.as_str() {
            // Cancelling ends in Cancelled: not final yet (SSM API reference, CommandInvocation Status).
            "Pending" | "InProgress" | "Delayed" | "Cancelling" => Poll::Pending(status),
            _ => Poll::Ready(CommandResult {
                exit_code: out.response_code(),
                stdout: out.standard_output_content().unwrap_or_default().to_owned(),
                stderr: out.standard_error_content().unwrap_or_default().to_owned(),
                status,
            }),
        })
    })
    .await
}
