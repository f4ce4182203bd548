//! The deployment's lock in AWS (an SSM parameter, `aws::lock`): two
//! machines — two state folders — never run one deployment at once; a lease
//! that ran out is taken over and its paused holder stops; only the lock's
//! ID unlocks it; which commands take it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::harness::{gascale, runtime, sdk_at, unique_name, PrivateEmulator, Workdir};
use crate::owned;
use crate::up::minimal;

/// The lock's holder as gascale wrote it, if the deployment is locked.
pub fn held(c: &gascale::aws::Clients, name: &str) -> Option<serde_json::Value> {
    let parameter = gascale::aws::lock::parameter(name);
    runtime().block_on(async {
        match c.ssm.get_parameter().name(&parameter).send().await {
            Ok(out) => Some(serde_json::from_str(out.parameter().unwrap().value().unwrap()).unwrap()),
            Err(e) => {
                assert_eq!(aws_sdk_ssm::error::ProvideErrorMetadata::code(&e), Some("ParameterNotFound"), "{e:?}");
                None
            }
        }
    })
}

fn spawn_up(emulator: &PrivateEmulator, w: &Workdir, job: &str, extra: &[&str]) -> Child {
    gascale(w.path())
        .env("CI_JOB_URL", job)
        .arg("--endpoint-url")
        .arg(&emulator.endpoint)
        .args(extra)
        .args(["up", "--no-wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_ups_from_two_machines_one_runs_the_other_names_the_holder() {
    // A little latency per call keeps the first `up` running while the second starts.
    let emulator = PrivateEmulator::start_with(&["--latency-ms", "5"]);
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("twomach");
    // Two folders, two state files: nothing local is shared, as on two machines.
    let (a, b) = (minimal(&name, ""), minimal(&name, ""));
    let (jobs_a, jobs_b) = ("https://gitlab.example.com/g/p/-/jobs/101", "https://gitlab.example.com/g/p/-/jobs/102");
    let (pa, pb) = (spawn_up(&emulator, &a, jobs_a, &[]), spawn_up(&emulator, &b, jobs_b, &[]));
    let (ids, outs) = ([pa.id(), pb.id()], [pa.wait_with_output().unwrap(), pb.wait_with_output().unwrap()]);
    let codes = [outs[0].status.code().unwrap(), outs[1].status.code().unwrap()];
    let mut sorted = codes;
    sorted.sort();
    assert_eq!(sorted, [0, 4], "exactly one runs: {codes:?}");
    let (winner, loser) = if codes[0] == 0 { (0, 1) } else { (1, 0) };
    let msg = String::from_utf8_lossy(&outs[loser].stderr);
    let job = [jobs_a, jobs_b][winner];
    for part in ["locked by `gascale up`", &format!("pid {}", ids[winner]), job, "lock ID", "gascale force-unlock"] {
        assert!(msg.contains(part), "the loser's message lacks {part:?}: {msg}");
    }
    let state = |w: &Workdir| w.path().join(format!(".gascale/{name}.json")).exists();
    assert!(state([&a, &b][winner]) && !state([&a, &b][loser]), "the loser wrote no state");
    assert_eq!(owned::count(&c, &name), owned::complete());
    assert!(held(&c, &name).is_none(), "the winner released its lock");
}

#[test]
fn a_lease_that_ran_out_is_taken_over_and_its_paused_holder_changes_nothing_more() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    // moto sets much of itself up on first use (seconds on a loaded
    // machine): done here, so the holder's 3 s lease is not spent on it.
    let warm = minimal(&unique_name("warm"), "");
    assert_eq!(emulator.gascale(&warm, &["plan"]).code, 0);
    let name = unique_name("lease");
    let (a, b) = (minimal(&name, ""), minimal(&name, ""));
    // `up` that waits for GitLab: the emulator's host never boots, so it
    // polls until paused.
    let mut holder = gascale(a.path())
        .env("CI_JOB_URL", "https://ci.example/a")
        .args(["--endpoint-url", &emulator.endpoint, "--lock-lease", "3s", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, stderr) = mpsc::channel();
    let pipe = BufReader::new(holder.stderr.take().unwrap());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in pipe.lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = lines.send(line);
        }
        all
    });
    let waiting = "waiting for GitLab on";
    loop {
        match stderr.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(waiting) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = holder.kill();
                panic!("the holder stopped before waiting for GitLab ({e}):\n{}", reader.join().unwrap());
            }
        }
    }
    // A machine that froze: its process lives, but renews nothing.
    signal(&holder, "-STOP");
    let early = emulator.gascale(&b, &["destroy", "--yes", "--no-final-snapshot"]);
    assert_eq!(early.code, 4, "a live lease is respected: {}", early.stderr);
    assert!(early.stderr.contains(&format!("pid {}", holder.id())), "{}", early.stderr);
    std::thread::sleep(Duration::from_millis(3500));
    let taken = emulator.gascale(&b, &["destroy", "--yes", "--no-final-snapshot"]);
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    assert!(taken.stderr.contains("took over the stale lock"), "{}", taken.stderr);
    assert!(taken.stderr.contains(&format!("pid {}", holder.id())), "the old holder is named: {}", taken.stderr);
    // The frozen machine wakes up: its lease is gone, so it stops and changes nothing.
    let woke = emulator.now();
    signal(&holder, "-CONT");
    let code = holder.wait().unwrap().code();
    let said = reader.join().unwrap();
    assert_eq!(code, Some(130), "{said}");
    assert!(said.contains("lease ran out"), "{said}");
    assert_eq!(emulator.mutating_since(woke), Vec::<String>::new(), "calls of the woken holder: {said}");
    assert!(owned::count(&c, &name).values().all(|n| *n == 0), "{:?}", owned::count(&c, &name));
    assert!(held(&c, &name).is_none());
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill").arg(sig).arg(child.id().to_string()).status().unwrap().success());
}

