//! The deployment file's shape: every key, its type and its default.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) so a typo is an error
//! rather than a silently ignored setting; semantic checks that need more than
//! a type (CIDR overlap, cron syntax, name rules) live in `validate.rs`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::runner::*;
use super::types::{Cidr, InstanceType};

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
    #[serde(default)]
    pub backup: Backup,
}

/// Snapshots of the data volume (see README, "Backups and upgrades").
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    /// Retention of gascale's own snapshots of this deployment, applied
    /// after each one it takes: a count (`7`: the newest seven) or an age
    /// (`30d`). Unset: every snapshot is kept.
    pub keep: Option<Keep>,
    /// Snapshots taken by AWS on a schedule, with no machine of yours on
    /// (Amazon Data Lifecycle Manager): every `1h`, `2h`, `3h`, `4h`, `6h`,
    /// `8h`, `12h` or `24h`, or a `cron(…)` expression in UTC. DLM retires
    /// them by `keep` (at most 1000, or whole days), which it then needs.
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Keep {
    Count(u32),
    /// A duration such as `30d` or `12h`.
    Age(String),
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
    /// How long the deployment lives, e.g. `6h`: the first `up` records
    /// its expiry and `reap --expired` destroys it after (`up --ttl`
    /// extends it). Unset: it never expires.
    #[serde(default)]
    pub ttl: Option<String>,
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
    /// A DNS name for GitLab (HTTPS through Let's Encrypt), at most 64
    /// characters (it is the container's hostname). Default: the EIP's
    /// public DNS name over HTTP.
    #[schemars(length(max = 64))]
    pub domain: Option<String>,
    /// Contact address for Let's Encrypt, with `domain`.
    pub letsencrypt_email: Option<String>,
    /// Seconds the bootstrap waits for GitLab to start: its database
    /// migrated, then its readiness check answering.
    pub readiness_timeout: u32,
    /// A snapshot (`snap-…`) the data volume is created from, when `up`
    /// creates it: a destroyed deployment brought back, or a clone. Its
    /// GitLab version must be `version`. Ignored once the volume exists.
    pub restore_from: Option<String>,
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
            restore_from: None,
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
