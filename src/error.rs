//! The one error type below `main`, and its mapping to documented exit codes.
//!
//! Messages are short, lowercase, and name the flag, key path or AWS resource
//! that is at fault; `main` prints them and exits with `exit_code()`.

use std::fmt;

use crate::config::Problem;

pub mod exit {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const CHANGES: u8 = 2;
    pub const PARTIAL: u8 = 3;
    pub const LOCKED: u8 = 4;
    pub const TIMEOUT: u8 = 5;
    pub const USAGE: u8 = 64;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or an unusable config file path.
    #[error("{0}")]
    Usage(String),
    /// The config file parsed into problems, each with its key path.
    #[error("{}", ConfigProblems(.file, .problems))]
    Config { file: String, problems: Vec<Problem> },
    #[error(
        "no AWS region configured: pass --region REGION, set metadata.region in the config file, or export AWS_REGION"
    )]
    NoRegion,
    /// An AWS call failed: which call, on what, why, and AWS's request ID.
    #[error("{operation} {resource}: {message}{}", .request_id.as_deref().map(|r| format!(" (request ID {r})")).unwrap_or_default())]
    Aws { operation: String, resource: String, code: Option<String>, message: String, request_id: Option<String> },
    #[error("{0}")]
    Failed(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("lock held: {0}")]
    LockHeld(String),
    #[error("{0}")]
    Partial(String),
    #[error("interrupted")]
    Interrupted,
    /// Steps of a plan failed, each already reported as it failed: the
    /// summary names them, the exit code is the first one's.
    #[error("{} failed (each error above)", .steps.join(", "))]
    StepsFailed { steps: Vec<String>, first: Box<Error> },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config { .. } | Error::NoRegion => exit::USAGE,
            Error::Timeout(_) => exit::TIMEOUT,
            Error::LockHeld(_) => exit::LOCKED,
            Error::Partial(_) => exit::PARTIAL,
            Error::Interrupted => exit::INTERRUPTED,
            Error::Aws { .. } | Error::Failed(_) | Error::Io { .. } => exit::ERROR,
            Error::StepsFailed { first, .. } => first.exit_code(),
        }
    }

    /// The AWS error code, for errors from AWS.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

struct ConfigProblems<'a>(&'a str, &'a [Problem]);

impl fmt::Display for ConfigProblems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            [one] => write!(f, "{}: {}: {}", self.0, one.key, one.message),
            many => {
                write!(f, "{} has {} problems:", self.0, many.len())?;
                for p in many {
                    write!(f, "\n  {}: {}", p.key, p.message)?;
                }
                Ok(())
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