#[test]
fn a_sigkilled_up_on_this_host_is_stale_at_once() {
    let name = unique_name("stale");
    let w = minimal(&name, "");
    crate::resume::up_killed_after(&w, "vpc");
    let c = crate::harness::sdk();
    let lock = held(&c, &name).expect("a killed run leaves its lock");
    let r = w.gascale(&["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("pid {}", lock["pid"])), "the stale lock's holder is not named: {}", r.stderr);
    assert!(held(&c, &name).is_none());
}

#[test]
fn mutating_commands_wait_for_another_machines_lock_and_only_its_id_unlocks_it() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("locked");
    let w = minimal(&name, "");
    assert_eq!(emulator.gascale(&w, &["up", "--no-wait"]).code, 0);
    // Another machine's `up`, mid-run: what `aws::lock` writes for it.
    let holder = serde_json::json!({
        "id": "00c0ffee00c0ffee", "command": "up", "host": "ci-runner-7", "pid": 4242,
        "ci_job": "https://gitlab.example.com/g/p/-/jobs/7", "started": "2026-12-07T10:00:00Z",
        "expires": (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339(),
    });
    runtime().block_on(async {
        let put = c.ssm.put_parameter().name(gascale::aws::lock::parameter(&name));
        put.value(holder.to_string()).r#type(aws_sdk_ssm::types::ParameterType::String).send().await.unwrap();
    });
    for args in [&["up", "--no-wait"][..], &["destroy", "--yes"], &["snapshot"]] {
        let r = emulator.gascale(&w, args);
        assert_eq!(r.code, 4, "{args:?}: {}", r.stderr);
        for part in ["ci-runner-7", "pid 4242", "jobs/7", "00c0ffee00c0ffee", "force-unlock"] {
            assert!(r.stderr.contains(part), "{args:?}: the lock message lacks {part}: {}", r.stderr);
        }
    }
    let reap = emulator.gascale(&w, &["reap", "--older-than", "0s", "--yes", "--no-final-snapshot"]);
    assert_eq!(reap.code, 3, "reap leaves a locked deployment alone and says so: {}", reap.stderr);
    assert!(reap.stderr.contains("00c0ffee00c0ffee"), "{}", reap.stderr);
    // Reads take no lock.
    assert_eq!(emulator.gascale(&w, &["plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(emulator.gascale(&w, &["status"]).code, 0);
    let wrong = emulator.gascale(&w, &["force-unlock", "deadbeefdeadbeef"]);
    assert_eq!(wrong.code, 64, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("00c0ffee00c0ffee"), "the refusal names the lock it keeps: {}", wrong.stderr);
    assert_eq!(held(&c, &name).unwrap()["id"], "00c0ffee00c0ffee");
    let right = emulator.gascale(&w, &["force-unlock", "00c0ffee00c0ffee"]);
    assert_eq!(right.code, 0, "{}", right.stderr);
    assert!(held(&c, &name).is_none());
    assert_eq!(emulator.gascale(&w, &["destroy", "--yes", "--no-final-snapshot"]).code, 0);
}

#[test]
fn a_bucket_a_killed_run_left_untagged_is_adopted_from_another_machine() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let name = unique_name("adopt");
    let (a, b) = (minimal(&name, ""), minimal(&name, ""));
    let mut first = gascale(a.path())
        .args(["--endpoint-url", &emulator.endpoint, "up", "--no-wait"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Strict mode answers the tagging right after CreateBucket with
    // NoSuchBucket for a moment, as S3 does (scripts/emulator/strict.py):
    // the kill lands in the retry's backoff (200 ms), before the bucket is tagged.
    let tagging = |r: &serde_json::Value| r["op"] == "S3:PUT:tagging";
    while !emulator.log().iter().any(|r| tagging(r) && !r["strict"].is_null()) {
        assert!(!emulator.log().iter().any(|r| tagging(r) && r["strict"].is_null()), "tagged at the first try");
        assert!(first.try_wait().unwrap().is_none(), "up ended before creating its bucket");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap(); // SIGKILL: its state file stays on machine A
    first.wait().unwrap();
    std::thread::sleep(Duration::from_millis(700)); // its calls in flight land
    let untagged = runtime().block_on(async {
        let bucket = format!("gascale-{name}-123456789012-eu-west-1");
        c.s3.get_bucket_tagging().bucket(bucket).send().await.is_err()
    });
    assert!(untagged, "the kill came after the bucket was tagged: nothing to adopt");
    let intents = runtime().block_on(async {
        let out = c.ssm.get_parameter().name(gascale::aws::intents::parameter(&name)).send().await.unwrap();
        out.parameter().unwrap().value().unwrap().to_owned()
    });
    assert!(intents.contains("\"bucket\""), "{intents}");
    // Machine B: no state file, only what AWS says.
    let plan = emulator.gascale(&b, &["plan"]);
    assert!(plan.stdout.contains("created by an interrupted run"), "{}", plan.stdout);
    let r = emulator.gascale(&b, &["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(owned::count(&c, &name), owned::complete());
    let left = runtime().block_on(c.ssm.get_parameter().name(gascale::aws::intents::parameter(&name)).send());
    assert!(left.is_err(), "the intents are cleared once recorded");
}

#[test]
fn reap_removes_the_stale_lock_of_a_deployment_that_is_gone_and_nothing_else() {
    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let (gone, busy) = (unique_name("gone"), unique_name("busy"));
    // What aws::lock writes: a holder killed at the end of its `destroy` on
    // another machine (its lease ran out), and a live `up` that has not made
    // its VPC yet.
    let holder = |id: &str, command: &str, expires: chrono::DateTime<chrono::Utc>| {
        serde_json::json!({
            "id": id, "command": command, "host": "ci-runner-9", "pid": 77, "started": "2026-12-07T08:00:00Z",
            "expires": expires.to_rfc3339(),
        })
        .to_string()
    };
    let past = chrono::Utc::now() - chrono::Duration::minutes(10);
    let future = chrono::Utc::now() + chrono::Duration::minutes(10);
    runtime().block_on(async {
        for (name, value) in
            [(&gone, holder("0000dead0000dead", "destroy", past)), (&busy, holder("00000b5900000b59", "up", future))]
        {
            let put = c.ssm.put_parameter().name(gascale::aws::lock::parameter(name)).value(value);
            put.r#type(aws_sdk_ssm::types::ParameterType::String).send().await.unwrap();
        }
    });
    let w = Workdir::with_config("");
    let reap = |args: &[&str]| {
        let mut all = vec!["--region", "eu-west-1", "reap", "--older-than", "1d"];
        all.extend_from_slice(args);
        emulator.gascale(&w, &all)
    };
    let dry = reap(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains(&format!("would remove the stale lock of {gone}")), "{}", dry.stdout);
    assert!(held(&c, &gone).is_some(), "--dry-run removed it");
    let r = reap(&["--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&format!("removed the stale lock of {gone} (held by `gascale destroy`")), "{}", r.stdout);
    assert!(!r.stdout.contains(&busy), "{}", r.stdout);
    assert!(held(&c, &gone).is_none());
    assert_eq!(held(&c, &busy).unwrap()["id"], "00000b5900000b59", "a live lock stays");
}
