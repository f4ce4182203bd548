//! gascale's entry point: parse the command line, run, map errors to the
//! documented exit codes (see `error::exit`).

use std::process::ExitCode;

use clap::Parser;
use gascale::cli::Cli;
use gascale::error::exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap exits 2 on bad usage; 2 means "plan has changes" here.
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    ExitCode::from(runtime.block_on(gascale::commands::run(cli)))
}
