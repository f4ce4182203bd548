//! A stub host: a scratch root with the stub commands of `tests/stubs` first
//! on PATH, on which the rendered bootstrap and `runner-update.sh` run as on
//! the GitLab host.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What tests/stubs/curl serves as the compose plugin: a script that
/// answers `version --short` with the pinned version.
fn stub_compose_plugin() -> String {
    format!("#!/bin/sh\necho {}\n", gascale::pins::COMPOSE_VERSION.trim_start_matches('v'))
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn pinned_compose_sha256(user_data: &str) -> String {
    user_data.lines().find_map(|l| l.strip_prefix("COMPOSE_SHA256=")).unwrap_or_default().trim_matches('\'').to_owned()
}

/// A scratch root with the stub commands first on PATH.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub script: PathBuf,
}

impl Host {
    pub fn new(user_data: &str) -> Host {
        Host::with_compose_download(user_data, &stub_compose_plugin())
    }

    /// A host whose compose download (tests/stubs/curl) is `download`. The
    /// stub's plugin is not Docker's release, so the script expects its
    /// checksum in place of the pinned one.
    pub fn with_compose_download(user_data: &str, download: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("user-data.sh");
        let pinned = format!("COMPOSE_SHA256='{}'\n", pinned_compose_sha256(user_data));
        assert!(user_data.contains(&pinned), "the rendered bootstrap pins the compose checksum");
        let user_data =
            user_data.replace(&pinned, &format!("COMPOSE_SHA256='{}'\n", sha256_hex(&stub_compose_plugin())));
        std::fs::write(&script, user_data).unwrap();
        std::fs::write(dir.path().join("compose-download"), download).unwrap();
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        std::fs::create_dir_all(dir.path().join("stub")).unwrap();
        std::fs::write(dir.path().join("dev-sdf"), "").unwrap();
        Host { dir, script }
    }

    pub fn run(&self, readiness: &str) -> std::process::Output {
        self.run_with(readiness, &[])
    }

    pub fn run_with(&self, readiness: &str, env: &[(&str, &str)]) -> std::process::Output {
        self.command(&self.script)
            .env("HOME", self.dir.path())
            .env("GASCALE_DATA_DEVICE", self.dir.path().join("dev-sdf"))
            .env("STUB_READINESS", readiness)
            .env("STUB_COMPOSE_DOWNLOAD", self.dir.path().join("compose-download"))
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs a rendered `runner-update.sh` the way SSM would, on this host.
    pub fn update(&self, script: &str, env: &[(&str, &str)]) -> std::process::Output {
        let path = self.dir.path().join("runner-update.sh");
        std::fs::write(&path, script).unwrap();
        self.command(&path).envs(env.iter().copied()).output().unwrap()
    }

    /// `bash SCRIPT` on this host: nothing of the test's environment, the
    /// stub commands first on PATH, the scratch root and the stubs' records.
    pub fn command(&self, script: &Path) -> Command {
        let stubs = crate::harness::root().join("tests/stubs");
        let mut command = Command::new("bash");
        command
            .arg(script)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
            .env("GASCALE_ROOT", self.dir.path().join("root"))
            .env("STUB_DIR", self.dir.path().join("stub"));
        command
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_default()
    }

    pub fn count(&self, rel: &str) -> usize {
        self.read(rel).lines().count()
    }

    /// How many recorded stub calls contain `what`.
    pub fn calls(&self, what: &str) -> usize {
        self.read("stub/calls").lines().filter(|l| l.contains(what)).count()
    }
}
