//! `gascale token`: a personal access token for the pipeline's next jobs,
//! minted on the host through SSM (`gitlab-rails runner`, GitLab's "Create a
//! personal access token programmatically") and printed alone on stdout —
//! never stored, logged or put on stderr by gascale. `--revoke NAME` revokes
//! the active tokens of that name.

use std::io::{self, Write};

use serde::Serialize;

use super::host::{ready_host, run_on_host};
use super::session::Session;
use super::Context;
use crate::aws::ssm::rails_runner;
use crate::cli::TokenArgs;
use crate::error::{exit, Error, Result};
use crate::output::Report;

const TOKEN_LINE: &str = "gascale-token: ";
const REVOKED_LINE: &str = "gascale-revoked: ";

/// Creates the token (GitLab generates its value) and prints it on the
/// marked line; the inputs come from the environment, not the source.
const MINT: &str = r#"user = User.find_by_username(ENV.fetch("GASCALE_USER")) or abort("gascale: no user #{ENV.fetch("GASCALE_USER")}")
token = user.personal_access_tokens.create!(name: ENV.fetch("GASCALE_TOKEN_NAME"), scopes: ENV.fetch("GASCALE_SCOPES").split(","), expires_at: Date.today + Integer(ENV.fetch("GASCALE_DAYS")))
puts "gascale-token: #{token.token}""#;

const REVOKE: &str = r#"user = User.find_by_username(ENV.fetch("GASCALE_USER")) or abort("gascale: no user #{ENV.fetch("GASCALE_USER")}")
tokens = user.personal_access_tokens.active.where(name: ENV.fetch("GASCALE_TOKEN_NAME")).to_a
abort("gascale: #{ENV.fetch("GASCALE_USER")} has no active token named #{ENV.fetch("GASCALE_TOKEN_NAME")}") if tokens.empty?
tokens.each(&:revoke!)
puts "gascale-revoked: #{tokens.size}""#;

#[derive(Serialize)]
struct Minted {
    name: String,
    user: String,
    scopes: Vec<String>,
    expires_at: String,
    token: String,
}

impl Report for Minted {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.token)
    }
}

#[derive(Serialize)]
struct Revoked {
    name: String,
    user: String,
    revoked: u32,
}

impl Report for Revoked {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "revoked {} token(s) named {} of {}", self.revoked, self.name, self.user)
    }
}

pub async fn run(ctx: &Context, args: &TokenArgs) -> Result<u8> {
    let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.: ".contains(&b));
    if !valid(&args.user) {
        return Err(Error::Usage(format!("--user {:?}: not a GitLab username", args.user)));
    }
    let scopes: Vec<String> = args.scopes.split(',').map(str::trim).map(str::to_owned).collect();
    if scopes.iter().any(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')) {
        return Err(Error::Usage(format!(
            "--scopes {:?}: comma-separated scopes like api,read_repository",
            args.scopes
        )));
    }
    let session = Session::open(ctx).await?;
    let host = ready_host(ctx, &session, false, true).await?;
    if let Some(name) = &args.revoke {
        if !valid(name) {
            return Err(Error::Usage(format!("--revoke {name:?}: not a token name gascale gives")));
        }
        let script = rails_runner(&[("GASCALE_USER", &args.user), ("GASCALE_TOKEN_NAME", name)], REVOKE);
        let r = run_on_host(ctx, &session, &host, vec![script], false).await?;
        let revoked = r.stdout.lines().find_map(|l| l.trim().strip_prefix(REVOKED_LINE)).and_then(|n| n.parse().ok());
        let Some(revoked) = revoked.filter(|_| r.status == "Success" && r.exit_code == 0) else {
            return Err(Error::Failed(format!(
                "revoking {name} failed (SSM status {}, exit {}): {}",
                r.status,
                r.exit_code,
                r.stderr.trim()
            )));
        };
        ctx.output.emit(&Revoked { name: name.clone(), user: args.user.clone(), revoked })?;
        return Ok(exit::OK);
    }
    // GitLab's tokens expire on a date, at midnight UTC: whole days, one at least.
    let days = args.expires_in.as_secs().div_ceil(86_400).max(1);
    let expires_at = (chrono::Utc::now().date_naive() + chrono::Days::new(days)).to_string();
    let name = format!("gascale-{}-{}", session.d.name(), chrono::Utc::now().format("%Y%m%dT%H%M%SZ"));
    let env = [
        ("GASCALE_USER", args.user.as_str()),
        ("GASCALE_TOKEN_NAME", name.as_str()),
        ("GASCALE_SCOPES", &scopes.join(",")),
        ("GASCALE_DAYS", &days.to_string()),
    ];
    let r = run_on_host(ctx, &session, &host, vec![rails_runner(&env, MINT)], false).await?;
    let token = r.stdout.lines().find_map(|l| l.trim().strip_prefix(TOKEN_LINE)).map(str::to_owned);
    let Some(token) = token.filter(|t| !t.is_empty() && r.status == "Success" && r.exit_code == 0) else {
        // Its stderr is Rails' error, which holds no token.
        return Err(Error::Failed(format!(
            "minting a token for {} failed (SSM status {}, exit {}): {}",
            args.user,
            r.status,
            r.exit_code,
            r.stderr.trim()
        )));
    };
    ctx.progress.info(format!(
        "minted token {name} of {} ({}), expires {expires_at}; revoke: gascale token --revoke {name}",
        args.user,
        scopes.join(",")
    ));
    ctx.output.emit(&Minted { name, user: args.user.clone(), scopes, expires_at, token })?;
    Ok(exit::OK)
}
