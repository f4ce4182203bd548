//! The attributes a reviewer approves: each resource's key settings as
//! `key: value`, the live value beside the desired one where discovery read
//! it (`expiration_days: 3 -> 5`), and which attribute needs a new host.
//! `plan` prints them and carries them in its JSON; the diff uses the live
//! values of the settings `up` puts back to find changes made by hand.

use std::collections::BTreeMap;

use serde::Serialize;

use super::desired::{self, Desired, Kind, Role, Spec};
use super::{drift, Known};
use crate::aws::security_groups::{line, Source};
use crate::config::Deployment;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attr {
    pub key: String,
    pub value: String,
    /// The live value, when it differs from `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// Changing it needs a new host.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forces_new_host: bool,
    /// On the resource's one-line summary (else only with `-v`).
    #[serde(skip)]
    pub brief: bool,
}

impl Attr {
    /// As on the one-line summary: bare where the value says what it is
    /// (`10.0.0.0/16`, `t3.xlarge`), `key: value` where it does not (`max_size: 4`).
    pub fn brief_text(&self) -> String {
        let bare = self.value.contains(['.', '/', ' ', '-', '+']) && self.value.parse::<f64>().is_err();
        if bare {
            self.value.clone()
        } else {
            format!("{}: {}", self.key, self.value)
        }
    }

    /// `key: old -> new`, with `(forces a new host)` where it does.
    pub fn change(&self) -> Option<String> {
        let old = self.old.as_ref()?;
        let forces = if self.forces_new_host { " (forces a new host)" } else { "" };
        Some(format!("{}: {old} -> {}{forces}", self.key, self.value))
    }
}

/// Live settings `up` restores when they were changed outside gascale: a
/// difference in one of these is drift even when the fingerprint matches.
pub fn restored(kind: Kind, key: &str) -> bool {
    if key == "tags" {
        return tagged(kind);
    }
    match kind {
        Kind::Bucket => matches!(key, "expiration_days" | "prefix" | "encryption"),
        Kind::AutoScalingGroup => matches!(key, "min_size" | "max_size" | "instance_types"),
        Kind::IamRole => key == "policy" || key.starts_with("statement "),
        _ => false,
    }
}

/// Kinds that take `metadata.tags` after creation too (an instance
/// profile keeps the tags it was created with).
fn tagged(kind: Kind) -> bool {
    !matches!(kind, Kind::InstanceProfile | Kind::RunnerConfig | Kind::GitlabApp | Kind::Workers)
}

