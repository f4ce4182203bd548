//! The deployment file: every example parses, and bad files fail with exit 64
//! and a message that names the key — before any AWS call (the endpoint
//! below is a closed port, so reaching AWS would fail differently).

use crate::harness::{gascale, run, Workdir};

const DEAD_ENDPOINT: &str = "http://127.0.0.1:9";

fn check(yaml: &str) -> crate::harness::Run {
    let w = Workdir::with_config(yaml);
    run(gascale(w.path()).args(["--endpoint-url", DEAD_ENDPOINT, "--max-attempts", "1", "status"]))
}

#[test]
fn every_example_parses() {
    let mut seen = 0;
    for entry in std::fs::read_dir(crate::harness::root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            gascale::config::parse(&text).unwrap_or_else(|p| panic!("{}: {p:?}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 4, "expected the four examples, saw {seen}");
}

const M: &str = "apiVersion: gascale/v1\nkind: Deployment\nmetadata: {name: demo, region: eu-west-1}\n";

/// (what, file, the key the message must name, a word of the reason)
fn bad_files() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        ("unknown top-level key", format!("{M}extras: 1\n"), "extras", "unknown key `extras`; the keys here are"),
        ("typo'd key", format!("{M}network: {{cidrr: 10.0.0.0/16}}\n"), "network.cidrr", "did you mean `cidr`?"),
        ("typo'd nested key", format!("{M}cache: {{expiration_day: 3}}\n"), "cache.expiration_day", "did you mean `expiration_days`?"),
        ("bad CIDR", format!("{M}network: {{cidr: 10.0.0.0/33}}\n"), "network.cidr", "CIDR"),
        ("host bits in CIDR", format!("{M}network: {{cidr: 10.0.0.1/16}}\n"), "network.cidr", "host bits"),
        ("VPC too large", format!("{M}network: {{cidr: 10.0.0.0/8}}\n"), "network.cidr", "/16 to /24"),
        (
            "overlapping subnets",
            format!("{M}network: {{azs: 1, public_subnets: [10.0.0.0/20], private_subnets: [10.0.8.0/24]}}\n"),
            "network.private_subnets[0]",
            "overlaps",
        ),
        (
            "subnet outside the VPC",
            format!("{M}network: {{azs: 1, public_subnets: [10.1.0.0/24]}}\n"),
            "network.public_subnets[0]",
            "not inside",
        ),
        ("bad cron period", format!("{M}runner: {{autoscaling: [{{periods: ['* * 25 * * * *'], idle_count: 1}}]}}\n"), "runner.autoscaling[0].periods[0]", "cron"),
        (
            "unknown timezone",
            format!("{M}runner: {{autoscaling: [{{periods: ['* * 9-17 * * mon-fri *'], idle_count: 1, timezone: Mars/Olympus}}]}}\n"),
            "runner.autoscaling[0].timezone",
            "time zone",
        ),
        ("negative idle count", format!("{M}runner: {{idle: {{count: -1}}}}\n"), "runner.idle.count", "-1"),
        ("invalid bucket name", format!("{M}cache: {{bucket: My_Bucket}}\n"), "cache.bucket", "bucket name"),
        ("world open without opt-in", format!("{M}network: {{allow_cidrs: [0.0.0.0/0]}}\n"), "network.allow_cidrs[0]", "allow_world"),
        (
            "domain too long for a hostname",
            format!("{M}gitlab: {{domain: {}.example.com}}\n", "a".repeat(53)),
            "gitlab.domain",
            "65 characters; GitLab's container takes it as its hostname, which Linux limits to 64",
        ),
        ("wrong type", format!("{M}network: {{azs: two}}\n"), "network.azs", "expected a whole number from 0 to 255"),
        ("out of range", format!("{M}network: {{azs: 300}}\n"), "network.azs", "expected a whole number from 0 to 255"),
        ("name too long", "metadata: {name: a-very-long-deployment-name-indeed}\n".into(), "metadata.name", "1-20"),
        ("uppercase name", "metadata: {name: Demo}\n".into(), "metadata.name", "lowercase"),
        ("missing name", "metadata: {region: eu-west-1}\n".into(), "metadata", "name"),
        ("wrong apiVersion", "apiVersion: gascale/v2\nmetadata: {name: demo}\n".into(), "apiVersion", "gascale/v1"),
        ("bad instance type", format!("{M}gitlab: {{instance_type: huge}}\n"), "gitlab.instance_type", "instance type"),
        ("bad region", "metadata: {name: demo, region: mars-1}\n".into(), "metadata.region", "region"),
        ("another partition", "metadata: {name: demo, region: cn-north-1}\n".into(), "metadata.region", "partition"),
        ("GovCloud", "metadata: {name: demo, region: us-gov-west-1}\n".into(), "metadata.region", "partition"),
        ("tag IAM refuses", "metadata: {name: demo, region: eu-west-1, tags: {owner: 'a#b'}}\n".into(), "metadata.tags.owner", "IAM"),
        ("kms without a key", format!("{M}cache: {{sse: 'aws:kms'}}\n"), "cache.kms_key", "required"),
        ("reserved tag", "apiVersion: gascale/v1\nmetadata: {name: demo, tags: {'gascale:deployment': x}}\n".to_owned(), "metadata.tags.gascale:deployment", "reserved"),
        ("negative spot price", format!("{M}runner: {{worker: {{max_price: '-1'}}}}\n"), "runner.worker.max_price", "positive"),
        (
            "unpinned fleeting plugin",
            format!("{M}runner: {{executor: docker-autoscaler, autoscaler: {{plugin: 'aws:latest'}}}}\n"),
            "runner.autoscaler.plugin",
            "pin a version",
        ),
        (
            "no workers at all",
            format!("{M}runner: {{executor: docker-autoscaler, autoscaler: {{max_instances: 0}}}}\n"),
            "runner.autoscaler.max_instances",
            "1 to 1000",
        ),
        (
            "on-demand base above the maximum",
            format!("{M}runner: {{autoscaler: {{max_instances: 2, on_demand_base: 3}}}}\n"),
            "runner.autoscaler.on_demand_base",
            "max_instances",
        ),
        (
            "docker+machine setting with docker-autoscaler",
            format!("{M}runner: {{executor: docker-autoscaler, idle: {{count_min: 1}}}}\n"),
            "runner.idle.count_min",
            "docker+machine setting",
        ),
        (
            "docker-autoscaler setting with docker+machine",
            format!("{M}runner: {{executor: docker+machine, idle: {{scale_factor_limit: 3}}}}\n"),
            "runner.idle.scale_factor_limit",
            "docker-autoscaler setting",
        ),
        (
            "a period with a year for docker-autoscaler",
            format!("{M}runner: {{executor: docker-autoscaler, autoscaling: [{{periods: ['* * 9-17 * * mon-fri 2027'], idle_count: 1}}]}}\n"),
            "runner.autoscaling[0].periods[0]",
            "5 fields",
        ),
        ("unknown executor", format!("{M}runner: {{executor: docker}}\n"), "runner.executor", "unknown variant"),
        ("timeout below GitLab's minimum", format!("{M}runner: {{registration: {{maximum_timeout: 60}}}}\n"), "runner.registration.maximum_timeout", "600"),
        ("latest job image", format!("{M}runner: {{docker: {{image: 'alpine:latest'}}}}\n"), "runner.docker.image", "latest"),
        ("bad access level", format!("{M}runner: {{registration: {{access_level: everyone}}}}\n"), "runner.registration.access_level", "unknown variant"),
        ("unknown executor", format!("{M}runner: {{executor: shell}}\n"), "runner.executor", "unknown variant"),
        ("not YAML", "metadata: [unclosed\n".into(), "", "metadata"),
    ]
}

#[test]
fn bad_files_fail_with_64_naming_the_key() {
    let cases = bad_files();
    assert!(cases.len() >= 15);
    for (what, yaml, key, reason) in cases {
        let r = check(&yaml);
        assert_eq!(r.code, 64, "{what}: exit {} stderr {}", r.code, r.stderr);
        assert!(
            r.stderr.contains(&format!("{key}:")) || key.is_empty(),
            "{what}: message does not name {key}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(reason), "{what}: message lacks {reason:?}: {}", r.stderr);
        assert!(r.stderr.contains("gascale.yaml"), "{what}: message does not name the file: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{what}: printed data");
        // The key once, no Rust type names.
        if !key.is_empty() {
            assert_eq!(r.stderr.matches(&format!("{key}:")).count(), 1, "{what}: {}", r.stderr);
        }
        assert!(!r.stderr.contains("struct ") && !r.stderr.contains("enum "), "{what}: {}", r.stderr);
        for rust in [" u8", " u16", " u32", " u64", " i32", " f64", "usize"] {
            assert!(!r.stderr.contains(rust), "{what}: names a Rust type: {}", r.stderr);
        }
    }
}

/// `-f -` reads the deployment from stdin.
#[test]
fn the_config_can_come_from_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = gascale(dir.path())
        .args(["-f", "-", "render", "--offline", "--out", "out"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{M}gitlab: {{instance_type: t3.large}}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("out/user-data.sh").exists());
    let r = run(gascale(dir.path()).args(["-f", "-", "plan"]).stdin(std::process::Stdio::null()));
    assert_eq!(r.code, 64, "an empty stdin is a config error: {}", r.stderr);
    assert!(r.stderr.contains("(stdin)"), "{}", r.stderr);
}

#[test]
fn several_problems_are_reported_together() {
    let r = check(&format!("{M}network: {{azs: 9, cidr: 10.0.0.0/8}}\n"));
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("2 problems"), "{}", r.stderr);
    assert!(r.stderr.contains("network.azs") && r.stderr.contains("network.cidr"), "{}", r.stderr);
}

#[test]
fn world_open_with_opt_in_is_accepted() {
    let text = format!("{M}network: {{allow_cidrs: [0.0.0.0/0], allow_world: true}}\n");
    assert!(gascale::config::parse(&text).is_ok());
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(gascale(dir.path()).args(["-f", "nope.yaml", "status"]));
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("nope.yaml") && r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn oversized_config_is_refused() {
    let big = format!("{M}# {}\n", "x".repeat(2 * 1024 * 1024));
    let r = check(&big);
    assert_eq!(r.code, 64);
    assert!(r.stderr.contains("limit"), "{}", r.stderr);
}
