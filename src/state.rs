//! The local state file and lock of one deployment.
//!
//! The state is a cache and an audit trail — AWS tags are the source of
//! truth — holding IDs only (never a secret or user-data), written atomically
//! (temp file + rename) after every created resource. The lock file keeps two
//! runs of the same deployment apart; it names its holder.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
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

/// Where a deployment's state and lock live.
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

    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
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

    /// Takes the deployment's lock, or fails with exit 4 naming the holder.
    /// A lock whose holder was killed on this host (its PID is gone) is
    /// stale: it is taken over and reported in `Lock::took_over`.
    pub fn lock(&self, command: &str) -> Result<Lock> {
        match self.try_lock(command) {
            Err(Error::LockHeld(msg)) => match self.holder() {
                Some(old) if old.host == hostname() && !pid_alive(old.pid) => {
                    let _ = fs::remove_file(self.lock_path());
                    let mut lock = self.try_lock(command)?;
                    lock.took_over = Some(old);
                    Ok(lock)
                }
                _ => Err(Error::LockHeld(msg)),
            },
            other => other,
        }
    }

    /// Who holds the lock, if anyone.
    pub fn holder(&self) -> Option<LockInfo> {
        fs::read_to_string(self.lock_path()).ok().and_then(|t| serde_json::from_str(&t).ok())
    }

    /// Removes the lock if its ID is `id` (`gascale force-unlock`).
    pub fn force_unlock(&self, id: &str) -> Result<LockInfo> {
        match self.holder() {
            Some(h) if h.id == id => {
                fs::remove_file(self.lock_path())
                    .map_err(Error::io(format!("removing {}", self.lock_path().display())))?;
                Ok(h)
            }
            Some(h) => Err(Error::Usage(format!(
                "lock ID {id} does not match the lock of {} (held with ID {})",
                self.name, h.id
            ))),
            None => Err(Error::Usage(format!("deployment {} is not locked", self.name))),
        }
    }

    fn try_lock(&self, command: &str) -> Result<Lock> {
        fs::create_dir_all(&self.dir).map_err(Error::io(format!("creating {}", self.dir.display())))?;
        let path = self.lock_path();
        let holder = LockInfo {
            id: format!("{:016x}", lock_id()),
            pid: std::process::id(),
            host: hostname(),
            command: command.to_owned(),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        // The lock appears with its holder already in it: written to a file
        // of this run's own, then hard-linked into place, which fails if the
        // lock exists (link(2): EEXIST). Creating the lock and then writing
        // it let a second run read an empty lock in between.
        let mine = self.dir.join(format!(".{}.lock.{}", self.name, holder.id));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&mine)
            .and_then(|mut f| f.write_all(serde_json::to_string(&holder).expect("lock serializes").as_bytes()))
            .map_err(Error::io(format!("writing {}", mine.display())))?;
        let linked = fs::hard_link(&mine, &path);
        let _ = fs::remove_file(&mine);
        match linked {
            Ok(()) => {
                crate::interrupt::hold_lock(Some(path.clone()));
                Ok(Lock { path, info: holder, took_over: None })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<LockInfo>(&t).ok());
                Err(Error::LockHeld(match other {
                    Some(o) => format!(
                        "deployment {} is locked by `gascale {}` (pid {} on {}, since {}, lock ID {}): wait for it, \
                         or if that run is gone, `gascale force-unlock {}`",
                        self.name, o.command, o.pid, o.host, o.started, o.id, o.id
                    ),
                    None => format!("deployment {} is locked ({})", self.name, path.display()),
                }))
            }
            Err(e) => Err(Error::io(format!("creating {}", path.display()))(e)),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub pid: u32,
    pub host: String,
    pub command: String,
    pub started: String,
}

/// Held while a mutating command runs; removed on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    pub info: LockInfo,
    /// The stale lock of a killed run that this one replaced.
    pub took_over: Option<LockInfo>,
}

impl Drop for Lock {
    fn drop(&mut self) {
        crate::interrupt::hold_lock(None);
        let _ = fs::remove_file(&self.path);
    }
}

fn lock_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

fn pid_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_lock_exclusion() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(dir.path(), "demo");
        assert_eq!(store.load().unwrap(), None);
        let mut s = State::new("demo", "eu-west-1", "123456789012");
        s.resources.insert("vpc".into(), "vpc-1".into());
        store.save(&s).unwrap();
        assert_eq!(store.load().unwrap(), Some(s));
        let lock = store.lock("up").unwrap();
        let err = store.lock("up").unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains(&lock.info.id), "{err}");
        drop(lock);
        assert!(store.lock("up").is_ok());
    }
}