fn word<T: Serialize>(t: &T) -> String {
    serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

struct Attrs(Vec<Attr>);

impl Attrs {
    fn brief(&mut self, key: &str, value: impl Into<String>) -> &mut Attrs {
        self.push(key, value.into(), true)
    }
    fn detail(&mut self, key: &str, value: impl Into<String>) -> &mut Attrs {
        self.push(key, value.into(), false)
    }
    fn push(&mut self, key: &str, value: String, brief: bool) -> &mut Attrs {
        self.0.push(Attr { key: key.into(), value, old: None, forces_new_host: false, brief });
        self
    }
}

/// Rules as `80,443/tcp from 203.0.113.0/24`, one entry per source.
pub fn rules_by_source(rules: &[(i32, Source)]) -> Vec<String> {
    let mut by: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (port, source) in rules {
        let l = line(&(*port, source.clone()));
        let from = l.split_once(" from ").map_or(String::new(), |(_, s)| s.to_owned());
        by.entry(from).or_default().push(*port);
    }
    by.into_iter()
        .map(|(from, mut ports)| {
            ports.sort();
            let ports: Vec<String> = ports.iter().map(i32::to_string).collect();
            format!("{}/tcp from {from}", ports.join(","))
        })
        .collect()
}

/// A group's live rules as `rules_by_source` shows them, the groups of
/// this deployment named by their address (`sg/workers`).
fn live_ingress(k: &Known, lines: &[String]) -> String {
    let address: BTreeMap<&str, &str> =
        k.inventory.found.values().map(|f| (f.id.as_str(), f.address.as_str())).collect();
    let rules: Vec<(i32, Source)> = lines
        .iter()
        .filter_map(|l| {
            let (port, from) = l.split_once("/tcp from ")?;
            let from = address.get(from).map_or(from, |a| a);
            let source = if from.contains('/') && !from.starts_with("sg/") { Source::Cidr } else { Source::Group };
            Some((port.parse().ok()?, source(from.to_owned())))
        })
        .collect();
    rules_by_source(&rules).join("; ")
}

/// The zone a subnet's `az_index` lands in, as far as known.
fn zone(k: &Known, i: usize) -> String {
    k.inventory.availability_zones.get(i).cloned().unwrap_or_else(|| format!("zone {i}"))
}

/// The desired attributes of `want`, with the live values discovery read.
pub fn attributes(d: &Deployment, k: &Known, want: &Desired) -> Vec<Attr> {
    let mut a = Attrs(Vec::new());
    match &want.spec {
        Spec::Vpc { cidr } => {
            a.brief("cidr", cidr.as_str());
        }
        Spec::Subnet { cidr, az_index, public } => {
            a.brief("cidr", cidr.as_str()).brief("zone", zone(k, *az_index));
            a.detail("public_ips", if *public { "on launch" } else { "none" });
        }
        Spec::InternetGateway => {
            a.brief("vpc", desired::VPC);
        }
        Spec::ElasticIp => {
            let of = if want.address == desired::NAT_EIP { desired::NAT } else { desired::HOST };
            a.brief("for", of);
        }
        Spec::NatGateway => {
            a.brief("subnet", desired::public_subnet(0)).detail("eip", desired::NAT_EIP);
        }
        Spec::RouteTable { public, subnets } => {
            let target = if *public || !d.network.nat { desired::IGW } else { desired::NAT };
            a.brief("route", format!("0.0.0.0/0 -> {target}")).brief("subnets", subnets.join(","));
        }
        Spec::VpcEndpoint => {
            a.brief("service", format!("com.amazonaws.{}.s3 (gateway)", d.region()))
                .detail("route_tables", format!("{},{}", desired::RTB_PUBLIC, desired::RTB_PRIVATE));
        }
        Spec::SecurityGroup { role, name, allow_cidrs, ssh_only, open_http } => {
            let rules = match role {
                Role::Host => {
                    let mut r = drift::host_rules(allow_cidrs, *open_http);
                    r.extend(drift::from_workers(desired::SG_WORKERS));
                    r
                }
                Role::Workers => drift::worker_rules(*ssh_only, desired::SG_HOST),
            };
            a.brief("ingress", rules_by_source(&rules).join("; ")).detail("name", name.as_str());
        }
        Spec::IamRole { role, name } => {
            a.brief("name", name.as_str()).detail("trust", "ec2.amazonaws.com");
            match role {
                Role::Host => {
                    let policy = crate::aws::iam::host_policy(d, k.account, k.bucket);
                    for (key, value) in crate::aws::policy::keyed(Some(&policy)) {
                        // The summary on the resource's line, each statement with -v.
                        a.push(&key, value, key == "policy");
                    }
                    a.detail("managed", "AmazonSSMManagedInstanceCore");
                }
                Role::Workers => {
                    a.brief("policies", "none");
                }
            }
        }
        Spec::InstanceProfile { role, name } => {
            a.brief("role", desired::role_name(d, *role)).detail("name", name.as_str());
        }
        Spec::Bucket { name, expiration_days, prefix, sse, kms_key } => {
            let encryption = crate::aws::s3::encryption_text(&word(sse), kms_key.as_deref());
            a.brief("name", name.as_str())
                .brief("expiration_days", expiration_days.to_string())
                .brief("encryption", encryption)
                .detail("prefix", prefix.as_str())
                .detail("public_access", "blocked")
                .detail("tls", "required");
        }
        Spec::Volume { size_gb } => {
            a.brief("size_gb", size_gb.to_string()).brief("type", "gp3 encrypted").detail("zone", zone(k, 0));
        }
        Spec::Instance => host(&mut a, d, k),
        Spec::LaunchTemplate { ami, arch, root_volume_gb, public_ip, .. } => {
            match ami {
                Some(ami) => a.brief("ami", ami.as_str()),
                None => a.brief("image", format!("al2023-ecs {} (latest)", word(arch))),
            };
            a.detail("root_volume_gb", root_volume_gb.to_string())
                .detail("public_ip", if *public_ip { "yes" } else { "no" })
                .detail("imds", "v2 only, hop limit 1");
        }
        Spec::AutoScalingGroup { max_size, instance_types, spot, max_price, on_demand_base, subnets, .. } => {
            a.brief("min_size", "0")
                .brief("max_size", max_size.to_string())
                .brief("instance_types", instance_types.join(","))
                .brief("spot", if *spot { format!("yes above {on_demand_base} on-demand") } else { "no".into() })
                .detail("max_price", max_price.clone().unwrap_or_else(|| "on-demand price".into()))
                .detail("subnets", subnets.join(","));
        }
        Spec::SnapshotSchedule { every, keep } => {
            a.brief("every", every.as_str())
                .brief("keep", keep.as_str())
                .detail("by", format!("Data Lifecycle Manager as {}", crate::aws::dlm::DEFAULT_ROLE));
        }
        Spec::GitlabApp => {
            a.brief("gitlab", gitlab(d));
        }
        Spec::RunnerConfig => {
            a.brief("executor", d.executor().as_str())
                .brief("runner", d.runner.version.as_str())
                .detail("concurrent", d.runner_concurrent().to_string());
            if !d.autoscaler() {
                a.detail(
                    "worker_image",
                    match &d.runner.worker.ami {
                        Some(ami) => ami.clone(),
                        None => format!("ubuntu 24.04 {} (latest, read on the host)", word(&d.runner.worker.arch)),
                    },
                );
            }
        }
    }
    let id = k.inventory.id(&want.address);
    let rules = id.and_then(|id| k.inventory.live.get(id)).map(|lines| live_ingress(k, lines));
    let mut settings = id.and_then(|id| k.inventory.settings.get(id)).cloned();
    if let Some(rules) = rules {
        settings.get_or_insert_with(BTreeMap::new).insert("ingress".into(), rules);
    }
    let live = settings.as_ref();
    if tagged(want.kind) {
        a.detail("tags", crate::aws::tags::user_tags(d.metadata.tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))));
    }
    let mut attrs = a.0;
    for attr in &mut attrs {
        attr.forces_new_host = want.kind == Kind::Instance && attr.key != "tags";
        attr.old = live.and_then(|l| l.get(&attr.key)).filter(|old| **old != attr.value).cloned();
        if attr.key == "tags" {
            // Tags of others (AWS Backup's, a cost allocation tool's) are
            // theirs: only the configured ones must be there. A key removed
            // from metadata.tags stays on what exists (README).
            attr.old = live.and_then(|l| l.get("tags")).and_then(|l| missing_tags(d, l));
        }
    }
    // Statements one side lacks (added or removed by hand) show as
    // `(none)` on that side; other settings not read are not compared.
    let listed = |key: &str| key.starts_with("statement ") && restored(want.kind, key);
    if let Some(live) = live.filter(|l| l.keys().any(|k| listed(k))) {
        let none = || "(none)".to_owned();
        for attr in attrs.iter_mut().filter(|a| listed(&a.key) && !live.contains_key(&a.key)) {
            attr.old = Some(none());
        }
        let extra: Vec<Attr> = live
            .iter()
            .filter(|(key, _)| listed(key) && !attrs.iter().any(|a| &a.key == *key))
            .map(|(key, old)| Attr {
                key: key.clone(),
                value: none(),
                old: Some(old.clone()),
                forces_new_host: false,
                brief: false,
            })
            .collect();
        attrs.extend(extra);
    }
    attrs
}

