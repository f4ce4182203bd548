//! Checks made before the first change, of what would otherwise fail
//! halfway, each naming the key to change: enough zones in the region, the
//! instance types offered in the zones the deployment uses, the processor
//! architecture a type runs, the VPC and Elastic IP quotas. `plan` shows
//! them; `up` refuses to start.

use super::desired::Kind;
use super::{Action, Plan};
use crate::aws::offerings::{self, RegionFacts};
use crate::aws::Clients;
use crate::config::{Arch, Deployment};
use crate::error::Result;
use crate::upgrade;

/// The problems found, each `key: what is wrong and what to do`. Reads only
/// when the plan creates the network or an instance, and only what `facts`
/// (read beside discovery: `prefetch`) does not hold already.
pub async fn check(
    c: &Clients,
    d: &Deployment,
    plan: &Plan,
    (zones, facts): (&[String], Option<&RegionFacts>),
    (restoring, allow_unlisted): (Option<&Restoring>, bool),
) -> Result<Vec<String>> {
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
    let (vpcs, eips, types) =
        tokio::try_join!(vpcs(c, d, plan, facts), elastic_ips(c, d, plan, facts), types(c, d, plan, zones, facts))?;
    problems.extend(restoring.and_then(|r| restore(d, r, allow_unlisted)));
    problems.extend(in_place_upgrade(plan, allow_unlisted));
    problems.extend(vpcs);
    problems.extend(eips);
    problems.extend(types);
    Ok(problems)
}

/// A new deployment's VPC within the account's quota of them (5 a region
/// by default): past it CreateVpc fails with VpcLimitExceeded while the IAM
/// roles and the bucket, created at once with the VPC, already exist.
async fn vpcs(c: &Clients, d: &Deployment, plan: &Plan, facts: Option<&RegionFacts>) -> Result<Option<String>> {
    if !plan.steps.iter().any(|s| s.action == Action::Create && s.kind == Kind::Vpc) {
        return Ok(None);
    }
    let (used, quota) = match facts {
        Some(f) => f.vpcs,
        None => offerings::vpcs(c).await?,
    };
    Ok((used >= quota).then(|| {
        format!(
            "network: the deployment needs a new VPC, and {} has {used} of its {quota}; delete one you no longer use, or raise the quota \"VPCs per Region\" in Service Quotas",
            d.region()
        )
    }))
}

/// Default quota 5 a region (VPC user guide, "Elastic IP address quotas"):
/// a third deployment in a region would fail halfway.
async fn elastic_ips(c: &Clients, d: &Deployment, plan: &Plan, facts: Option<&RegionFacts>) -> Result<Option<String>> {
    let new_eips = plan.steps.iter().filter(|s| s.action == Action::Create && s.kind == Kind::ElasticIp).count();
    if new_eips == 0 {
        return Ok(None);
    }
    let (used, quota) = match facts {
        Some(f) => f.elastic_ips,
        None => offerings::elastic_ips(c).await?,
    };
    Ok((used + new_eips > quota).then(|| {
        format!(
            "network: the deployment needs {new_eips} new Elastic IPs (host{}), and {} has {used} of its {quota} in use; release some, set network.nat: false, or raise the quota \"EC2-VPC Elastic IPs\" in Service Quotas",
            if d.network.nat { " and NAT gateway" } else { "" },
            d.region()
        )
    }))
}

/// What the region and account offer, read before the plan is known (see
/// `RegionFacts`): every type the config names, whichever executor runs.
pub async fn prefetch(c: &Clients, d: &Deployment) -> Result<RegionFacts> {
    let (host, workers) = instance_types(d, true);
    RegionFacts::read(c, &names(&host, &workers)).await
}

