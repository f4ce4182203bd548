//! The one integration-test binary: drives the real `gascale` binary,
//! against the local AWS emulator where AWS is involved.

mod autoscaler;
mod backups;
mod cli;
mod config;
mod destroy;
mod drift;
mod emulator;
mod faults;
mod fleet;
mod fuzz;
mod gitlab_start;
mod harness;
mod host;
mod hostnames;
mod iam;
mod images;
mod lock;
mod operator;
mod owned;
mod resume;
mod runner;
mod runner_lint;
mod strict;
mod stub_host;
mod templates;
mod timeline;
mod up;
mod upgrades;
mod verify;
