//! The `runner:` section: the runner process, its executor (docker+machine
//! or docker-autoscaler), the workers it launches and how they scale.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::Arch;
use super::types::{CronPeriod, InstanceType, Timezone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Executor {
    #[serde(rename = "docker+machine")]
    DockerMachine,
    #[serde(rename = "docker-autoscaler")]
    DockerAutoscaler,
}

impl Executor {
    /// The name config.toml and the config file use.
    pub fn as_str(self) -> &'static str {
        match self {
            Executor::DockerMachine => "docker+machine",
            Executor::DockerAutoscaler => "docker-autoscaler",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Runner {
    /// docker-autoscaler or docker+machine. Default: docker-autoscaler for a
    /// new deployment; an existing one keeps the executor its host runs
    /// (docker+machine goes with GitLab Runner 20.0, May 2027).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<Executor>,
    /// GitLab Runner version, `vX.Y.Z` (the `gitlab/gitlab-runner` image tag).
    pub version: String,
    /// Runner name in GitLab and config.toml. Default: `gascale-<name>`.
    pub name: Option<String>,
    /// Jobs the runner process runs at once, over all workers. Default: 10
    /// with docker+machine; `max_instances × capacity_per_instance` with
    /// docker-autoscaler.
    pub concurrent: Option<u32>,
    /// Seconds between job polls (0 = runner default of 3).
    pub check_interval: u32,
    /// Workers (and so jobs) this runner may have at once; 0 = unlimited.
    pub limit: u32,
    /// Jobs a worker runs before it is replaced; 0 = unlimited.
    pub max_builds: u32,
    pub docker: DockerSettings,
    pub docker_machine: DockerMachine,
    /// The docker-autoscaler executor's settings (used with
    /// `executor: docker-autoscaler`).
    pub autoscaler: Autoscaler,
    pub worker: Worker,
    pub idle: Idle,
    /// Office-hours style overrides of the idle settings.
    pub autoscaling: Vec<AutoscalingPeriod>,
    pub registration: Registration,
}

impl Default for Runner {
    fn default() -> Self {
        Runner {
            executor: None,
            version: crate::pins::RUNNER_VERSION.into(),
            name: None,
            concurrent: None,
            check_interval: 0,
            limit: 10,
            max_builds: 20,
            docker: DockerSettings::default(),
            docker_machine: DockerMachine::default(),
            autoscaler: Autoscaler::default(),
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
    /// Worker AMI. Default: the current Ubuntu 24.04 LTS from Canonical's
    /// public SSM parameter, read by the host (docker+machine); the
    /// ECS-optimized Amazon Linux 2023 from AWS's (docker-autoscaler).
    pub ami: Option<String>,
    /// CPU architecture of the workers: picks their default image (the
    /// ECS-optimized AL2023 for docker-autoscaler, Ubuntu LTS for docker+machine).
    pub arch: Arch,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            instance_type: InstanceType::new("t3.medium"),
            spot: true,
            max_price: None,
            root_volume_gb: 30,
            ami: None,
            arch: Arch::X86_64,
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
    /// Floor for the scale factor (`IdleCountMin`; docker+machine only).
    pub count_min: Option<u32>,
    /// Ceiling for the scale factor (`scale_factor_limit`; docker-autoscaler only).
    pub scale_factor_limit: Option<u32>,
}

impl Default for Idle {
    fn default() -> Self {
        Idle { count: 0, time: 1800, scale_factor: None, count_min: None, scale_factor_limit: None }
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
    /// Ceiling for the scale factor (docker-autoscaler only).
    #[serde(default)]
    pub idle_scale_factor_limit: Option<u32>,
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

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Autoscaler {
    /// The fleeting plugin as `gitlab-runner fleeting install` takes it (an
    /// OCI reference with a version), installed into the runner image.
    pub plugin: String,
    /// Jobs one worker runs at once.
    pub capacity_per_instance: u32,
    /// Jobs a worker runs before it is replaced; 0 = unlimited.
    pub max_use_count: u32,
    /// Workers at most: the Auto Scaling group's maximum size.
    pub max_instances: u32,
    /// Further instance types besides `runner.worker.instance_type`, so spot
    /// capacity comes from several pools.
    pub instance_types: Vec<InstanceType>,
    /// Workers that are always on-demand, before spot is used.
    pub on_demand_base: u32,
    /// Seconds the runner waits for a worker's SSH connection.
    pub connect_timeout: u32,
}

impl Default for Autoscaler {
    fn default() -> Self {
        Autoscaler {
            plugin: crate::pins::FLEETING_PLUGIN_AWS.into(),
            capacity_per_instance: 1,
            max_use_count: 1,
            max_instances: 10,
            instance_types: Vec::new(),
            on_demand_base: 0,
            connect_timeout: 600,
        }
    }
}
