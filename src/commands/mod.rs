//! Dispatch: turns the parsed command line into a `Context` (output,
//! progress, config path, AWS settings) and runs one subcommand with it.

mod completions;
mod destroy;
mod host;
mod plan;
mod reap;
mod render;
mod session;
mod snapshots;
mod status;
mod token;
mod up;
mod verify;

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::{AwsSettings, Clients};
use crate::cli::{Cli, Command, GlobalArgs, OutputFormat};
use crate::config::{self, Deployment};
use crate::error::{exit, Result};
use crate::output::{Format, Output};
use crate::progress::Progress;

/// Everything a subcommand needs from the command line, clap-free.
pub struct Context {
    pub output: Output,
    pub progress: Progress,
    pub config_path: PathBuf,
    /// `--name`: the deployment's name instead of `metadata.name`.
    pub name: Option<String>,
    pub state_dir: PathBuf,
    pub yes: bool,
    pub timeout: Duration,
    /// `--lock-lease`.
    pub lock_lease: Duration,
    pub parallelism: usize,
    /// `-v` count: `plan` shows every attribute from 1 on.
    pub verbose: u8,
    aws: AwsSettings,
}

impl Context {
    fn new(g: &GlobalArgs) -> Context {
        let format = match g.output {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
            OutputFormat::Dotenv => Format::Dotenv,
        };
        let progress = Progress::new(g.verbose, g.quiet);
        Context {
            output: Output { format },
            progress: progress.clone(),
            config_path: g.config.clone(),
            name: g.name.clone(),
            state_dir: g.state_dir.clone(),
            yes: g.yes,
            timeout: g.timeout,
            lock_lease: g.lock_lease,
            parallelism: g.parallelism as usize,
            verbose: g.verbose,
            aws: AwsSettings {
                profile: g.profile.clone(),
                region: g.region.clone(),
                endpoint_url: g.endpoint_url.clone().filter(|u| !u.is_empty()),
                max_attempts: g.max_attempts,
                log: Some(progress),
            },
        }
    }

    /// `gascale` with every flag that reaches this deployment again — the
    /// file, the region it resolved to, and the state folder, profile and
    /// endpoint when given — for the commands printed after a failure.
    pub fn same_deployment(&self, region: &str) -> String {
        let word = |s: &str| {
            let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c));
            if plain {
                s.to_owned()
            } else {
                crate::render::quote::shell(s)
            }
        };
        let mut cmd = format!("gascale -f {}", word(&self.config_path.to_string_lossy()));
        if let Some(name) = &self.name {
            cmd.push_str(&format!(" --name {}", word(name)));
        }
        if !region.is_empty() {
            cmd.push_str(&format!(" --region {}", word(region)));
        }
        if self.state_dir != std::path::Path::new(".gascale") {
            cmd.push_str(&format!(" --state-dir {}", word(&self.state_dir.to_string_lossy())));
        }
        if let Some(profile) = &self.aws.profile {
            cmd.push_str(&format!(" --profile {}", word(profile)));
        }
        if let Some(url) = &self.aws.endpoint_url {
            cmd.push_str(&format!(" --endpoint-url {}", word(url)));
        }
        cmd
    }

    /// The validated deployment file, named by `--name` / `GASCALE_NAME`
    /// when given (one file, many deployments: `--name ci-$CI_PIPELINE_ID`).
    pub fn deployment(&self) -> Result<Deployment> {
        let mut d = config::load(&self.config_path)?;
        if let Some(name) = &self.name {
            if let Some(problem) = config::name_problem(name) {
                return Err(crate::error::Error::Usage(format!("--name / GASCALE_NAME: {problem}")));
            }
            d.metadata.name = name.clone();
        }
        Ok(d)
    }

    /// AWS clients for commands that work without a deployment file
    /// (`reap`): `--region` or the SDK's chain.
    pub async fn clients_without_config(&self) -> Result<Clients> {
        let mut settings = self.aws.clone();
        if settings.region.is_none() && (self.config_path.exists() || self.config_path.as_os_str() == "-") {
            settings.region = self.deployment()?.metadata.region;
        }
        Clients::connect(&settings).await
    }

    /// The deployment and AWS clients for it. The region is resolved once
    /// here — `--region`, else `metadata.region`, else the SDK's chain — and
    /// written back into the deployment so every later step uses the same.
    /// Takes `deployment`'s lock (in AWS) for `command`, saying so when it
    /// took over a stale one.
    pub async fn lock(&self, clients: &Clients, deployment: &str, command: &str) -> Result<crate::aws::lock::Lock> {
        let lock = crate::aws::lock::acquire(clients, &self.progress, deployment, command, self.lock_lease).await?;
        if let Some(old) = &lock.took_over {
            self.progress.warn(format!(
                "took over the stale lock of {} (its lease ran out or its process is gone)",
                old.describe()
            ));
        }
        Ok(lock)
    }

    pub async fn connect(&self) -> Result<(Deployment, Clients)> {
        let mut d = self.deployment()?;
        let mut settings = self.aws.clone();
        settings.region = settings.region.or_else(|| d.metadata.region.clone());
        let clients = Clients::connect(&settings).await?;
        d.metadata.region = Some(clients.region.clone());
        Ok((d, clients))
    }
}

