//! The deployment file: load, parse strictly, validate, and answer the
//! questions every later step asks of it (names, tags, subnet blocks).
//!
//! Nothing past this module sees raw YAML, and nothing before `validate`
//! succeeds is used to call AWS.

mod model;
mod runner;
mod types;
mod validate;
mod validate_backup;
mod validate_runner;

use std::path::Path;

pub use model::*;
pub use types::{Cidr, CronPeriod, InstanceType, Timezone};
pub use validate::{check_bucket_name, name_problem, Problem, MAX_NAME_LEN};
pub use validate_backup::is_snapshot_id;

use crate::error::Error;

/// Larger files are refused before parsing: no real deployment file is near it.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates a deployment file.
pub fn load(path: &Path) -> Result<Deployment, Error> {
    if path == Path::new("-") {
        let text = stdin_text()?;
        return parse(&text).map_err(|problems| Error::Config { file: "(stdin)".into(), problems });
    }
    let file = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::Usage(format!("config file {file} not found: pass -f FILE, or start from examples/minimal.yaml"))
        }
        _ => Error::Usage(format!("cannot read config file {file}: {e}")),
    })?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Error::Usage(format!(
            "config file {file} is {} bytes; the limit is {MAX_CONFIG_BYTES}",
            meta.len()
        )));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read config file {file}: {e}")))?;
    parse(&text).map_err(|problems| Error::Config { file, problems })
}

/// A deserializer's message as a user reads it: without the key path it
/// repeats (the problem already names the key), without Rust type names
/// (`u8`), and with the nearest key for a typo.
fn friendly(key: &str, message: &str) -> String {
    // serde_yaml prefixes the path of the mapping (`gitlab: unknown field…`)
    // or of the value (`network.azs: invalid type…`).
    let mut m = message.to_owned();
    let parent = key.rsplit_once('.').map_or("", |(p, _)| p);
    for prefix in [format!("{key}: "), format!("{parent}: ")] {
        if prefix.len() > 2 && m.starts_with(&prefix) {
            m = m[prefix.len()..].to_owned();
            break;
        }
    }
    if let Some(rest) = m.strip_prefix("unknown field `") {
        let (field, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let place = rest.rsplit_once(" at ").map(|(_, p)| format!(" (at {p})")).unwrap_or_default();
        let nearest = expected
            .iter()
            .map(|k| (strsim::damerau_levenshtein(field, k), *k))
            .filter(|(d, k)| *d <= 2.max(k.len() / 4))
            .min();
        return match nearest {
            Some((_, k)) => format!("unknown key `{field}`; did you mean `{k}`?{place}"),
            None => format!("unknown key `{field}`; the keys here are {}{place}", expected.join(", ")),
        };
    }
    for (rust, words) in [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ] {
        m = m
            .replace(&format!("expected {rust} "), &format!("expected {words} "))
            .replace(&format!("expected {rust}"), &format!("expected {words}"));
    }
    // `expected struct Metadata`, `expected enum Sse`: Rust's names.
    for (rust, words) in
        [("expected struct ", "expected a mapping of keys"), ("expected enum ", "expected one of the allowed values")]
    {
        if let Some(at) = m.find(rust) {
            let rest = &m[at + rust.len()..];
            let end = rest.find(|c: char| !c.is_alphanumeric() && c != '_').unwrap_or(rest.len());
            m = format!("{}{words}{}", &m[..at], &rest[end..]);
        }
    }
    m.replace("invalid type: ", "")
        .replace("invalid value: ", "")
        .replace("sequence,", "a list,")
        .replace("map,", "a mapping,")
}

/// `-f -`: the config read from stdin, once per run (a command may load
/// it more than once), bounded like a file.
fn stdin_text() -> Result<String, Error> {
    use std::io::Read;
    static TEXT: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the config from stdin: {e}"))?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(format!("the config on stdin is over the limit of {MAX_CONFIG_BYTES} bytes"));
        }
        Ok(text)
    })
    .clone()
    .map_err(Error::Usage)
}

/// Parses and validates deployment YAML; problems name their key paths.
pub fn parse(text: &str) -> Result<Deployment, Vec<Problem>> {
    let de = serde_yaml::Deserializer::from_str(text);
    let deployment: Deployment = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." { "(top level)".to_owned() } else { path };
        let message = friendly(&key, &e.into_inner().to_string());
        vec![Problem { key, message }]
    })?;
    validate::validate(&deployment)?;
    Ok(deployment)
}

/// The JSON Schema of the deployment file, for editors and `gascale schema`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Deployment);
    serde_json::to_value(schema).expect("schema serializes")
}

