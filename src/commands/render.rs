//! `gascale render --out DIR`: the exact files the host would boot from,
//! written out for review (placeholder IDs where the deployment does not
//! exist yet).

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use super::session::{Purpose, Session};
use super::Context;
use crate::error::{exit, Error, Result};
use crate::output::Report;
use crate::plan::found_host_inputs;
use crate::render::{self, HostInputs, USER_DATA_LIMIT};

#[derive(Debug, Serialize)]
pub struct RenderReport {
    pub files: Vec<RenderedFile>,
    /// Size of the gzip-compressed user-data EC2 receives.
    pub user_data_bytes: usize,
    pub user_data_limit: usize,
}

#[derive(Debug, Serialize)]
pub struct RenderedFile {
    pub path: String,
    pub bytes: usize,
}

impl Report for RenderReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for f in &self.files {
            writeln!(out, "{}  ({} bytes)", f.path, f.bytes)?;
        }
        writeln!(out, "user-data sent to EC2: {} of {} bytes (gzip)", self.user_data_bytes, self.user_data_limit)
    }
}

/// The account ID `--offline` renders with.
const PLACEHOLDER_ACCOUNT: &str = "000000000000";

pub async fn run(ctx: &Context, out_dir: &Path, offline: bool) -> Result<u8> {
    let rendered = if offline {
        // For review without an AWS account: no call, placeholders for
        // every ID; the region still has to be known (--region or the file).
        let mut d = ctx.deployment()?;
        d.metadata.region = ctx.aws.region.clone().or(d.metadata.region.take());
        if d.metadata.region.is_none() {
            return Err(Error::NoRegion);
        }
        ctx.progress.info(format!("offline: placeholder IDs and account {PLACEHOLDER_ACCOUNT}"));
        render::render(&d, &HostInputs::placeholders(&d, PLACEHOLDER_ACCOUNT))?
    } else {
        let (session, _, inventory) = Session::open_discovered(ctx, None, Purpose::Look).await?;
        let d = &session.d;
        // The deployment's real IDs where it exists, placeholders where not.
        let inputs = found_host_inputs(d, &session.identity.account, &inventory)
            .unwrap_or_else(|| HostInputs::placeholders(d, &session.identity.account));
        render::render(d, &inputs)?
    };
    std::fs::create_dir_all(out_dir).map_err(Error::io(format!("creating {}", out_dir.display())))?;
    let mut files = Vec::new();
    for (name, body) in rendered.files() {
        let path = out_dir.join(name);
        std::fs::write(&path, body).map_err(Error::io(format!("writing {}", path.display())))?;
        files.push(RenderedFile { path: path.display().to_string(), bytes: body.len() });
    }
    let report =
        RenderReport { files, user_data_bytes: rendered.user_data_gzip().len(), user_data_limit: USER_DATA_LIMIT };
    ctx.output.emit(&report)?;
    Ok(exit::OK)
}