/// What exists after an interrupted run, and the commands to go on from
/// there — printed on stderr before exiting 130.
pub fn resume_hint(
    ctx: &Context,
    store: &crate::state::StateStore,
    state: &crate::state::State,
    destroying: bool,
    why: &str,
) -> String {
    let gascale = ctx.same_deployment(&state.region);
    let mut msg = format!("{why}; {} resources exist (recorded in {}):", state.resources.len(), store.path().display());
    for (address, id) in &state.resources {
        msg.push_str(&format!("\n  {address}  {id}"));
    }
    if destroying {
        msg.push_str(&format!("\nto finish the clean-up: {gascale} destroy --yes"));
    } else {
        msg.push_str(&format!("\nto resume:   {gascale} up\nto clean up: {gascale} destroy --yes"));
    }
    msg
}

/// Runs the command and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    crate::interrupt::install();
    let ctx = Context::new(&cli.global);
    match dispatch(&ctx, cli.command).await {
        Ok(code) => code,
        Err(e) => {
            ctx.progress.error(e.to_string());
            e.exit_code()
        }
    }
}

async fn dispatch(ctx: &Context, command: Command) -> Result<u8> {
    // Refused before anything is done, not after.
    if ctx.output.format == Format::Dotenv && !matches!(command, Command::Up(_) | Command::Status) {
        return Err(crate::error::Error::Usage("--output dotenv is for up and status".into()));
    }
    match command {
        Command::Status => status::run(ctx).await,
        Command::ForceUnlock(args) => {
            let (d, clients) = ctx.connect().await?;
            let held = crate::aws::lock::force_unlock(&clients, d.name(), &args.id).await?;
            ctx.progress.info(format!("removed the lock of {}", held.describe()));
            Ok(exit::OK)
        }
        Command::Schema => ctx.output.emit(&config::json_schema()).map(|_| exit::OK),
        Command::Permissions => {
            // The bucket: `cache.bucket`, else the default name's pattern
            // (it embeds the account, which needs no call to scope).
            let bucket = match ctx.config_path.exists() {
                true => {
                    let d = ctx.deployment()?;
                    // gascale-<name>-<12-digit account>-<region>: `demo` never covers `demo-2`.
                    d.cache.bucket.clone().unwrap_or_else(|| format!("gascale-{}-????????????-*", d.name()))
                }
                false => "gascale-*".to_owned(),
            };
            ctx.output.emit(&crate::plan::permissions::operator_policy(&bucket)).map(|_| exit::OK)
        }
        Command::Completions(args) => completions::run(args.shell),
        Command::Plan(args) => plan::run(ctx, &args).await,
        Command::Up(args) => up::run(ctx, &args).await,
        Command::Destroy(args) => destroy::run(ctx, args.dry_run, !args.no_final_snapshot).await,
        Command::FetchRootPassword(args) => host::fetch_root_password(ctx, args.wait).await,
        Command::Exec(args) => host::exec(ctx, &args.command).await,
        Command::Render(args) => render::run(ctx, &args.out, args.offline).await,
        Command::Token(args) => token::run(ctx, &args).await,
        Command::Verify(args) => verify::run(ctx, args.within).await,
        Command::Snapshot(args) => snapshots::take(ctx, args.wait).await,
        Command::Snapshots(args) => snapshots::list(ctx, args.deployment).await,
        Command::Reap(args) => reap::run(ctx, &args).await,
    }
}
