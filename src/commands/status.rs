//! `gascale status`: who we are in AWS and which resources the deployment owns.

use std::io::{self, Write};

use serde::Serialize;

use super::Context;
use crate::aws::Identity;
use crate::error::{exit, Result};
use crate::output::Report;

#[derive(Debug, Serialize)]
pub struct Status {
    pub deployment: String,
    pub identity: Identity,
}

impl Report for Status {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "deployment: {}", self.deployment)?;
        writeln!(out, "account:    {}", self.identity.account)?;
        writeln!(out, "caller:     {}", self.identity.arn)?;
        writeln!(out, "region:     {}", self.identity.region)
    }
}

pub async fn run(ctx: &Context) -> Result<u8> {
    let (d, clients) = ctx.connect().await?;
    let identity = clients.identity().await?;
    ctx.output.emit(&Status { deployment: d.name().to_owned(), identity })?;
    Ok(exit::OK)
}
