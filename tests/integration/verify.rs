//! `gascale verify`'s host script (templates/verify.sh.hbs), run on a
//! stub host against a fake of GitLab's REST API (tests/fakes/gitlab_api.py)
//! for each failure layer, and the command around it.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::harness::{emulator_control, publish_bootstrap, runtime, sdk_at, unique_name, PrivateEmulator};
use crate::templates::{example, rendered, with_region, Host};
use crate::up::minimal;

/// What the fake GitLab API accepts, as `gitlab-rails runner` minted it.
const TOKEN: &str = "glpat-VerifyStub_0123456789";

struct FakeGitlab {
    child: Child,
    dir: tempfile::TempDir,
    url: String,
}

impl FakeGitlab {
    fn start(scenario: &str, runner_description: &str) -> FakeGitlab {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new("python3")
            .arg(crate::harness::root().join("tests/fakes/gitlab_api.py"))
            .arg(&port_file)
            .arg(dir.path().join("calls"))
            .args([TOKEN, runner_description, scenario])
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !port_file.exists() {
            assert!(started.elapsed() < Duration::from_secs(10), "the fake GitLab API did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        FakeGitlab { child, dir, url: format!("http://127.0.0.1:{port}") }
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("calls")).unwrap_or_default()
    }
}

impl Drop for FakeGitlab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The script for the minimal example, pointed at `url`, polling fast.
fn script_for(url: &str) -> (String, String) {
    let d = with_region(example("minimal.yaml"));
    let inputs = gascale::render::HostInputs::placeholders(&d, "123456789012");
    let script = gascale::render::verify(&d, &inputs, 60, 600).unwrap();
    let line = script.lines().find(|l| l.starts_with("GITLAB_URL=")).unwrap().to_owned();
    let script = script
        .replace(&line, &format!("GITLAB_URL='{url}'"))
        .replace("\nPOLL=5\n", "\nPOLL=0.2\n")
        .replace("PENDING_LIMIT=600 ", "PENDING_LIMIT=2 ");
    (script, d.runner_description())
}

#[test]
fn the_verify_script_passes_shellcheck_and_runs_the_two_job_pipeline() {
    let d = with_region(example("minimal.yaml"));
    let inputs = gascale::render::HostInputs::placeholders(&d, "123456789012");
    let script = gascale::render::verify(&d, &inputs, 900, 600).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verify.sh");
    std::fs::write(&path, &script).unwrap();
    let sc = Command::new("shellcheck").arg(&path).output().unwrap();
    assert!(sc.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&sc.stdout));
    assert!(script.contains(&format!("RUNNER_NAME='{}'", d.runner_description())), "finds its runner by description");
}

/// (scenario, exit code, layer, what the output must show, runner log)
const LAYERS: &[(&str, i32, &str, &str, &str)] = &[
    ("ok", 0, "ok", "pipeline 410 passed", ""),
    ("down", 10, "gitlab", "GitLab's API does not answer", ""),
    ("unregistered", 11, "runner-registration", "last lines of the runner container's log", ""),
    ("offline", 12, "runner-contact", "is never_contacted", ""),
    // docker+machine: the job waits while docker-machine fails
    // (gitlab-runner executors/docker/machine/provider.go).
    (
        "pending",
        13,
        "worker-launch",
        "Machine creation failed",
        "ERROR: Machine creation failed                       error=exit status 1 name=runner-stubtoke-gascale-1733000000-0a1b2c3d time=1m4.2s",
    ),
    ("no-worker", 13, "worker-launch", "unable to acquire instance within the configured timeout", ""),
    ("unreachable", 14, "worker-reach", "dial tcp 10.0.130.17:22: i/o timeout", ""),
    ("no-docker", 15, "worker-docker", "Cannot connect to the Docker daemon", ""),
    ("cache-denied", 16, "cache", "WARNING: Failed to create cache", ""),
    ("job-failed", 17, "job", "Read-only file system", ""),
];

