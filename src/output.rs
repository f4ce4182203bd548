//! Data on stdout, as text, JSON or dotenv; nothing else ever goes there.
//! Every result type implements `Report` (text) and `Serialize` (JSON), so
//! commands produce values and never format for a particular output
//! themselves; those a CI job hands on (`up`, `status`) also `dotenv`.

use std::io::{self, Write};

use serde::Serialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// `KEY=value` lines for GitLab's `artifacts:reports:dotenv`.
    Dotenv,
}

/// A command's result as a person reads it; JSON comes from `Serialize`.
pub trait Report: Serialize {
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;

    /// The variables of `--output dotenv`, for results a pipeline hands on.
    fn dotenv(&self) -> Option<Vec<(String, String)>> {
        None
    }
}

/// A JSON object's members as dotenv variables: `gitlab_url` as
/// `GITLAB_URL`, lists joined with commas, nothing as empty.
pub fn dotenv_vars(value: &serde_json::Value) -> Vec<(String, String)> {
    let Some(object) = value.as_object() else { return Vec::new() };
    object
        .iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            (k.to_ascii_uppercase(), text)
        })
        .collect()
}

/// `KEY=value` lines as GitLab reads a dotenv report (`artifacts:reports:dotenv`,
/// GitLab CI/CD YAML reference): keys of ASCII letters, digits and `_`, no
/// empty lines or comments, values without spaces or newlines — quotes are
/// not removed, so values go unquoted — and at most 20 variables on a
/// self-managed GitLab by default. A value GitLab could not read is an error.
fn write_dotenv(out: &mut dyn Write, vars: &[(String, String)]) -> io::Result<()> {
    for (key, value) in vars {
        let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let value_ok = !value.chars().any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '#');
        if !key_ok || !value_ok {
            return Err(io::Error::other(format!("{key}: {value:?} cannot be written as a dotenv variable")));
        }
        writeln!(out, "{key}={value}")?;
    }
    Ok(())
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
            Format::Dotenv => match value.dotenv() {
                Some(vars) => write_dotenv(&mut out, &vars),
                None => return Err(Error::Usage("--output dotenv is for up and status".into())),
            },
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
