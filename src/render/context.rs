//! What the templates see: the config plus the IDs `up` discovered, with
//! every derived value (URLs, MachineOptions, runner parameters) computed
//! here in Rust, so templates only place values and never decide.

use serde::Serialize;

use crate::config::{AccessLevel, Arch, Cache, Deployment, Gitlab, Runner, Sse};
use crate::pins;

/// Heredoc delimiter prefix for the files embedded in user-data.
pub const DELIMITER: &str = "GASCALE_EOF";
/// Where config.toml names docker+machine's worker image until the host
/// fills it in from `worker_ami_parameter`.
pub const WORKER_AMI_PLACEHOLDER: &str = "__GASCALE_WORKER_AMI__";

/// IDs and names of resources the host's files refer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostInputs {
    pub vpc_id: String,
    /// The subnet docker-machine launches workers in.
    pub worker_subnet_id: String,
    /// Its availability zone, e.g. `eu-west-1a`.
    pub worker_az: String,
    /// docker-machine takes the group's name, not its ID.
    pub worker_sg_name: String,
    pub worker_profile: String,
    pub bucket: String,
    /// The Elastic IP's public DNS name: GitLab's address without a domain.
    pub public_dns: String,
    /// The Elastic IP itself: where `gitlab.domain` must point before Let's
    /// Encrypt can issue a certificate.
    pub public_ip: String,
}

