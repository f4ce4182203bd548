//! The plan: discovery and the config diffed into a list of steps, each with
//! the steps it depends on. `plan` prints it, `up` executes the very same
//! list (see `apply`), so nothing is decided twice.

pub mod apply;
pub mod attrs;
pub mod backup;
pub mod critical;
pub mod desired;
mod destroy;
mod display;
mod drift;
mod ensure;
mod gitlab_app;
mod host;
pub mod permissions;
pub mod preflight;
#[cfg(test)]
mod schema_walk;

use std::collections::BTreeSet;

use serde::Serialize;

pub use desired::{Desired, Kind, Spec};
pub use destroy::{data_gitlab, destroy_plan};
pub use display::PlanReport;
pub use host::{booting, found_host_inputs, host_fingerprint, host_inputs};

/// Config keys whose change needs no change to any resource, each with
/// why: every other key shows in the plan (checked by a walk over every
/// leaf of `gascale schema`, `schema_walk.rs`).
pub const NO_PLAN_CHANGE: &[(&str, &str)] = &[
    (
        "network.allow_world",
        "only permits a wide network.allow_cidrs entry; the rules themselves come from network.allow_cidrs",
    ),
    (
        "metadata.ttl",
        "recorded on the VPC by the first up as the expiry (up --ttl extends it), which reap --expired reads",
    ),
    ("gitlab.restore_from", "used only when the data volume is created; an existing volume is never replaced"),
    (
        "backup.keep",
        "applied to snapshots after each one gascale takes (and by backup.schedule's policy, where it shows)",
    ),
];

/// Why `up` refuses to replace the host on its own.
pub fn host_replacement_reason() -> &'static str {
    host::REPLACEMENT_REASON
}

use crate::aws::discover::Inventory;
use crate::aws::iam;
use crate::config::Deployment;
use crate::state::State;
use crate::upgrade;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Keep,
    /// Needs a new resource; `up` refuses unless allowed.
    Replace,
    Delete,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    /// The existing resource's ID, if any.
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub deps: Vec<String>,
    /// Its key settings, each with the live value where it differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<attrs::Attr>,
    #[serde(skip)]
    pub desired: Option<Desired>,
    /// The fingerprint the resource gets once converged.
    #[serde(skip)]
    pub fingerprint: String,
    /// A snapshot of the data volume this step takes before it acts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_first: Option<SnapshotFirst>,
}

/// A snapshot a step takes first: why, and the GitLab whose data it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotFirst {
    pub reason: String,
    pub gitlab: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub deployment: String,
    pub region: String,
    pub account: String,
    pub steps: Vec<Step>,
    /// Resources with our names that are not ours: `up` refuses to run.
    pub conflicts: Vec<String>,
    /// What would fail halfway, found before any change (`preflight`),
    /// each naming the key to change: `up` refuses to run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The GitLab the data is at (`ee 19.3.0`): the host's, the data
    /// volume's, or the snapshot's it is restored from. A new host boots it.
    #[serde(skip)]
    pub data_gitlab: Option<String>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::Keep)
    }

    pub fn step(&self, address: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.address == address)
    }
}

/// Everything the diff needs besides the config.
pub struct Known<'a> {
    pub inventory: &'a Inventory,
    pub state: Option<&'a State>,
    pub account: &'a str,
    pub bucket: &'a str,
    /// The GitLab of the snapshot a new data volume is restored from.
    pub restored: Option<&'a str>,
}

