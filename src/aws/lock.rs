//! The deployment's lock, kept in AWS so that every machine running gascale
//! for a deployment — a laptop, an `up` job, a `destroy` job, a scheduled
//! `reap` — sees the same one: the SSM parameter `/gascale/<name>/lock` in
//! the deployment's region, holding who holds it.
//!
//! - Taken atomically: `PutParameter` without `Overwrite` creates the
//!   parameter or answers `ParameterAlreadyExists` ("You can't create
//!   duplicate parameters": SSM API reference, PutParameter). Nothing has to
//!   exist first, and nothing stays after a run: the lock is deleted when
//!   the run ends.
//! - Leased: the holder renews the lease every third of it; another machine
//!   takes the lock over only once the lease has expired. A holder that
//!   could not renew in time (paused, cut off from SSM) stops as on Ctrl-C
//!   before starting anything new (`interrupt::lease`), so two runs never
//!   act at once.
//! - On this host a holder whose process is gone is stale at once.
//! - A takeover is serialised by a second parameter, `…/lock.takeover`,
//!   created the same atomic way: inside it the taker reads the lock again
//!   and overwrites it only if it is still the expired one it saw, so two
//!   takers of one expired lock never both win.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::errors::on;
use super::parameters::{self, delete};
use super::Clients;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How long a taker may sit inside a takeover before another may clear it.
const TAKEOVER_LEASE: Duration = Duration::from_secs(60);

/// The parameter holding `deployment`'s lock.
pub fn parameter(deployment: &str) -> String {
    format!("/gascale/{deployment}/lock")
}

fn takeover_parameter(deployment: &str) -> String {
    format!("{}.takeover", parameter(deployment))
}

/// Who holds a lock: what the "locked" error and `force-unlock` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub id: String,
    pub command: String,
    pub host: String,
    pub pid: u32,
    /// The CI job running it, when it runs in GitLab CI or GitHub Actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_job: Option<String>,
    pub started: String,
    /// Until when the lease holds (RFC 3339, UTC).
    pub expires: String,
}

impl Holder {
    fn new(command: &str, lease: Duration) -> Holder {
        let now = Utc::now();
        Holder {
            id: format!("{:016x}", lock_id()),
            command: command.into(),
            host: hostname(),
            pid: std::process::id(),
            ci_job: ci_job(),
            started: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            expires: expiry(now, lease),
        }
    }

    /// The lease has run out, or its holder ran on this host and is gone.
    fn stale(&self, now: DateTime<Utc>) -> bool {
        let expired = DateTime::parse_from_rfc3339(&self.expires).map(|e| e < now).unwrap_or(true);
        expired || (self.host == hostname() && !pid_alive(self.pid))
    }

    /// "`gascale up` (pid 1 on ci-7, job URL, since …, lease until …, lock ID …)"
    pub fn describe(&self) -> String {
        let job = self.ci_job.as_deref().map(|j| format!(", job {j}")).unwrap_or_default();
        format!(
            "`gascale {}` (pid {} on {}{job}, since {}, lease until {}, lock ID {})",
            self.command, self.pid, self.host, self.started, self.expires, self.id
        )
    }
}

/// A held lock. Renewed in the background; released (deleted) on drop.
#[derive(Debug)]
pub struct Lock {
    /// The stale lock this run took over.
    pub took_over: Option<Holder>,
    release: Release,
    renewer: tokio::task::JoinHandle<()>,
}

/// What it takes to delete a lock: kept by `interrupt` too, for a second
/// Ctrl-C that ends the process at once.
#[derive(Debug, Clone)]
pub struct Release {
    ssm: aws_sdk_ssm::Client,
    deployment: String,
    id: String,
}

