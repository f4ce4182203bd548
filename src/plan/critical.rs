//! The critical path of a plan: the longest chain of API calls that must
//! happen one after another, whatever the parallelism. `scripts/bench`
//! multiplies it by the per-call latency to get the floor `up` and
//! `destroy` are measured against.

use std::collections::BTreeMap;

use serde::Serialize;

use super::desired::{Kind, Spec};
use super::{Action, Plan, Step};

/// Calls before the first step: GetCallerIdentity, then discovery (all its
/// calls at once).
pub const PREFIX_CALLS: usize = 2;

#[derive(Debug, Clone, Serialize)]
pub struct CriticalPath {
    /// Calls on the longest chain, discovery included.
    pub calls: usize,
    /// The steps on it, first to last.
    pub steps: Vec<String>,
}

/// API calls a step makes one after another, as the `aws::*` functions are
/// written (a wait counts one poll: the emulator answers at once).
pub fn sequential_calls(step: &Step) -> usize {
    if step.action == Action::Delete {
        return match step.kind {
            Kind::Workers => 4,
            Kind::RunnerConfig | Kind::GitlabApp => 0,
            Kind::SnapshotSchedule => 1,
            // describe, delete, terminate its instances, wait (one poll)
            Kind::AutoScalingGroup => 4,
            Kind::LaunchTemplate => 1,
            Kind::Instance => 2,
            Kind::Volume | Kind::Subnet | Kind::VpcEndpoint | Kind::Vpc => 1,
            Kind::ElasticIp | Kind::SecurityGroup | Kind::InternetGateway | Kind::InstanceProfile | Kind::Bucket => 3,
            Kind::NatGateway => 2,
            Kind::RouteTable => 4,
            Kind::IamRole => 7,
        };
    }
    if step.action == Action::Keep {
        return 0;
    }
    match step.desired.as_ref().map(|d| &d.spec) {
        Some(Spec::Vpc { .. }) => 3,
        Some(Spec::Subnet { .. })
        | Some(Spec::ElasticIp)
        | Some(Spec::VpcEndpoint)
        | Some(Spec::InstanceProfile { .. }) => 2,
        Some(Spec::InternetGateway) | Some(Spec::NatGateway) | Some(Spec::Volume { .. }) => 3,
        // create, the route and the associations at once, the spec tag
        Some(Spec::RouteTable { .. }) => 3,
        // create, authorize, tag (the workers' group also authorizes on the
        // host's group at the same time, after a describe)
        Some(Spec::SecurityGroup { role: super::desired::Role::Host, allow_cidrs, .. }) => {
            if allow_cidrs.is_empty() {
                2
            } else {
                3
            }
        }
        Some(Spec::SecurityGroup { .. }) => 4,
        // create, the managed policy, the inline policy, the spec tag (one
        // write at a time: IAM refuses concurrent writes on one role)
        Some(Spec::IamRole { .. }) => 4,
        // create, ownership tags, the five settings one at a time (S3
        // refuses concurrent configuration writes), the spec tag
        Some(Spec::Bucket { .. }) => 8,
        // (AMI looked up beforehand) run, wait, the EIP and the volume at
        // once (describe + associate/attach), the spec tag
        Some(Spec::Instance) => 5,
        // create, tagged complete (a new version: and the spec tag)
        Some(Spec::LaunchTemplate { .. }) if step.action == Action::Create => 1,
        Some(Spec::LaunchTemplate { .. }) => 2,
        // create, suspend AZRebalance, the spec tag
        Some(Spec::AutoScalingGroup { .. }) => 3,
        // a tag on a new host; on a running one: send, poll, tag
        Some(Spec::RunnerConfig) if step.action == Action::Create => 1,
        Some(Spec::RunnerConfig) => 3,
        // nothing on a new host; an upgrade: a snapshot, then per stop a
        // command and a migration check (one stop counted)
        Some(Spec::GitlabApp) if step.action == Action::Create => 0,
        Some(Spec::GitlabApp) => 6,
        // the role (read, or create and attach), the volume's tag, the policy
        Some(Spec::SnapshotSchedule { .. }) => 4,
        None => 1,
    }
}

/// For each step, the longest chain of calls from its start to the end of
/// the plan: the executor starts the ready step with the longest first.
pub fn tails(plan: &Plan) -> BTreeMap<&str, usize> {
    let mut tail: BTreeMap<&str, usize> = BTreeMap::new();
    for _ in 0..plan.steps.len() {
        for s in &plan.steps {
            let after = plan
                .steps
                .iter()
                .filter(|t| t.deps.contains(&s.address))
                .map(|t| tail.get(t.address.as_str()).copied().unwrap_or(0))
                .max();
            tail.insert(&s.address, sequential_calls(s) + after.unwrap_or(0));
        }
    }
    tail
}

pub fn critical_path(plan: &Plan) -> CriticalPath {
    // Longest chain ending at each step, computed in dependency order.
    let mut best: BTreeMap<&str, (usize, Option<&str>)> = BTreeMap::new();
    let mut remaining: Vec<&Step> = plan.steps.iter().collect();
    while !remaining.is_empty() {
        let before = remaining.len();
        remaining.retain(|s| {
            let deps: Vec<&str> = s.deps.iter().map(String::as_str).filter(|d| plan.step(d).is_some()).collect();
            if !deps.iter().all(|d| best.contains_key(d)) {
                return true;
            }
            let (start, via) = deps.iter().map(|d| (best[d].0, Some(*d))).max().unwrap_or((0, None));
            best.insert(&s.address, (start + sequential_calls(s), via));
            false
        });
        if remaining.len() == before {
            break; // a cycle would be a bug in `desired`; do not loop forever
        }
    }
    let Some((&last, &(calls, _))) = best.iter().max_by_key(|(_, (c, _))| *c) else {
        return CriticalPath { calls: PREFIX_CALLS, steps: Vec::new() };
    };
    let mut steps = vec![last.to_owned()];
    let mut at = best[last].1;
    while let Some(a) = at {
        steps.push(a.to_owned());
        at = best[a].1;
    }
    steps.reverse();
    CriticalPath { calls: PREFIX_CALLS + calls, steps }
}