/// The host: what it is launched with (each change needs a new host).
fn host(a: &mut Attrs, d: &Deployment, k: &Known) {
    let g = &d.gitlab;
    a.brief("instance_type", g.instance_type.as_str());
    match &g.ami {
        Some(ami) => a.brief("ami", ami.as_str()),
        None => a.brief("image", format!("al2023 {} (latest)", word(&g.arch))),
    };
    a.brief("subnet", format!("{} ({})", desired::public_subnet(0), zone(k, 0)))
        .detail("root_volume_gb", g.root_volume_gb.to_string())
        .detail("domain", g.domain.clone().unwrap_or_else(|| "none (the EIP's public DNS name)".into()))
        .detail("data", format!("{} ({} GiB)", desired::DATA_VOLUME, g.data_volume_gb));
}

/// The GitLab a host runs: `ce 19.3.0` (also its `gascale:gitlab` tag),
/// the version without an image suffix (`19.3.0-ce.0` is `19.3.0`), so the
/// configured and the recorded forms compare.
pub fn gitlab(d: &Deployment) -> String {
    let version = crate::upgrade::Version::parse(&d.gitlab.version).map_or(d.gitlab.version.clone(), |v| v.to_string());
    format!("{} {version}", word(&d.gitlab.edition))
}

/// The live tags (`k=v,…`) when one of `metadata.tags` is missing there or
/// differs.
fn missing_tags(d: &Deployment, live: &str) -> Option<String> {
    let have: BTreeMap<&str, &str> = live.split(',').filter_map(|kv| kv.split_once('=')).collect();
    let differs = d.metadata.tags.iter().any(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()));
    differs.then(|| live.to_owned())
}

/// The changed attributes as `key: old -> new`, joined.
pub fn changes(attrs: &[Attr]) -> Option<String> {
    let changed: Vec<String> = attrs.iter().filter_map(Attr::change).collect();
    (!changed.is_empty()).then(|| changed.join(", "))
}

/// Only the changes `up` puts back (drift), as `key: live -> desired`.
pub fn drifted(kind: Kind, attrs: &[Attr]) -> Option<String> {
    let changed: Vec<&Attr> = attrs.iter().filter(|a| restored(kind, &a.key) && a.old.is_some()).collect();
    if changed.is_empty() {
        return None;
    }
    let text: Vec<String> = changed.iter().filter_map(|a| a.change()).collect();
    // A tag differs after a change of metadata.tags as much as after one
    // by hand: no claim of which.
    if changed.iter().all(|a| a.key == "tags") {
        return Some(text.join(", "));
    }
    Some(format!("changed outside gascale: {}", text.join(", ")))
}
