//! The command-line surface: help texts (snapshots), usage errors, exit codes.

use crate::harness::{gascale, run};

const SUBCOMMANDS: &[&str] = &[
    "plan",
    "up",
    "destroy",
    "status",
    "fetch-root-password",
    "exec",
    "render",
    "reap",
    "force-unlock",
    "schema",
    "completions",
];

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    let top = run(gascale(dir.path()).arg("--help"));
    assert_eq!(top.code, 0);
    insta::assert_snapshot!("help", top.stdout);
    for sub in SUBCOMMANDS {
        let r = run(gascale(dir.path()).args([sub, "--help"]));
        assert_eq!(r.code, 0, "{sub} --help: {}", r.stderr);
        assert!(r.stdout.contains("Usage: gascale"), "{sub}");
        insta::assert_snapshot!(format!("help-{sub}"), r.stdout);
    }
}

#[test]
fn bad_usage_exits_64_not_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["--bogus"][..], &["nosuchcommand"], &["reap"], &["--timeout", "soon", "status"], &["exec"]] {
        let r = run(gascale(dir.path()).args(args));
        assert_eq!(r.code, 64, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "usage errors print nothing on stdout");
    }
}

#[test]
fn version_prints_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(gascale(dir.path()).arg("--version"));
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.trim(), format!("gascale {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn schema_is_json_and_lists_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(gascale(dir.path()).arg("schema"));
    assert_eq!(r.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema is JSON");
    let props = schema["properties"].as_object().expect("properties");
    for key in ["apiVersion", "kind", "metadata", "network", "gitlab", "runner", "cache"] {
        assert!(props.contains_key(key), "schema lacks {key}");
    }
    assert_eq!(schema["required"], serde_json::json!(["metadata"]));
}

#[test]
fn completions_for_bash() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(gascale(dir.path()).args(["completions", "bash"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("fetch-root-password"));
}
