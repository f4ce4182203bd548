//! In-place GitLab upgrades against the emulator, the host's SSM answers
//! stubbed (scripts/emulator/launch.py): a `gitlab.version` change is
//! `~ gitlab/app`, walked stop by stop after a snapshot, with the host and
//! its data volume kept; a migration that never ends times out naming the
//! stop.

use crate::harness::{emulator_control, publish_bootstrap, runtime, sdk_at, unique_name, PrivateEmulator, Workdir};
use crate::up::minimal;

/// What the host's commands print: the check of queued batched background
/// migrations answers as `gitlab-rails runner` would for `pending`.
const PENDING: &str = "gascale-batched-migrations-pending: ";

struct Deployed {
    w: Workdir,
    name: String,
    host: String,
    volume: String,
}

/// A docker+machine deployment at GitLab 17.4.0 whose bootstrap completed,
/// its commands answering `pending` queued migrations.
fn deployed(emulator: &PrivateEmulator, pending: u32) -> Deployed {
    let name = unique_name("upg");
    let w = minimal(&name, "gitlab: {version: 17.4.0}\n");
    let r = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let host = out["host_instance_id"].as_str().unwrap().to_owned();
    let volume = out["data_volume_id"].as_str().unwrap().to_owned();
    let c = sdk_at(&emulator.endpoint);
    runtime().block_on(publish_bootstrap(&c, &host, "complete"));
    let result = serde_json::json!({"InstanceId": host, "Status": "Success", "StandardOutputContent": format!("{PENDING}{pending}\n")});
    emulator_control(&emulator.endpoint, "POST", "/gascale-test/ssm-result", &result.to_string());
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap().replace("17.4.0", "17.9.0");
    std::fs::write(w.path().join("gascale.yaml"), yaml).unwrap();
    Deployed { w, name, host, volume }
}

/// The scripts sent to `host`, in order.
fn commands(emulator: &PrivateEmulator, host: &str) -> Vec<String> {
    let body = emulator_control(&emulator.endpoint, "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    let sent: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    sent.iter().map(|p| p["commands"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect()).collect()
}

fn tag(emulator: &PrivateEmulator, id: &str, key: &str) -> Option<String> {
    let c = sdk_at(&emulator.endpoint);
    runtime().block_on(async {
        let out = c
            .ec2
            .describe_tags()
            .filters(aws_sdk_ec2::types::Filter::builder().name("resource-id").values(id).build())
            .send()
            .await
            .unwrap();
        out.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned)
    })
}

/// No call among `ops` replaces the host or the data volume.
fn assert_host_and_volume_kept(ops: &[String]) {
    for op in ["RunInstances", "TerminateInstances", "CreateVolume", "DeleteVolume"] {
        assert!(!ops.iter().any(|o| o.ends_with(op)), "{op} during an upgrade: {ops:?}");
    }
}

/// The stop a `gitlab-upgrade.sh` goes to (`STOP=`), `None` for other scripts.
fn stop_of(script: &str) -> Option<String> {
    script
        .contains("gascale: upgrade GitLab on the host")
        .then(|| script.lines().find_map(|l| l.strip_prefix("STOP=")).unwrap().trim_matches('\'').to_owned())
}

