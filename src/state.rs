//! The local state file of one deployment.
//!
//! The state is a cache and an audit trail — AWS tags are the source of
//! truth — holding IDs only (never a secret or user-data), written atomically
//! (temp file + rename) after every created resource. The lock that keeps two
//! runs apart lives in AWS (`aws::lock`), where every machine sees it.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub deployment: String,
    pub region: String,
    pub account: String,
    /// Resource address (e.g. `subnet/public-0`) → AWS ID or name.
    pub resources: BTreeMap<String, String>,
    /// What a run is about to create where AWS cannot mark it as ours in the
    /// same call: address → the name (bucket) or launch nonce (host) it will
    /// use. Written before the call, cleared once the resource is recorded,
    /// so a run killed in between knows on resume what it made.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub intents: BTreeMap<String, String>,
}

impl State {
    pub fn new(deployment: &str, region: &str, account: &str) -> State {
        State {
            version: STATE_VERSION,
            deployment: deployment.into(),
            region: region.into(),
            account: account.into(),
            resources: BTreeMap::new(),
            intents: BTreeMap::new(),
        }
    }
}

/// Where a deployment's state lives.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
    name: String,
}

impl StateStore {
    pub fn new(dir: &Path, name: &str) -> StateStore {
        StateStore { dir: dir.to_owned(), name: name.to_owned() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.name))
    }

    /// The saved state, if any. A file of another version is an error, not
    /// something to guess at.
    pub fn load(&self) -> Result<Option<State>> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
        };
        let state: State = serde_json::from_str(&text)
            .map_err(|e| Error::Failed(format!("state file {} is damaged: {e}", path.display())))?;
        if state.version != STATE_VERSION {
            return Err(Error::Failed(format!(
                "state file {} has version {}; this gascale reads version {STATE_VERSION}",
                path.display(),
                state.version
            )));
        }
        Ok(Some(state))
    }

    /// Writes the state atomically: a reader sees the old or the new file.
    pub fn save(&self, state: &State) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(Error::io(format!("creating {}", self.dir.display())))?;
        let path = self.path();
        let tmp = self.dir.join(format!(".{}.json.{}.tmp", self.name, std::process::id()));
        let body = serde_json::to_vec_pretty(state).expect("state serializes");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.write_all(b"\n")?;
            // No fsync: the rename is atomic, and a killed process loses no
            // page the kernel already has. Only a power loss could cost the
            // last entries — and the state is a cache of what the tags say.
            fs::rename(&tmp, &path)
        };
        write().map_err(Error::io(format!("writing {}", path.display())))
    }

    /// Removes the state file once the deployment is gone.
    pub fn remove(&self) -> Result<()> {
        match fs::remove_file(self.path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io(format!("removing {}", self.path().display()))(e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "demo");
        assert_eq!(store.load().unwrap(), None);
        let mut s = State::new("demo", "eu-west-1", "123456789012");
        s.resources.insert("vpc".into(), "vpc-1".into());
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), Some(s));
    }
}