impl Release {
    /// Deletes the lock if it is still this run's.
    pub async fn run(&self) {
        let name = parameter(&self.deployment);
        if let Ok(Some(holder)) = read(&self.ssm, &name).await {
            if holder.id == self.id {
                let _ = delete(&self.ssm, &name).await;
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.abort();
        // Drop cannot await: block this worker (the runtime is multi-threaded)
        // for the one delete, bounded so a dead network never hangs the exit.
        // The lease still counts here: once it ran out, the fence keeps the
        // delete from removing a successor's lock.
        let release = self.release.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            tokio::task::block_in_place(|| {
                handle.block_on(async { tokio::time::timeout(Duration::from_secs(10), release.run()).await })
            })
            .ok();
        }
        crate::interrupt::hold_lock(None);
        crate::interrupt::lease(None);
    }
}

/// Takes `deployment`'s lock for `command`, or fails with exit 4 naming the
/// holder. A stale lock (see `Holder::stale`) is taken over.
pub async fn acquire(
    c: &Clients,
    progress: &Progress,
    deployment: &str,
    command: &str,
    lease: Duration,
) -> Result<Lock> {
    let name = parameter(deployment);
    // The lease runs from before the lock is written, as `me.expires` says.
    let since = std::time::SystemTime::now();
    let me = Holder::new(command, lease);
    let until = since + lease;
    for _ in 0..5 {
        if create(&c.ssm, &name, &me).await? {
            return Ok(held(c, progress, deployment, me, None, (lease, until)));
        }
        let Some(current) = read(&c.ssm, &name).await? else {
            continue; // released between the two calls
        };
        if !current.stale(Utc::now()) {
            return Err(locked(deployment, &current));
        }
        match take_over(c, deployment, &current, &me).await? {
            None => return Ok(held(c, progress, deployment, me, Some(current), (lease, until))),
            Some(other) if other.id != current.id && !other.stale(Utc::now()) => {
                return Err(locked(deployment, &other));
            }
            Some(_) => continue,
        }
    }
    Err(Error::LockHeld(format!("deployment {deployment}'s lock kept changing hands; try again")))
}

/// Removes `deployment`'s lock if its ID is `id` (`gascale force-unlock`).
pub async fn force_unlock(c: &Clients, deployment: &str, id: &str) -> Result<Holder> {
    let name = parameter(deployment);
    match read(&c.ssm, &name).await? {
        Some(holder) if holder.id == id => {
            delete(&c.ssm, &name).await?;
            Ok(holder)
        }
        Some(holder) => Err(Error::Usage(format!(
            "lock ID {id} does not match the lock of {deployment}, held by {}; nothing was removed",
            holder.describe()
        ))),
        None => Err(Error::Usage(format!("deployment {deployment} is not locked"))),
    }
}

/// Locks whose holder is gone (`Holder::stale`), one per deployment: what a
/// run killed at its very end leaves (`reap` removes those of deployments
/// that no longer exist). A takeover section counts as its deployment's lock.
pub async fn stale(c: &Clients) -> Result<Vec<(String, Holder)>> {
    let mut found = Vec::new();
    let mut pages = c.ssm.get_parameters_by_path().path("/gascale").recursive(true).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(on("ssm:GetParametersByPath", "/gascale"))?;
        for p in page.parameters() {
            let name = p.name().unwrap_or_default();
            let Some((deployment, rest)) = name.strip_prefix("/gascale/").and_then(|n| n.split_once('/')) else {
                continue;
            };
            let Ok(holder) = serde_json::from_str::<Holder>(p.value().unwrap_or_default()) else { continue };
            let known = found.iter().any(|(d, _): &(String, Holder)| d == deployment);
            if matches!(rest, "lock" | "lock.takeover") && holder.stale(Utc::now()) && !known {
                found.push((deployment.to_owned(), holder));
            }
        }
    }
    Ok(found)
}

/// Removes `deployment`'s lock and takeover section.
pub async fn remove(c: &Clients, deployment: &str) -> Result<()> {
    delete(&c.ssm, &takeover_parameter(deployment)).await?;
    delete(&c.ssm, &parameter(deployment)).await
}

fn locked(deployment: &str, holder: &Holder) -> Error {
    Error::LockHeld(format!(
        "deployment {deployment} is locked by {}: wait for it, or if that run is gone, `gascale force-unlock {}`",
        holder.describe(),
        holder.id
    ))
}

/// `lease`: how long, and until when the first one runs.
fn held(
    c: &Clients,
    progress: &Progress,
    deployment: &str,
    me: Holder,
    took_over: Option<Holder>,
    (lease, until): (Duration, std::time::SystemTime),
) -> Lock {
    let release = Release { ssm: c.ssm.clone(), deployment: deployment.into(), id: me.id.clone() };
    crate::interrupt::hold_lock(Some(release.clone()));
    crate::interrupt::lease(Some(until));
    let renewer = tokio::spawn(renew(c.ssm.clone(), progress.clone(), deployment.to_owned(), me.clone(), lease));
    Lock { took_over, release, renewer }
}