/// (type, its architecture, the type's key, the architecture's key)
type Typed = (String, Arch, String, &'static str);

/// The host's type and the workers' (docker-autoscaler's further types with
/// `autoscaler`).
fn instance_types(d: &Deployment, autoscaler: bool) -> (Typed, Vec<Typed>) {
    let host = (d.gitlab.instance_type.to_string(), d.gitlab.arch, "gitlab.instance_type".to_owned(), "gitlab.arch");
    let worker_type = d.runner.worker.instance_type.to_string();
    let mut workers =
        vec![(worker_type, d.runner.worker.arch, "runner.worker.instance_type".to_owned(), "runner.worker.arch")];
    if autoscaler {
        for (i, t) in d.runner.autoscaler.instance_types.iter().enumerate() {
            let key = format!("runner.autoscaler.instance_types[{i}]");
            workers.push((t.to_string(), d.runner.worker.arch, key, "runner.worker.arch"));
        }
    }
    (host, workers)
}

fn names(host: &Typed, workers: &[Typed]) -> Vec<String> {
    let mut types: Vec<String> = std::iter::once(host).chain(workers).map(|(t, ..)| t.clone()).collect();
    types.sort();
    types.dedup();
    types
}

/// The instance types offered in the zones used, running the configured
/// architecture.
async fn types(
    c: &Clients,
    d: &Deployment,
    plan: &Plan,
    zones: &[String],
    facts: Option<&RegionFacts>,
) -> Result<Vec<String>> {
    let creates = |kinds: &[Kind]| plan.steps.iter().any(|s| s.action != Action::Keep && kinds.contains(&s.kind));
    let mut problems = Vec::new();
    if !creates(&[Kind::Subnet, Kind::Instance, Kind::LaunchTemplate, Kind::AutoScalingGroup, Kind::RunnerConfig]) {
        return Ok(problems);
    }
    let wanted = d.network.azs as usize;
    let zones: Vec<String> = zones.iter().take(wanted).cloned().collect();
    let host_zone = zones.first().cloned().unwrap_or_default();
    let (host, workers) = instance_types(d, d.autoscaler());
    let (offered, archs) = match facts {
        Some(f) => (f.offered.clone(), f.architectures.clone()),
        None => {
            let types = names(&host, &workers);
            tokio::try_join!(offerings::types_by_zone(c, Some(&zones), &types), offerings::architectures(c, &types))?
        }
    };
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

/// The snapshot a new data volume is created from (`gitlab.restore_from`),
/// read once for the plan (the GitLab a new host boots) and the preflight.
pub struct Restoring {
    pub id: String,
    /// `None`: there is no such snapshot.
    pub snapshot: Option<crate::aws::snapshots::Snapshot>,
}

impl Restoring {
    /// Only when the volume is to be created: an existing one is kept.
    pub async fn read(c: &Clients, d: &Deployment, volume_exists: bool) -> Result<Option<Restoring>> {
        let Some(id) = d.gitlab.restore_from.clone().filter(|_| !volume_exists) else { return Ok(None) };
        let snapshot = match crate::aws::snapshots::describe(c, &id).await {
            Ok(s) => Some(s),
            Err(e) if e.aws_code() == Some("InvalidSnapshot.NotFound") => None,
            Err(e) => return Err(e),
        };
        Ok(Some(Restoring { id, snapshot }))
    }

    /// The GitLab its data is at, when it records one.
    pub fn gitlab(&self) -> Option<&str> {
        self.snapshot.as_ref().map(|s| s.gitlab.as_str()).filter(|g| upgrade::parse_tag(g).is_some())
    }
}

/// A data volume created from a snapshot: the snapshot exists and is
/// complete, fits `gitlab.data_volume_gb`, and holds the configured GitLab
/// or one on its upgrade path (`upgrade::way`), in an edition that may
/// become the configured one.
fn restore(d: &Deployment, r: &Restoring, allow_unlisted: bool) -> Option<String> {
    let id = &r.id;
    let Some(snap) = &r.snapshot else {
        return Some(format!("gitlab.restore_from: snapshot {id} does not exist in {}", d.region()));
    };
    let key = "gitlab.restore_from";
    if snap.state != "completed" {
        return Some(format!("{key}: snapshot {id} is {}; wait until it is completed", snap.state));
    }
    if snap.size_gb > d.gitlab.data_volume_gb as i32 {
        return Some(format!(
            "gitlab.data_volume_gb: {} GiB is smaller than snapshot {id} ({} GiB); set at least {}",
            d.gitlab.data_volume_gb, snap.size_gb, snap.size_gb
        ));
    }
    let Some((edition, version)) = upgrade::parse_tag(&snap.gitlab) else {
        return Some(format!(
            "{key}: snapshot {id} does not record its GitLab version (tag {}); only gascale's snapshots can be restored",
            crate::aws::tags::GITLAB
        ));
    };
    let configured = super::attrs::gitlab(d);
    let (want_edition, want) = upgrade::parse_tag(&configured).expect("validated gitlab.version");
    // An older GitLab boots as it was, then `gitlab/app` upgrades it.
    let refused = upgrade::way((edition, version), (want_edition, want), allow_unlisted).err();
    refused.map(|why| format!("{key}: snapshot {id} holds GitLab {}, configured {configured}: {why}", snap.gitlab))
}

/// A `gitlab/app` upgrade GitLab allows: not a downgrade, not EE to CE, not
/// beyond the upgrade path gascale knows (without `--allow-unlisted-version`).
fn in_place_upgrade(plan: &Plan, allow_unlisted: bool) -> Option<String> {
    let step = plan.steps.iter().find(|s| s.kind == Kind::GitlabApp && s.action == Action::Update)?;
    let attr = step.attributes.iter().find(|a| a.key == "gitlab")?;
    let running = attr.old.as_deref()?;
    let (from, to) = upgrade::parse_tag(running).zip(upgrade::parse_tag(&attr.value))?;
    let refused = upgrade::way(from, to, allow_unlisted).err()?;
    Some(format!("gitlab.version: the host runs GitLab {running}, configured {}: {refused}", attr.value))
}
