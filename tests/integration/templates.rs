//! The bootstrap files: rendered for every example, checked by the tools
//! that will read them (bash, shellcheck, a TOML parser, docker-compose),
//! and the user-data executed against stub commands.

use std::path::Path;
use std::process::Command;

use gascale::config::{self, Deployment};
use gascale::render::{self, HostInputs, Rendered, USER_DATA_LIMIT};

pub use crate::stub_host::Host;

pub fn example(name: &str) -> Deployment {
    let text = std::fs::read_to_string(crate::harness::root().join("examples").join(name)).unwrap();
    config::parse(&text).unwrap()
}

pub fn examples() -> Vec<(String, Deployment)> {
    ["minimal.yaml", "production.yaml", "ci-ephemeral.yaml", "autoscaler.yaml"]
        .iter()
        .map(|n| (n.to_string(), with_region(example(n))))
        .collect()
}

pub fn with_region(mut d: Deployment) -> Deployment {
    d.metadata.region.get_or_insert_with(|| "eu-west-1".into());
    d
}

pub fn rendered(d: &Deployment) -> Rendered {
    render::render(d, &HostInputs::placeholders(d, "123456789012")).unwrap()
}

#[test]
fn every_example_renders_within_the_user_data_limit() {
    for (name, d) in examples() {
        let r = rendered(&d);
        let size = r.user_data_gzip().len();
        assert!(size < USER_DATA_LIMIT, "{name}: {size} bytes");
        // The embedded files are exactly the rendered ones.
        for body in [&r.compose, &r.config_toml, &r.dockerfile] {
            assert!(r.user_data.contains(body.trim_end()), "{name}: user-data lacks an embedded file");
        }
    }
    let production = rendered(&with_region(example("production.yaml")));
    // Measured: 10.3 KiB gzip for the largest example (with the step
    // scheduler, the lint, GitLab's start in two steps), of EC2's 16 KiB; the
    // bound keeps room for growth to show.
    assert!(production.user_data_gzip().len() < 11 * 1024);
}

#[test]
fn user_data_and_runner_update_pass_bash_n_and_shellcheck() {
    for (name, d) in examples() {
        let r = rendered(&d);
        for (file, text) in [("user-data.sh", &r.user_data), ("runner-update.sh", &r.runner_update)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(file);
            std::fs::write(&path, text).unwrap();
            let n = Command::new("bash").arg("-n").arg(&path).output().unwrap();
            assert!(n.status.success(), "{name}/{file}: bash -n: {}", String::from_utf8_lossy(&n.stderr));
            let sc = Command::new("shellcheck").arg(&path).output().expect("shellcheck is installed by scripts/test");
            assert!(sc.status.success(), "{name}/{file}: shellcheck:\n{}", String::from_utf8_lossy(&sc.stdout));
        }
    }
}

