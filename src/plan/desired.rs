//! What the config asks for: every resource of the deployment with its
//! address, its dependencies and a fingerprint of its desired settings.
//! Addresses are stable names (`subnet/private-1`) carried as the tag
//! `gascale:resource`, so discovery maps what exists back to them.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::Deployment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Vpc,
    Subnet,
    InternetGateway,
    ElasticIp,
    NatGateway,
    RouteTable,
    VpcEndpoint,
    SecurityGroup,
    IamRole,
    InstanceProfile,
    Bucket,
    Volume,
    /// Snapshots of the data volume on a schedule (a DLM policy).
    SnapshotSchedule,
    Instance,
    /// The GitLab the host runs: upgraded in place along GitLab's upgrade
    /// path (`upgrade.rs`) when `gitlab.version` changes, never by a new host.
    GitlabApp,
    /// docker-autoscaler: the workers' launch template and Auto Scaling group.
    LaunchTemplate,
    AutoScalingGroup,
    /// The runner's configuration on the host: applied through SSM when it
    /// changes, so runner settings never need a new host.
    RunnerConfig,
    /// The runner's workers (instances docker-machine launched, their spot
    /// requests and key pairs): never created by gascale, always reaped.
    Workers,
}

/// The role a security group, IAM role or EIP plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Host,
    Workers,
}

/// A resource's desired settings: what `ensure_*` needs to create it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Spec {
    Vpc {
        cidr: String,
    },
    Subnet {
        cidr: String,
        az_index: usize,
        public: bool,
    },
    InternetGateway,
    ElasticIp,
    NatGateway,
    RouteTable {
        public: bool,
        subnets: Vec<String>,
    },
    VpcEndpoint,
    SecurityGroup {
        role: Role,
        name: String,
        allow_cidrs: Vec<String>,
        /// Workers of docker-autoscaler are reached over SSH only (no 2376).
        #[serde(skip_serializing_if = "std::ops::Not::not", default)]
        ssh_only: bool,
        /// The host's HTTP open to the world (with `gitlab.domain`).
        #[serde(skip_serializing_if = "std::ops::Not::not", default)]
        open_http: bool,
    },
    IamRole {
        role: Role,
        name: String,
    },
    InstanceProfile {
        role: Role,
        name: String,
    },
    /// Every setting the bucket step writes, so a change to any shows.
    Bucket {
        name: String,
        expiration_days: u32,
        prefix: String,
        sse: crate::config::Sse,
        kms_key: Option<String>,
    },
    Volume {
        size_gb: u32,
    },
    SnapshotSchedule {
        /// `24h` or `cron(…)` (`backup.schedule`).
        every: String,
        /// `7` or `30d` (`backup.keep`).
        keep: String,
    },
    Instance,
    LaunchTemplate {
        name: String,
        ami: Option<String>,
        arch: crate::config::Arch,
        root_volume_gb: u32,
        public_ip: bool,
    },
    AutoScalingGroup {
        name: String,
        max_size: u32,
        instance_types: Vec<String>,
        spot: bool,
        max_price: Option<String>,
        on_demand_base: u32,
        /// Subnet addresses the group launches in.
        subnets: Vec<String>,
    },
    RunnerConfig,
    GitlabApp,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    pub address: String,
    pub kind: Kind,
    pub deps: Vec<String>,
    pub spec: Spec,
}

impl Desired {
    fn new(address: impl Into<String>, kind: Kind, deps: &[&str], spec: Spec) -> Desired {
        let deps = deps.iter().map(|s| s.to_string()).collect();
        Desired { address: address.into(), kind, deps, spec }
    }

    /// A short hash of the desired settings, stored as the `gascale:spec` tag
    /// once the resource is fully converged.
    pub fn fingerprint(&self, extra: &str) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(&self.spec).expect("spec serializes"));
        h.update(extra.as_bytes());
        h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

pub const VPC: &str = "vpc";
pub const IGW: &str = "igw";
pub const NAT_EIP: &str = "eip/nat";
pub const NAT: &str = "nat";
pub const RTB_PUBLIC: &str = "rtb/public";
pub const RTB_PRIVATE: &str = "rtb/private";
pub const S3_ENDPOINT: &str = "endpoint/s3";
pub const SG_HOST: &str = "sg/host";
pub const SG_WORKERS: &str = "sg/workers";
pub const ROLE_HOST: &str = "iam/role/host";
pub const ROLE_WORKER: &str = "iam/role/worker";
pub const PROFILE_HOST: &str = "iam/profile/host";
pub const PROFILE_WORKER: &str = "iam/profile/worker";
pub const BUCKET: &str = "bucket";
pub const HOST_EIP: &str = "eip/host";
pub const DATA_VOLUME: &str = "volume/data";
pub const HOST: &str = "instance/host";
pub const GITLAB_APP: &str = "gitlab/app";
pub const SNAPSHOT_SCHEDULE: &str = "backup/schedule";
pub const RUNNER_CONFIG: &str = "runner/config";
pub const LAUNCH_TEMPLATE: &str = "launch-template/workers";
pub const WORKER_GROUP: &str = "asg/workers";