#[test]
fn an_upgrade_snapshots_then_walks_each_stop_and_waits_for_its_migrations() {
    let emulator = PrivateEmulator::start();
    let d = deployed(&emulator, 0);
    let plan = emulator.gascale(&d.w, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("upgrade in place: GitLab ee 17.4.0 -> ee 17.9.0 through 17.5.5, 17.8.7"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("(of gitlab/app: before-upgrade, GitLab ee 17.4.0)"), "{}", plan.stdout);
    let host_line = plan.stdout.lines().find(|l| l.contains("instance/host")).unwrap();
    assert!(host_line.trim_start().starts_with('='), "the host would change: {host_line}");

    let before = emulator.operations().len();
    let sent_before = commands(&emulator, &d.host).len();
    let r = emulator.gascale(&d.w, &["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ops: Vec<String> = emulator.operations()[before..].to_vec();
    assert_host_and_volume_kept(&ops);
    // Snapshot first: only the command that stops GitLab for it comes before.
    let snapshot = ops.iter().position(|o| o.ends_with("CreateSnapshot")).expect("no snapshot taken");
    let sends_before = ops[..snapshot].iter().filter(|o| o.ends_with("SendCommand")).count();
    assert_eq!(sends_before, 1, "{ops:?}");

    let sent = commands(&emulator, &d.host)[sent_before..].to_vec();
    let kinds: Vec<String> = sent
        .iter()
        .map(|s| {
            if let Some(stop) = stop_of(s) {
                format!("upgrade {stop}")
            } else if s.contains("BatchedMigration.queued.count") {
                "migrations".into()
            } else if s.ends_with("stop gitlab && sync") {
                "quiesce".into()
            } else if s.ends_with("start gitlab") {
                "resume".into()
            } else {
                format!("other: {s}")
            }
        })
        .collect();
    let want = [
        "quiesce",
        "resume",
        "upgrade 17.5.5",
        "migrations",
        "upgrade 17.8.7",
        "migrations",
        "upgrade 17.9.0",
        "migrations",
    ];
    assert_eq!(kinds, want);
    assert_eq!(tag(&emulator, &d.host, "gascale:gitlab").as_deref(), Some("ee 17.9.0"));
    assert_eq!(tag(&emulator, &d.volume, "gascale:gitlab").as_deref(), Some("ee 17.9.0"));
    let snaps = emulator.gascale(&d.w, &["snapshots", "--output", "json"]);
    let snaps: serde_json::Value = serde_json::from_str(&snaps.stdout).unwrap();
    assert_eq!(snaps["snapshots"][0]["reason"], "before-upgrade");
    assert_eq!(snaps["snapshots"][0]["gitlab"], "ee 17.4.0");
    assert_eq!(snaps["snapshots"][0]["deployment"], d.name.as_str());
    // Converged: nothing left to do, the same host.
    let again = emulator.gascale(&d.w, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[test]
fn a_migration_that_never_finishes_times_out_naming_the_stop() {
    let emulator = PrivateEmulator::start();
    let d = deployed(&emulator, 3);
    let before = emulator.operations().len();
    let r = emulator.gascale(&d.w, &["--timeout", "12s", "up", "--no-wait"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("gitlab/app: at stop GitLab 17.5.5: 3 batched background migrations still queued"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("To roll back to snapshot snap-"), "{}", r.stderr);
    assert!(r.stderr.contains("gascale up --restore-from snap-"), "{}", r.stderr);
    let ops: Vec<String> = emulator.operations()[before..].to_vec();
    assert_host_and_volume_kept(&ops);
    // The truth stays behind: the stop reached, never the next.
    assert_eq!(tag(&emulator, &d.host, "gascale:gitlab").as_deref(), Some("ee 17.5.5"));
    assert!(!commands(&emulator, &d.host).iter().any(|s| s.contains("17.8.7")));
    // The next run goes on from there; an upgrade command that never ends
    // times out naming its stop too.
    let stuck = serde_json::json!({"InstanceId": d.host, "Status": "InProgress"});
    emulator_control(&emulator.endpoint, "POST", "/gascale-test/ssm-result", &stuck.to_string());
    let r = emulator.gascale(&d.w, &["--timeout", "4s", "up", "--no-wait"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("gitlab/app: at stop GitLab 17.8.7: "), "{}", r.stderr);
}

#[test]
fn a_downgrade_or_an_unlisted_version_is_refused_before_any_change() {
    let emulator = PrivateEmulator::start();
    let d = deployed(&emulator, 0);
    for (version, why, flag) in [
        ("17.3.0", "GitLab 17.4.0 -> 17.3.0 is a downgrade", None),
        ("99.1.0", "GitLab 99.1.0 is outside the upgrade path gascale knows", Some("--allow-unlisted-version")),
    ] {
        let yaml = std::fs::read_to_string(d.w.path().join("gascale.yaml")).unwrap();
        let yaml = yaml.replace("17.9.0", version).replace("17.3.0", version);
        std::fs::write(d.w.path().join("gascale.yaml"), yaml).unwrap();
        let before = emulator.operations().len();
        let r = emulator.gascale(&d.w, &["up", "--no-wait"]);
        assert_eq!(r.code, 64, "{}", r.stderr);
        assert!(r.stderr.contains("gitlab.version: the host runs GitLab ee 17.4.0"), "{}", r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
        let mutating: Vec<String> =
            emulator.operations()[before..].iter().filter(|o| crate::harness::changes_deployment(o)).cloned().collect();
        assert!(mutating.is_empty(), "calls before the refusal: {mutating:?}");
        if let Some(flag) = flag {
            let plan = emulator.gascale(&d.w, &["plan", flag]);
            assert!(!plan.stdout.contains("! gitlab.version"), "{}", plan.stdout);
        }
    }
}

#[test]
fn data_restored_from_an_older_gitlab_boots_as_it_was_then_is_upgraded_in_place() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let snap = crate::backups::plant_snapshot(&c, "gone", "ee 17.4.0");
    let name = unique_name("rup");
    let w = minimal(&name, &format!("gitlab: {{version: 17.9.0, restore_from: {snap}}}\n"));
    let plan = emulator.gascale(&w, &["plan"]);
    assert!(
        plan.stdout.contains(
            "(upgrade in place: GitLab ee 17.4.0 -> ee 17.9.0 through 17.5.5, 17.8.7 once the new host runs it)"
        ),
        "{}",
        plan.stdout
    );
    // `up` waits for the new host's bootstrap before it upgrades: this
    // thread plays the host, booted, its commands answering.
    let up = {
        let (endpoint, dir) = (emulator.endpoint.clone(), w.path().to_owned());
        std::thread::spawn(move || {
            crate::harness::run(crate::harness::gascale(&dir).args([
                "--endpoint-url",
                &endpoint,
                "--timeout",
                "120s",
                "up",
                "--no-wait",
            ]))
        })
    };
    let host = loop {
        let found = runtime().block_on(async {
            let filters = [("tag:gascale:deployment", name.as_str()), ("tag:gascale:resource", "instance/host")];
            let mut req = c.ec2.describe_instances();
            for (k, v) in filters {
                req = req.filters(aws_sdk_ec2::types::Filter::builder().name(k).values(v).build());
            }
            let out = req.send().await.unwrap();
            out.reservations().iter().flat_map(|r| r.instances()).find_map(|i| i.instance_id().map(str::to_owned))
        });
        if let Some(host) = found {
            break host;
        }
        assert!(!up.is_finished(), "up ended before launching the host");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_eq!(
        tag(&emulator, &host, "gascale:gitlab").as_deref(),
        Some("ee 17.4.0"),
        "the new host must boot the data's GitLab"
    );
    let user_data = runtime().block_on(async {
        let out = c
            .ec2
            .describe_instance_attribute()
            .instance_id(&host)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .unwrap();
        out.user_data().and_then(|u| u.value()).unwrap_or_default().to_owned()
    });
    let gzip = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, user_data).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut text).unwrap();
    assert!(text.contains("gitlab/gitlab-ee:17.4.0-ee.0") && !text.contains("17.9.0"), "the host boots another GitLab");
    let result =
        serde_json::json!({"InstanceId": host, "Status": "Success", "StandardOutputContent": format!("{PENDING}0\n")});
    emulator_control(&emulator.endpoint, "POST", "/gascale-test/ssm-result", &result.to_string());
    runtime().block_on(publish_bootstrap(&c, &host, "complete"));
    let r = up.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let upgrades: Vec<String> = commands(&emulator, &host).iter().filter_map(|s| stop_of(s)).collect();
    assert_eq!(upgrades, ["17.5.5", "17.8.7", "17.9.0"]);
    assert_eq!(tag(&emulator, &host, "gascale:gitlab").as_deref(), Some("ee 17.9.0"));
    let again = emulator.gascale(&w, &["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
}

/// `gitlab-upgrade.sh` as rendered for `stop`, for the minimal example.
fn upgrade_script(stop: &str) -> (String, String) {
    let d = crate::templates::with_region(crate::templates::example("minimal.yaml"));
    let inputs = gascale::render::HostInputs::placeholders(&d, "123456789012");
    (gascale::render::gitlab_upgrade(&d, &inputs, stop).unwrap(), crate::templates::rendered(&d).user_data)
}

#[test]
fn the_upgrade_script_passes_shellcheck_and_takes_a_stops_newest_patch() {
    let (script, user_data) = upgrade_script("18.2");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gitlab-upgrade.sh");
    std::fs::write(&path, &script).unwrap();
    let sc = std::process::Command::new("shellcheck").arg(&path).output().unwrap();
    assert!(sc.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&sc.stdout));

    // On a host the bootstrap set up (stub commands), the registry knowing 18.2.0 to 18.2.7.
    let host = crate::templates::Host::new(&user_data);
    assert!(host.run("ok").status.success());
    let out = host.update(&script, &[("STUB_NEWEST_PATCH", "7")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("gascale-gitlab-version: 18.2.7\n"));
    let compose = host.read("root/srv/gitlab/gascale/docker-compose.yaml");
    assert!(compose.contains("    image: \"gitlab/gitlab-ee:18.2.7-ee.0\"\n"), "{compose}");
    assert!(!compose.contains("gitlab-ee:19.3.0"), "{compose}");
    let calls = host.read("stub/calls");
    let lines: Vec<&str> = calls.lines().collect();
    let pull = lines.iter().position(|l| *l == "docker pull --quiet gitlab/gitlab-ee:18.2.7-ee.0").expect("pulled");
    let up =
        lines.iter().rposition(|l| l.starts_with("docker compose") && l.ends_with("up -d gitlab")).expect("restarted");
    assert!(pull < up, "{calls}");
    assert!(calls.contains("docker manifest inspect gitlab/gitlab-ee:18.2.8-ee.0"), "{calls}");

    // A documented stop is taken as written; a minor the registry lacks fails.
    let (fixed, _) = upgrade_script("17.8.7");
    let out = host.update(&fixed, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(host.read("root/srv/gitlab/gascale/docker-compose.yaml").contains("gitlab/gitlab-ee:17.8.7-ee.0"));
    let out = host.update(&script, &[("STUB_NEWEST_PATCH", "-1")]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // GitLab not ready on the new image: exit 4, naming the version.
    let slow = script.replace("READINESS_TIMEOUT=1200", "READINESS_TIMEOUT=0");
    let out = host.update(&slow, &[("STUB_NEWEST_PATCH", "3"), ("STUB_READINESS", "fail")]);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GitLab 18.2.3 was not ready"));
}

#[test]
fn gitlabs_secrets_and_database_live_on_the_snapshotted_volume() {
    // Omnibus keeps gitlab-secrets.json in /etc/gitlab and its data in
    // /var/opt/gitlab (omnibus-gitlab docker docs, "Set up the volumes"):
    // both are folders of the data volume the bootstrap mounts at /srv/gitlab.
    let (_, user_data) = upgrade_script("18.2");
    let d = crate::templates::with_region(crate::templates::example("minimal.yaml"));
    let compose = crate::templates::rendered(&d).compose;
    for mount in ["/srv/gitlab/config:/etc/gitlab", "/srv/gitlab/data:/var/opt/gitlab"] {
        assert!(compose.contains(mount), "{compose}");
    }
    let host = crate::templates::Host::new(&user_data);
    assert!(host.run("ok").status.success());
    let root = host.path("root");
    let mounted = format!("mount {} {}/srv/gitlab", host.path("dev-sdf").display(), root.display());
    assert!(host.read("stub/calls").lines().any(|l| l == mounted), "{}", host.read("stub/calls"));
}

#[test]
fn ce_becomes_ee_in_place_at_the_same_version_and_ee_never_becomes_ce() {
    let emulator = PrivateEmulator::start();
    let name = unique_name("ed");
    let w = minimal(&name, "gitlab: {edition: ce, version: 17.4.0}\n");
    let r = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let host =
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["host_instance_id"].as_str().unwrap().to_owned();
    runtime().block_on(publish_bootstrap(&sdk_at(&emulator.endpoint), &host, "complete"));
    let result =
        serde_json::json!({"InstanceId": host, "Status": "Success", "StandardOutputContent": format!("{PENDING}0\n")});
    emulator_control(&emulator.endpoint, "POST", "/gascale-test/ssm-result", &result.to_string());
    let config = |edition: &str, version: &str| {
        let yaml = format!(
            "apiVersion: gascale/v1\nkind: Deployment\nmetadata: {{name: {name}, region: eu-west-1}}\n\
             runner: {{executor: docker+machine}}\ngitlab: {{edition: {edition}, version: {version}}}\n"
        );
        std::fs::write(w.path().join("gascale.yaml"), yaml).unwrap();
    };
    // Both at once: GitLab converts an edition at the same version.
    config("ee", "17.9.0");
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("change the edition and the version in two runs"), "{}", r.stderr);
    config("ee", "17.4.0");
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let upgrades: Vec<String> = commands(&emulator, &host).iter().filter_map(|s| stop_of(s)).collect();
    assert_eq!(upgrades, ["17.4.0"]);
    let script = commands(&emulator, &host).into_iter().find(|s| stop_of(s).is_some()).unwrap();
    assert!(script.lines().any(|l| l.strip_prefix("EDITION=").map(|e| e.trim_matches('\'')) == Some("ee")), "{script}");
    assert_eq!(tag(&emulator, &host, "gascale:gitlab").as_deref(), Some("ee 17.4.0"));
    config("ce", "17.4.0");
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("GitLab edition ee -> ce is not an upgrade GitLab supports in place"), "{}", r.stderr);
}

#[test]
fn the_image_form_of_a_version_is_the_same_gitlab() {
    let name = unique_name("form");
    let w = minimal(&name, "gitlab: {version: 19.3.0-ee.0}\n");
    let r = w.gascale(&["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0, "converged");
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap().replace("19.3.0-ee.0", "19.3.0");
    std::fs::write(w.path().join("gascale.yaml"), yaml).unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "19.3.0-ee.0 and 19.3.0 are one GitLab: {}", plan.stdout);
}
