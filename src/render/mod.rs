//! The bootstrap files of the GitLab host, rendered from `templates/` by one
//! handlebars registry in strict mode (a missing variable is an error) with
//! no HTML escaping. Values reach the templates only through helpers that
//! quote for the context they land in (`sh`, `toml`, `yaml`, `ruby`), so a
//! quote, `$()` or newline in a config value cannot change the files' meaning.

mod context;
pub mod quote;

use std::io::Write;

use handlebars::{handlebars_helper, Handlebars};
use serde::Serialize;

pub use context::HostInputs;

use crate::config::Deployment;
use crate::error::{Error, Result};

/// EC2's limit for user-data, before base64.
pub const USER_DATA_LIMIT: usize = 16 * 1024;

const TEMPLATES: &[(&str, &str)] = &[
    ("user-data.sh", include_str!("../../templates/user-data.sh.hbs")),
    ("docker-compose.yaml", include_str!("../../templates/docker-compose.yaml.hbs")),
    ("config.toml", include_str!("../../templates/config.toml.hbs")),
    ("runner.Dockerfile", include_str!("../../templates/runner.Dockerfile.hbs")),
    ("runner-update.sh", include_str!("../../templates/runner-update.sh.hbs")),
    ("worker-user-data.sh", include_str!("../../templates/worker-user-data.sh.hbs")),
    ("gitlab-upgrade.sh", include_str!("../../templates/gitlab-upgrade.sh.hbs")),
    ("verify.sh", include_str!("../../templates/verify.sh.hbs")),
];

/// Copied verbatim into the user-data; it takes its inputs from the environment.
const CREATE_RUNNER_RB: &str = include_str!("../../templates/create-runner.rb");

/// Every file the host boots from, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub user_data: String,
    /// The user-data with the runner's files left out: what the host itself
    /// is launched with. A change here needs a new host; a change elsewhere
    /// is applied to the running host by `runner-update.sh`.
    pub host_part: String,
    /// Applies a changed runner configuration on a running host (via SSM).
    pub runner_update: String,
    pub compose: String,
    pub config_toml: String,
    pub dockerfile: String,
    pub create_runner_rb: String,
    /// docker-autoscaler: the workers' user-data (the launch template's);
    /// empty with docker+machine.
    pub worker_user_data: String,
    #[serde(skip)]
    runner_params: String,
}

impl Rendered {
    /// (file name, content) of each file, for `gascale render` and tests.
    pub fn files(&self) -> Vec<(&'static str, &str)> {
        let mut files = vec![
            ("user-data.sh", self.user_data.as_str()),
            ("runner-update.sh", &self.runner_update),
            ("docker-compose.yaml", &self.compose),
            ("config.toml", &self.config_toml),
            ("runner.Dockerfile", &self.dockerfile),
            ("create-runner.rb", &self.create_runner_rb),
        ];
        if !self.worker_user_data.is_empty() {
            files.push(("worker-user-data.sh", &self.worker_user_data));
        }
        files
    }

    /// Fingerprint of the runner's side: config.toml, its image and its
    /// registration settings.
    pub fn runner_fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [&self.config_toml, &self.dockerfile, &self.runner_params] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The user-data as sent to EC2: gzip (cloud-init unpacks it), so the
    /// whole bootstrap fits EC2's 16 KiB limit.
    pub fn user_data_gzip(&self) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(self.user_data.as_bytes()).expect("write to memory");
        gz.finish().expect("gzip to memory")
    }
}

/// The registry, built once: parsing the templates is the costly part.
fn shared_registry() -> &'static Handlebars<'static> {
    static REGISTRY: std::sync::OnceLock<Handlebars<'static>> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(registry)
}

fn registry() -> Handlebars<'static> {
    handlebars_helper!(sh: |s: str| quote::shell(s));
    handlebars_helper!(toml: |s: str| quote::double_quoted(s));
    handlebars_helper!(yaml: |s: str| quote::double_quoted(s));
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("sh", Box::new(sh));
    hb.register_helper("toml", Box::new(toml));
    hb.register_helper("yaml", Box::new(yaml));
    hb.register_helper("ruby", Box::new(quote::ruby_helper));
    for (name, text) in TEMPLATES {
        hb.register_template_string(name, *text).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    // Shell the bootstrap and runner-update.sh share.
    hb.register_partial("config_file", include_str!("../../templates/config-file.sh.hbs"))
        .unwrap_or_else(|e| panic!("partial config-file.sh: {e}"));
    hb
}

/// The docker-autoscaler workers' user-data (the launch template's): it
/// needs none of the host's inputs.
pub fn worker_user_data(d: &Deployment) -> Result<String> {
    let inputs = HostInputs::placeholders(d, "");
    shared_registry()
        .render("worker-user-data.sh", &context::Context::new(d, &inputs))
        .map_err(|e| Error::Failed(format!("rendering template worker-user-data.sh: {e}")))
}