#[test]
fn each_failure_layer_exits_with_its_own_code_and_names_itself() {
    let host = Host::new(&rendered(&with_region(example("minimal.yaml"))).user_data);
    for (scenario, code, layer, shows, runner_log) in LAYERS {
        let d = with_region(example("minimal.yaml"));
        let fake = FakeGitlab::start(scenario, &d.runner_description());
        let (script, _) = script_for(&fake.url);
        let env =
            [("STUB_GITLAB_API", fake.url.as_str()), ("STUB_VERIFY_TOKEN", TOKEN), ("STUB_RUNNER_LOG", runner_log)];
        let out = host.update(&script, &env);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(*code), "{scenario}: {stdout}{stderr}");
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.starts_with(&format!("gascale-verify: {layer}: ")), "{scenario}: the verdict: {last}");
        assert!(stdout.contains(shows), "{scenario}: the output does not show {shows:?}:\n{stdout}");
        assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN), "{scenario}: the token was printed");
        let calls = fake.calls();
        assert!(
            calls.contains("DELETE /api/v4/personal_access_tokens/self"),
            "{scenario}: token not revoked:\n{calls}"
        );
        if calls.contains("POST /api/v4/projects\n") {
            assert!(calls.contains("DELETE /api/v4/projects/41"), "{scenario}: project left:\n{calls}");
        }
    }
}