impl Deployment {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The region, once `Context::connect` has resolved it (before that, the
    /// file's `metadata.region`, or a placeholder for offline rendering).
    pub fn region(&self) -> &str {
        self.metadata.region.as_deref().unwrap_or("no-region-1")
    }

    /// Name of the runner in GitLab and config.toml.
    pub fn runner_name(&self) -> String {
        self.runner.name.clone().unwrap_or_else(|| format!("gascale-{}", self.metadata.name))
    }

    /// The runner's description in GitLab: how a re-run finds its runner.
    pub fn runner_description(&self) -> String {
        self.runner.registration.description.clone().unwrap_or_else(|| format!("gascale {}", self.metadata.name))
    }

    /// The cache bucket: configured, or deterministic from name, account and region.
    pub fn bucket_name(&self, account: &str, region: &str) -> String {
        self.cache.bucket.clone().unwrap_or_else(|| format!("gascale-{}-{account}-{region}", self.metadata.name))
    }

    /// Name of the worker security group (docker-machine refers to it by name).
    pub fn worker_sg_name(&self) -> String {
        format!("gascale-{}-workers", self.metadata.name)
    }

    /// The runner's executor: configured, else the one the deployment's
    /// host runs (set by discovery), else docker-autoscaler.
    pub fn executor(&self) -> Executor {
        self.runner.executor.unwrap_or(Executor::DockerAutoscaler)
    }

    /// Whether the runner uses the docker-autoscaler executor (an Auto
    /// Scaling group) rather than docker+machine.
    pub fn autoscaler(&self) -> bool {
        self.executor() == Executor::DockerAutoscaler
    }

    /// The Auto Scaling group and launch template of the workers (docker-autoscaler).
    pub fn worker_group_name(&self) -> String {
        format!("gascale-{}-workers", self.metadata.name)
    }

    /// The runner's `concurrent`: configured, or what the executor can run.
    pub fn runner_concurrent(&self) -> u32 {
        let r = &self.runner;
        r.concurrent.unwrap_or(if self.autoscaler() {
            r.autoscaler.max_instances.saturating_mul(r.autoscaler.capacity_per_instance)
        } else {
            10
        })
    }

    /// Instance types of the workers: the worker's, then the autoscaler's extra ones.
    pub fn worker_instance_types(&self) -> Vec<String> {
        let mut types = vec![self.runner.worker.instance_type.to_string()];
        for t in &self.runner.autoscaler.instance_types {
            if !types.contains(&t.to_string()) {
                types.push(t.to_string());
            }
        }
        types
    }

    pub fn worker_profile_name(&self) -> String {
        format!("gascale-{}-worker", self.metadata.name)
    }

    /// The GitLab image tag, e.g. `19.3.0-ee.0`.
    pub fn gitlab_image_tag(&self) -> String {
        let g = &self.gitlab;
        if g.version.contains('-') {
            g.version.clone()
        } else {
            let ed = if g.edition == Edition::Ce { "ce" } else { "ee" };
            format!("{}-{ed}.0", g.version)
        }
    }

    /// The public and private subnet blocks, one per AZ: configured ones, or
    /// /N+4 blocks carved from the VPC block (public from the start, private
    /// from the middle), so 10.0.0.0/16 gives 10.0.0.0/20, 10.0.16.0/20, ...
    /// and 10.0.128.0/20, 10.0.144.0/20, ...
    pub fn subnet_blocks(&self) -> (Vec<Cidr>, Vec<Cidr>) {
        let n = &self.network;
        let carved: Vec<Cidr> = n
            .cidr
            .0
            .subnets(n.cidr.0.prefix_len() + 4)
            .expect("validated prefix leaves room for /N+4")
            .map(Cidr)
            .collect();
        let azs = n.azs as usize;
        let public = n.public_subnets.clone().unwrap_or_else(|| carved[..azs].to_vec());
        let private = n.private_subnets.clone().unwrap_or_else(|| carved[8..8 + azs].to_vec());
        (public, private)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_every_default() {
        let d = parse("metadata: {name: demo, region: eu-west-1}").unwrap();
        assert_eq!(d.network.azs, 2);
        assert_eq!(d.gitlab_image_tag(), format!("{}-ee.0", crate::pins::GITLAB_VERSION));
        let (public, private) = d.subnet_blocks();
        assert_eq!(public.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["10.0.0.0/20", "10.0.16.0/20"]);
        assert_eq!(private.iter().map(|c| c.to_string()).collect::<Vec<_>>(), ["10.0.128.0/20", "10.0.144.0/20"]);
    }

    #[test]
    fn problems_name_the_key_path() {
        let p = parse("metadata: {name: demo}\nnetwork: {cidrr: 10.0.0.0/16}").unwrap_err();
        assert_eq!(p[0].key, "network.cidrr");
        assert!(p[0].message.contains("cidrr"), "{}", p[0].message);
        let p = parse("metadata: {name: demo}\nrunner: {idle: {count: -1}}").unwrap_err();
        assert_eq!(p[0].key, "runner.idle.count");
    }

    #[test]
    fn executor_dependent_defaults() {
        let d = parse("metadata: {name: demo}").unwrap();
        assert_eq!(d.runner_concurrent(), 10);
        assert!(d.autoscaler(), "docker-autoscaler for a new deployment");
        let d = parse("metadata: {name: demo}\nrunner: {executor: docker+machine}").unwrap();
        assert_eq!(d.runner_concurrent(), 10);
        assert!(!d.autoscaler());
        let d = parse(
            "metadata: {name: demo}\nrunner: {executor: docker-autoscaler, worker: {instance_type: t3.large}, \
             autoscaler: {max_instances: 4, capacity_per_instance: 3, instance_types: [t3.large, t3a.large]}}",
        )
        .unwrap();
        assert_eq!(d.runner_concurrent(), 12, "max_instances x capacity_per_instance");
        assert_eq!(d.worker_instance_types(), ["t3.large", "t3a.large"], "no type twice");
        assert_eq!(d.worker_group_name(), "gascale-demo-workers");
        let d = parse("metadata: {name: demo}\nrunner: {executor: docker-autoscaler, concurrent: 5}").unwrap();
        assert_eq!(d.runner_concurrent(), 5, "a set value wins");
    }

    #[test]
    fn periods_reduce_to_five_fields_unless_they_name_a_year() {
        let p = |s: &str| CronPeriod::parse(s).unwrap().five_fields();
        assert_eq!(p("* * 9-17 * * mon-fri *").as_deref(), Some("* 9-17 * * mon-fri"));
        assert_eq!(p("0 9-17 * * mon-fri *").as_deref(), Some("0 9-17 * * mon-fri"));
        assert_eq!(p("* 9-17 * * mon-fri").as_deref(), Some("* 9-17 * * mon-fri"));
        assert_eq!(p("* * 9-17 * * mon-fri 2027"), None);
    }
}
