//! `gascale destroy` and `gascale reap` against the emulator: nothing owned
//! is left — workers the "runner" launched included, state file or not —
//! look-alikes survive, and what cannot be deleted is named with exit 3.

use aws_sdk_ec2::types::{Filter, InstanceType, RequestSpotLaunchSpecification, ResourceType, Tag, TagSpecification};

use crate::fleet::{ami, assert_nothing_left, launch_workers};
use crate::harness::{runtime, sdk, sdk_at, unique_name, PrivateEmulator, Workdir};
use crate::owned;
use crate::up::minimal;

fn up(w: &Workdir) -> serde_json::Value {
    let r = w.gascale(&["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "up failed: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn destroy_leaves_nothing_workers_included() {
    let c = sdk();
    let name = unique_name("des");
    let w = minimal(&name, "");
    let outputs = up(&w);
    launch_workers(&c, &w, &outputs, 30, 30, 3);
    // The runner's cache holds objects and an upload it never finished.
    let bucket = outputs["bucket"].as_str().unwrap().to_owned();
    runtime().block_on(async {
        // The runner writes over TLS; the emulator speaks plain HTTP, which
        // the bucket's TLS-only policy refuses (moto evaluates it): lifted
        // for these writes only.
        c.s3.delete_bucket_policy().bucket(&bucket).send().await.unwrap();
        for key in ["runner/project/1/a", "runner/project/1/b"] {
            let body = aws_sdk_s3::primitives::ByteStream::from_static(b"cache");
            c.s3.put_object().bucket(&bucket).key(key).body(body).send().await.unwrap();
        }
        c.s3.create_multipart_upload().bucket(&bucket).key("runner/project/2/c").send().await.unwrap();
    });
    let plan = w.gascale(&["destroy", "--dry-run"]);
    assert_eq!(plan.code, 0);
    assert!(plan.stdout.contains("- workers") && plan.stdout.contains("instances"), "{}", plan.stdout);
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_nothing_left(&c, &name, &outputs);
    assert!(!w.path().join(format!(".gascale/{name}.json")).exists(), "the state file outlived the deployment");
    let again = w.gascale(&["destroy", "--yes"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing to destroy"), "{}", again.stdout);
}

#[test]
fn destroy_without_the_state_file_finds_everything() {
    let c = sdk();
    let name = unique_name("nos");
    let w = minimal(&name, "");
    let outputs = up(&w);
    launch_workers(&c, &w, &outputs, 30, 30, 3);
    std::fs::remove_dir_all(w.path().join(".gascale")).unwrap();
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_nothing_left(&c, &name, &outputs);
}

#[test]
fn destroy_after_a_killed_up_leaves_nothing() {
    let c = sdk();
    let name = unique_name("dk");
    let w = minimal(&name, "");
    crate::resume::up_killed_after(&w, "sg/host");
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", &r.stderr[r.stderr.len().saturating_sub(3000)..]);
    assert_eq!(owned::count(&c, &name), owned::nothing());
}

#[test]
fn destroy_needs_yes_without_a_terminal_and_dry_run_changes_nothing() {
    let emulator = PrivateEmulator::start();
    let name = unique_name("dry");
    let w = minimal(&name, "");
    assert_eq!(emulator.gascale(&w, &["up", "--no-wait"]).code, 0);
    let no = emulator.gascale(&w, &["destroy"]);
    assert_eq!(no.code, 64);
    assert!(no.stderr.contains("--yes"), "{}", no.stderr);
    let before = emulator.operations().len();
    let dry = emulator.gascale(&w, &["destroy", "--dry-run"]);
    assert_eq!(dry.code, 0);
    assert!(dry.stdout.contains("Plan: 0 to add, 0 to change, 21 to destroy."), "{}", dry.stdout);
    let mutating: Vec<String> =
        emulator.operations()[before..].iter().filter(|o| crate::harness::changes_deployment(o)).cloned().collect();
    assert!(mutating.is_empty(), "destroy --dry-run called {mutating:?}");
    assert_eq!(owned::count(&sdk_at(&emulator.endpoint), &name), owned::complete());
}

#[test]
fn destroy_calls_do_not_grow_with_the_number_of_workers() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let mut calls = Vec::new();
    for workers in [5, 50] {
        let name = unique_name("cnt");
        let w = minimal(&name, "");
        let r = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let outputs: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        launch_workers(&c, &w, &outputs, workers, 0, 0);
        let before = emulator.requests().len();
        let r = emulator.gascale(&w, &["destroy", "--yes"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let ec2 = emulator.requests()[before..].iter().filter(|(service, _)| service == "ec2").count();
        calls.push(ec2);
        assert_nothing_left(&c, &name, &outputs);
    }
    // Waits poll a little more or less; the count must not scale with workers.
    assert!(calls[1] <= calls[0] + 3, "EC2 calls: {} with 5 workers, {} with 50", calls[0], calls[1]);
}

#[test]
fn look_alikes_that_are_not_ours_survive() {
    let c = sdk();
    let name = unique_name("look");
    let w = minimal(&name, "");
    let outputs = up(&w);
    let image = ami(&c);
    // Named as one of our workers would be (tests/integration/runner.rs), in
    // a VPC that is not ours.
    let text = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    let d = crate::templates::with_region(gascale::config::parse(&text).unwrap());
    let template = crate::runner::machine_name_template(&d);
    let lookalike = crate::runner::machine_name(&template, &crate::runner::runner_token(1), 1_733_140_000, [9; 4]);
    let (vpc, instance) = runtime().block_on(async {
        let vpc = c
            .ec2
            .create_vpc()
            .cidr_block("10.77.0.0/16")
            .send()
            .await
            .unwrap()
            .vpc()
            .unwrap()
            .vpc_id()
            .unwrap()
            .to_owned();
        let subnet = c
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.77.1.0/24")
            .send()
            .await
            .unwrap()
            .subnet()
            .unwrap()
            .subnet_id()
            .unwrap()
            .to_owned();
        let named = TagSpecification::builder()
            .resource_type(ResourceType::Instance)
            .tags(Tag::builder().key("Name").value(&lookalike).build())
            .build();
        let out = c
            .ec2
            .run_instances()
            .image_id(&image)
            .instance_type(InstanceType::T3Small)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .tag_specifications(named)
            .send()
            .await
            .unwrap();
        (vpc, out.instances()[0].instance_id().unwrap().to_owned())
    });
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_nothing_left(&c, &name, &outputs);
    runtime().block_on(async {
        assert_eq!(
            c.ec2.describe_vpcs().vpc_ids(&vpc).send().await.unwrap().vpcs().len(),
            1,
            "a foreign VPC was deleted"
        );
        let i = c.ec2.describe_instances().instance_ids(&instance).send().await.unwrap();
        let state = i.reservations()[0].instances()[0].state().unwrap().name().unwrap().as_str().to_owned();
        assert_eq!(state, "running", "a foreign instance was terminated");
    });
}

#[test]
fn what_cannot_be_deleted_is_named_with_exit_3_and_the_rest_goes() {
    let c = sdk();
    let name = unique_name("stuck");
    let w = minimal(&name, "");
    let outputs = up(&w);
    let vpc = outputs["vpc_id"].as_str().unwrap().to_owned();
    // A subnet of someone else's in our VPC: gascale must not delete it, so
    // the VPC cannot go (the emulator answers DependencyViolation).
    let foreign = runtime().block_on(async {
        let out = c.ec2.create_subnet().vpc_id(&vpc).cidr_block("10.0.250.0/24").send().await.unwrap();
        out.subnet().unwrap().subnet_id().unwrap().to_owned()
    });
    let r = w.gascale(&["destroy", "--yes", "--timeout", "8s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("vpc {vpc}")), "the survivor is not named: {}", r.stderr);
    assert!(r.stderr.contains("DependencyViolation"), "{}", r.stderr);
    assert!(
        r.stderr.contains("ec2:DeleteVpc") && r.stderr.contains("(request ID "),
        "the error must name the call and AWS's request ID: {}",
        r.stderr
    );
    let left = owned::count(&c, &name);
    assert_eq!(left["vpc"], 1);
    for gone in
        ["instance", "nat", "eip", "bucket", "role", "profile", "data-volume", "endpoint", "subnet", "sg", "rtb", "igw"]
    {
        assert_eq!(left[gone], 0, "{gone} should have been deleted: {left:?}");
    }
    runtime().block_on(async {
        assert_eq!(
            c.ec2.describe_subnets().subnet_ids(&foreign).send().await.unwrap().subnets().len(),
            1,
            "the foreign subnet was deleted"
        );
        c.ec2.delete_subnet().subnet_id(&foreign).send().await.unwrap();
    });
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(owned::count(&c, &name), owned::nothing());
}

#[test]
fn reap_removes_only_the_old_deployment() {
    let c = sdk();
    let (old, new) = (unique_name("old"), unique_name("new"));
    let (wo, wn) = (minimal(&old, ""), minimal(&new, "network: {cidr: 10.5.0.0/16}\n"));
    let oo = up(&wo);
    up(&wn);
    runtime().block_on(async {
        let tag = Tag::builder().key("gascale:created").value("2020-01-01T00:00:00Z").build();
        c.ec2.create_tags().resources(oo["vpc_id"].as_str().unwrap()).tags(tag).send().await.unwrap();
    });
    let dry = wn.gascale(&["reap", "--older-than", "6h", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.lines().any(|l| l.starts_with("would reap") && l.contains(&old)), "{}", dry.stdout);
    assert!(dry.stdout.lines().any(|l| l.starts_with("kept") && l.contains(&new)), "{}", dry.stdout);
    assert_eq!(owned::count(&c, &old), owned::complete(), "reap --dry-run deleted something");
    // No terminal, no --yes: refused before anything, nothing claimed.
    let refused = wn.gascale(&["reap", "--older-than", "6h"]);
    assert_eq!(refused.code, 64, "{}", refused.stderr);
    assert!(refused.stdout.is_empty() && refused.stderr.contains("--yes"), "{}{}", refused.stdout, refused.stderr);
    assert_eq!(owned::count(&c, &old), owned::complete());
    let r = wn.gascale(&["reap", "--older-than", "6h", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(owned::count(&c, &old), owned::nothing());
    assert_eq!(owned::count(&c, &new), owned::complete());
}

#[test]
fn destroying_demo_leaves_the_workers_of_demo_2_alone() {
    let c = sdk();
    let name = unique_name("pre");
    let other = format!("{name}-2");
    let (w, w2) = (minimal(&name, ""), minimal(&other, ""));
    let (outputs, outputs2) = (up(&w), up(&w2));
    launch_workers(&c, &w, &outputs, 2, 2, 0);
    launch_workers(&c, &w2, &outputs2, 3, 3, 0);
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_nothing_left(&c, &name, &outputs);
    runtime().block_on(async {
        let keys = c.ec2.describe_key_pairs().send().await.unwrap();
        let theirs = keys
            .key_pairs()
            .iter()
            .filter(|k| k.key_name().unwrap_or_default().contains(&format!("-{other}-")))
            .count();
        assert_eq!(theirs, 3, "the other deployment's key pairs survive");
        let out = c
            .ec2
            .describe_instances()
            .filters(Filter::builder().name("vpc-id").values(outputs2["vpc_id"].as_str().unwrap()).build())
            .filters(Filter::builder().name("instance-state-name").values("running").build())
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.reservations().iter().map(|r| r.instances().len()).sum::<usize>(),
            // Its host, 3 workers and the instances the emulator launched at
            // once for the two planted spot requests.
            6,
            "its host and workers run"
        );
    });
    assert_eq!(w2.gascale(&["destroy", "--yes"]).code, 0);
    assert_nothing_left(&c, &other, &outputs2);
}

#[test]
fn a_busy_region_does_not_hide_the_deployment_s_workers() {
    // 1,100 key pairs and 1,100 spot requests of others in the region: the
    // emulator pages spot requests as AWS does (1000 a page, then a
    // NextToken); gascale must read every page.
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("busy");
    let w = minimal(&name, "");
    let r = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let outputs: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let image = ami(&c);
    runtime().block_on(async {
        for k in 0..1100 {
            c.ec2.create_key_pair().key_name(format!("someone-else-{k}")).send().await.unwrap();
        }
        let spec =
            RequestSpotLaunchSpecification::builder().image_id(&image).instance_type(InstanceType::T3Small).build();
        c.ec2.request_spot_instances().instance_count(1100).launch_specification(spec).send().await.unwrap();
    });
    // Ours come last: behind the first page.
    launch_workers(&c, &w, &outputs, 3, 3, 0);
    let d = emulator.gascale(&w, &["destroy", "--yes"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert_nothing_left(&c, &name, &outputs);
    runtime().block_on(async {
        let keys = c.ec2.describe_key_pairs().send().await.unwrap();
        let others =
            keys.key_pairs().iter().filter(|k| k.key_name().unwrap_or_default().starts_with("someone-else-")).count();
        assert_eq!(others, 1100, "the others' key pairs stay");
    });
}

/// Spot requests EC2 holds for want of capacity — state `open`, status
/// `capacity-not-available`, no instance (EC2 user guide, "State changes for
/// a Spot request", Holding) — one naming its subnet only in its network
/// interface, do not survive a destroy without the state file.
#[test]
fn spot_requests_held_for_capacity_do_not_survive_destroy() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("held");
    let w = minimal(&name, "");
    let r = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let outputs: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    crate::harness::emulator_control(
        &emulator.endpoint,
        "POST",
        "/gascale-test/spot-capacity",
        r#"{"available": false}"#,
    );
    launch_workers(&c, &w, &outputs, 2, 2, 1);
    let held = runtime().block_on(async {
        let all: Vec<aws_sdk_ec2::types::SpotInstanceRequest> =
            c.ec2.describe_spot_instance_requests().into_paginator().items().send().try_collect().await.unwrap();
        all.iter()
            .filter(|r| r.state().map(|s| s.as_str()) == Some("open") && r.instance_id().is_none())
            .filter(|r| r.status().and_then(|s| s.code()) == Some("capacity-not-available"))
            .count()
    });
    assert_eq!(held, 2, "both planted requests are held, without an instance");
    std::fs::remove_dir_all(w.path().join(".gascale")).unwrap();
    let d = emulator.gascale(&w, &["destroy", "--yes"]);
    assert_eq!(d.code, 0, "{}", d.stderr);
    assert_nothing_left(&c, &name, &outputs);
}

#[test]
fn reap_expired_destroys_what_is_past_its_expiry_and_nothing_else() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let (past, later, never) = (unique_name("ttl"), unique_name("ttl"), unique_name("ttl"));
    let expires = |w: &Workdir| -> (Option<String>, Option<i64>) {
        let r = emulator.gascale(w, &["status", "--output", "json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        (v["outputs"]["expires_at"].as_str().map(str::to_owned), v["outputs"]["expires_in_seconds"].as_i64())
    };
    let ws: Vec<Workdir> = [(&past, &["--ttl", "1s"][..]), (&later, &["--ttl", "6h"]), (&never, &[])]
        .into_iter()
        .map(|(name, ttl)| {
            let w = minimal(name, "");
            let r = emulator.gascale(&w, &[&["up", "--no-wait"], ttl].concat());
            assert_eq!(r.code, 0, "{}", r.stderr);
            w
        })
        .collect();
    // metadata.ttl: recorded by the first up, kept by the next; `up --ttl` extends.
    let configured = Workdir::with_config(&format!(
        "apiVersion: gascale/v1\nkind: Deployment\nmetadata: {{name: {}, region: eu-west-1, ttl: 2h}}\nrunner: {{executor: docker+machine}}\n",
        unique_name("ttl")
    ));
    assert_eq!(emulator.gascale(&configured, &["up", "--no-wait"]).code, 0);
    let (first, left) = expires(&configured);
    assert!(left.is_some_and(|s| (7000..=7200).contains(&s)), "{left:?}");
    assert_eq!(emulator.gascale(&configured, &["up", "--no-wait"]).code, 0);
    assert_eq!(expires(&configured).0, first, "a second up moved the expiry");
    assert_eq!(emulator.gascale(&configured, &["up", "--no-wait", "--ttl", "1d"]).code, 0);
    assert!(expires(&configured).1.is_some_and(|s| s > 80_000), "--ttl did not extend it");

    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(expires(&ws[0]).1.is_some_and(|s| s < 0));
    let text = emulator.gascale(&ws[1], &["status"]);
    assert!(
        text.stdout.contains("expires_at               = ") && text.stdout.contains("(in 5h 59m"),
        "{}",
        text.stdout
    );
    assert_eq!(expires(&ws[2]), (None, None));

    let bare = Workdir::with_config("");
    let before = emulator.operations().len();
    let dry = emulator.gascale(
        &bare,
        &["-f", "absent.yaml", "--region", "eu-west-1", "reap", "--expired", "--dry-run", "--output", "json"],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let listed: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let reaped: Vec<&str> = listed["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["reap"] == true)
        .map(|d| d["deployment"].as_str().unwrap())
        .collect();
    assert_eq!(reaped, [past.as_str()]);
    assert!(
        emulator.operations()[before..].iter().all(|o| !crate::harness::changes_deployment(o)),
        "a dry run changed something"
    );
    let r = emulator.gascale(
        &bare,
        &["-f", "absent.yaml", "--region", "eu-west-1", "reap", "--expired", "--yes", "--no-final-snapshot"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(owned::count(&c, &past), owned::nothing());
    for name in [&later, &never] {
        assert_ne!(owned::count(&c, name), owned::nothing(), "{name} was reaped");
    }
}
