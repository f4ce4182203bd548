//! GitLab's first start on the stub host: Omnibus migrates the database,
//! then Puma boots the Rails application (omnibus-gitlab 19.3
//! `files/gitlab-cookbooks/gitlab/recipes/default.rb`). The bootstrap's step
//! `gitlab` ends at the migration, the runner is created beside Puma's boot,
//! and step `gitlab-ready` waits for GitLab to answer; both share one
//! `gitlab.readiness_timeout`.

use crate::templates::{example, rendered, with_region, Host};

fn step_times(host: &Host, step: &str) -> (f64, f64) {
    let at = |end: &str| host.read(&format!("root/var/lib/gascale/steps/{step}.{end}")).trim().parse::<f64>().unwrap();
    (at("start"), at("end"))
}

/// The minimal example's host, GitLab given 60 s to start.
fn with_a_minute_to_start() -> Host {
    let mut d = with_region(example("minimal.yaml"));
    d.gitlab.readiness_timeout = 60;
    Host::new(&rendered(&d).user_data)
}

#[test]
fn the_runner_is_created_while_puma_boots_and_started_once_gitlab_answers() {
    let host = Host::new(&rendered(&with_region(example("minimal.yaml"))).user_data);
    // The database is migrated 0.2 s after `up -d gitlab`, GitLab answers
    // after 4 s (room for a loaded machine); waits at 1/100 of their length
    // (5 s polls: 0.05 s).
    let out = host.run_with(
        "ok",
        &[("STUB_SECONDS", "gitlab-migrated=0.2,gitlab-start=4,rails-runner=0.2"), ("STUB_SLEEP_SCALE", "0.01")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "complete");
    let (_, migrated) = step_times(&host, "gitlab");
    let (token_start, token_end) = step_times(&host, "runner-token");
    let (_, answered) = step_times(&host, "gitlab-ready");
    let (runner_start, _) = step_times(&host, "runner");
    assert!(token_start >= migrated, "the runner was created before the database was migrated");
    assert!(token_end + 1.0 < answered, "the runner was not created while GitLab booted: {token_end} vs {answered}");
    assert!(runner_start >= answered, "the runner started before GitLab answered");
    assert_eq!(host.count("stub/runners-created"), 1);
}

#[test]
fn the_bootstrap_fails_at_gitlab_when_the_database_is_never_migrated() {
    let host = with_a_minute_to_start();
    let out = host.run_with("ok", &[("STUB_MIGRATION", "fail")]);
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:gitlab");
    assert!(host.read("stub/aws").contains("Value=failed:gitlab"));
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains("GitLab's database not migrated after 60s"), "{log}");
    // Bounded: 60 s at one check per 5 s is twelve checks.
    assert_eq!(host.calls("exec -T gitlab bash"), 12);
    assert_eq!(host.calls("exec -T gitlab curl"), 0);
    assert_eq!(host.count("stub/runners-created"), 0);
    assert!(host.read("root/var/lib/gascale/bootstrap-complete").is_empty());
}

#[test]
fn bootstrap_publishes_the_failing_step_when_gitlab_never_gets_ready() {
    let host = with_a_minute_to_start();
    let out = host.run("fail");
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:gitlab-ready");
    assert!(host.read("stub/aws").contains("Value=failed:gitlab-ready"));
    assert!(host.read("root/var/log/gascale-bootstrap.log").contains("GitLab not ready after 60s"));
    // Bounded: 60 s at one poll per 5 s is twelve polls, not an endless loop.
    assert_eq!(host.calls("exec -T gitlab curl"), 12);
    // The runner may be created beside the wait (the database was migrated);
    // it is never started on a GitLab that does not answer.
    assert_eq!(host.calls("up -d runner"), 0);
    assert!(host.read("root/var/lib/gascale/bootstrap-complete").is_empty());
}

/// One budget: what the database's migration waited is not waited again
/// for GitLab to answer.
#[test]
fn the_database_and_the_readiness_share_one_readiness_timeout() {
    let host = with_a_minute_to_start();
    // Migrated after a few 5 s checks (0.05 s each at this scale), never ready.
    let out = host.run_with("fail", &[("STUB_SECONDS", "gitlab-migrated=0.12"), ("STUB_SLEEP_SCALE", "0.01")]);
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:gitlab-ready");
    // Twelve waits of 5 s in all; the check that found the database
    // migrated is followed by GitLab's first readiness poll, not a wait.
    let waits = host.read("stub/sleeps").lines().filter(|l| *l == "sleep 5").count();
    assert_eq!(waits, 12);
    let (migration, readiness) = (host.calls("exec -T gitlab bash"), host.calls("exec -T gitlab curl"));
    assert!(migration >= 2, "the migration was not waited for");
    assert_eq!(migration + readiness, 13);
}

/// The migration check itself, run against a container's files laid out as
/// Omnibus 19.3 writes them: `echo $STATUS > upgrade-status/db-migrate-
/// <md5 of the connection settings>-<REVISION>` after `gitlab-rake
/// gitlab:db:configure` (`resources/rails_migration.rb`,
/// `libraries/rails_migration_helper.rb`), the revision in
/// `/opt/gitlab/embedded/service/gitlab-rails/REVISION`.
#[test]
fn the_migration_check_reads_omnibus_s_status_file_for_the_image_s_revision() {
    let user_data = rendered(&with_region(example("minimal.yaml"))).user_data;
    let start = user_data.find("bash -c '").expect("the migration check") + "bash -c '".len();
    let script = &user_data[start..start + user_data[start..].find("' >/dev/null").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let script = script
        .replace("/var/opt/gitlab/", &format!("{root}/var/opt/gitlab/"))
        .replace("/opt/gitlab/embedded/", &format!("{root}/opt/gitlab/embedded/"));
    let revision_dir = dir.path().join("opt/gitlab/embedded/service/gitlab-rails");
    let status_dir = dir.path().join("var/opt/gitlab/gitlab-rails/upgrade-status");
    let bin = dir.path().join("bin");
    for d in [&revision_dir, &status_dir, &bin] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(revision_dir.join("REVISION"), "1a2b3c4d5e6\n").unwrap();
    // gitlab-psql: PostgreSQL answers unless PSQL_DOWN is set.
    let psql = bin.join("gitlab-psql");
    std::fs::write(&psql, "#!/bin/sh\n[ -z \"$PSQL_DOWN\" ] && echo 1\n").unwrap();
    std::fs::set_permissions(&psql, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let check = |psql_down: bool| {
        let mut c = std::process::Command::new("bash");
        c.arg("-c").arg(&script).env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
        if psql_down {
            c.env("PSQL_DOWN", "1");
        }
        c.output().unwrap().status.success()
    };
    let digest = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    assert!(!check(false), "migrated with no status file");
    std::fs::write(status_dir.join(format!("db-migrate-{digest}-0ffe1abc")), "0\n").unwrap();
    assert!(!check(false), "migrated by the status file of another GitLab version");
    std::fs::write(status_dir.join(format!("db-migrate-{digest}-1a2b3c4d5e6")), "1\n").unwrap();
    assert!(!check(false), "migrated although gitlab:db:configure failed");
    std::fs::write(status_dir.join(format!("db-migrate-{digest}-1a2b3c4d5e6")), "0\n").unwrap();
    assert!(!check(true), "migrated although PostgreSQL does not answer");
    assert!(check(false), "the database migrated for this revision was not seen");
}
