//! gascale: a self-hosted GitLab with an autoscaling runner fleet on AWS,
//! created and destroyed by one binary.
//!
//! Layers, each using only those below it: `cli`/`commands` → `aws` →
//! `config`, `state`, `output`, `progress`, `error`.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod interrupt;
pub mod output;
pub mod pins;
pub mod plan;
pub mod progress;
pub mod render;
pub mod state;
pub mod timeline;
pub mod upgrade;
