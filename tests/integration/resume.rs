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