pub fn public_subnet(i: usize) -> String {
    format!("subnet/public-{i}")
}

pub fn private_subnet(i: usize) -> String {
    format!("subnet/private-{i}")
}

/// The private subnet workers launch in (public without NAT).
pub fn worker_subnet(d: &Deployment) -> String {
    if d.network.nat {
        private_subnet(0)
    } else {
        public_subnet(0)
    }
}

pub fn role_name(d: &Deployment, role: Role) -> String {
    match role {
        Role::Host => format!("gascale-{}-host", d.name()),
        Role::Workers => format!("gascale-{}-worker", d.name()),
    }
}

pub fn host_sg_name(d: &Deployment) -> String {
    format!("gascale-{}-host", d.name())
}

/// Every resource `up` creates for this deployment, dependencies first.
pub fn desired(d: &Deployment, bucket: &str) -> Vec<Desired> {
    let (public, private) = d.subnet_blocks();
    let mut out = vec![Desired::new(VPC, Kind::Vpc, &[], Spec::Vpc { cidr: d.network.cidr.to_string() })];
    for (i, c) in public.iter().enumerate() {
        let spec = Spec::Subnet { cidr: c.to_string(), az_index: i, public: true };
        out.push(Desired::new(public_subnet(i), Kind::Subnet, &[VPC], spec));
    }
    for (i, c) in private.iter().enumerate() {
        let spec = Spec::Subnet { cidr: c.to_string(), az_index: i, public: false };
        out.push(Desired::new(private_subnet(i), Kind::Subnet, &[VPC], spec));
    }
    out.push(Desired::new(IGW, Kind::InternetGateway, &[VPC], Spec::InternetGateway));
    let public_subnets: Vec<String> = (0..public.len()).map(public_subnet).collect();
    let private_subnets: Vec<String> = (0..private.len()).map(private_subnet).collect();
    let mut public_deps: Vec<&str> = vec![VPC, IGW];
    public_deps.extend(public_subnets.iter().map(String::as_str));
    out.push(Desired::new(
        RTB_PUBLIC,
        Kind::RouteTable,
        &public_deps,
        Spec::RouteTable { public: true, subnets: public_subnets.clone() },
    ));
    let mut private_deps: Vec<&str> = vec![VPC];
    if d.network.nat {
        let subnet0 = public_subnet(0);
        out.push(Desired::new(NAT_EIP, Kind::ElasticIp, &[], Spec::ElasticIp));
        out.push(Desired::new(NAT, Kind::NatGateway, &[NAT_EIP, &subnet0, IGW], Spec::NatGateway));
        private_deps.push(NAT);
    } else {
        private_deps.push(IGW);
    }
    private_deps.extend(private_subnets.iter().map(String::as_str));
    out.push(Desired::new(
        RTB_PRIVATE,
        Kind::RouteTable,
        &private_deps,
        Spec::RouteTable { public: false, subnets: private_subnets.clone() },
    ));
    out.push(Desired::new(S3_ENDPOINT, Kind::VpcEndpoint, &[VPC, RTB_PUBLIC, RTB_PRIVATE], Spec::VpcEndpoint));
    let allow: Vec<String> = d.network.allow_cidrs.iter().map(|c| c.to_string()).collect();
    out.push(Desired::new(
        SG_HOST,
        Kind::SecurityGroup,
        &[VPC],
        Spec::SecurityGroup {
            role: Role::Host,
            name: host_sg_name(d),
            allow_cidrs: allow,
            ssh_only: false,
            open_http: d.gitlab.domain.is_some(),
        },
    ));
    out.push(Desired::new(
        SG_WORKERS,
        Kind::SecurityGroup,
        &[VPC, SG_HOST],
        Spec::SecurityGroup {
            role: Role::Workers,
            name: d.worker_sg_name(),
            allow_cidrs: Vec::new(),
            ssh_only: d.autoscaler(),
            open_http: false,
        },
    ));
    out.push(Desired::new(
        ROLE_WORKER,
        Kind::IamRole,
        &[],
        Spec::IamRole { role: Role::Workers, name: role_name(d, Role::Workers) },
    ));
    out.push(Desired::new(
        PROFILE_WORKER,
        Kind::InstanceProfile,
        &[ROLE_WORKER],
        Spec::InstanceProfile { role: Role::Workers, name: d.worker_profile_name() },
    ));
    // The host's policy names the worker role by its ARN, which IAM does not
    // check: the two roles are created at once.
    out.push(Desired::new(
        ROLE_HOST,
        Kind::IamRole,
        &[],
        Spec::IamRole { role: Role::Host, name: role_name(d, Role::Host) },
    ));
    out.push(Desired::new(
        PROFILE_HOST,
        Kind::InstanceProfile,
        &[ROLE_HOST],
        Spec::InstanceProfile { role: Role::Host, name: format!("gascale-{}-host", d.name()) },
    ));
    let cache = &d.cache;
    let spec = Spec::Bucket {
        name: bucket.to_owned(),
        expiration_days: cache.expiration_days,
        prefix: cache.prefix.clone(),
        sse: cache.sse,
        kms_key: cache.kms_key.clone(),
    };
    out.push(Desired::new(BUCKET, Kind::Bucket, &[], spec));
    out.push(Desired::new(HOST_EIP, Kind::ElasticIp, &[], Spec::ElasticIp));
    let public0 = public_subnet(0);
    out.push(Desired::new(DATA_VOLUME, Kind::Volume, &[&public0], Spec::Volume { size_gb: d.gitlab.data_volume_gb }));
    if let (Some(every), Some(keep)) = (&d.backup.schedule, &d.backup.keep) {
        let keep = match keep {
            crate::config::Keep::Count(n) => n.to_string(),
            crate::config::Keep::Age(age) => age.clone(),
        };
        let spec = Spec::SnapshotSchedule { every: every.clone(), keep };
        out.push(Desired::new(SNAPSHOT_SCHEDULE, Kind::SnapshotSchedule, &[DATA_VOLUME], spec));
    }
    let worker_subnet = worker_subnet(d);
    out.push(Desired::new(
        HOST,
        Kind::Instance,
        &[
            &public0,
            &worker_subnet,
            RTB_PUBLIC,
            SG_HOST,
            SG_WORKERS,
            PROFILE_HOST,
            PROFILE_WORKER,
            BUCKET,
            HOST_EIP,
            DATA_VOLUME,
        ],
        Spec::Instance,
    ));
    out.push(Desired::new(GITLAB_APP, Kind::GitlabApp, &[HOST, DATA_VOLUME], Spec::GitlabApp));
    // The runner's configuration also waits for what it uses: the host
    // role's permissions, the worker group (and so workers' firewall), and
    // follows GitLab's upgrade.
    let mut runner_deps = vec![HOST, ROLE_HOST, SG_WORKERS, GITLAB_APP];
    if d.autoscaler() {
        out.extend(worker_group(d, if d.network.nat { &private_subnets } else { &public_subnets }));
        runner_deps.push(WORKER_GROUP);
    }
    out.push(Desired::new(RUNNER_CONFIG, Kind::RunnerConfig, &runner_deps, Spec::RunnerConfig));
    out
}