/// Diffs the config against what exists.
pub fn build(d: &Deployment, k: &Known) -> Plan {
    let inv = k.inventory;
    let data = data_gitlab(inv).or_else(|| k.restored.map(str::to_owned));
    let desired = desired::desired(d, k.bucket);
    let wanted: BTreeSet<&str> = desired.iter().map(|x| x.address.as_str()).collect();
    let mut conflicts = inv.conflicts.clone();
    let mut steps = Vec::new();
    for want in &desired {
        let found = inv.found.get(&want.address);
        let fingerprint = fingerprint(d, k, want, data.as_deref());
        let attributes = attrs::attributes(d, k, want);
        let changed = || attrs::changes(&attributes);
        let (action, reason) = match (found, want.kind) {
            (None, Kind::Volume) => {
                (Action::Create, d.gitlab.restore_from.as_ref().map(|s| format!("from snapshot {s}")))
            }
            // Restored data of an older GitLab: upgraded once the host runs it.
            (None, Kind::GitlabApp) if data.as_ref().is_some_and(|g| *g != attrs::gitlab(d)) => {
                let from = data.as_deref().unwrap_or_default();
                (Action::Create, Some(format!("{} once the new host runs it", upgrade_reason(from, &attrs::gitlab(d)))))
            }
            (None, _) => (Action::Create, None),
            (Some(f), Kind::Bucket) if f.spec == "untagged" => {
                let ours = k.state.is_some_and(|s| {
                    s.resources.get(&want.address) == Some(&f.id) || s.intents.get(&want.address) == Some(&f.id)
                });
                if !ours {
                    conflicts.push(format!("S3 bucket {} exists and is not ours (it has no tags)", f.id));
                    (Action::Keep, Some("exists and is not ours".to_owned()))
                } else {
                    (Action::Update, Some("created by an interrupted run; tagging it".to_owned()))
                }
            }
            (Some(f), _) if f.spec == fingerprint => {
                match drift::describe(want, inv).or_else(|| attrs::drifted(want.kind, &attributes)) {
                    Some(why) => (Action::Update, Some(why)),
                    None => (Action::Keep, None),
                }
            }
            (Some(f), _) if f.spec == crate::aws::tags::PENDING => {
                (Action::Update, Some("left incomplete by an interrupted run".into()))
            }
            (Some(_), Kind::Instance) => {
                let why = changed().map_or(host::REPLACEMENT_REASON.into(), |c| format!("{c}; {}", host::REPLACE_WITH));
                (Action::Replace, Some(why))
            }
            (Some(f), Kind::GitlabApp) => (Action::Update, Some(upgrade_reason(&f.state, &attrs::gitlab(d)))),
            (Some(f), Kind::RunnerConfig) if f.state != d.executor().as_str() && f.state.starts_with("docker") => {
                let why = format!(
                    "executor {} -> {}; the runner is reconfigured, GitLab and its data stay",
                    f.state,
                    d.executor().as_str()
                );
                (Action::Update, Some(why))
            }
            (Some(_), _) => (Action::Update, Some(changed().unwrap_or_else(|| "settings changed".into()))),
        };
        // A new host boots onto the data a running one leaves, an upgrade
        // migrates it: its state just before is kept.
        let before = match (action, want.kind) {
            (Action::Replace, Kind::Instance) => Some("before-host-replacement"),
            (Action::Update, Kind::GitlabApp) => Some("before-upgrade"),
            _ => None,
        };
        let snapshot_first = before.map(|reason| SnapshotFirst {
            reason: reason.into(),
            gitlab: data.clone().unwrap_or_else(|| attrs::gitlab(d)),
        });
        steps.push(Step {
            address: want.address.clone(),
            kind: want.kind,
            action,
            id: found.map(|f| f.id.clone()),
            reason,
            deps: want.deps.clone(),
            attributes,
            desired: Some(want.clone()),
            fingerprint,
            snapshot_first,
        });
    }
    let extra = inv.found.values().filter(|f| !wanted.contains(f.address.as_str())).chain(inv.duplicates.iter());
    for f in extra {
        // A duplicate gets an address of its own: `subnet/public-0~subnet-…`.
        let (address, reason) = if wanted.contains(f.address.as_str()) && inv.found.get(&f.address) != Some(f) {
            (format!("{}~{}", f.address, f.id), "duplicate")
        } else {
            (f.address.clone(), "no longer in the config")
        };
        steps.push(Step {
            deps: leaving_deps(f.kind, &wanted, inv),
            address,
            kind: f.kind,
            action: Action::Delete,
            id: Some(f.id.clone()),
            reason: Some(reason.into()),
            attributes: Vec::new(),
            desired: None,
            fingerprint: String::new(),
            snapshot_first: None,
        });
    }
    Plan {
        deployment: d.name().into(),
        region: d.region().into(),
        account: k.account.into(),
        steps,
        conflicts,
        problems: Vec::new(),
        data_gitlab: data,
    }
}

