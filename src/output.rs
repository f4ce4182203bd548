//! Data on stdout, as text or JSON; nothing else ever goes there. Every
//! result type implements `Report` (text) and `Serialize` (JSON), so commands
//! produce values and never format for a particular output themselves.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// A command's result as a person reads it; JSON comes from `Serialize`.
pub trait Report: Serialize {
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
}

impl Output {
    pub fn emit<T: Report>(&self, value: &T) -> Result<()> {
        let stdout = io::stdout();
        let mut out = stdout.lock();
        let written = match self.format {
            Format::Json => {
                serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::other).and_then(|_| writeln!(out))
            }
            Format::Text => value.text(&mut out),
        };
        written.and_then(|_| out.flush()).or_else(ignore_broken_pipe).map_err(Error::io("writing to stdout"))
    }
}

/// `gascale plan | head` must not turn into an error.
fn ignore_broken_pipe(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e)
    }
}

/// Plain text that is its own report (e.g. the JSON schema, completions).
impl Report for serde_json::Value {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::other)?;
        writeln!(out)
    }
}