/// Extends the lease every third of it while the run lasts. A lock that is
/// no longer ours (force-unlocked, taken over) stops the run.
async fn renew(ssm: aws_sdk_ssm::Client, progress: Progress, deployment: String, mut me: Holder, lease: Duration) {
    let name = parameter(&deployment);
    loop {
        tokio::time::sleep(lease / 3).await;
        // The new lease counts from before the read: a run paused between
        // the read and the write holds no longer than the lock says.
        let (now, before) = (Utc::now(), std::time::SystemTime::now());
        match read(&ssm, &name).await {
            Ok(Some(current)) if current.id == me.id => {
                me.expires = expiry(now, lease);
                match put(&ssm, &name, &me, true).await {
                    Ok(_) => crate::interrupt::lease(Some(before + lease)),
                    Err(e) => progress.warn(format!("could not renew the lock of {deployment}: {e}")),
                }
            }
            Ok(found) => {
                let by = found.map(|h| format!("now held by {}", h.describe())).unwrap_or("removed".into());
                progress.error(format!("lost the lock of {deployment} ({by}): stopping, starting nothing new"));
                crate::interrupt::lease(Some(std::time::SystemTime::UNIX_EPOCH));
                crate::interrupt::requested(); // wakes the waits
                return;
            }
            Err(e) => progress.warn(format!("could not read the lock of {deployment}: {e}")),
        }
    }
}

/// Overwrites `current`'s lock with `me` inside the takeover section.
/// `None`: taken over; `Some(h)`: the lock is `h`'s now, or someone else is
/// taking it over (then `h` is `current`).
async fn take_over(c: &Clients, deployment: &str, current: &Holder, me: &Holder) -> Result<Option<Holder>> {
    let section = takeover_parameter(deployment);
    let mut marker = me.clone();
    marker.expires = expiry(Utc::now(), TAKEOVER_LEASE);
    if !create(&c.ssm, &section, &marker).await? {
        // Another taker is inside; one killed there is cleared for the next try.
        if let Some(other) = read(&c.ssm, &section).await? {
            if other.stale(Utc::now()) {
                let _ = delete(&c.ssm, &section).await;
            }
        }
        return Ok(Some(current.clone()));
    }
    let name = parameter(deployment);
    let outcome = match read(&c.ssm, &name).await {
        Ok(Some(now)) if now.id == current.id => put(&c.ssm, &name, me, true).await.map(|_| None),
        Ok(Some(now)) => Ok(Some(now)),
        Ok(None) => create(&c.ssm, &name, me).await.map(|made| (!made).then(|| current.clone())),
        Err(e) => Err(e),
    };
    let _ = delete(&c.ssm, &section).await;
    outcome
}

/// Creates `name` holding `holder`; false when it exists already.
async fn create(ssm: &aws_sdk_ssm::Client, name: &str, holder: &Holder) -> Result<bool> {
    match put(ssm, name, holder, false).await {
        Ok(()) => Ok(true),
        Err(Error::Aws { code: Some(code), .. }) if code == "ParameterAlreadyExists" => Ok(false),
        Err(e) => Err(e),
    }
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, holder: &Holder, overwrite: bool) -> Result<()> {
    let value = serde_json::to_string(holder).expect("a holder serializes");
    parameters::put(ssm, name, value, "gascale: the deployment's lock (who runs gascale on it now)", overwrite).await
}

/// The holder in `name`, if it exists.
async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<Holder>> {
    let Some(value) = parameters::get(ssm, name).await? else { return Ok(None) };
    let holder = serde_json::from_str(&value)
        .map_err(|e| Error::Failed(format!("the lock {name} is not gascale's ({e}); remove it by hand")))?;
    Ok(Some(holder))
}

fn expiry(from: DateTime<Utc>, lease: Duration) -> String {
    let until = from + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    until.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The CI job this runs in: GitLab CI's `CI_JOB_URL` (GitLab docs,
/// "Predefined CI/CD variables"), or GitHub Actions' run URL from
/// `GITHUB_SERVER_URL`, `GITHUB_REPOSITORY` and `GITHUB_RUN_ID` (GitHub docs,
/// "Variables reference": default environment variables).
fn ci_job() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    var("CI_JOB_URL").or_else(|| {
        let (server, repo, run) = (var("GITHUB_SERVER_URL")?, var("GITHUB_REPOSITORY")?, var("GITHUB_RUN_ID")?);
        Some(format!("{server}/{repo}/actions/runs/{run}"))
    })
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
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_and_a_dead_local_holder_is_stale() {
        let mut h = Holder::new("up", Duration::from_secs(60));
        assert!(!h.stale(Utc::now()), "a fresh lock of this live process");
        assert!(h.stale(Utc::now() + chrono::Duration::seconds(61)), "past its lease");
        h.pid = u32::MAX; // no such process here
        assert!(h.stale(Utc::now()));
        h.host = "another-machine".into();
        assert!(!h.stale(Utc::now()), "another host's process cannot be checked: only its lease counts");
        h.expires = "garbage".into();
        assert!(h.stale(Utc::now()), "an unreadable lease is no lease");
    }
}
