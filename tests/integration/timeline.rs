//! The host's timeline: the bootstrap, run on the stub host, publishes when
//! each step ran (tag gascale:timeline); `status`, and `up` when it waits,
//! show it from the tag.

use crate::harness::{runtime, sdk_at, unique_name, PrivateEmulator};
use crate::templates::{example, rendered, with_region, Host};
use crate::up::minimal;

#[test]
fn status_shows_the_timeline_the_bootstrap_published_with_every_step() {
    let user_data = rendered(&with_region(example("minimal.yaml"))).user_data;
    let order: Vec<String> = user_data
        .lines()
        .find_map(|l| l.strip_prefix("ORDER=(")?.strip_suffix(')'))
        .expect("the bootstrap's step order")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let host = Host::new(&user_data);
    assert!(host.run("ok").status.success());
    let published = host.read("root/var/lib/gascale/timeline").trim().to_owned();
    assert!(host.read("stub/aws").contains(&format!("Key=gascale:timeline,Value={published}")), "{published}");

    let emulator = PrivateEmulator::start();
    let c = sdk_at(&emulator.endpoint);
    let w = minimal(&unique_name("timeline"), "");
    let up = emulator.gascale(&w, &["up", "--no-wait", "--output", "json"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let instance =
        serde_json::from_str::<serde_json::Value>(&up.stdout).unwrap()["host_instance_id"].as_str().unwrap().to_owned();
    // What the bootstrap's `aws ec2 create-tags` calls leave on the host.
    runtime().block_on(async {
        for (key, value) in [("gascale:timeline", published.as_str()), ("gascale:bootstrap", "complete")] {
            let tag = aws_sdk_ec2::types::Tag::builder().key(key).value(value).build();
            c.ec2.create_tags().resources(&instance).tags(tag).send().await.unwrap();
        }
    });
    let r = emulator.gascale(&w, &["status", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let status: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let timeline = &status["timeline"];
    let steps: Vec<&str> = timeline["steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(steps, order.iter().map(String::as_str).collect::<Vec<_>>(), "{timeline}");
    for step in timeline["steps"].as_array().unwrap() {
        assert!(step["ended"].is_i64() && step["seconds"].is_i64(), "{step}");
    }
    assert!(timeline["seconds_to_bootstrap"].is_i64(), "the instance's launch time is known: {timeline}");
    assert!(timeline["total_seconds"].is_i64(), "{timeline}");
    let text = emulator.gascale(&w, &["status"]);
    assert!(
        text.stdout.contains("timeline:   bootstrap started") && text.stdout.contains("runner-token"),
        "{}",
        text.stdout
    );
    // `up`, when it waits for the bootstrap, shows the same timeline (stderr).
    let waited = emulator.gascale(&w, &["up"]);
    assert_eq!(waited.code, 0, "{}", waited.stderr);
    assert!(
        waited.stderr.contains("the host's bootstrap:") && waited.stderr.contains("runner-token"),
        "{}",
        waited.stderr
    );
    assert_eq!(emulator.gascale(&w, &["destroy", "--yes", "--no-final-snapshot"]).code, 0);
}
