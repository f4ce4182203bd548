//! Hostile input: generated configs (mutated examples and random documents
//! over the real keys) and generated command lines must never panic — they
//! parse, or fail with an error. Seeded, so a failure repeats.

use clap::Parser;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "region",
    "tags",
    "network",
    "cidr",
    "azs",
    "nat",
    "allow_cidrs",
    "allow_world",
    "public_subnets",
    "private_subnets",
    "gitlab",
    "edition",
    "version",
    "instance_type",
    "arch",
    "ami",
    "root_volume_gb",
    "data_volume_gb",
    "domain",
    "letsencrypt_email",
    "readiness_timeout",
    "runner",
    "executor",
    "concurrent",
    "check_interval",
    "limit",
    "max_builds",
    "docker",
    "image",
    "privileged",
    "volumes",
    "docker_machine",
    "sha256",
    "autoscaler",
    "plugin",
    "capacity_per_instance",
    "max_use_count",
    "max_instances",
    "instance_types",
    "on_demand_base",
    "connect_timeout",
    "scale_factor_limit",
    "idle_scale_factor_limit",
    "worker",
    "spot",
    "max_price",
    "idle",
    "count",
    "time",
    "scale_factor",
    "count_min",
    "autoscaling",
    "periods",
    "idle_count",
    "idle_time",
    "timezone",
    "registration",
    "description",
    "run_untagged",
    "locked",
    "access_level",
    "maximum_timeout",
    "paused",
    "cache",
    "bucket",
    "expiration_days",
    "prefix",
    "sse",
    "kms_key",
    "shared",
    "bogus",
];

const SCALARS: &[&str] = &[
    "demo",
    "eu-west-1",
    "docker-autoscaler",
    "docker+machine",
    "10.0.0.0/16",
    "0.0.0.0/0",
    "10.0.0.1/33",
    "-1",
    "0",
    "4294967296",
    "1e400",
    "-0.0",
    "NaN",
    ".inf",
    "true",
    "null",
    "~",
    "''",
    "\"\\u0000\"",
    "'$(id)'",
    "\"a\\nb\"",
    "* * 9-17 * * mon-fri *",
    "Asia/Tokyo",
    "aws:kms",
    "docker+machine",
    "t3.xlarge",
    "ami-0123456789abcdef0",
    "19.3.0-ee.0",
    "v19.3.0",
    "&anchor x",
    "*anchor",
    "!!binary aGk=",
    "[1, [2, [3]]]",
    "{a: {b: {c: d}}}",
    "|\n  block",
    "😀",
    "gascale/v1",
    "Deployment",
];

fn random_value(r: &mut Rng, depth: usize) -> String {
    match r.below(if depth > 3 { 1 } else { 4 }) {
        0 => r.pick(SCALARS).to_string(),
        1 => format!("[{}]", (0..r.below(4)).map(|_| random_value(r, depth + 1)).collect::<Vec<_>>().join(", ")),
        _ => {
            let fields: Vec<String> =
                (0..r.below(5)).map(|_| format!("{}: {}", r.pick(KEYS), random_value(r, depth + 1))).collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

fn mutate(r: &mut Rng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + r.below(6) {
        if bytes.is_empty() {
            break;
        }
        let at = r.below(bytes.len());
        match r.below(5) {
            0 => {
                bytes.remove(at);
            }
            1 => bytes.insert(at, *r.pick(b": -[]{}\n\t'\"#&*!|>%@`0123456789")),
            2 => bytes[at] = *r.pick(b": -[]{}\n'\"#"),
            3 => {
                let scalar = r.pick(SCALARS).as_bytes().to_vec();
                bytes.splice(at..at, scalar);
            }
            _ => {
                let end = (at + r.below(40)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn ten_thousand_generated_configs_never_panic() {
    let examples: Vec<String> = ["minimal.yaml", "production.yaml", "ci-ephemeral.yaml", "autoscaler.yaml"]
        .iter()
        .map(|n| std::fs::read_to_string(crate::harness::root().join("examples").join(n)).unwrap())
        .collect();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut rejected) = (0, 0);
    for i in 0..12_000 {
        let text = if i % 2 == 0 {
            let base = r.pick(&examples).clone();
            mutate(&mut r, &base)
        } else {
            random_value(&mut r, 0)
        };
        match gascale::config::parse(&text) {
            Ok(d) => {
                ok += 1;
                // Whatever parses must also render without panicking.
                let mut d = d;
                d.metadata.region.get_or_insert_with(|| "eu-west-1".into());
                let _ = gascale::render::render(&d, &gascale::render::HostInputs::placeholders(&d, "123456789012"));
                let _ = gascale::plan::desired::desired(&d, "bucket");
                let _ = gascale::aws::iam::host_policy(&d, "123456789012", "bucket");
            }
            Err(problems) => {
                assert!(
                    !problems.is_empty() && problems.iter().all(|p| !p.message.is_empty()),
                    "empty error for {text:?}"
                );
                rejected += 1;
            }
        }
    }
    assert!(ok > 100 && rejected > 1000, "the generator is too one-sided: {ok} parsed, {rejected} rejected");
}

#[test]
fn absurd_sizes_are_rejected() {
    let many_tags: String = (0..10_000).map(|i| format!("    k{i}: v\n")).collect();
    let p = gascale::config::parse(&format!("metadata:\n  name: demo\n  tags:\n{many_tags}")).unwrap_err();
    assert!(p.iter().any(|p| p.key == "metadata.tags"), "{p:?}");
    let p = gascale::config::parse(&format!("metadata: {{name: {}}}", "a".repeat(1000))).unwrap_err();
    assert!(p.iter().any(|p| p.key == "metadata.name"));
}

#[test]
fn generated_command_lines_never_panic() {
    let words = [
        "up",
        "plan",
        "destroy",
        "status",
        "render",
        "reap",
        "exec",
        "--",
        "-f",
        "x.yaml",
        "--region",
        "",
        "--output",
        "json",
        "yaml",
        "--timeout",
        "0s",
        "99999999999h",
        "-vvvvvvvv",
        "-q",
        "--yes",
        "--max-attempts",
        "0",
        "31",
        "--older-than",
        "--out",
        "--dry-run",
        "--detailed-exitcode",
        "completions",
        "zsh",
        "force-unlock",
        "--endpoint-url",
        "not a url",
        "😀",
    ];
    let mut r = Rng(42);
    for _ in 0..3_000 {
        let mut args = vec!["gascale".to_owned()];
        args.extend((0..r.below(7)).map(|_| r.pick(&words).to_string()));
        let _ = gascale::cli::Cli::try_parse_from(&args);
    }
}