/// The script that moves GitLab on the host to one stop of its upgrade path
/// (`stop`: `17.8.7`, or `18.2` for its newest patch), in `d`'s edition.
pub fn gitlab_upgrade(d: &Deployment, inputs: &HostInputs, stop: &str) -> Result<String> {
    #[derive(Serialize)]
    struct Upgrade<'a> {
        #[serde(flatten)]
        base: context::Context<'a>,
        stop: &'a str,
        edition: &'a str,
    }
    let edition = if d.gitlab.edition == crate::config::Edition::Ce { "ce" } else { "ee" };
    let ctx = Upgrade { base: context::Context::new(d, inputs), stop, edition };
    shared_registry()
        .render("gitlab-upgrade.sh", &ctx)
        .map_err(|e| Error::Failed(format!("rendering template gitlab-upgrade.sh: {e}")))
}

/// The script `gascale verify` runs on the host (templates/verify.sh.hbs):
/// the pipeline may take `timeout` seconds, a job may wait `pending` seconds
/// for a runner to pick it.
pub fn verify(d: &Deployment, inputs: &HostInputs, timeout: u64, pending: u64) -> Result<String> {
    #[derive(Serialize)]
    struct Verify<'a> {
        #[serde(flatten)]
        base: context::Context<'a>,
        runner_description: String,
        verify_tags: String,
        verify_timeout: u64,
        verify_pending: u64,
    }
    let registration = &d.runner.registration;
    // An untagged job runs only on a runner with run_untagged (GitLab CI/CD
    // docs, "Use tags to control which jobs a runner can run").
    let tags: &[String] = if registration.run_untagged { &[] } else { &registration.tags };
    let ctx = Verify {
        base: context::Context::new(d, inputs),
        runner_description: d.runner_description(),
        verify_tags: serde_json::to_string(tags).expect("tags serialize"),
        verify_timeout: timeout,
        verify_pending: pending,
    };
    shared_registry().render("verify.sh", &ctx).map_err(|e| Error::Failed(format!("rendering template verify.sh: {e}")))
}

/// Renders every bootstrap file for a deployment and the IDs `up` found.
pub fn render(d: &Deployment, inputs: &HostInputs) -> Result<Rendered> {
    let hb = shared_registry();
    let mut ctx = context::Context::new(d, inputs);
    let render = |name: &str, ctx: &context::Context| {
        hb.render(name, ctx).map_err(|e| Error::Failed(format!("rendering template {name}: {e}")))
    };
    let compose = render("docker-compose.yaml", &ctx)?;
    let config_toml = render("config.toml", &ctx)?;
    let dockerfile = render("runner.Dockerfile", &ctx)?;
    for (name, body) in [("compose", &compose), ("config", &config_toml), ("dockerfile", &dockerfile)] {
        if body.lines().any(|l| l.starts_with(context::DELIMITER)) {
            return Err(Error::Failed(format!(
                "rendered {name} contains the heredoc delimiter {}",
                context::DELIMITER
            )));
        }
    }
    ctx.compose_file = compose.trim_end().to_owned();
    ctx.config_toml = config_toml.trim_end().to_owned();
    ctx.dockerfile = dockerfile.trim_end().to_owned();
    ctx.create_runner_rb = CREATE_RUNNER_RB.trim_end().to_owned();
    let user_data = render("user-data.sh", &ctx)?;
    let runner_update = render("runner-update.sh", &ctx)?;
    let worker_user_data = if d.autoscaler() { worker_user_data(d)? } else { String::new() };
    let runner_params = ctx.take_runner_parts();
    let host_part = render("user-data.sh", &ctx)?;
    let rendered = Rendered {
        user_data,
        host_part,
        runner_update,
        compose,
        config_toml,
        dockerfile,
        create_runner_rb: CREATE_RUNNER_RB.to_owned(),
        worker_user_data,
        runner_params,
    };
    let size = rendered.user_data_gzip().len();
    if size > USER_DATA_LIMIT {
        return Err(Error::Failed(format!("user-data is {size} bytes compressed; EC2 allows {USER_DATA_LIMIT}")));
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_used_and_strict() {
        let d = crate::config::parse("metadata: {name: demo, region: eu-west-1}").unwrap();
        let r = render(&d, &HostInputs::placeholders(&d, "123456789012")).unwrap();
        assert!(r.user_data.contains("docker-compose.yaml"));
        // Strict mode: a template naming a variable the context lacks fails.
        let mut hb = registry();
        hb.register_template_string("broken", "{{no_such_variable}}").unwrap();
        assert!(hb.render("broken", &context::Context::new(&d, &HostInputs::placeholders(&d, "1"))).is_err());
    }
}