#[test]
fn config_toml_carries_the_configured_values() {
    let d = with_region(example("production.yaml"));
    let config_toml = rendered(&d).config_toml;
    crate::runner_lint::lint(&config_toml).expect("gitlab-runner lint accepts config.toml");
    let doc: toml::Value = toml::from_str(&config_toml).expect("config.toml is TOML");
    assert_eq!(doc["concurrent"].as_integer(), Some(20));
    assert_eq!(doc["check_interval"].as_integer(), Some(3));
    assert_eq!(doc["listen_address"].as_str(), Some(":9252"));
    let runner = &doc["runners"][0];
    assert_eq!(runner["name"].as_str(), Some("platform-spot"));
    assert_eq!(runner["url"].as_str(), Some("https://gitlab.example.com"));
    assert_eq!(runner["token"].as_str(), Some("__GASCALE_RUNNER_TOKEN__"));
    assert_eq!(runner["executor"].as_str(), Some("docker+machine"));
    assert_eq!(runner["limit"].as_integer(), Some(20));
    let docker = &runner["docker"];
    assert_eq!(docker["tls_verify"].as_bool(), Some(false));
    assert_eq!(docker["image"].as_str(), Some("alpine:3.22"));
    assert_eq!(docker["privileged"].as_bool(), Some(true));
    assert_eq!(docker["volumes"].as_array().unwrap()[0].as_str(), Some("/cache"));
    let cache = &runner["cache"];
    assert_eq!(cache["Type"].as_str(), Some("s3"));
    assert_eq!(cache["Path"].as_str(), Some("runner"));
    assert_eq!(cache["Shared"].as_bool(), Some(true));
    assert_eq!(cache["s3"]["AuthenticationType"].as_str(), Some("iam"));
    assert_eq!(cache["s3"]["BucketName"].as_str(), Some("gascale-platform-123456789012-ap-northeast-1"));
    assert_eq!(cache["s3"]["BucketLocation"].as_str(), Some("ap-northeast-1"));
    assert_eq!(cache["s3"]["ServerSideEncryption"].as_str(), Some("KMS"));
    let machine = &runner["machine"];
    assert_eq!(machine["IdleCount"].as_integer(), Some(0));
    assert_eq!(machine["IdleTime"].as_integer(), Some(1800));
    assert_eq!(machine["IdleScaleFactor"].as_float(), Some(0.5));
    assert_eq!(machine["IdleCountMin"].as_integer(), Some(1));
    assert_eq!(machine["MaxBuilds"].as_integer(), Some(10));
    assert_eq!(machine["MachineDriver"].as_str(), Some("amazonec2"));
    assert!(machine["MachineName"].as_str().unwrap().contains("%s"));
    let options: Vec<&str> =
        machine["MachineOptions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for expected in [
        "amazonec2-region=ap-northeast-1",
        "amazonec2-vpc-id=vpc-PLACEHOLDER",
        "amazonec2-subnet-id=subnet-PLACEHOLDER",
        "amazonec2-zone=a",
        "amazonec2-use-private-address=true",
        "amazonec2-private-address-only=true",
        "amazonec2-security-group=gascale-platform-workers",
        "amazonec2-instance-type=m6i.large",
        "amazonec2-request-spot-instance=true",
        "amazonec2-spot-price=0.08",
        "amazonec2-iam-instance-profile=gascale-platform-worker",
        "amazonec2-root-size=40",
        "amazonec2-metadata-token=required",
        "amazonec2-metadata-token-response-hop-limit=1",
    ] {
        assert!(options.contains(&expected), "MachineOptions lacks {expected}: {options:?}");
    }
    let tags = options.iter().find(|o| o.starts_with("amazonec2-tags=")).unwrap();
    assert!(tags.contains("gascale:deployment,platform"), "{tags}");
    let periods = machine["autoscaling"].as_array().unwrap();
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[0]["Periods"][0].as_str(), Some("* * 9-17 * * mon-fri *"));
    assert_eq!(periods[0]["IdleCount"].as_integer(), Some(10));
    assert_eq!(periods[0]["IdleCountMin"].as_integer(), Some(2));
    assert_eq!(periods[0]["IdleScaleFactor"].as_float(), Some(0.5));
    assert_eq!(periods[0]["IdleTime"].as_integer(), Some(3600));
    assert_eq!(periods[0]["Timezone"].as_str(), Some("Asia/Tokyo"));
}

