//! The destroy plan: every owned resource as a delete step, ordered by what
//! must go first (workers before the subnets they sit in, the host before
//! its volume and EIP, profiles before roles, everything before the VPC).
//! It is executed by the same executor as `up`.

use std::collections::BTreeMap;

use super::desired::Kind;
use super::{Action, Plan, SnapshotFirst, Step};
use crate::aws::discover::Inventory;
use crate::aws::workers::Workers;

/// The kinds whose deletion must be finished before `kind` can be deleted.
fn after(kind: Kind) -> &'static [Kind] {
    use Kind::*;
    match kind {
        AutoScalingGroup | RunnerConfig | GitlabApp | SnapshotSchedule => &[],
        // Stragglers of the group are reaped as workers, after it.
        Workers | LaunchTemplate => &[AutoScalingGroup],
        Instance => &[Workers],
        Volume => &[Instance, SnapshotSchedule],
        Bucket => &[Instance],
        NatGateway => &[Workers, AutoScalingGroup],
        VpcEndpoint | InstanceProfile => &[Instance, Workers, AutoScalingGroup],
        ElasticIp => &[Instance, NatGateway],
        RouteTable => &[VpcEndpoint],
        IamRole => &[InstanceProfile],
        Subnet => &[Instance, Workers, AutoScalingGroup, NatGateway, RouteTable, VpcEndpoint],
        SecurityGroup => &[Instance, Workers, AutoScalingGroup, VpcEndpoint],
        // Workers without a NAT hold public addresses the gateway maps.
        InternetGateway => &[ElasticIp, NatGateway, Instance, Workers, AutoScalingGroup],
        Vpc => &[Subnet, SecurityGroup, InternetGateway, RouteTable, VpcEndpoint, NatGateway],
    }
}

pub const WORKERS: &str = "workers";

/// Deletes everything in `inventory` plus the runner's workers; with
/// `final_snapshot`, the data volume is snapshotted (after the host is gone,
/// so nothing writes) before it is deleted.
pub fn destroy_plan(
    (deployment, region, account): (&str, &str, &str),
    inventory: &Inventory,
    workers: &Workers,
    final_snapshot: bool,
) -> Plan {
    let mut items: Vec<(String, Kind, String, String)> = Vec::new();
    if !workers.is_empty() {
        let id = serde_json::to_string(workers).expect("workers serialize");
        items.push((WORKERS.into(), Kind::Workers, id, workers.describe()));
    }
    // The runner's configuration and GitLab go with the host: no step of their own.
    for f in inventory.found.values().filter(|f| !matches!(f.kind, Kind::RunnerConfig | Kind::GitlabApp)) {
        items.push((f.address.clone(), f.kind, f.id.clone(), String::new()));
    }
    for f in &inventory.duplicates {
        items.push((format!("{}~{}", f.address, f.id), f.kind, f.id.clone(), "duplicate".into()));
    }
    let mut by_kind: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for (address, kind, _, _) in &items {
        by_kind.entry(*kind).or_default().push(address.clone());
    }
    let mut steps: Vec<Step> = items
        .into_iter()
        .map(|(address, kind, id, reason)| Step {
            deps: after(kind).iter().flat_map(|k| by_kind.get(k).cloned().unwrap_or_default()).collect(),
            address,
            kind,
            action: Action::Delete,
            // The workers' "ID" is the list itself; the display shows its summary.
            id: Some(id),
            reason: (!reason.is_empty()).then_some(reason),
            attributes: Vec::new(),
            desired: None,
            fingerprint: String::new(),
            snapshot_first: None,
        })
        .collect();
    let data = data_gitlab(inventory);
    for s in steps.iter_mut().filter(|s| final_snapshot && s.kind == Kind::Volume) {
        let gitlab = data.clone().unwrap_or_else(|| "unknown".into());
        s.snapshot_first = Some(SnapshotFirst { reason: "final".into(), gitlab });
    }
    steps.sort_by_key(|s| (rank(s.kind), s.address.clone()));
    Plan {
        deployment: deployment.into(),
        region: region.into(),
        account: account.into(),
        steps,
        conflicts: inventory.conflicts.clone(),
        problems: Vec::new(),
        data_gitlab: data,
    }
}

/// Display order: the order deletes can happen in.
fn rank(kind: Kind) -> usize {
    fn depth(k: Kind) -> usize {
        after(k).iter().map(|d| depth(*d) + 1).max().unwrap_or(0)
    }
    depth(kind)
}

/// The GitLab the data volume holds (`ee 19.3.0`): the running host's tag,
/// else the volume's own (set at creation and by upgrades).
pub fn data_gitlab(inventory: &Inventory) -> Option<String> {
    [super::desired::HOST, super::desired::DATA_VOLUME]
        .iter()
        .find_map(|a| inventory.setting(a, "gitlab"))
        .map(str::to_owned)
}