/// docker-autoscaler's launch template and Auto Scaling group, in the
/// workers' subnets (private behind the NAT, else public).
fn worker_group(d: &Deployment, subnets: &[String]) -> [Desired; 2] {
    let (w, a) = (&d.runner.worker, &d.runner.autoscaler);
    let template = Desired::new(
        LAUNCH_TEMPLATE,
        Kind::LaunchTemplate,
        &[SG_WORKERS, PROFILE_WORKER],
        Spec::LaunchTemplate {
            name: d.worker_group_name(),
            ami: w.ami.clone(),
            arch: w.arch,
            root_volume_gb: w.root_volume_gb,
            // Without a NAT the workers sit in the public subnets, where only
            // a public address reaches the internet gateway (VPC user guide,
            // "Internet gateways"); the subnets do not map one on launch.
            public_ip: !d.network.nat,
        },
    );
    // Workers need their route out (the NAT) before the runner starts them.
    let mut deps: Vec<&str> = vec![LAUNCH_TEMPLATE, if d.network.nat { RTB_PRIVATE } else { RTB_PUBLIC }];
    deps.extend(subnets.iter().map(String::as_str));
    let group = Desired::new(
        WORKER_GROUP,
        Kind::AutoScalingGroup,
        &deps,
        Spec::AutoScalingGroup {
            name: d.worker_group_name(),
            max_size: a.max_instances,
            instance_types: d.worker_instance_types(),
            spot: w.spot,
            max_price: w.max_price.clone().filter(|_| w.spot),
            on_demand_base: a.on_demand_base,
            subnets: subnets.to_vec(),
        },
    );
    [template, group]
}