#[test]
fn compose_file_is_valid_for_docker_compose() {
    for (name, d) in examples() {
        let r = rendered(&d);
        let yaml: serde_yaml::Value = serde_yaml::from_str(&r.compose).expect("compose is YAML");
        let gitlab = &yaml["services"]["gitlab"];
        assert_eq!(gitlab["restart"].as_str(), Some("always"), "{name}");
        assert_eq!(gitlab["shm_size"].as_str(), Some("256m"), "{name}");
        assert!(gitlab["image"].as_str().unwrap().ends_with(&d.gitlab_image_tag()), "{name}");
        assert_eq!(yaml["services"]["runner"]["restart"].as_str(), Some("always"), "{name}");
        let runner_volumes = format!("{:?}", yaml["services"]["runner"]["volumes"]);
        assert!(!runner_volumes.contains("docker.sock"), "{name}: docker+machine needs no Docker socket");
        let omnibus = gitlab["environment"]["GITLAB_OMNIBUS_CONFIG"].as_str().unwrap();
        assert!(omnibus.contains("runner:9252"), "{name}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("runner")).unwrap();
        std::fs::write(dir.path().join("runner/Dockerfile"), &r.dockerfile).unwrap();
        std::fs::write(dir.path().join("docker-compose.yaml"), &r.compose).unwrap();
        let out = Command::new("docker-compose")
            .current_dir(dir.path())
            .args(["-f", "docker-compose.yaml", "config", "-q"])
            .output()
            .expect("docker-compose is installed by scripts/test");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn rendered_files_contain_nothing_forbidden() {
    for (name, d) in examples() {
        let r = rendered(&d);
        for (file, body) in r.files() {
            let lower = body.to_lowercase();
            for word in [
                "grafana",
                "registration_token",
                "runners_registration_token",
                ":latest",
                "aws_secret_access_key",
                "akia",
            ] {
                assert!(!lower.contains(word), "{name}/{file} contains {word}");
            }
            for (i, _) in body.match_indices("http://") {
                let rest = &body[i + 7..];
                // IMDS, the host itself, the runner's metrics inside the
                // compose network, the offline placeholder.
                let host_ok = ["169.254.169.254/", "127.0.0.1/", "runner:9252/", "gitlab-host.placeholder.invalid"]
                    .iter()
                    .any(|h| rest.starts_with(h));
                assert!(host_ok, "{name}/{file}: plain http:// to {}", &rest[..rest.len().min(40)]);
            }
        }
    }
}

#[test]
fn snapshots_of_the_minimal_example() {
    let r = rendered(&with_region(example("minimal.yaml")));
    for (file, body) in r.files() {
        insta::assert_snapshot!(format!("rendered-minimal-{file}"), body);
    }
}

#[test]
fn bootstrap_completes_and_a_rerun_creates_nothing_twice() {
    let host = Host::new(&rendered(&with_region(example("minimal.yaml"))).user_data);
    let first = host.run("ok");
    assert!(first.status.success(), "first run failed:\n{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "complete");
    assert!(!host.read("root/var/lib/gascale/bootstrap-complete").is_empty());
    assert!(host.read("stub/aws").contains("Key=gascale:bootstrap,Value=complete"));
    assert!(host.read("stub/aws").contains("--resources i-0123456789abcdef0"));
    let config_path = host.dir.path().join("root/srv/gitlab/runner/config/config.toml");
    let config: toml::Value = toml::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(config["runners"][0]["token"].as_str(), Some("glrt-StubToken_123"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&config_path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(host.read("root/etc/fstab").contains("/srv/gitlab xfs"));
    assert_eq!(host.count("stub/formats"), 1);
    assert_eq!(host.count("stub/runners-created"), 1);
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains("step complete"), "{log}");
    assert!(!log.contains("glrt-"), "the runner token leaked into the log");
    assert!(!String::from_utf8_lossy(&first.stdout).contains("glrt-"));

    let second = host.run("ok");
    assert!(second.status.success(), "re-run failed:\n{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(host.count("stub/formats"), 1, "the data volume was formatted twice");
    assert_eq!(host.count("stub/runners-created"), 1, "a second runner was created");
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "complete");
    assert_eq!(host.read("root/etc/fstab").lines().count(), 1);
}

/// Steps run side by side (the bootstrap's step graph): when one fails, the
/// others are stopped at once — none is left running — and the failing one
/// names the bootstrap's failure.
#[test]
fn a_failing_step_stops_the_steps_beside_it_and_is_named() {
    let host = Host::new(&rendered(&with_region(example("minimal.yaml"))).user_data);
    let started = std::time::Instant::now();
    let out = host.run_with("hang", &[("STUB_BUILD", "fail-while-gitlab-starts")]);
    assert!(!out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "the GitLab step was waited for");
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:runner-image");
    assert!(host.read("stub/aws").contains("Value=failed:runner-image"));
    let hung = host.read("stub/hung");
    assert!(!hung.trim().is_empty(), "GitLab's step was not running beside the build");
    for pid in hung.lines() {
        // Gone, or a zombie whose parent has not reaped it yet.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().split_whitespace().next().unwrap_or("Z");
        assert_eq!(state, "Z", "GitLab's step {pid} is still running: {stat}");
    }
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains("FAILED at step runner-image"), "{log}");
    assert!(!log.contains("step runner-token"), "a step after the failure started: {log}");
    assert_eq!(host.count("stub/runners-created"), 0);
    // The timeline names what ran, the unfinished step without an end.
    let timeline = host.read("root/var/lib/gascale/timeline");
    assert!(timeline.contains(";runner-image=") && timeline.contains(";gitlab="), "{timeline}");
}

/// `gitlab-runner verify` exits 0 when it cannot reach GitLab (the stub
/// answers as the real one does): the bootstrap must not call that
/// `complete`, and says why it failed.
#[test]
fn bootstrap_fails_at_runner_when_the_runner_cannot_reach_gitlab() {
    let host = Host::new(&rendered(&with_region(example("minimal.yaml"))).user_data);
    let out = host.run_with("ok", &[("STUB_RUNNER_REACH", "refused")]);
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:runner");
    assert!(host.read("stub/aws").contains("Value=failed:runner"));
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains("the runner did not reach GitLab: ERROR: Verifying runner... client error"), "{log}");
    assert!(log.contains("connection refused"), "{log}");
    assert!(host.read("root/var/lib/gascale/bootstrap-complete").is_empty());
    let verifies = host.calls("gitlab-runner verify");
    assert_eq!(verifies, 10, "bounded retries");
}

/// A runner-only change reaches a running host through `runner-update.sh`:
/// a changed config.toml restarts the runner — stopped with SIGQUIT (the
/// image's STOPSIGNAL, which the stub reads as Docker does) and the longest
/// job timeout to finish its jobs, their count reported — and an unchanged
/// one restarts nothing.
#[test]
fn a_runner_config_change_restarts_the_runner_gracefully() {
    let mut d = with_region(example("minimal.yaml"));
    d.runner.registration.maximum_timeout = Some(7200);
    let host = Host::new(&rendered(&d).user_data);
    assert!(host.run("ok").status.success());
    let unchanged = host.update(&rendered(&d).runner_update, &[]);
    assert!(unchanged.status.success(), "{}", String::from_utf8_lossy(&unchanged.stderr));
    assert!(String::from_utf8_lossy(&unchanged.stdout).contains("runner configuration unchanged"));
    assert_eq!(host.read("stub/signals"), "", "nothing changed, nothing restarted");
    d.runner.limit += 1;
    let changed = host.update(&rendered(&d).runner_update, &[("STUB_RUNNING_JOBS", "3")]);
    let stdout = String::from_utf8_lossy(&changed.stdout);
    assert!(changed.status.success(), "{}", String::from_utf8_lossy(&changed.stderr));
    assert!(stdout.contains("3 jobs running; up to 7200s"), "{stdout}");
    assert_eq!(host.read("stub/signals"), "runner SIGQUIT 7200s\n");
    let config = host.read("root/srv/gitlab/runner/config/config.toml");
    assert!(config.contains(&format!("limit = {}", d.runner.limit)), "{config}");
    assert!(config.contains("token = \"glrt-StubToken_123\""), "the token is kept");
    let calls = host.read("stub/calls");
    let stop = calls.find("compose --project-name gascale").and(calls.rfind(" stop -t 7200 runner")).unwrap();
    assert!(calls[stop..].contains(" up -d runner"), "started again after the stop: {calls}");
}

/// With `gitlab.domain` and DNS not yet on the Elastic IP (the same `up`
/// allocates both): GitLab starts on a self-signed certificate the runner
/// trusts, without Let's Encrypt, and the status ends at
/// `running:waiting-dns`; the timer's check switches to Let's Encrypt once
/// DNS is right.
#[test]
fn with_a_domain_before_dns_gitlab_starts_self_signed_and_waits_for_dns() {
    let d = with_region(example("production.yaml"));
    let domain = d.gitlab.domain.clone().unwrap();
    let eip = HostInputs::placeholders(&d, "123456789012").public_ip;
    let host = Host::new(&rendered(&d).user_data);
    let out = host.run_with("ok", &[("STUB_DNS", "")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "running:waiting-dns");
    assert!(host.read("stub/aws").contains("Value=running:waiting-dns"));
    assert!(!host.read("stub/aws").contains("Value=complete"));
    assert!(!host.dir.path().join("root/srv/gitlab/config/gascale-letsencrypt").exists(), "no Let's Encrypt yet");
    assert!(host.read(&format!("root/srv/gitlab/config/ssl/{domain}.crt")).contains("BEGIN CERTIFICATE"));
    assert!(host.read(&format!("root/srv/gitlab/runner/config/certs/{domain}.crt")).contains("BEGIN CERTIFICATE"));
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains(&format!("create the DNS record {domain} A {eip}")), "{log}");
    assert!(host.read("stub/calls").contains("systemctl enable --now gascale-tls.timer"));
    let compose = host.read("root/srv/gitlab/gascale/docker-compose.yaml");
    assert!(compose.contains("letsencrypt['enable'] = File.exist?('/etc/gitlab/gascale-letsencrypt')"), "{compose}");
    assert!(compose.contains(&format!("{domain}:host-gateway")), "{compose}");
    let config: toml::Value =
        toml::from_str(&host.read("root/srv/gitlab/runner/config/config.toml")).expect("config.toml parses");
    assert_eq!(config["runners"][0]["docker"]["extra_hosts"][0].as_str(), Some(format!("{domain}:10.0.0.23").as_str()));

    // DNS is right now: the timer's check enables Let's Encrypt.
    let check = host.dir.path().join("root/var/lib/gascale/tls-check.sh");
    let out = host
        .command(&check)
        .args([domain.as_str(), eip.as_str(), "ap-northeast-1", "i-0123456789abcdef0"])
        .env("STUB_DNS", &eip)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(host.dir.path().join("root/srv/gitlab/config/gascale-letsencrypt").exists());
    assert_eq!(host.count("stub/reconfigures"), 1, "GitLab reconfigured onto Let's Encrypt");
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "complete");
    assert!(host.read("stub/aws").contains("Value=complete"));
    assert!(!host.dir.path().join(format!("root/srv/gitlab/runner/config/certs/{domain}.crt")).exists());
    assert!(host.read("stub/calls").contains("systemctl disable --now gascale-tls.timer"));
}

/// With DNS already on the Elastic IP, Let's Encrypt is on from the start.
#[test]
fn with_a_domain_and_dns_right_gitlab_starts_with_lets_encrypt() {
    let d = with_region(example("production.yaml"));
    let eip = HostInputs::placeholders(&d, "123456789012").public_ip;
    let host = Host::new(&rendered(&d).user_data);
    let out = host.run_with("ok", &[("STUB_DNS", eip.as_str())]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "complete");
    assert!(host.dir.path().join("root/srv/gitlab/config/gascale-letsencrypt").exists());
    assert!(!host.read("stub/calls").contains("openssl"), "no self-signed certificate");
    assert!(!host.read("stub/calls").contains("gascale-tls.timer"));
}

/// With a custom instance token prefix GitLab issues `<prefix>-glrt-…`: the
/// bootstrap takes it, a re-run reuses the runner, an update keeps it. And
/// Docker waits for the data volume's mount after a reboot.
#[test]
fn a_prefixed_runner_token_is_kept_and_docker_waits_for_the_data_volume() {
    let d = with_region(example("minimal.yaml"));
    let host = Host::new(&rendered(&d).user_data);
    let prefix = [("STUB_TOKEN_PREFIX", "acme-")];
    assert!(host.run_with("ok", &prefix).status.success());
    assert!(host.run_with("ok", &prefix).status.success(), "re-run");
    assert_eq!(host.count("stub/runners-created"), 1);
    let config = host.read("root/srv/gitlab/runner/config/config.toml");
    assert!(config.contains("token = \"acme-glrt-StubToken_123\""), "{config}");
    let mut changed = d.clone();
    changed.runner.limit += 1;
    let out = host.update(&rendered(&changed).runner_update, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(host.read("root/srv/gitlab/runner/config/config.toml").contains("token = \"acme-glrt-StubToken_123\""));
    let dropin = host.read("root/etc/systemd/system/docker.service.d/gascale-data.conf");
    assert_eq!(dropin, "[Unit]\nRequiresMountsFor=/srv/gitlab\n");
}

/// A bootstrap that failed runs again at the next boot: the script is kept
/// and a unit runs it at every boot until the completion marker exists.
#[test]
fn a_failed_bootstrap_runs_again_at_boot_until_it_completes() {
    let mut d = with_region(example("minimal.yaml"));
    d.gitlab.readiness_timeout = 10;
    let host = Host::new(&rendered(&d).user_data);
    assert!(!host.run("fail").status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:gitlab-ready");
    let unit = host.read("root/etc/systemd/system/gascale-bootstrap.service");
    assert!(unit.contains("ConditionPathExists=!/var/lib/gascale/bootstrap-complete"), "{unit}");
    assert!(unit.contains("ExecStart=/var/lib/gascale/bootstrap.sh"), "{unit}");
    assert!(host.read("stub/calls").contains("systemctl enable gascale-bootstrap.service"));
    // The next boot: the kept copy runs, now that GitLab gets ready.
    let kept = host.dir.path().join("root/var/lib/gascale/bootstrap.sh");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), std::fs::read_to_string(&host.script).unwrap());
    let again = Host { dir: host.dir, script: kept };
    let out = again.run("ok");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(again.read("root/var/lib/gascale/status").trim(), "complete");
}

#[test]
fn hostile_values_stay_data() {
    let text = r#"
metadata: {name: inject, region: eu-west-1}
runner:
  registration:
    description: "it's $(touch /tmp/gascale-pwned) `touch /tmp/gascale-pwned` \"quoted\"\nnext line"
    tags: ["a'b", "$(id)", "back\\slash"]
"#;
    let d = config::parse(text).unwrap();
    let r = rendered(&d);
    let host = Host::new(&r.user_data);
    let n = Command::new("bash").arg("-n").arg(&host.script).output().unwrap();
    assert!(n.status.success());
    let out = host.run("ok");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!Path::new("/tmp/gascale-pwned").exists(), "a config value ran as a command");
    let params: serde_json::Value = serde_json::from_str(&host.read("stub/runner-params.json")).unwrap();
    assert_eq!(params["description"], d.runner.registration.description.clone().unwrap());
    assert_eq!(params["tags"], serde_json::json!(["a'b", "$(id)", "back\\slash"]));
    toml::from_str::<toml::Value>(&r.config_toml).expect("config.toml still parses");
}

#[test]
fn hostile_values_in_config_toml_keep_their_meaning() {
    // Tags hold IAM's characters only (validation); the rest of IAM's set
    // that means something to TOML or a shell goes through as it is.
    let text = "metadata:\n  name: inject\n  region: eu-west-1\n  tags:\n    team: 'a b=c+d/e@f:g'\n\
                runner: {executor: docker+machine, docker: {image: 'registry.example.com/x:1.0', volumes: ['/cache', '/a\"b:/c']}}\n";
    let d = config::parse(text).unwrap();
    let doc: toml::Value = toml::from_str(&rendered(&d).config_toml).expect("config.toml parses");
    let options: Vec<&str> = doc["runners"][0]["machine"]["MachineOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let tags = options.iter().find(|o| o.starts_with("amazonec2-tags=")).unwrap();
    assert!(tags.ends_with(&format!("team,{}", d.metadata.tags["team"])), "{tags}");
    assert_eq!(doc["runners"][0]["docker"]["volumes"][1].as_str(), Some("/a\"b:/c"));
}
