//! `gascale up` and `gascale plan` against the emulator: what they create,
//! read back through the SDK; idempotence; resuming killed runs; refusing
//! resources that are not ours; locks.

use std::process::Stdio;

use base64::Engine;

use crate::harness::{changes_deployment, gascale, runtime, sdk, unique_name, PrivateEmulator, Workdir};
use crate::owned;

/// A deployment of `name` with `extra` settings. Its runner uses
/// docker+machine unless `extra` has a `runner:` section: most tests model
/// docker-machine's workers; `autoscaler.rs` covers the default executor.
pub fn minimal(name: &str, extra: &str) -> Workdir {
    let runner = if extra.contains("runner:") { "" } else { "runner: {executor: docker+machine}\n" };
    Workdir::with_config(&format!(
        "apiVersion: gascale/v1\nkind: Deployment\nmetadata: {{name: {name}, region: eu-west-1}}\n{runner}{extra}"
    ))
}

pub fn up_json(w: &Workdir) -> serde_json::Value {
    let r = w.gascale(&["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "up failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("up prints one JSON document")
}

#[test]
fn fresh_up_creates_every_resource_as_designed() {
    let name = unique_name("up");
    let w = minimal(&name, "network: {allow_cidrs: [203.0.113.0/24, 198.51.100.7/32]}\n");
    let out = up_json(&w);
    let c = sdk();
    assert_eq!(owned::count(&c, &name), owned::complete());
    let s = |k: &str| out[k].as_str().unwrap().to_owned();
    // `status` shows the outputs `up` printed, read from what exists.
    let status = w.gascale(&["status", "--output", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    for key in ["gitlab_url", "host_instance_id", "data_volume_id", "elastic_ip", "vpc_id", "bucket", "host_role_arn"] {
        assert_eq!(status["outputs"][key], out[key], "{key}");
    }
    assert_eq!(status["outputs"]["private_subnet_ids"], out["private_subnet_ids"]);
    let text = w.gascale(&["status"]);
    assert!(text.stdout.contains(&format!("  gitlab_url               = {}", s("gitlab_url"))), "{}", text.stdout);
    runtime().block_on(async {
        // Every EC2 resource carries both ownership tags (the count above
        // selected by them); the host: IMDSv2, hop limit 2, encrypted volumes.
        let host = c.ec2.describe_instances().instance_ids(s("host_instance_id")).send().await.unwrap();
        let i = host.reservations()[0].instances()[0].clone();
        let md = i.metadata_options().unwrap();
        assert_eq!(md.http_tokens().unwrap().as_str(), "required");
        assert_eq!(md.http_put_response_hop_limit(), Some(2));
        assert!(i.iam_instance_profile().unwrap().arn().unwrap().contains(&format!("/gascale/{name}/")));
        let vols = c
            .ec2
            .describe_volumes()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.instance-id")
                    .values(s("host_instance_id"))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert!(vols.volumes().len() >= 2, "root and data volumes attached");
        assert!(vols.volumes().iter().all(|v| v.encrypted() == Some(true)), "every host volume is encrypted");
        let addr = c.ec2.describe_addresses().public_ips(s("elastic_ip")).send().await.unwrap();
        assert_eq!(addr.addresses()[0].instance_id(), Some(s("host_instance_id").as_str()));

        // Security groups: exactly the configured CIDRs on 80/443, and the
        // workers reachable from the host only.
        let (host_sg, worker_sg) = (s("host_security_group_id"), s("worker_security_group_id"));
        let groups = c.ec2.describe_security_groups().group_ids(&host_sg).group_ids(&worker_sg).send().await.unwrap();
        for g in groups.security_groups() {
            let mut cidr_rules: Vec<(i32, String)> = Vec::new();
            let mut group_rules: Vec<(i32, String)> = Vec::new();
            for p in g.ip_permissions() {
                for r in p.ip_ranges() {
                    cidr_rules.push((p.from_port().unwrap(), r.cidr_ip().unwrap().to_owned()));
                }
                for u in p.user_id_group_pairs() {
                    group_rules.push((p.from_port().unwrap(), u.group_id().unwrap().to_owned()));
                }
            }
            cidr_rules.sort();
            group_rules.sort();
            if g.group_id() == Some(host_sg.as_str()) {
                let want: Vec<(i32, String)> = vec![
                    (80, "198.51.100.7/32".into()),
                    (80, "203.0.113.0/24".into()),
                    (443, "198.51.100.7/32".into()),
                    (443, "203.0.113.0/24".into()),
                ];
                assert_eq!(cidr_rules, want);
                assert_eq!(group_rules, vec![(80, worker_sg.clone()), (443, worker_sg.clone())]);
            } else {
                assert!(cidr_rules.is_empty(), "no CIDR may reach the workers: {cidr_rules:?}");
                assert_eq!(group_rules, vec![(22, host_sg.clone()), (2376, host_sg.clone())]);
            }
        }

        // The bucket: private, encrypted, TLS only, expiring.
        let bucket = s("bucket");
        let pab = c.s3.get_public_access_block().bucket(&bucket).send().await.unwrap();
        let pab = pab.public_access_block_configuration().unwrap();
        assert!(pab.block_public_acls() == Some(true) && pab.ignore_public_acls() == Some(true));
        assert!(pab.block_public_policy() == Some(true) && pab.restrict_public_buckets() == Some(true));
        let enc = c.s3.get_bucket_encryption().bucket(&bucket).send().await.unwrap();
        let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
        assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm().as_str(), "AES256");
        let lifecycle = c.s3.get_bucket_lifecycle_configuration().bucket(&bucket).send().await.unwrap();
        assert!(lifecycle.rules().iter().any(|r| r.expiration().and_then(|e| e.days()) == Some(1)));
        assert!(lifecycle.rules().iter().any(|r| r.abort_incomplete_multipart_upload().is_some()));
        let policy = c.s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
        assert!(policy.policy().unwrap().contains("aws:SecureTransport"));
        let own = c.s3.get_bucket_ownership_controls().bucket(&bucket).send().await.unwrap();
        assert_eq!(own.ownership_controls().unwrap().rules()[0].object_ownership().as_str(), "BucketOwnerEnforced");

        // IAM: the path, and PassRole on the worker role only.
        let role = c.iam.get_role().role_name(format!("gascale-{name}-host")).send().await.unwrap();
        assert_eq!(role.role().unwrap().path(), format!("/gascale/{name}/"));
        let doc = c
            .iam
            .get_role_policy()
            .role_name(format!("gascale-{name}-host"))
            .policy_name("gascale")
            .send()
            .await
            .unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&urlencoding_decode(doc.policy_document())).expect("policy document is JSON");
        let pass = doc["Statement"].as_array().unwrap().iter().find(|s| s["Action"] == "iam:PassRole").unwrap();
        assert_eq!(pass["Resource"], out["worker_role_arn"]);

        // The user-data is exactly what `gascale render` shows.
        let attr = c
            .ec2
            .describe_instance_attribute()
            .instance_id(s("host_instance_id"))
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .unwrap();
        let b64 = attr.user_data().unwrap().value().unwrap().to_owned();
        let gz = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
        let r = w.gascale(&["render", "--out", "rendered"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(text, std::fs::read_to_string(w.path().join("rendered/user-data.sh")).unwrap());
        assert!(text.contains(&s("vpc_id")), "the user-data names the real VPC");
    });
    // The state file holds IDs only.
    let state = std::fs::read_to_string(w.path().join(format!(".gascale/{name}.json"))).unwrap();
    assert!(state.contains(&s("vpc_id")) && !state.contains("#!/bin/bash"));
}

/// IAM returns policy documents URL-encoded (RFC 3986: IAM API reference,
/// GetRolePolicy `PolicyDocument`).
pub fn urlencoding_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().expect("a UTF-8 policy document").into_owned()
}

#[test]
fn second_up_and_plan_make_no_mutating_call() {
    let emulator = PrivateEmulator::start();
    let name = unique_name("noop");
    let w = minimal(&name, "");
    let first = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // 50 workers the runner launched (planted as docker-machine makes them)
    // cost a no-op up nothing: it never lists them (issue: at most 30 reads,
    // the same for any number of workers).
    let outputs: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();
    crate::fleet::launch_workers(&crate::harness::sdk_at(&emulator.endpoint), &w, &outputs, 50, 50, 3);
    let before = emulator.operations().len();
    let second = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(second.stderr.contains("no changes"), "{}", second.stderr);
    let ops = emulator.operations()[before..].to_vec();
    let mutating: Vec<&String> = ops.iter().filter(|o| changes_deployment(o)).collect();
    assert!(mutating.is_empty(), "a no-op up called {mutating:?}");
    assert!(ops.len() <= 30, "a no-op up made {} reads: {ops:?}", ops.len());
    let before = emulator.operations().len();
    let plan = emulator.gascale(&w, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("Plan: 0 to add, 0 to change, 0 to destroy."));
    assert!(emulator.operations()[before..].iter().all(|o| !changes_deployment(o)));
}

#[test]
fn plan_on_an_empty_a_half_built_and_a_complete_deployment() {
    let emulator = PrivateEmulator::start();
    let name = unique_name("pl");
    let w = minimal(&name, "");
    let filters = |text: &str| {
        let mut s = text.replace(&name, "NAME");
        for prefix in ["vpc", "subnet", "igw", "nat", "eipalloc", "rtb", "vpce", "sg", "i", "vol"] {
            let re = format!("{prefix}-");
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(pos) = rest.find(&re) {
                let boundary = pos == 0 || !rest.as_bytes()[pos - 1].is_ascii_alphanumeric();
                let tail = &rest[pos + re.len()..];
                let hex = tail.chars().take_while(|c| c.is_ascii_hexdigit()).count();
                out.push_str(&rest[..pos]);
                if boundary && hex >= 8 {
                    out.push_str(&format!("{prefix}-ID"));
                    rest = &tail[hex..];
                } else {
                    out.push_str(&re);
                    rest = tail;
                }
            }
            out.push_str(rest);
            s = out;
        }
        s
    };
    let empty = emulator.gascale(&w, &["plan", "--detailed-exitcode"]);
    assert_eq!(empty.code, 2, "{}", empty.stderr);
    insta::assert_snapshot!("plan-empty", filters(&empty.stdout));
    let out = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let complete = emulator.gascale(&w, &["plan"]);
    insta::assert_snapshot!("plan-complete", filters(&complete.stdout));
    // An update: a bucket setting, a firewall rule and a launch setting of
    // the host, as `plan` and `plan -v` show them.
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    let changed =
        "gitlab: {instance_type: t3.large}\ncache: {expiration_days: 5}\nnetwork: {allow_cidrs: [203.0.113.0/24]}\n";
    std::fs::write(w.path().join("gascale.yaml"), format!("{yaml}{changed}")).unwrap();
    let update = emulator.gascale(&w, &["plan"]);
    insta::assert_snapshot!("plan-update", filters(&update.stdout));
    let detail = emulator.gascale(&w, &["plan", "-v"]);
    insta::assert_snapshot!("plan-update-detail", filters(&detail.stdout));
    std::fs::write(w.path().join("gascale.yaml"), yaml).unwrap();
    // Half-built: the host, the data volume and the bucket are gone.
    let outputs: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let c = crate::harness::sdk_at(&emulator.endpoint);
    runtime().block_on(async {
        let host = outputs["host_instance_id"].as_str().unwrap();
        c.ec2.terminate_instances().instance_ids(host).send().await.unwrap();
        c.s3.delete_bucket().bucket(outputs["bucket"].as_str().unwrap()).send().await.unwrap();
    });
    let before = emulator.operations().len();
    let half = emulator.gascale(&w, &["plan", "--detailed-exitcode"]);
    assert_eq!(half.code, 2);
    insta::assert_snapshot!("plan-half-built", filters(&half.stdout));
    assert!(emulator.operations()[before..].iter().all(|o| !changes_deployment(o)), "plan mutated");
    let json = emulator.gascale(&w, &["plan", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["summary"]["add"], 4, "the host, its GitLab, its runner configuration and the bucket");
}

#[test]
fn a_bucket_or_role_of_our_name_that_is_not_ours_stops_up_before_anything_is_created() {
    let c = sdk();
    let name = unique_name("foreign");
    runtime().block_on(async {
        let bucket = format!("gascale-{name}-123456789012-eu-west-1");
        c.s3.create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let w = minimal(&name, "");
    let r = w.gascale(&["up", "--no-wait"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("exists and is not ours"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("gascale-{name}-123456789012-eu-west-1")));
    let mut counts = owned::count(&c, &name);
    counts.remove("bucket");
    let mut none = owned::nothing();
    none.remove("bucket");
    assert_eq!(counts, none, "up created something despite the conflict");

    let name = unique_name("foreign");
    runtime().block_on(async {
        c.iam
            .create_role()
            .role_name(format!("gascale-{name}-host"))
            .assume_role_policy_document("{}")
            .send()
            .await
            .unwrap();
    });
    let w = minimal(&name, "");
    let r = w.gascale(&["up", "--no-wait"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("IAM role gascale-{name}-host exists at path / and is not ours")),
        "{}",
        r.stderr
    );
    assert_eq!(owned::count(&c, &name)["vpc"], 0);
}

#[test]
fn two_deployments_in_one_account_stay_separate() {
    let (a, b) = (unique_name("sepa"), unique_name("sepb"));
    let (wa, wb) = (minimal(&a, ""), minimal(&b, "network: {cidr: 10.1.0.0/16}\n"));
    let (oa, ob) = (up_json(&wa), up_json(&wb));
    assert_ne!(oa["vpc_id"], ob["vpc_id"]);
    assert_ne!(oa["bucket"], ob["bucket"]);
    let c = sdk();
    assert_eq!(owned::count(&c, &a), owned::complete());
    assert_eq!(owned::count(&c, &b), owned::complete());
    let plan = wa.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "deployment {b} disturbed {a}: {}", plan.stdout);
}

#[test]
fn up_waits_for_the_bootstrap_and_reports_its_failing_step() {
    for (status, code) in [("complete", 0), ("failed:gitlab", 1)] {
        let name = unique_name("boot");
        let w = minimal(&name, "");
        let child = gascale(w.path())
            .arg("--endpoint-url")
            .arg(crate::harness::endpoint())
            .args(["up", "--timeout", "120s", "--output", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Stand in for the host's bootstrap (the emulator runs no user-data).
        let c = sdk();
        let host = loop {
            let found = runtime().block_on(async {
                let mut f = owned::filters(&name);
                f.push(
                    aws_sdk_ec2::types::Filter::builder().name("tag:gascale:resource").values("instance/host").build(),
                );
                let out = c.ec2.describe_instances().set_filters(Some(f)).send().await.unwrap();
                out.reservations().iter().flat_map(|r| r.instances()).find_map(|i| i.instance_id().map(str::to_owned))
            });
            if let Some(id) = found {
                break id;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        runtime().block_on(crate::harness::publish_bootstrap(&c, &host, status));
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        if code == 0 {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["bootstrap"], "complete");
        } else {
            assert!(stderr.contains("failed at step gitlab"), "{stderr}");
        }
    }
}

#[test]
fn a_change_that_needs_a_new_host_is_planned_and_refused() {
    let name = unique_name("repl");
    let w = minimal(&name, "");
    let first = up_json(&w);
    std::fs::write(
        w.path().join("gascale.yaml"),
        format!("metadata: {{name: {name}, region: eu-west-1}}\ngitlab: {{instance_type: m6i.2xlarge}}\n"),
    )
    .unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2);
    assert!(plan.stdout.contains("-/+ instance/host"), "{}", plan.stdout);
    assert!(plan.stdout.contains("Plan: 1 to add, 0 to change, 1 to destroy."), "{}", plan.stdout);
    let up = w.gascale(&["up", "--no-wait"]);
    assert_eq!(up.code, 1);
    assert!(up.stderr.contains("--allow-host-replacement"), "{}", up.stderr);
    let c = sdk();
    assert_eq!(owned::count(&c, &name), owned::complete());
    let host = first["host_instance_id"].as_str().unwrap();
    let state = runtime().block_on(async {
        let out = c.ec2.describe_instances().instance_ids(host).send().await.unwrap();
        out.reservations()[0].instances()[0].state().unwrap().name().unwrap().as_str().to_owned()
    });
    assert_eq!(state, "running", "the host was touched");
}

#[test]
fn a_runner_setting_changes_through_ssm_without_touching_the_host() {
    let name = unique_name("runcfg");
    let w = minimal(&name, "");
    let first = up_json(&w);
    let host = first["host_instance_id"].as_str().unwrap().to_owned();
    let c = sdk();
    runtime().block_on(crate::harness::publish_bootstrap(&c, &host, "complete"));
    std::fs::write(
        w.path().join("gascale.yaml"),
        format!("metadata: {{name: {name}, region: eu-west-1}}\nrunner: {{concurrent: 42, limit: 42}}\n"),
    )
    .unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    let changed: Vec<&str> =
        plan.stdout.lines().filter(|l| !l.trim_start().starts_with('=') && l.starts_with("  ")).collect();
    assert_eq!(changed.len(), 1, "only the runner's configuration may change: {}", plan.stdout);
    assert!(changed[0].contains("~ runner/config"), "{}", plan.stdout);
    assert!(plan.stdout.contains("= instance/host") && plan.stdout.contains("= volume/data"), "{}", plan.stdout);
    let up = w.gascale(&["up", "--no-wait", "--output", "json"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let after: serde_json::Value = serde_json::from_str(&up.stdout).unwrap();
    assert_eq!(after["host_instance_id"], first["host_instance_id"], "the host was replaced");
    let sent = crate::harness::emulator_control(
        crate::harness::endpoint(),
        "GET",
        &format!("/gascale-test/ssm-commands?instance={host}"),
        "",
    );
    assert!(sent.contains("concurrent = 42") && sent.contains("runner configuration applied"), "{sent}");
    let again = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert_eq!(owned::count(&sdk(), &name), owned::complete());
}

/// A bootstrap that failed runs again on the next `up`: through SSM, the
/// unit the bootstrap installed is started, the status reset first.
#[test]
fn a_failed_bootstrap_is_run_again_by_the_next_up() {
    let name = unique_name("rerun");
    let w = minimal(&name, "");
    let first = up_json(&w);
    let host = first["host_instance_id"].as_str().unwrap().to_owned();
    let c = sdk();
    runtime().block_on(crate::harness::publish_bootstrap(&c, &host, "failed:data-volume"));
    let again = w.gascale(&["up", "--no-wait"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("failed at step data-volume; running it again"), "{}", again.stderr);
    let sent = crate::harness::emulator_control(
        crate::harness::endpoint(),
        "GET",
        &format!("/gascale-test/ssm-commands?instance={host}"),
        "",
    );
    assert!(sent.contains("systemctl start --no-block gascale-bootstrap.service"), "{sent}");
    let status = runtime().block_on(gascale::aws::ec2::bootstrap_status(&c, &host)).unwrap();
    assert_eq!(status.as_deref(), Some("running:restart"));
    // A complete bootstrap is left alone.
    let third = w.gascale(&["up", "--no-wait"]);
    assert!(!third.stderr.contains("running it again"), "{}", third.stderr);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

#[test]
fn a_name_from_the_pipeline_makes_one_file_serve_many_deployments() {
    let file = crate::harness::root().join("examples/ci-ephemeral.yaml");
    let dir = tempfile::tempdir().unwrap();
    let gascale = |name: &str, args: &[&str]| {
        let mut cmd = crate::harness::gascale(dir.path());
        cmd.env("GASCALE_NAME", name).args(["--endpoint-url", crate::harness::endpoint(), "--region", "eu-west-1"]);
        crate::harness::run(cmd.arg("-f").arg(&file).args(args))
    };
    let bad = gascale("CI_123", &["plan"]);
    assert_eq!(bad.code, 64, "{}", bad.stderr);
    assert!(bad.stderr.contains("--name / GASCALE_NAME: \"CI_123\" must be"), "{}", bad.stderr);
    let (a, b) = (unique_name("ci"), unique_name("ci"));
    let mut vpcs = Vec::new();
    for name in [&a, &b] {
        let r = gascale(name, &["up", "--no-wait", "--output", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(out["deployment"], name.as_str());
        vpcs.push(out["vpc_id"].as_str().unwrap().to_owned());
    }
    assert_ne!(vpcs[0], vpcs[1], "two names, one deployment");
    // `--name` wins over the environment; each deployment is its own.
    let status = gascale("unused", &["--name", &a, "status", "--output", "json"]);
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["outputs"]["vpc_id"], vpcs[0].as_str());
    for name in [&a, &b] {
        let r = gascale(name, &["destroy", "--yes", "--no-final-snapshot"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    assert_eq!(owned::count(&sdk(), &a), owned::nothing());
}

#[test]
fn dotenv_output_parses_and_carries_every_output() {
    let w = minimal(&unique_name("env"), "");
    let r = w.gascale(&["up", "--no-wait", "--output", "dotenv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let parse = |text: &str| -> std::collections::BTreeMap<String, String> {
        dotenvy::from_read_iter(text.as_bytes()).map(|kv| kv.expect("a dotenv line")).collect()
    };
    let vars = parse(&r.stdout);
    // GitLab's dotenv report: no empty lines or comments, at most 20 variables by default.
    assert!(r.stdout.lines().all(|l| !l.is_empty() && !l.starts_with('#')), "{}", r.stdout);
    assert!(vars.len() <= 20, "{} variables", vars.len());
    let status = w.gascale(&["status", "--output", "json"]);
    let outputs: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&status.stdout).unwrap()["outputs"].clone();
    for (key, value) in outputs.as_object().unwrap() {
        let got = vars.get(&key.to_ascii_uppercase()).unwrap_or_else(|| panic!("{key} missing: {vars:?}"));
        match value {
            serde_json::Value::String(s) => assert_eq!(got, s, "{key}"),
            serde_json::Value::Array(items) => {
                let joined: Vec<&str> = items.iter().map(|i| i.as_str().unwrap()).collect();
                assert_eq!(got, &joined.join(","), "{key}");
            }
            _ => {}
        }
    }
    assert!(vars["GITLAB_URL"].starts_with("http://ec2-"), "{vars:?}");
    let again = w.gascale(&["status", "--output", "dotenv"]);
    assert_eq!(parse(&again.stdout)["VPC_ID"], vars["VPC_ID"]);
    // Other commands refuse it before they act.
    let r = w.gascale(&["destroy", "--yes", "--output", "dotenv"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--output dotenv is for up and status"), "{}", r.stderr);
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0, "destroy acted");
}
