//! The command line: every flag and subcommand, with help text. This is the
//! only module that knows about clap; `main` turns `Cli` into calls.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "gascale",
    version,
    about = "Stand up a self-hosted GitLab with an autoscaling GitLab Runner fleet on AWS, and tear it down again",
    long_about = None,
    after_help = "Data goes to stdout (text, or JSON with --output json); logs and progress to stderr.\n\
Exit codes: 0 ok, 1 error, 2 changes (plan --detailed-exitcode), 3 partial (owned\n\
resources left), 4 lock held, 5 timed out, 64 bad usage or config, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten, next_help_heading = "Global options")]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Deployment file to use (`-` reads it from stdin).
    #[arg(
        short = 'f',
        long = "config",
        global = true,
        value_name = "FILE",
        default_value = "gascale.yaml",
        env = "GASCALE_CONFIG"
    )]
    pub config: PathBuf,
    /// Deployment name, instead of metadata.name: one file for many deployments (e.g. ci-$CI_PIPELINE_ID).
    #[arg(long, global = true, value_name = "NAME", env = "GASCALE_NAME")]
    pub name: Option<String>,
    /// AWS profile from ~/.aws/config (overrides AWS_PROFILE).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (overrides metadata.region, AWS_REGION and the profile's region).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call to this endpoint instead of AWS (a local emulator).
    #[arg(long, global = true, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Format of the data printed on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text, env = "GASCALE_OUTPUT")]
    pub output: OutputFormat,
    /// More log detail on stderr (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Answer yes to confirmations (needed for destroy without a terminal).
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Folder of the state files (`<name>.json`); the lock lives in AWS.
    #[arg(long, global = true, value_name = "DIR", default_value = ".gascale", env = "GASCALE_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Attempts per AWS call, the first one included (standard retry mode:
    /// throttling and server errors are retried with jittered backoff).
    #[arg(long, global = true, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=30))]
    pub max_attempts: u32,
    /// Steps of a plan that may run at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallelism: u32,
    /// Upper bound for the whole command, e.g. 30m, 90s.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "45m")]
    pub timeout: Duration,
    /// How long the deployment's lock (in SSM) outlives a run that stopped
    /// renewing it, e.g. a killed CI job's; renewed every third of it.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_lease, default_value = "5m", env = "GASCALE_LOCK_LEASE")]
    pub lock_lease: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    /// KEY=value lines for a CI job's dotenv report (up and status).
    Dotenv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `up` would create, change or delete; calls no mutating AWS API.
    #[command(
        after_help = "Examples:\n  gascale plan\n  gascale -f ci.yaml plan --detailed-exitcode   # exit 2 when up would change anything\n  gascale plan -v --output json > plan.json"
    )]
    Plan(PlanArgs),
    /// Create or update the deployment to match the config file.
    #[command(
        after_help = "Examples:\n  gascale up\n  gascale -f ci.yaml --region eu-west-1 up --no-wait --output json\n  gascale up --allow-host-replacement   # apply a change that needs a new GitLab host"
    )]
    Up(UpArgs),
    /// Delete everything the deployment owns, runner workers included.
    #[command(after_help = "Examples:\n  gascale destroy --dry-run\n  gascale -f ci.yaml destroy --yes")]
    Destroy(DestroyArgs),
    /// List every resource the deployment owns, with its live state.
    #[command(after_help = "Examples:\n  gascale status\n  gascale status --output json | jq -r .outputs.gitlab_url")]
    Status,
    /// Print GitLab's initial root password, read from the host through SSM.
    #[command(
        after_help = "Examples:\n  gascale fetch-root-password\n  GITLAB_PASSWORD=$(gascale fetch-root-password --wait)"
    )]
    FetchRootPassword(FetchRootPasswordArgs),
    /// Run a command on the GitLab host through SSM and stream its output.
    #[command(after_help = "Examples:\n  gascale exec -- docker ps\n  gascale exec -- docker logs --tail 50 gitlab")]
    Exec(ExecArgs),
    /// Write the rendered bootstrap files (user-data, compose, runner config) to a folder.
    #[command(
        after_help = "Examples:\n  gascale render --out rendered/\n  gascale render --offline --out rendered/   # no AWS credentials needed"
    )]
    Render(RenderArgs),
    /// Mint a GitLab personal access token on the host and print it alone (never stored by gascale).
    #[command(
        after_help = "Examples:\n  gascale token --revoke gascale-ci-123-20261207T101500Z\n  GITLAB_TOKEN=$(gascale token --scopes api --expires-in 1d)"
    )]
    Token(TokenArgs),
    /// Prove that the fleet runs jobs: a two-job pipeline in a throwaway project (cache, artifact, a worker).
    #[command(
        after_help = "Exit codes: 0 ok; 10 GitLab's API; 11 no runner registered; 12 runner not contacting GitLab; \
13 no worker launched; 14 worker unreachable; 15 no Docker on the worker; 16 cache; 17 a job failed; 18 timed out.\n\n\
Examples:\n  gascale verify\n  gascale verify --within 30m --output json"
    )]
    Verify(VerifyArgs),
    /// Take a snapshot of GitLab's data volume now and print its ID.
    #[command(after_help = "Examples:\n  gascale snapshot\n  SNAP=$(gascale snapshot --wait)")]
    Snapshot(SnapshotArgs),
    /// List gascale's snapshots of the deployment (of every deployment without a config file).
    #[command(
        after_help = "Examples:\n  gascale snapshots\n  gascale --region eu-west-1 snapshots ci-review --output json"
    )]
    Snapshots(SnapshotsArgs),
    /// Destroy every gascale deployment in the region past its expiry or older than an age (CI clean-up).
    #[command(
        after_help = "Examples:\n  gascale --region eu-west-1 reap --older-than 6h --dry-run\n  gascale --region eu-west-1 reap --expired --older-than 1d --yes   # scheduled clean-up"
    )]
    Reap(ReapArgs),
    /// Remove the deployment's lock left by a run that is gone (give the lock ID it reported).
    #[command(after_help = "Examples:\n  gascale force-unlock 3f2a9c1e")]
    ForceUnlock(ForceUnlockArgs),
    /// Print the IAM policy gascale's caller needs (for the deployment file's bucket when there is one).
    #[command(
        after_help = "Examples:\n  gascale permissions > gascale-policy.json\n  aws iam create-policy --policy-name gascale --policy-document file://gascale-policy.json"
    )]
    Permissions,
    /// Print the JSON Schema of the deployment file.
    #[command(after_help = "Examples:\n  gascale schema > gascale.schema.json   # for editors' YAML validation")]
    Schema,
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  gascale completions bash > /etc/bash_completion.d/gascale\n  gascale completions zsh > \"${fpath[1]}/_gascale\""
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Exit 2 when the plan has changes, 0 when it has none.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Accept a GitLab version beyond the upgrade path gascale knows (docs.gitlab.com/update/upgrade_paths).
    #[arg(long)]
    pub allow_unlisted_version: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Print the plan and stop (the same as `gascale plan`).
    #[arg(long)]
    pub dry_run: bool,
    /// Do not wait for GitLab and the runner to come up.
    #[arg(long, conflicts_with = "dry_run")]
    pub no_wait: bool,
    /// Allow replacing the GitLab host when a change needs a new one (its data volume is kept).
    #[arg(long)]
    pub allow_host_replacement: bool,
    /// Expire the deployment this long from now (instead of metadata.ttl; extends an existing one).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// Create the data volume from a snapshot: snap-…, latest (this deployment's) or latest:DEPLOYMENT.
    #[arg(long, value_name = "SNAPSHOT")]
    pub restore_from: Option<String>,
    /// Accept a GitLab version beyond the upgrade path gascale knows (docs.gitlab.com/update/upgrade_paths).
    #[arg(long)]
    pub allow_unlisted_version: bool,
    /// Once GitLab is up, prove that the fleet runs jobs (`gascale verify`); its exit code on failure.
    #[arg(long, conflicts_with_all = ["no_wait", "dry_run"])]
    pub verify: bool,
    /// With --verify: how long its pipeline may take.
    #[arg(long, value_name = "DURATION", value_parser = parse_within, default_value = "20m", requires = "verify")]
    pub verify_within: Duration,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// How long the pipeline may take, workers' launch included (at most 50m).
    #[arg(long, value_name = "DURATION", value_parser = parse_within, default_value = "20m")]
    pub within: Duration,
}

