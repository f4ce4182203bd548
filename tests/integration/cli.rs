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
    "token",
    "verify",
    "snapshot",
    "snapshots",
    "permissions",
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
        assert!(r.stdout.contains("Examples:\n  gascale "), "{sub} --help has no example");
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

#[test]
fn the_readme_shows_the_permissions_gascale_prints() {
    // One source: `gascale permissions`; the README carries its output
    // between markers, checked here so it cannot drift.
    let dir = tempfile::tempdir().unwrap();
    let r = run(gascale(dir.path()).arg("permissions"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let policy: serde_json::Value = serde_json::from_str(&r.stdout).expect("a JSON policy on stdout");
    assert_eq!(policy["Version"], "2012-10-17");
    let readme = std::fs::read_to_string(crate::harness::root().join("README.md")).unwrap();
    let block = readme
        .split("<!-- gascale permissions -->\n```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```\n<!-- end -->").next())
        .expect("README has the permissions block");
    assert_eq!(block, r.stdout, "README's policy differs from `gascale permissions`: paste its output there");
    // With a deployment file the bucket is that deployment's.
    std::fs::write(dir.path().join("gascale.yaml"), "apiVersion: gascale/v1\nmetadata: {name: demo}\n").unwrap();
    let scoped = run(gascale(dir.path()).arg("permissions"));
    assert!(scoped.stdout.contains("arn:aws:s3:::gascale-demo-????????????-*"), "{}", scoped.stdout);
}

#[test]
fn render_offline_needs_no_aws_at_all() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gascale.yaml"),
        "apiVersion: gascale/v1\nmetadata: {name: demo, region: eu-west-1}\n",
    )
    .unwrap();
    let mut cmd = gascale(dir.path());
    cmd.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    let r = run(cmd.args(["render", "--offline", "--out", "rendered"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let config = std::fs::read_to_string(dir.path().join("rendered/config.toml")).unwrap();
    assert!(config.contains("gascale-demo-000000000000-eu-west-1"), "placeholder account in the bucket name");
    assert!(std::fs::read_to_string(dir.path().join("rendered/user-data.sh")).unwrap().starts_with("#!"));
}

/// A profile that does not exist is an error even with access keys in the
/// environment (which the harness sets), and a region name AWS does not
/// use is named — both before any AWS call, exit 64, one line, no SDK dump.
#[test]
fn an_unknown_profile_or_region_is_named_before_any_call() {
    let w = crate::up::minimal(&crate::harness::unique_name("prof"), "");
    std::fs::write(
        w.path().join("no-aws-config"),
        "[default]\nregion = eu-west-1\n\n[profile work]\nregion = eu-west-1\n",
    )
    .unwrap();
    let r = w.gascale(&["--profile", "nosuch", "plan"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("--profile nosuch: no such profile"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let r = w.gascale(&["--profile", "work", "plan", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "an existing profile is accepted: {}", r.stderr);
    let r = w.gascale(&["--region", "eu-westt1", "plan"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("region \"eu-westt1\" is not an AWS region name"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

/// `-vv` logs every AWS call with its outcome and duration; `-v` does not.
#[test]
fn very_verbose_logs_every_aws_call_with_its_duration() {
    let w = crate::up::minimal(&crate::harness::unique_name("vv"), "");
    let r = w.gascale(&["plan", "-vv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls: Vec<&str> = r.stderr.lines().filter(|l| l.contains("] aws ")).collect();
    assert!(calls.iter().any(|l| l.contains("aws EC2:DescribeVpcs HTTP 200 ok in ")), "{}", r.stderr);
    assert!(calls.iter().all(|l| l.ends_with(" ms")), "{calls:?}");
    assert!(calls.len() >= 10, "{calls:?}");
    let r = w.gascale(&["plan", "-v"]);
    assert!(!r.stderr.contains("] aws "), "{}", r.stderr);
}

/// `$NAME`, `${NAME}` and `${{ expr }}` replaced by `sample`.
fn without_variables(cmd: &str) -> String {
    let mut out = String::new();
    let mut rest = cmd;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let skip = if let Some(expr) = after.strip_prefix("{{") {
            expr.find("}}").map_or(after.len(), |j| j + 4)
        } else if let Some(name) = after.strip_prefix('{') {
            name.find('}').map_or(after.len(), |j| j + 2)
        } else {
            after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len())
        };
        out.push_str("sample");
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

/// The gascale command lines of a CI file (up to a shell operator), variables
/// replaced by samples; comments are not commands.
fn gascale_lines(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(i) = rest.find("gascale ") {
            let starts_word = i == 0 || rest[..i].ends_with([' ', '(', '"', '\'']);
            let tail = &rest[i..];
            let end = tail.find([')', '"', '|', '>', ';', '&']).unwrap_or(tail.len());
            if starts_word {
                found.push(without_variables(tail[..end].trim_end()));
            }
            rest = &tail[end.max(1)..];
        }
    }
    found
}

#[test]
fn the_ci_examples_parse_and_their_gascale_lines_parse_with_gascales_cli() {
    use clap::Parser;
    let mut seen = Vec::new();
    for file in ["examples/ci/gitlab-ci.yml", "examples/ci/github-actions.yml"] {
        let text = std::fs::read_to_string(crate::harness::root().join(file)).unwrap();
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(yaml.as_mapping().is_some_and(|m| !m.is_empty()), "{file}");
        let lines = gascale_lines(&text);
        for cmd in &lines {
            let words = shlex::split(cmd).unwrap_or_else(|| panic!("{file}: cannot split {cmd:?}"));
            if let Err(e) = gascale::cli::Cli::try_parse_from(&words) {
                panic!("{file}: {cmd:?} does not parse: {e}");
            }
            seen.push(
                words[1..].iter().find(|w| !w.starts_with('-') && *w != "eu-west-1").cloned().unwrap_or_default(),
            );
        }
    }
    seen.sort();
    seen.dedup();
    // Each file provisions, hands on, tears down and cleans up.
    assert_eq!(seen, ["destroy", "reap", "token", "up"], "commands found");
}
