//! The destroy plan: every owned resource as a delete step, ordered by what
//! must go first (workers before the subnets they sit in, the host before
//! its volume and EIP, profiles before roles, everything before the VPC).
//! It is executed by the same executor as `up`.

use std::collections::BTreeMap;

use super::desired::Kind;
use super::{Action, Plan, Step};
use crate::aws::discover::Inventory;
use crate::aws::workers::Workers;

/// The kinds whose deletion must be finished before `kind` can be deleted.
fn after(kind: Kind) -> &'static [Kind] {
    use Kind::*;
    match kind {
        AutoScalingGroup | RunnerConfig => &[],
        // Stragglers of the group are reaped as workers, after it.
        Workers | LaunchTemplate => &[AutoScalingGroup],
        Instance => &[Workers],
        Volume | Bucket => &[Instance],
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

/// Deletes everything in `inventory` plus the runner's workers.
pub fn destroy_plan(deployment: &str, region: &str, account: &str, inventory: &Inventory, workers: &Workers) -> Plan {
    let mut items: Vec<(String, Kind, String, String)> = Vec::new();
    if !workers.is_empty() {
        let id = serde_json::to_string(workers).expect("workers serialize");
        items.push((WORKERS.into(), Kind::Workers, id, workers.describe()));
    }
    // The runner's configuration goes with the host: no step of its own.
    for f in inventory.found.values().filter(|f| f.kind != Kind::RunnerConfig) {
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
        })
        .collect();
    steps.sort_by_key(|s| (rank(s.kind), s.address.clone()));
    Plan {
        deployment: deployment.into(),
        region: region.into(),
        account: account.into(),
        steps,
        conflicts: inventory.conflicts.clone(),
        problems: Vec::new(),
    }
}

/// Display order: the order deletes can happen in.
fn rank(kind: Kind) -> usize {
    fn depth(k: Kind) -> usize {
        after(k).iter().map(|d| depth(*d) + 1).max().unwrap_or(0)
    }
    depth(kind)
}