impl HostInputs {
    /// Stand-ins for `gascale render` before the deployment exists.
    pub fn placeholders(d: &Deployment, account: &str) -> HostInputs {
        let region = d.region();
        HostInputs {
            vpc_id: "vpc-PLACEHOLDER".into(),
            worker_subnet_id: "subnet-PLACEHOLDER".into(),
            worker_az: format!("{region}a"),
            worker_sg_name: d.worker_sg_name(),
            worker_profile: d.worker_profile_name(),
            bucket: d.bucket_name(account, region),
            public_dns: "gitlab-host.placeholder.invalid".into(),
            public_ip: "192.0.2.1".into(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Context<'a> {
    deployment: &'a str,
    region: String,
    gitlab: &'a Gitlab,
    runner: &'a Runner,
    cache: &'a Cache,
    runner_name: String,
    external_url: String,
    external_host: String,
    https: bool,
    public_ip: String,
    /// With a domain: the runner container resolves it to the host
    /// (`host-gateway`: Docker's name for the host, compose `extra_hosts`)…
    runner_extra_host: String,
    /// …and job containers on the workers to the host's private address,
    /// filled in on the host (`__GASCALE_HOST_IP__`).
    job_extra_host: String,
    letsencrypt_email: Option<&'a str>,
    readiness_url: &'static str,
    /// Seconds a stopping runner gets to finish its running jobs: the
    /// longest job timeout (runner.registration.maximum_timeout, else
    /// GitLab's default job timeout, 60 minutes: GitLab CI/CD docs,
    /// "Set a limit for how long jobs can run").
    runner_stop_grace: u32,
    gitlab_image: String,
    runner_image: String,
    bucket: &'a str,
    cache_path: &'a str,
    cache_sse: &'static str,
    idle_scale_factor: Option<String>,
    machine_name: String,
    machine_options: Vec<String>,
    autoscaling: Vec<Period>,
    concurrent: u32,
    executor: &'static str,
    /// docker-autoscaler: its Auto Scaling group, connector and policies.
    autoscaler: bool,
    worker_group: String,
    connect_timeout: String,
    policies: Vec<Policy>,
    docker_machine_sha256: &'a str,
    compose_version: &'static str,
    compose_sha256: &'static str,
    /// docker+machine without `runner.worker.ami`: the SSM parameter the
    /// host reads the workers' image from.
    worker_ami_parameter: String,
    arch: &'static str,
    runner_params: String,
    delimiter: &'static str,
    pub compose_file: String,
    pub config_toml: String,
    pub dockerfile: String,
    pub create_runner_rb: String,
}

#[derive(Debug, Serialize)]
struct Period {
    periods: Vec<String>,
    idle_count: u32,
    idle_count_min: Option<u32>,
    idle_scale_factor: Option<String>,
    idle_time: u32,
    timezone: String,
}

/// One `[[runners.autoscaler.policy]]`: the idle settings, then one per
/// autoscaling period (the runner applies the last that matches).
#[derive(Debug, Serialize)]
struct Policy {
    periods: Vec<String>,
    timezone: String,
    idle_count: u32,
    idle_time: String,
    scale_factor: Option<String>,
    scale_factor_limit: Option<u32>,
}

impl<'a> Context<'a> {
    /// Blanks the runner's files and parameters (for the host-only part of
    /// the user-data); returns the parameters.
    pub fn take_runner_parts(&mut self) -> String {
        self.config_toml.clear();
        self.dockerfile.clear();
        std::mem::take(&mut self.runner_params)
    }

    pub fn new(d: &'a Deployment, ids: &'a HostInputs) -> Context<'a> {
        let region = d.region().to_owned();
        let (external_host, https) = match &d.gitlab.domain {
            Some(domain) => (domain.clone(), true),
            None => (ids.public_dns.clone(), false),
        };
        let (runner_extra_host, job_extra_host) =
            (format!("{external_host}:host-gateway"), format!("{external_host}:__GASCALE_HOST_IP__"));
        let scheme = if https { "https" } else { "http" };
        let edition = if d.gitlab_image_tag().contains("-ce.") { "ce" } else { "ee" };
        Context {
            deployment: d.name(),
            gitlab: &d.gitlab,
            runner: &d.runner,
            cache: &d.cache,
            runner_name: d.runner_name(),
            external_url: format!("{scheme}://{external_host}"),
            external_host,
            https,
            public_ip: ids.public_ip.clone(),
            runner_extra_host,
            job_extra_host,
            letsencrypt_email: d.gitlab.letsencrypt_email.as_deref(),
            readiness_url: if https { "https://127.0.0.1/-/readiness" } else { "http://127.0.0.1/-/readiness" },
            runner_stop_grace: d.runner.registration.maximum_timeout.unwrap_or(3600),
            gitlab_image: format!("gitlab/gitlab-{edition}:{}", d.gitlab_image_tag()),
            runner_image: format!("gascale-runner:{}", d.runner.version),
            bucket: &ids.bucket,
            cache_path: d.cache.prefix.trim_end_matches('/'),
            cache_sse: if d.cache.sse == Sse::Kms { "KMS" } else { "S3" },
            idle_scale_factor: d.runner.idle.scale_factor.map(toml_float),
            machine_name: crate::aws::workers::machine_name(d.name()),
            machine_options: machine_options(d, ids, &region),
            autoscaling: d
                .runner
                .autoscaling
                .iter()
                .map(|a| Period {
                    periods: a.periods.iter().map(|p| p.as_str().to_owned()).collect(),
                    idle_count: a.idle_count,
                    idle_count_min: a.idle_count_min,
                    idle_scale_factor: a.idle_scale_factor.map(toml_float),
                    idle_time: a.idle_time,
                    timezone: a.timezone.as_str().to_owned(),
                })
                .collect(),
            concurrent: d.runner_concurrent(),
            executor: d.executor().as_str(),
            autoscaler: d.autoscaler(),
            worker_group: d.worker_group_name(),
            connect_timeout: format!("{}s", d.runner.autoscaler.connect_timeout),
            policies: policies(d),
            docker_machine_sha256: d.runner.docker_machine.sha256.as_deref().unwrap_or(""),
            compose_version: pins::COMPOSE_VERSION,
            worker_ami_parameter: if d.autoscaler() || d.runner.worker.ami.is_some() {
                String::new()
            } else {
                pins::ubuntu_lts_parameter(d.runner.worker.arch)
            },
            compose_sha256: if d.gitlab.arch == Arch::Arm64 {
                pins::COMPOSE_SHA256_AARCH64
            } else {
                pins::COMPOSE_SHA256_X86_64
            },
            arch: if d.gitlab.arch == Arch::Arm64 { "aarch64" } else { "x86_64" },
            runner_params: runner_params(d),
            region,
            delimiter: DELIMITER,
            compose_file: String::new(),
            config_toml: String::new(),
            dockerfile: String::new(),
            create_runner_rb: String::new(),
        }
    }
}

/// The amazonec2 driver options of GitLab's docker-machine fork.
fn machine_options(d: &Deployment, ids: &HostInputs, region: &str) -> Vec<String> {
    let w = &d.runner.worker;
    let zone = ids.worker_az.strip_prefix(region).unwrap_or("a");
    let tags = crate::aws::tags::worker(d.name(), &d.metadata.tags);
    let tags = tags.iter().map(|(k, v)| format!("{k},{v}")).collect::<Vec<_>>().join(",");
    let mut o = vec![
        format!("amazonec2-region={region}"),
        format!("amazonec2-vpc-id={}", ids.vpc_id),
        format!("amazonec2-subnet-id={}", ids.worker_subnet_id),
        format!("amazonec2-zone={zone}"),
        "amazonec2-use-private-address=true".to_owned(),
    ];
    if d.network.nat {
        o.push("amazonec2-private-address-only=true".into());
    }
    o.extend([
        format!("amazonec2-security-group={}", ids.worker_sg_name),
        "amazonec2-security-group-readonly=true".into(),
        format!("amazonec2-tags={tags}"),
        format!("amazonec2-instance-type={}", w.instance_type),
        format!("amazonec2-iam-instance-profile={}", ids.worker_profile),
        format!("amazonec2-root-size={}", w.root_volume_gb),
        "amazonec2-volume-type=gp3".into(),
        "amazonec2-metadata-token=required".into(),
        // Hop limit 1: job containers get no instance credentials (EC2 user
        // guide, "Configure the Instance Metadata Service options").
        "amazonec2-metadata-token-response-hop-limit=1".into(),
    ]);
    // Without a pin, the host fills in the current Ubuntu LTS image when it
    // writes config.toml (WORKER_AMI_PLACEHOLDER in the scripts): a newly
    // published image changes no plan, and the fork's own default is an
    // end-of-life Ubuntu.
    o.push(format!("amazonec2-ami={}", w.ami.as_deref().unwrap_or(WORKER_AMI_PLACEHOLDER)));
    if w.spot {
        o.push("amazonec2-request-spot-instance=true".into());
        // Empty: the fork bids the on-demand price.
        o.push(format!("amazonec2-spot-price={}", w.max_price.as_deref().unwrap_or("")));
    }
    o
}

/// The docker-autoscaler's policies, from the same idle settings and
/// periods docker+machine uses. Validation has made sure every period has a
/// 5-field form.
fn policies(d: &Deployment) -> Vec<Policy> {
    let idle = &d.runner.idle;
    let mut out = vec![Policy {
        periods: Vec::new(),
        timezone: String::new(),
        idle_count: idle.count,
        idle_time: format!("{}s", idle.time),
        scale_factor: idle.scale_factor.map(toml_float),
        scale_factor_limit: idle.scale_factor_limit,
    }];
    out.extend(d.runner.autoscaling.iter().map(|a| Policy {
        periods: a.periods.iter().filter_map(|p| p.five_fields()).collect(),
        timezone: a.timezone.as_str().to_owned(),
        idle_count: a.idle_count,
        idle_time: format!("{}s", a.idle_time),
        scale_factor: a.idle_scale_factor.map(toml_float),
        scale_factor_limit: a.idle_scale_factor_limit,
    }));
    out
}

/// Parameters of the runner in GitLab, as JSON for create-runner.rb.
fn runner_params(d: &Deployment) -> String {
    let r = &d.runner.registration;
    serde_json::json!({
        "description": d.runner_description(),
        "tags": r.tags,
        "run_untagged": r.run_untagged,
        "locked": r.locked,
        "access_level": if r.access_level == AccessLevel::RefProtected { "ref_protected" } else { "not_protected" },
        "maximum_timeout": r.maximum_timeout,
        "paused": r.paused,
    })
    .to_string()
}

/// A TOML float: always with a decimal point (`1.0`, not `1`), which the
/// runner's float settings need.
fn toml_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}
