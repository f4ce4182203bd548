//! Checks made before the first change, of what would otherwise fail
//! halfway, each naming the key to change: enough zones in the region, the
//! instance types offered in the zones the deployment uses, the processor
//! architecture a type runs, the VPC and Elastic IP quotas. `plan` shows
//! them; `up` refuses to start.

use super::desired::Kind;
use super::{Action, Plan};
use crate::aws::{offerings, Clients};
use crate::config::{Arch, Deployment};
use crate::error::Result;

/// The problems found, each `key: what is wrong and what to do`. Reads only
/// when the plan creates the network or an instance.
pub async fn check(c: &Clients, d: &Deployment, plan: &Plan, zones: &[String]) -> Result<Vec<String>> {
    let creates = |kinds: &[Kind]| plan.steps.iter().any(|s| s.action != Action::Keep && kinds.contains(&s.kind));
    let mut problems = Vec::new();
    let wanted = d.network.azs as usize;
    if creates(&[Kind::Subnet]) && zones.len() < wanted {
        problems.push(format!(
            "network.azs: {wanted} zones asked for, but {} has {} available ({}); set network.azs to at most {}",
            d.region(),
            zones.len(),
            zones.join(", "),
            zones.len()
        ));
        return Ok(problems);
    }
    // The checks read independently: at once, one round trip.
    let (vpcs, eips, types) = tokio::try_join!(vpcs(c, d, plan), elastic_ips(c, d, plan), types(c, d, plan, zones))?;
    problems.extend(vpcs);
    problems.extend(eips);
    problems.extend(types);
    Ok(problems)
}

/// A new deployment's VPC within the account's quota of them (5 a region
/// by default): past it CreateVpc fails with VpcLimitExceeded while the IAM
/// roles and the bucket, created at once with the VPC, already exist.
async fn vpcs(c: &Clients, d: &Deployment, plan: &Plan) -> Result<Option<String>> {
    if !plan.steps.iter().any(|s| s.action == Action::Create && s.kind == Kind::Vpc) {
        return Ok(None);
    }
    let (used, quota) = offerings::vpcs(c).await?;
    Ok((used >= quota).then(|| {
        format!(
            "network: the deployment needs a new VPC, and {} has {used} of its {quota}; delete one you no longer use, or raise the quota \"VPCs per Region\" in Service Quotas",
            d.region()
        )
    }))
}

/// Default quota 5 a region (VPC user guide, "Elastic IP address quotas"):
/// a third deployment in a region would fail halfway.
async fn elastic_ips(c: &Clients, d: &Deployment, plan: &Plan) -> Result<Option<String>> {
    let new_eips = plan.steps.iter().filter(|s| s.action == Action::Create && s.kind == Kind::ElasticIp).count();
    if new_eips == 0 {
        return Ok(None);
    }
    let (used, quota) = offerings::elastic_ips(c).await?;
    Ok((used + new_eips > quota).then(|| {
        format!(
            "network: the deployment needs {new_eips} new Elastic IPs (host{}), and {} has {used} of its {quota} in use; release some, set network.nat: false, or raise the quota \"EC2-VPC Elastic IPs\" in Service Quotas",
            if d.network.nat { " and NAT gateway" } else { "" },
            d.region()
        )
    }))
}

/// The instance types offered in the zones used, running the configured
/// architecture.
async fn types(c: &Clients, d: &Deployment, plan: &Plan, zones: &[String]) -> Result<Vec<String>> {
    let creates = |kinds: &[Kind]| plan.steps.iter().any(|s| s.action != Action::Keep && kinds.contains(&s.kind));
    let mut problems = Vec::new();
    if !creates(&[Kind::Subnet, Kind::Instance, Kind::LaunchTemplate, Kind::AutoScalingGroup, Kind::RunnerConfig]) {
        return Ok(problems);
    }
    let wanted = d.network.azs as usize;
    let zones: Vec<String> = zones.iter().take(wanted).cloned().collect();
    let host_zone = zones.first().cloned().unwrap_or_default();
    // (type, its architecture, the type's key, the architecture's key)
    let host = (d.gitlab.instance_type.to_string(), d.gitlab.arch, "gitlab.instance_type".to_owned(), "gitlab.arch");
    let worker_type = d.runner.worker.instance_type.to_string();
    let mut workers =
        vec![(worker_type, d.runner.worker.arch, "runner.worker.instance_type".to_owned(), "runner.worker.arch")];
    if d.autoscaler() {
        for (i, t) in d.runner.autoscaler.instance_types.iter().enumerate() {
            let key = format!("runner.autoscaler.instance_types[{i}]");
            workers.push((t.to_string(), d.runner.worker.arch, key, "runner.worker.arch"));
        }
    }
    let mut types: Vec<String> = std::iter::once(&host).chain(&workers).map(|(t, ..)| t.clone()).collect();
    types.sort();
    types.dedup();
    let (offered, archs) =
        tokio::try_join!(offerings::types_by_zone(c, &zones, &types), offerings::architectures(c, &types))?;
    let offered_in = |t: &str, zone: &str| offered.get(zone).is_some_and(|s| s.contains(t));
    if !offered_in(&host.0, &host_zone) {
        problems.push(format!(
            "{}: {} is not offered in {host_zone}, the host's zone; choose another type",
            host.2, host.0
        ));
    }
    // docker+machine starts workers in the first zone (amazonec2-zone); an
    // Auto Scaling group in any of the deployment's zones.
    let worker_zones: Vec<&String> = if d.autoscaler() { zones.iter().collect() } else { vec![&host_zone] };
    for (t, _, key, _) in &workers {
        if !worker_zones.iter().any(|z| offered_in(t, z)) {
            let list: Vec<&str> = worker_zones.iter().map(|z| z.as_str()).collect();
            problems.push(format!("{key}: {t} is not offered in {}; choose another type", list.join(", ")));
        }
    }
    for (t, arch, key, arch_key) in std::iter::once(&host).chain(&workers) {
        let want = if *arch == Arch::Arm64 { "arm64" } else { "x86_64" };
        if let Some(supported) = archs.get(t).filter(|s| !s.iter().any(|a| a == want)) {
            problems.push(format!(
                "{key}: {t} runs {}, not {want} ({arch_key}); choose a type and an architecture that match",
                supported.join(", ")
            ));
        }
    }
    Ok(problems)
}
