//! Reliability: throttling and server errors, signals, and
//! every documented exit code.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{gascale, sdk_at, unique_name, PrivateEmulator};
use crate::owned;
use crate::up::minimal;

#[test]
fn up_up_destroy_through_throttling_and_server_errors() {
    let emulator = PrivateEmulator::start_with(&["--throttle", "0.2", "--error", "0.05", "--seed", "7"]);
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("flaky");
    let w = minimal(&name, "");
    for round in ["first", "second"] {
        let r = emulator.gascale(&w, &["up", "--no-wait"]);
        assert_eq!(r.code, 0, "{round} up: {}", r.stderr);
        assert_eq!(owned::count(&c, &name), owned::complete(), "after the {round} up");
    }
    let faults = emulator.faults();
    assert!(faults > 10, "the emulator injected only {faults} faults");
    let r = emulator.gascale(&w, &["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(owned::count(&c, &name), owned::nothing());
}

#[test]
fn destroy_through_heavy_throttling() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("throt");
    let w = minimal(&name, "");
    assert_eq!(emulator.gascale(&w, &["up", "--no-wait"]).code, 0);
    emulator.set_faults(0.5, 0.0, 3);
    let r = emulator.gascale(&w, &["destroy", "--yes", "--max-attempts", "20"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(emulator.faults() > 20, "only {} requests were throttled", emulator.faults());
    assert_eq!(owned::count(&c, &name), owned::nothing());
}

/// Starts `up`, sends SIGINT when stderr shows `marker`; returns the exit
/// code, how long the exit took after the signal, and stderr.
fn interrupt_up_at(emulator: &PrivateEmulator, w: &crate::harness::Workdir, marker: &str) -> (i32, Duration, String) {
    let mut child = gascale(w.path())
        .arg("--endpoint-url")
        .arg(&emulator.endpoint)
        .args(["up", "--timeout", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let mut signalled = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if signalled.is_none() && line.contains(marker) {
            std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
            signalled = Some(Instant::now());
        }
    }
    let status = child.wait().unwrap();
    let took = signalled.map(|t| t.elapsed()).unwrap_or_else(|| panic!("never saw {marker:?}:\n{seen}"));
    (status.code().unwrap_or(-1), took, seen)
}

#[test]
fn sigint_during_up_stops_cleanly_and_a_rerun_completes() {
    let emulator = PrivateEmulator::start_with(&["--latency-ms", "120"]);
    let c = sdk_at(&emulator.endpoint);
    for marker in ["created iam/role/host", "created subnet/public-0", "waiting for GitLab on"] {
        let name = unique_name("sig");
        let w = minimal(&name, "");
        let (code, took, stderr) = interrupt_up_at(&emulator, &w, marker);
        assert_eq!(code, 130, "at {marker:?}: {stderr}");
        assert!(took < Duration::from_secs(7), "at {marker:?} the exit took {took:?}");
        let again =
            format!("to resume:   gascale -f gascale.yaml --region eu-west-1 --endpoint-url {} up", emulator.endpoint);
        assert!(stderr.contains(&again), "{stderr}");
        assert!(w.path().join(format!(".gascale/{name}.json")).exists(), "no state file after {marker:?}");
        assert!(crate::lock::held(&c, &name).is_none(), "lock left after {marker:?}");
        let r = emulator.gascale(&w, &["up", "--no-wait"]);
        assert_eq!(r.code, 0, "re-run after {marker:?}: {}", r.stderr);
        assert!(!r.stderr.contains("stale lock"), "the interrupted run did not release its lock");
        assert_eq!(owned::count(&c, &name), owned::complete(), "after an interrupt at {marker:?}");
    }
}