/// `ee 17.4.0 -> ee 17.9.0 through 17.5.5, 17.8.7` (the stops before the
/// target); a path GitLab does not allow is the preflight's to refuse.
fn upgrade_reason(running: &str, target: &str) -> String {
    let through = upgrade::parse_tag(running).zip(upgrade::parse_tag(target)).and_then(|((_, from), (_, to))| {
        let stops = upgrade::path(from, to, true).ok()?;
        let via: Vec<String> = stops.iter().take(stops.len().saturating_sub(1)).map(|s| s.to_string()).collect();
        (!via.is_empty()).then(|| format!(" through {}", via.join(", ")))
    });
    format!("upgrade in place: GitLab {running} -> {target}{}", through.unwrap_or_default())
}

/// What must happen before a resource that left the config is deleted: the
/// runner lets go of the worker group (its new configuration applied) before
/// the group goes, and the group before its launch template.
fn leaving_deps(kind: Kind, wanted: &BTreeSet<&str>, inv: &Inventory) -> Vec<String> {
    let mut deps = Vec::new();
    if matches!(kind, Kind::AutoScalingGroup | Kind::LaunchTemplate) && wanted.contains(desired::RUNNER_CONFIG) {
        deps.push(desired::RUNNER_CONFIG.to_owned());
    }
    if kind == Kind::LaunchTemplate {
        deps.extend(inv.found.values().filter(|f| f.kind == Kind::AutoScalingGroup).map(|f| f.address.clone()));
    }
    deps
}

/// The fingerprint a converged resource carries. Inputs that only exist in
/// AWS (AZ names, the host's user-data, `data`: the GitLab the data is at)
/// are part of it.
fn fingerprint(d: &Deployment, k: &Known, want: &Desired, data: Option<&str>) -> String {
    match &want.spec {
        Spec::Subnet { az_index, .. } => {
            want.fingerprint(k.inventory.availability_zones.get(*az_index).map_or("", |s| s.as_str()))
        }
        Spec::IamRole { role: desired::Role::Host, .. } => {
            want.fingerprint(&iam::host_policy(d, k.account, k.bucket).to_string())
        }
        // No policy at all (before: AmazonSSMManagedInstanceCore).
        Spec::IamRole { role: desired::Role::Workers, .. } => want.fingerprint("no policies"),
        Spec::InstanceProfile { role, .. } => format!("role:{}", desired::role_name(d, *role)),
        // The workers' user-data and tags are the template's too.
        Spec::LaunchTemplate { .. } => want.fingerprint(&format!(
            "{}\0{}",
            crate::render::worker_user_data(d).unwrap_or_default(),
            serde_json::to_string(&d.metadata.tags).unwrap_or_default()
        )),
        // The GitLab it runs: its `gascale:gitlab` tag.
        Spec::GitlabApp => attrs::gitlab(d),
        Spec::Instance | Spec::RunnerConfig => {
            let ids = k.inventory.ids();
            let inputs = host_inputs(d, k.account, &ids, &k.inventory.eip_ips, &k.inventory.availability_zones);
            match (inputs, &want.spec) {
                // Launched with the GitLab its data is at: a new version is
                // `gitlab/app`'s upgrade, not a new host.
                (Some(inputs), Spec::Instance) => host_fingerprint(&booting(d, data), &inputs, &ids),
                (Some(inputs), _) => {
                    crate::render::render(d, &inputs).map(|r| r.runner_fingerprint()).unwrap_or_default()
                }
                (None, _) => "unknown".into(),
            }
        }
        _ => want.fingerprint(""),
    }
}
