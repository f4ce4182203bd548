//! The deployment file's shape: every key, its type and its default.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) so a typo is an error
//! rather than a silently ignored setting; semantic checks that need more than
//! a type (CIDR overlap, cron syntax, name rules) live in `validate.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::types::{Cidr, CronPeriod, InstanceType, Timezone};

/// A gascale deployment: one GitLab host and its runner fleet in one region.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Deployment {
    /// Version of this file format. Only `gascale/v1` exists.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// Always `Deployment`.
    #[serde(default)]
    pub kind: Kind,
    pub metadata: Metadata,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub gitlab: Gitlab,
    #[serde(default)]
    pub runner: Runner,
    #[serde(default)]
    pub cache: Cache,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ApiVersion {
    #[default]
    #[serde(rename = "gascale/v1")]
    V1,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Kind {
    #[default]
    Deployment,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Deployment name: 1–20 characters, lowercase letters, digits and `-`,
    /// starting with a letter. It names and tags every resource.
    pub name: String,
    /// AWS region. Optional here; `--region`, `AWS_REGION` or the profile may
    /// set it instead. With none of them set, gascale refuses to run.
    #[serde(default)]
    pub region: Option<String>,
    /// Extra tags put on every resource (at most 40).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// The VPC's IPv4 block, /16 to /24.
    pub cidr: Cidr,
    /// Number of availability zones (1–6), taken from the region's available ones.
    pub azs: u8,
    /// A NAT gateway for workers in private subnets; `false` puts workers in
    /// public subnets instead (cheaper, less isolated).
    pub nat: bool,
    /// Who may reach GitLab on 80/443. Empty: nobody from the internet.
    pub allow_cidrs: Vec<Cidr>,
    /// Must be `true` for `allow_cidrs` to contain 0.0.0.0/0.
    pub allow_world: bool,
    /// Public subnet blocks, one per AZ. Default: carved from `cidr`.
    pub public_subnets: Option<Vec<Cidr>>,
    /// Private subnet blocks, one per AZ. Default: carved from `cidr`.
    pub private_subnets: Option<Vec<Cidr>>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            cidr: Cidr::parse("10.0.0.0/16").expect("valid default"),
            azs: 2,
            nat: true,
            allow_cidrs: Vec::new(),
            allow_world: false,
            public_subnets: None,
            private_subnets: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Edition {
    Ce,
    #[default]
    Ee,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    #[default]
    X86_64,
    Arm64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Gitlab {
    /// `ce` or `ee` (EE without a license behaves like CE).
    pub edition: Edition,
    /// GitLab version, `X.Y.Z` (the image tag becomes `X.Y.Z-<edition>.0`).
    pub version: String,
    pub instance_type: InstanceType,
    /// CPU architecture of the host AMI.
    pub arch: Arch,
    /// AMI override; default is Amazon Linux 2023 from the public SSM parameter.
    pub ami: Option<String>,
    pub root_volume_gb: u32,
    /// The separate encrypted volume mounted at /srv/gitlab.
    pub data_volume_gb: u32,
    /// A DNS name for GitLab (HTTPS through Let's Encrypt). Default: the EIP's
    /// public DNS name over HTTP.
    pub domain: Option<String>,
    /// Contact address for Let's Encrypt, with `domain`.
    pub letsencrypt_email: Option<String>,
    /// Seconds the bootstrap waits for GitLab's readiness check.
    pub readiness_timeout: u32,
}

impl Default for Gitlab {
    fn default() -> Self {
        Gitlab {
            edition: Edition::Ee,
            version: crate::pins::GITLAB_VERSION.into(),
            instance_type: InstanceType::new("t3.xlarge"),
            arch: Arch::X86_64,
            ami: None,
            root_volume_gb: 30,
            data_volume_gb: 100,
            domain: None,
            letsencrypt_email: None,
            readiness_timeout: 1200,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Executor {
    #[default]
    #[serde(rename = "docker+machine")]
    DockerMachine,
    #[serde(rename = "docker-autoscaler")]
    DockerAutoscaler,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Runner {
    pub executor: Executor,
    /// GitLab Runner version, `vX.Y.Z` (the `gitlab/gitlab-runner` image tag).
    pub version: String,
    /// Runner name in GitLab and config.toml. Default: `gascale-<name>`.
    pub name: Option<String>,
    /// Jobs the runner process runs at once, over all workers.
    pub concurrent: u32,
    /// Seconds between job polls (0 = runner default of 3).
    pub check_interval: u32,
    /// Workers (and so jobs) this runner may have at once; 0 = unlimited.
    pub limit: u32,
    /// Jobs a worker runs before it is replaced; 0 = unlimited.
    pub max_builds: u32,
    pub docker: DockerSettings,
    pub docker_machine: DockerMachine,
    pub worker: Worker,
    pub idle: Idle,
    /// Office-hours style overrides of the idle settings.
    pub autoscaling: Vec<AutoscalingPeriod>,
    pub registration: Registration,
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            executor: Executor::DockerMachine,
            version: crate::pins::RUNNER_VERSION.into(),
            name: None,
            concurrent: 10,
            check_interval: 0,
            limit: 10,
            max_builds: 20,
            docker: DockerSettings::default(),
            docker_machine: DockerMachine::default(),
            worker: Worker::default(),
            idle: Idle::default(),
            autoscaling: Vec::new(),
            registration: Registration::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DockerSettings {
    /// Default job image when a job names none.
    pub image: String,
    /// Privileged job containers (needed for docker-in-docker).
    pub privileged: bool,
    /// Extra volumes for job containers.
    pub volumes: Vec<String>,
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            image: crate::pins::DEFAULT_JOB_IMAGE.into(),
            privileged: true,
            volumes: vec!["/cache".into()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DockerMachine {
    /// GitLab's docker-machine fork release, e.g. `v0.16.2-gitlab.48`.
    pub version: String,
    /// SHA-256 of the linux binary. Default: checked against the checksum
    /// file GitLab publishes beside the release at image build time.
    pub sha256: Option<String>,
}

impl Default for DockerMachine {
    fn default() -> Self {
        DockerMachine { version: crate::pins::DOCKER_MACHINE_VERSION.into(), sha256: None }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Worker {
    pub instance_type: InstanceType,
    /// Request spot instances.
    pub spot: bool,
    /// Highest spot price in USD per hour, e.g. "0.05". Default: on-demand price.
    pub max_price: Option<String>,
    pub root_volume_gb: u32,
    /// Worker AMI. Default: chosen by `up` from the region.
    pub ami: Option<String>,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            instance_type: InstanceType::new("t3.medium"),
            spot: true,
            max_price: None,
            root_volume_gb: 30,
            ami: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Idle {
    /// Idle workers kept ready (`IdleCount`).
    pub count: u32,
    /// Seconds an idle worker lives (`IdleTime`).
    pub time: u32,
    /// Idle workers as a factor of busy ones (`IdleScaleFactor`).
    pub scale_factor: Option<f64>,
    /// Floor for the scale factor (`IdleCountMin`).
    pub count_min: Option<u32>,
}

impl Default for Idle {
    fn default() -> Self {
        Idle { count: 0, time: 1800, scale_factor: None, count_min: None }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoscalingPeriod {
    /// Cron expressions in the runner's format (`sec min hour dom mon dow year`;
    /// 5 and 6 fields are accepted too).
    pub periods: Vec<CronPeriod>,
    pub idle_count: u32,
    #[serde(default)]
    pub idle_count_min: Option<u32>,
    #[serde(default)]
    pub idle_scale_factor: Option<f64>,
    #[serde(default = "default_idle_time")]
    pub idle_time: u32,
    /// IANA time zone, e.g. `Asia/Tokyo`.
    #[serde(default)]
    pub timezone: Timezone,
}

fn default_idle_time() -> u32 {
    Idle::default().time
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessLevel {
    #[default]
    NotProtected,
    RefProtected,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Registration {
    /// Runner description in GitLab. Default: `gascale <name>`. A re-run finds
    /// the runner by it instead of creating a second one.
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub locked: bool,
    pub access_level: AccessLevel,
    /// Seconds; at least 600 (GitLab's minimum).
    pub maximum_timeout: Option<u32>,
    pub paused: bool,
}

impl Default for Registration {
    fn default() -> Self {
        Registration {
            description: None,
            tags: Vec::new(),
            run_untagged: true,
            locked: false,
            access_level: AccessLevel::NotProtected,
            maximum_timeout: None,
            paused: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Sse {
    #[default]
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    Kms,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    /// Bucket name override. Default: `gascale-<name>-<account>-<region>`.
    pub bucket: Option<String>,
    /// Days after which cache objects expire.
    pub expiration_days: u32,
    /// Key prefix of the runner cache.
    pub prefix: String,
    pub sse: Sse,
    /// KMS key ID or ARN, required with `sse: aws:kms`.
    pub kms_key: Option<String>,
    /// Share the cache between workers.
    pub shared: bool,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            bucket: None,
            expiration_days: 1,
            prefix: "runner/".into(),
            sse: Sse::Aes256,
            kms_key: None,
            shared: true,
        }
    }
}
