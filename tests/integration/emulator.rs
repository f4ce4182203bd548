//! Talking to AWS through the emulator: endpoint by flag and by environment,
//! identity, and the missing-region error.

use crate::harness::{endpoint, gascale, run, unique_name, Workdir};

fn config(name: &str, region: Option<&str>) -> String {
    match region {
        Some(r) => format!("metadata: {{name: {name}, region: {r}}}\n"),
        None => format!("metadata: {{name: {name}}}\n"),
    }
}

#[test]
fn status_reaches_the_emulator_through_the_flag() {
    let w = Workdir::with_config(&config(&unique_name("st"), Some("eu-west-1")));
    let r = w.gascale(&["status", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    assert_eq!(v["identity"]["account"], "123456789012");
    assert_eq!(v["identity"]["region"], "eu-west-1");
}

#[test]
fn status_reaches_the_emulator_through_aws_endpoint_url() {
    let w = Workdir::with_config(&config(&unique_name("st"), None));
    let r = run(gascale(w.path()).env("AWS_ENDPOINT_URL", endpoint()).env("AWS_REGION", "us-east-2").arg("status"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("account:    123456789012"), "{}", r.stdout);
    assert!(r.stdout.contains("region:     us-east-2"), "{}", r.stdout);
}

#[test]
fn region_flag_wins_over_the_config_file() {
    let w = Workdir::with_config(&config(&unique_name("st"), Some("eu-west-1")));
    let r = w.gascale(&["--region", "ap-northeast-1", "status"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("region:     ap-northeast-1"), "{}", r.stdout);
}

#[test]
fn no_region_anywhere_is_a_usage_error_for_every_aws_command() {
    let w = Workdir::with_config(&config(&unique_name("nr"), None));
    let commands: &[&[&str]] = &[
        &["plan"],
        &["up"],
        &["destroy", "--yes"],
        &["status"],
        &["fetch-root-password"],
        &["exec", "--", "true"],
        &["render", "--out", "rendered"],
        &["reap", "--older-than", "6h", "--dry-run"],
    ];
    for args in commands {
        let r = w.gascale(args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("no AWS region configured"), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("--region") && r.stderr.contains("AWS_REGION"), "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn render_writes_every_bootstrap_file() {
    let name = unique_name("rn");
    let w = Workdir::with_config(&config(&name, Some("eu-west-1")));
    let r = w.gascale(&["render", "--out", "out", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    // A new deployment's default executor, docker-autoscaler, adds the
    // workers' user-data to the host's six files.
    assert_eq!(report["files"].as_array().unwrap().len(), 7, "{report}");
    assert!(w.path().join("out/worker-user-data.sh").exists());
    assert!(report["user_data_bytes"].as_u64().unwrap() < 16 * 1024);
    let config = std::fs::read_to_string(w.path().join("out/config.toml")).unwrap();
    assert!(config.contains(&format!("gascale-{name}-123456789012-eu-west-1")), "bucket named from the account");
    let user_data = std::fs::read_to_string(w.path().join("out/user-data.sh")).unwrap();
    assert!(user_data.starts_with("#!/bin/bash"));
}
