//! `up` interrupted the hard way (SIGKILL) or raced by a second `up`: the
//! next run completes the deployment, and nothing is ever created twice.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::harness::{gascale, sdk, unique_name, Workdir};
use crate::owned;
use crate::up::minimal;

/// Runs `up`, SIGKILLs it right after it reports `created <address>`.
pub fn up_killed_after(w: &Workdir, address: &str) {
    let mut child = gascale(w.path())
        .arg("--endpoint-url")
        .arg(crate::harness::endpoint())
        .args(["up", "--no-wait"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let marker = format!("created {address} ");
    let mut seen = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains(&marker) || line.ends_with(&format!("created {address}")) {
            seen = true;
            let _ = child.kill(); // SIGKILL
            break;
        }
    }
    let _ = child.wait();
    assert!(seen, "up never reported creating {address}");
    // Requests the killed process had already sent are still being answered
    // (by AWS as by the emulator); a later run starts after they land.
    std::thread::sleep(std::time::Duration::from_millis(500));
}

#[test]
fn up_killed_after_any_step_is_completed_by_the_next_up_without_duplicates() {
    let c = sdk();
    for address in ["vpc", "iam/role/worker", "subnet/private-1", "bucket", "sg/workers", "volume/data"] {
        let name = unique_name("kill");
        let w = minimal(&name, "");
        up_killed_after(&w, address);
        let again = w.gascale(&["up", "--no-wait"]);
        assert_eq!(again.code, 0, "re-run after a kill at {address}: {}", again.stderr);
        assert!(again.stderr.contains("stale lock"), "the killed run's lock was not recognised: {}", again.stderr);
        assert_eq!(owned::count(&c, &name), owned::complete(), "after a kill at {address}");
        let plan = w.gascale(&["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code, 0, "not converged after a kill at {address}: {}", plan.stdout);
    }
}

#[test]
fn concurrent_ups_do_not_duplicate_anything() {
    let name = unique_name("conc");
    let w = minimal(&name, "");
    let spawn = || {
        gascale(w.path())
            .arg("--endpoint-url")
            .arg(crate::harness::endpoint())
            .args(["up", "--no-wait"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code().unwrap(), b.status.code().unwrap()];
    assert!(codes.contains(&0), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 0 || *c == 4), "{codes:?}");
    if codes.contains(&4) {
        let loser = if codes[0] == 4 { &a } else { &b };
        let msg = String::from_utf8_lossy(&loser.stderr);
        assert!(msg.contains("locked by `gascale up`") && msg.contains("pid"), "{msg}");
    }
    assert_eq!(owned::count(&sdk(), &name), owned::complete());
}

/// Runs `up` on `emulator` and SIGKILLs it once the emulator has answered
/// `k` more requests than `before`; false when `up` finished first.
fn up_killed_after_call(emulator: &crate::harness::PrivateEmulator, w: &Workdir, before: usize, k: usize) -> bool {
    let mut child = gascale(w.path())
        .arg("--endpoint-url")
        .arg(&emulator.endpoint)
        .args(["up", "--no-wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if emulator.request_count() >= before + k {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(std::time::Duration::from_millis(300));
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Crash consistency at every third call: a fresh `up`, in strict mode with
/// faults on, killed after its k-th AWS call for k = first, first + 9, … up
/// to the calls of a whole `up`; then `up` again must leave exactly one of
/// each resource, and `destroy` nothing. Three tests (first = 1, 4, 7), each
/// on an emulator of its own, cover every third k side by side.
fn killed_up_converges(first: usize) {
    let emulator =
        crate::harness::PrivateEmulator::start_with(&["--throttle", "0.05", "--error", "0.02", "--seed", "7"]);
    let c = crate::harness::sdk_at(&emulator.endpoint);
    let reference = minimal(&unique_name("crashref"), "");
    let before = emulator.request_count();
    assert_eq!(emulator.gascale(&reference, &["up", "--no-wait"]).code, 0);
    let calls = emulator.request_count() - before;
    assert_eq!(emulator.gascale(&reference, &["destroy", "--yes"]).code, 0);
    let (mut runs, mut kills) = (0, 0);
    for k in (first..calls).step_by(9) {
        let name = unique_name("crash");
        let w = minimal(&name, "");
        let before = emulator.request_count();
        runs += 1;
        kills += usize::from(up_killed_after_call(&emulator, &w, before, k));
        let r = emulator.gascale(&w, &["up", "--no-wait"]);
        assert_eq!(
            r.code,
            0,
            "k={k}: the up after the kill failed: {}",
            &r.stderr[r.stderr.len().saturating_sub(2000)..]
        );
        assert_eq!(owned::count(&c, &name), owned::complete(), "k={k}: not exactly one of each");
        let d = emulator.gascale(&w, &["destroy", "--yes"]);
        assert_eq!(d.code, 0, "k={k}: destroy failed: {}", &d.stderr[d.stderr.len().saturating_sub(2000)..]);
        assert_eq!(owned::count(&c, &name), owned::nothing(), "k={k}: destroy left something");
    }
    assert!(
        kills * 2 > runs,
        "only {kills} of {runs} runs were killed before they finished ({calls} calls a whole up)"
    );
}

#[test]
fn up_killed_after_call_1_10_19_and_every_ninth_converges() {
    killed_up_converges(1);
}

#[test]
fn up_killed_after_call_4_13_22_and_every_ninth_converges() {
    killed_up_converges(4);
}

#[test]
fn up_killed_after_call_7_16_25_and_every_ninth_converges() {
    killed_up_converges(7);
}

#[test]
fn a_host_terminated_out_of_band_is_launched_again() {
    // EC2 keeps a RunInstances ClientToken for 24 h after termination and
    // answers IdempotentParameterMismatch when other parameters differ (the
    // strict emulator does too): the next launch needs a token of its own.
    let c = sdk();
    let name = unique_name("oob");
    let w = minimal(&name, "");
    let first = crate::up::up_json(&w);
    let host = first["host_instance_id"].as_str().unwrap().to_owned();
    crate::harness::runtime().block_on(async {
        c.ec2.terminate_instances().instance_ids(&host).send().await.unwrap();
    });
    let second = crate::up::up_json(&w);
    let new_host = second["host_instance_id"].as_str().unwrap();
    assert_ne!(new_host, host, "a new host");
    assert_eq!(second["data_volume_id"], first["data_volume_id"], "on the same data volume");
    assert_eq!(owned::count(&c, &name), owned::complete());
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

#[test]
fn an_endpoint_left_incomplete_is_completed_in_place() {
    // A run killed between creating the S3 endpoint and marking it complete
    // leaves it `pending`: the next `up` converges the same endpoint (its
    // route tables) instead of creating another.
    let c = sdk();
    let name = unique_name("vpce");
    let w = minimal(&name, "");
    let out = crate::up::up_json(&w);
    let vpc = out["vpc_id"].as_str().unwrap().to_owned();
    let endpoint = crate::harness::runtime().block_on(async {
        let filter = aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(&vpc).build();
        let e = c.ec2.describe_vpc_endpoints().filters(filter).send().await.unwrap();
        let id = e.vpc_endpoints()[0].vpc_endpoint_id().unwrap().to_owned();
        let pending = aws_sdk_ec2::types::Tag::builder().key("gascale:spec").value("pending").build();
        c.ec2.create_tags().resources(&id).tags(pending).send().await.unwrap();
        id
    });
    let plan = w.gascale(&["plan"]);
    assert!(plan.stdout.contains("left incomplete"), "{}", plan.stdout);
    crate::up::up_json(&w);
    assert_eq!(owned::count(&c, &name), owned::complete(), "the same endpoint, no second one");
    crate::harness::runtime().block_on(async {
        let e = c.ec2.describe_vpc_endpoints().vpc_endpoint_ids(&endpoint).send().await.unwrap();
        assert_eq!(e.vpc_endpoints()[0].route_table_ids().len(), 2, "both route tables");
    });
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}
