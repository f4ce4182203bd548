//! `gascale completions SHELL`: shell completion scripts from the clap model.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::{exit, Result};

pub fn run(shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "gascale", &mut std::io::stdout());
    Ok(exit::OK)
}