#[test]
fn the_pipeline_writes_and_reads_a_cache_entry_and_an_artifact_on_the_runners_tags() {
    let mut d = with_region(example("minimal.yaml"));
    d.runner.registration.run_untagged = false;
    d.runner.registration.tags = vec!["aws".into(), "docker".into()];
    let fake = FakeGitlab::start("ok", &d.runner_description());
    let inputs = gascale::render::HostInputs::placeholders(&d, "123456789012");
    let script = gascale::render::verify(&d, &inputs, 60, 600).unwrap();
    let line = script.lines().find(|l| l.starts_with("GITLAB_URL=")).unwrap().to_owned();
    let script = script.replace(&line, &format!("GITLAB_URL='{}'", fake.url));
    let host = Host::new(&rendered(&d).user_data);
    let out = host.update(&script, &[("STUB_GITLAB_API", fake.url.as_str()), ("STUB_VERIFY_TOKEN", TOKEN)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let calls = fake.calls();
    let body = calls.lines().find_map(|l| l.strip_prefix("  body ").filter(|b| b.contains("actions"))).unwrap();
    let commit: serde_json::Value = serde_json::from_str(body).unwrap();
    let ci: serde_json::Value =
        serde_yaml::from_str(commit["actions"][0]["content"].as_str().unwrap()).expect(".gitlab-ci.yml parses");
    assert_eq!(commit["actions"][0]["file_path"], ".gitlab-ci.yml");
    assert_eq!(ci["stages"], serde_json::json!(["write", "read"]));
    for job in ["write", "read"] {
        assert_eq!(ci[job]["tags"], serde_json::json!(["aws", "docker"]), "{job}");
        assert_eq!(ci[job]["cache"]["key"], "gascale-verify-$CI_PIPELINE_ID");
    }
    assert_eq!(ci["write"]["cache"]["policy"], "push");
    assert_eq!(ci["read"]["cache"]["policy"], "pull");
    assert_eq!(ci["write"]["artifacts"]["paths"], serde_json::json!(["artifact.txt"]));
    let read = ci["read"]["script"].to_string();
    assert!(read.contains("verify-cache/marker") && read.contains("artifact.txt"), "{read}");
}

/// What the host's `verify.sh` printed and exited with, as SSM reports it.
fn host_answers(emulator: &PrivateEmulator, host: &str, code: i32, stdout: &str) {
    let status = if code == 0 { "Success" } else { "Failed" };
    let body = serde_json::json!({
        "InstanceId": host, "Status": status, "ResponseCode": code, "StandardOutputContent": stdout,
    });
    emulator_control(&emulator.endpoint, "POST", "/gascale-test/ssm-result", &body.to_string());
}

fn deployed(emulator: &PrivateEmulator, name: &str, extra: &str) -> (crate::harness::Workdir, String) {
    let w = minimal(name, extra);
    let r = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let host = out["host_instance_id"].as_str().unwrap().to_owned();
    runtime().block_on(publish_bootstrap(&sdk_at(&emulator.endpoint), &host, "complete"));
    (w, host)
}

#[test]
fn gascale_verify_runs_the_script_on_the_host_and_exits_with_the_layer_s_code() {
    let emulator = PrivateEmulator::start();
    let (w, host) = deployed(&emulator, &unique_name("verify"), "");
    // The lines LAYERS' "unreachable" scenario makes the script print.
    let unreachable = "gascale-verify: pipeline 410 of project gascale-verify-1796636862\n--- last lines of job write's log:\n\
        Dialing instance i-0aaaabbbbccccdddd...\nERROR: Preparation failed: dial tcp 10.0.130.17:22: i/o timeout\n\
        gascale-verify: worker-reach: the runner could not reach the worker of job write (security group, EC2 Instance Connect)\n";
    host_answers(&emulator, &host, 14, unreachable);
    let r = emulator.gascale(&w, &["verify"]);
    assert_eq!(r.code, 14, "{}", r.stderr);
    assert!(r.stdout.ends_with("gascale-verify: worker-reach: the runner could not reach the worker of job write (security group, EC2 Instance Connect)\n"), "{}", r.stdout);
    assert!(r.stdout.contains("i/o timeout"), "the log lines that show it: {}", r.stdout);
    assert!(r.stderr.contains("verification failed at worker-reach"), "{}", r.stderr);
    let json = emulator.gascale(&w, &["verify", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["layer"].as_str(), v["exit_code"].as_i64()),
        (Some(false), Some("worker-reach"), Some(14))
    );
    // What ran on the host is the rendered verify.sh.
    let sent = emulator_control(&emulator.endpoint, "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    assert!(sent.contains("gascale verify: proves on the GitLab host") && sent.contains("RUNNER_NAME="), "{sent}");

    host_answers(&emulator, &host, 0, "gascale-verify: pipeline 411 of project p\ngascale-verify: ok: pipeline 411 passed: write stored a cache entry and an artifact, read got both on a worker\n");
    assert_eq!(emulator.gascale(&w, &["verify"]).code, 0);
    // `up --verify`: the outputs on stdout (they stay parseable), the verdict on stderr.
    let up = emulator.gascale(&w, &["up", "--verify", "--output", "dotenv"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert!(up.stdout.contains("GITLAB_URL=") && !up.stdout.contains("gascale-verify: "), "{}", up.stdout);
    assert!(up.stderr.contains("gascale-verify: ok: pipeline 411 passed"), "{}", up.stderr);
    host_answers(&emulator, &host, 16, "gascale-verify: cache: job read did not get job write's cache\n");
    assert_eq!(emulator.gascale(&w, &["up", "--verify"]).code, 16);
    assert_eq!(emulator.gascale(&w, &["destroy", "--yes", "--no-final-snapshot"]).code, 0);
}

#[test]
fn with_docker_autoscaler_a_worker_that_never_came_is_explained_by_the_groups_activities() {
    let emulator = PrivateEmulator::start();
    let name = unique_name("verasg");
    let (w, host) = deployed(&emulator, &name, "runner: {executor: docker-autoscaler}\n");
    host_answers(&emulator, &host, 13, "gascale-verify: worker-launch: no worker came up for job write\n");
    let r = emulator.gascale(&w, &["verify"]);
    assert_eq!(r.code, 13, "{}", r.stderr);
    // moto records no scaling activity: the group's answer is said as it is.
    assert!(
        r.stdout.contains(&format!("Auto Scaling group gascale-{name}-workers reports no failed launch")),
        "{}",
        r.stdout
    );
    assert_eq!(emulator.gascale(&w, &["destroy", "--yes", "--no-final-snapshot"]).code, 0);
}