/// A pipeline's time: within the hour SSM gives a command (AWS-RunShellScript's
/// executionTimeout, 3600 s by default), with room for the token and clean-up.
fn parse_within(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(60) || d > Duration::from_secs(50 * 60) {
        return Err(format!("{s:?}: between 1m and 50m"));
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Print what would be deleted and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete the data volume without the final snapshot (throwaway deployments, CI).
    #[arg(long)]
    pub no_final_snapshot: bool,
}

#[derive(Debug, Args)]
pub struct FetchRootPasswordArgs {
    /// Wait for the host and its bootstrap instead of failing while they are not ready.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Folder to write the files to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Render without AWS: placeholder IDs and account, no credentials needed.
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["older_than", "expired"])))]
pub struct ReapArgs {
    /// Age after which a deployment is reaped, e.g. 6h, 2d (with --expired: those without an expiry).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
    /// Reap every deployment past its expiry (metadata.ttl, up --ttl).
    #[arg(long)]
    pub expired: bool,
    /// List what would be reaped and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete each data volume without a final snapshot.
    #[arg(long)]
    pub no_final_snapshot: bool,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Comma-separated scopes (GitLab's, e.g. api, read_api, read_repository).
    #[arg(long, default_value = "api")]
    pub scopes: String,
    /// Lifetime, rounded up to whole days (GitLab's tokens expire at midnight UTC).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1d")]
    pub expires_in: Duration,
    /// The GitLab user the token belongs to.
    #[arg(long, default_value = "root")]
    pub user: String,
    /// Revoke the active tokens of this name (as printed when minted) instead.
    #[arg(long, value_name = "NAME")]
    pub revoke: Option<String>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Wait until the snapshot is completed.
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// The deployment's name (default: the config file's; without one, every deployment).
    pub deployment: Option<String>,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock ID, as the "lock held" error shows it.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// A lease: long enough that renewing every third of it is no burden.
fn parse_lease(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(3) {
        return Err(format!("{s:?} is too short for a lock lease: at least 3s"));
    }
    Ok(d)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 90s, 30m or 6h: {e}"))
}
