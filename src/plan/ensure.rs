//! One step of a plan, carried out: the dispatch from a resource's desired
//! spec to the `aws::*` function that creates or converges it, and from a
//! delete step to `aws::delete`.

use sha2::{Digest, Sha256};

use super::apply::Env;
use super::desired::{self, role_name, Role, Spec};
use super::{drift, host_fingerprint, Action, Step};
use crate::aws::errors::is_dependency_violation_code;
use crate::aws::network::{self, RouteTarget};
use crate::aws::security_groups;
use crate::aws::{delete as aws_delete, ec2, fleet, iam, s3, tags};
use crate::error::{Error, Result};
use crate::render;

/// Creates or converges the step's resource; returns its ID.
pub async fn run(env: &Env, step: &Step) -> Result<String> {
    let (c, d) = (&env.clients, &env.d);
    let want = step.desired.as_ref().ok_or_else(|| Error::Failed(format!("{}: no desired settings", step.address)))?;
    let tags = tags::owned(d.name(), &step.address, &d.metadata.tags);
    let existing = step.id.as_deref();
    let id = match &want.spec {
        Spec::Vpc { cidr } => {
            // The VPC also names the bucket, so `reap` finds it without the config.
            let mut tags = tags.clone();
            tags.push((tags::BUCKET.to_owned(), d.bucket_name(&env.account, d.region())));
            network::ensure_vpc(c, cidr, &tags, existing).await?
        }
        Spec::Subnet { cidr, az_index, .. } => {
            let az = env.azs.get(*az_index).ok_or_else(|| {
                Error::Failed(format!(
                    "{}: the region has only {} available zones (network.azs)",
                    step.address,
                    env.azs.len()
                ))
            })?;
            network::ensure_subnet(c, &env.id(desired::VPC)?, cidr, az, &tags, existing).await?
        }
        Spec::InternetGateway => network::ensure_internet_gateway(c, &env.id(desired::VPC)?, &tags, existing).await?,
        Spec::ElasticIp => {
            let ip = env.eip_ips.lock().expect("eip lock").get(&step.address).cloned();
            let known = existing.zip(ip.as_deref());
            let (id, ip) = network::ensure_elastic_ip(c, &tags, known).await?;
            env.eip_ips.lock().expect("eip lock").insert(step.address.clone(), ip);
            id
        }
        Spec::NatGateway => {
            let (subnet, eip) = (env.id(&desired::public_subnet(0))?, env.id(desired::NAT_EIP)?);
            network::ensure_nat_gateway(c, &env.progress, &subnet, &eip, &tags, existing, env.timeout).await?
        }
        Spec::RouteTable { public, subnets } => {
            let subnet_ids = subnets.iter().map(|s| env.id(s)).collect::<Result<Vec<_>>>()?;
            let via_nat = !public && d.network.nat;
            let target_id = env.id(if via_nat { desired::NAT } else { desired::IGW })?;
            let target = if via_nat { RouteTarget::Nat(&target_id) } else { RouteTarget::Gateway(&target_id) };
            network::ensure_route_table(c, &env.id(desired::VPC)?, target, &subnet_ids, &tags, existing).await?
        }
        Spec::VpcEndpoint => {
            let tables = vec![env.id(desired::RTB_PUBLIC)?, env.id(desired::RTB_PRIVATE)?];
            network::ensure_s3_endpoint(c, &env.id(desired::VPC)?, &tables, &tags, existing).await?
        }
        Spec::SecurityGroup { role, name, allow_cidrs, ssh_only, open_http } => {
            let vpc = env.id(desired::VPC)?;
            let description = match role {
                Role::Host => format!("gascale {}: GitLab host, HTTP(S) from allowed networks and workers", d.name()),
                Role::Workers => format!("gascale {}: runner workers, SSH and Docker from the host only", d.name()),
            };
            let id = security_groups::ensure_security_group(c, &vpc, name, &description, &tags, existing).await?;
            let fresh = existing.is_none();
            // The host's step owns its rules except those from the workers'
            // group, which the workers' step owns (it creates that group).
            match role {
                Role::Host => {
                    let workers = env.ids.lock().expect("ids lock").get(desired::SG_WORKERS).cloned();
                    let not_from_workers =
                        |l: &str| workers.as_deref().is_none_or(|w| !security_groups::from_source(l, w));
                    let want = drift::host_rules(allow_cidrs, *open_http);
                    security_groups::converge_ingress(c, &id, &want, not_from_workers, fresh).await?;
                }
                Role::Workers => {
                    let host = env.id(desired::SG_HOST)?;
                    let (from_host, from_workers) = (drift::worker_rules(*ssh_only, &host), drift::from_workers(&id));
                    let mine = |l: &str| security_groups::from_source(l, &id);
                    tokio::try_join!(
                        security_groups::converge_ingress(c, &id, &from_host, |_: &str| true, fresh),
                        security_groups::converge_ingress(c, &host, &from_workers, mine, false),
                    )?;
                }
            }
            id
        }
        Spec::IamRole { role, name } => {
            let bucket = d.bucket_name(&env.account, d.region());
            let inline = (*role == Role::Host).then(|| iam::host_policy(d, &env.account, &bucket));
            iam::ensure_role(c, d, name, &tags, inline.as_ref(), existing.is_some()).await?;
            if *role == Role::Host && d.runner.worker.spot && !d.autoscaler() {
                iam::ensure_spot_service_role(c).await?;
            }
            iam::tag_role_spec(c, name, &tags::converged(&d.metadata.tags, &step.fingerprint)).await?;
            return Ok(name.clone());
        }
        Spec::InstanceProfile { role, name } => {
            return iam::ensure_profile(c, d, name, &role_name(d, *role), &tags, existing.is_some()).await;
        }
        Spec::Bucket { name, .. } => {
            if existing.is_none() {
                // S3 cannot tag a bucket in CreateBucket: a run killed before
                // the tagging must still know the bucket is its own.
                env.intend(&step.address, name).await?;
            }
            s3::ensure_bucket(c, name, &d.cache, &tags, existing.is_some()).await?;
            s3::put_tags(c, name, &tags::with_spec(&tags, &step.fingerprint)).await?;
            return Ok(name.clone());
        }
        Spec::Volume { size_gb } => {
            let az = env.azs.first().ok_or_else(|| Error::Failed("the region has no available zone".into()))?;
            // The GitLab its data is at (GitLab migrates a restored
            // snapshot's data at first start: the plan allows only a
            // direct step there), read by the final snapshot and upgrades.
            let mut tags = tags.clone();
            let gitlab = env.data_gitlab.lock().expect("data lock").clone();
            tags.push((crate::aws::tags::GITLAB.into(), gitlab.unwrap_or_else(|| super::attrs::gitlab(d))));
            let from = d.gitlab.restore_from.as_deref();
            ec2::ensure_volume(c, &env.progress, (az, *size_gb, from), &tags, existing).await?
        }
        Spec::LaunchTemplate { name, ami, arch, root_volume_gb, public_ip } => {
            let ami = ec2::public_ami(c, ami.as_deref(), crate::pins::ecs_al2023_parameter(*arch)).await?;
            let mut worker_tags = tags::worker(d.name(), &d.metadata.tags);
            worker_tags.push(("Name".into(), format!("gascale-{}-worker", d.name())));
            let template = fleet::TemplateData {
                ami: &ami,
                profile: &env.id(desired::PROFILE_WORKER)?,
                security_group: &env.id(desired::SG_WORKERS)?,
                root_volume_gb: *root_volume_gb,
                public_ip: *public_ip,
                user_data: &render::worker_user_data(d)?,
                worker_tags: &worker_tags,
            };
            // Created in one call, a template is complete at once: it carries
            // its final spec from the start. A new version retags it.
            let done = tags::with_spec(&tags, &step.fingerprint);
            let id = fleet::ensure_template(c, name, &template, &done, existing).await?;
            if existing.is_some() {
                network::set_spec(c, &id, &tags::converged(&d.metadata.tags, &step.fingerprint)).await?;
            }
            return Ok(id);
        }
        Spec::AutoScalingGroup { name, max_size, instance_types, spot, max_price, on_demand_base, subnets } => {
            let subnet_ids = subnets.iter().map(|s| env.id(s)).collect::<Result<Vec<_>>>()?;
            let group = fleet::GroupSettings {
                name,
                template_id: &env.id(desired::LAUNCH_TEMPLATE)?,
                subnet_ids: &subnet_ids,
                max_size: *max_size,
                instance_types,
                spot: *spot,
                max_price: max_price.as_deref(),
                on_demand_base: *on_demand_base,
            };
            fleet::ensure_group(c, &group, &tags, existing.is_some()).await?;
            fleet::set_group_spec(c, name, &tags::converged(&d.metadata.tags, &step.fingerprint)).await?;
            return Ok(name.clone());
        }
        Spec::Instance => return host(env, step, &tags).await,
        Spec::RunnerConfig => return runner_config(env, step).await,
        Spec::GitlabApp => return super::gitlab_app::converge(env, step).await,
        Spec::SnapshotSchedule { every, keep } => return schedule(env, step, every, keep, &tags).await,
    };
    network::set_spec(c, &id, &tags::converged(&d.metadata.tags, &step.fingerprint)).await?;
    Ok(id)
}

/// The GitLab host: launched (or, when allowed, replaced), then its EIP and
/// data volume attached, then marked converged.
async fn host(env: &Env, step: &Step, tags: &[(String, String)]) -> Result<String> {
    let (c, d) = (&env.clients, &env.d);
    let inputs = env.host_inputs()?;
    let fingerprint = host_fingerprint(&env.booting(), &inputs, &env.ids.lock().expect("ids lock"));
    let id = match (step.action, step.id.as_deref()) {
        (Action::Replace, Some(old)) => {
            if !env.allow_host_replacement {
                return Err(Error::Failed(format!("{}: {}", step.address, super::host::REPLACEMENT_REASON)));
            }
            if let Some(first) = &step.snapshot_first {
                super::backup::snapshot(env, &env.id(desired::DATA_VOLUME)?, first, Some(old)).await?;
            }
            aws_delete::delete(c, &env.progress, step.kind, old, env.timeout).await?;
            launch(env, &inputs, &fingerprint, tags).await?
        }
        (_, Some(existing)) => existing.to_owned(),
        (_, None) => launch(env, &inputs, &fingerprint, tags).await?,
    };
    if matches!(step.action, Action::Create | Action::Replace) {
        env.launched_host.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    env.record(&step.address, &id)?;
    ec2::attach_host_parts(c, &id, &env.id(desired::HOST_EIP)?, &env.id(desired::DATA_VOLUME)?).await?;
    network::set_spec(c, &id, &tags::converged(&d.metadata.tags, &fingerprint)).await?;
    Ok(id)
}

/// The runner's configuration on the host. A host launched in this run
/// boots with it; a running one gets it through SSM (`runner-update.sh`:
/// new config.toml with the token kept, rebuilt image, runner restarted —
/// GitLab and its data untouched). Then the host's tag records it.
async fn runner_config(env: &Env, step: &Step) -> Result<String> {
    let (c, d) = (&env.clients, &env.d);
    let host = env.id(desired::HOST)?;
    let rendered = render::render(d, &env.host_inputs()?)?;
    // A host still bootstrapping was launched (by an interrupted run) with
    // the configuration of that run's plan: it has nothing to update yet.
    let launched_now = env.launched_host.load(std::sync::atomic::Ordering::SeqCst);
    let booting = !launched_now
        && step.action == Action::Create
        && ec2::bootstrap_status(c, &host).await?.as_deref() != Some("complete");
    if !launched_now && !booting {
        let script = vec![rendered.runner_update.clone()];
        let r = crate::aws::ssm::run_command(c, &env.progress, &host, &script, env.timeout).await?;
        if r.status != "Success" || r.exit_code != 0 {
            return Err(Error::Failed(format!(
                "applying the runner configuration on {host} failed (SSM status {}, exit {}): {}",
                r.status,
                r.exit_code,
                r.stderr.trim()
            )));
        }
        if d.autoscaler() {
            reap_docker_machines(env).await?;
        }
    }
    let tag = aws_sdk_ec2::types::Tag::builder().key(tags::RUNNER_SPEC).value(rendered.runner_fingerprint()).build();
    let executor = aws_sdk_ec2::types::Tag::builder().key(tags::EXECUTOR).value(d.executor().as_str()).build();
    let request = c.ec2.create_tags().resources(&host).tags(tag).tags(executor);
    crate::aws::retry::send("ec2:CreateTags", request, |r| r.send())
        .await
        .map_err(crate::aws::errors::on("ec2:CreateTags", &host))?;
    Ok(host)
}

/// After a switch to docker-autoscaler nothing manages docker-machine's
/// workers any more: they go (a no-op once there are none).
async fn reap_docker_machines(env: &Env) -> Result<()> {
    let ids = env.ids.lock().expect("ids lock").clone();
    let subnets: Vec<String> = ids.iter().filter(|(a, _)| a.starts_with("subnet/")).map(|(_, id)| id.clone()).collect();
    let vpc = ids.get(desired::VPC).map(String::as_str);
    let scope = crate::aws::workers::Scope::DockerMachine;
    let machines = crate::aws::workers::find(&env.clients, env.d.name(), vpc, &subnets, scope).await?;
    if !machines.is_empty() {
        env.progress.info(format!("removing docker+machine's workers: {}", machines.describe()));
        crate::aws::workers::reap(&env.clients, &env.progress, &machines, env.timeout).await?;
    }
    Ok(())
}

async fn launch(
    env: &Env,
    inputs: &render::HostInputs,
    fingerprint: &str,
    tags: &[(String, String)],
) -> Result<String> {
    let (c, d) = (&env.clients, &env.booting());
    let rendered = render::render(d, inputs)?;
    // EC2 honours a ClientToken for 24 h after the instance terminated, and
    // answers IdempotentParameterMismatch when anything else differs (EC2 API
    // reference, "Ensuring idempotency"). A fresh nonce per launch, recorded
    // before the call and cleared once the host is recorded: the SDK's own
    // retries and a resumed run reuse it, a replacement gets a new one.
    let nonce = env.intend(desired::HOST, &format!("{:016x}", rand_nonce())).await?;
    let token: String =
        Sha256::digest(format!("{}/{}/{}/{fingerprint}/{nonce}", env.account, d.region(), d.name()).as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
    let mut tags = tags.to_vec();
    tags.push((crate::aws::tags::GITLAB.into(), super::attrs::gitlab(d)));
    let launch = ec2::HostLaunch {
        ami: env.ami().await?,
        subnet: &env.id(&desired::public_subnet(0))?,
        security_group: &env.id(desired::SG_HOST)?,
        profile: &env.id(desired::PROFILE_HOST)?,
        user_data_gzip: rendered.user_data_gzip(),
        tags: &tags,
        client_token: token,
    };
    ec2::launch_host(c, &env.progress, d, launch, env.timeout).await
}

/// The intents of the plan's creations that need one (see `State::intents`):
/// the bucket's name, the host's launch nonce. `apply` records and sends
/// them before the first step, off the critical path; `intend` then finds them.
pub fn planned_intents(plan: &super::Plan) -> Vec<(String, String)> {
    let creates = |s: &&Step| matches!(s.action, super::Action::Create | super::Action::Replace);
    plan.steps
        .iter()
        .filter(creates)
        .filter_map(|s| match s.desired.as_ref().map(|d| &d.spec) {
            Some(Spec::Bucket { name, .. }) if s.id.is_none() => Some((s.address.clone(), name.clone())),
            Some(Spec::Instance) => Some((s.address.clone(), format!("{:016x}", rand_nonce()))),
            _ => None,
        })
        .collect()
}

/// 64 bits that differ between launches (time and process).
fn rand_nonce() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let digest = Sha256::digest(format!("{}/{}", now.as_nanos(), std::process::id()).as_bytes());
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Deletes the step's resource, retrying while something still depends on
/// it (ENIs of terminated workers detach late) until `--timeout`.
pub async fn delete(env: &Env, step: &Step) -> Result<()> {
    let id = step.id.as_deref().ok_or_else(|| Error::Failed(format!("{}: nothing to delete", step.address)))?;
    if let Some(first) = &step.snapshot_first {
        // Waited for: the volume goes right after.
        let snapshot = super::backup::snapshot(env, id, first, None).await?;
        crate::aws::snapshots::wait_completed(&env.clients, &env.progress, &snapshot, env.timeout).await?;
        env.record(super::backup::FINAL_SNAPSHOT, &snapshot)?;
    }
    let started = std::time::Instant::now();
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        match aws_delete::delete(&env.clients, &env.progress, step.kind, id, env.timeout).await {
            Err(e)
                if e.aws_code().is_some_and(is_dependency_violation_code)
                    && started.elapsed() + delay < env.timeout =>
            {
                env.progress.verbose(format!("{}: {e}; retrying in {}s", step.address, delay.as_secs_f32()));
                crate::interrupt::sleep(delay).await?;
                delay = (delay * 2).min(std::time::Duration::from_secs(15));
            }
            other => return other,
        }
    }
}

/// `backup.schedule` as a Data Lifecycle Manager policy on the data volume
/// (tagged as its target first), run by the account's default DLM role.
async fn schedule(env: &Env, step: &Step, every: &str, keep: &str, tags: &[(String, String)]) -> Result<String> {
    use crate::aws::dlm::{Every, Retain, ScheduleSpec};
    let (c, d) = (&env.clients, &env.d);
    let spec = ScheduleSpec {
        every: match every.strip_suffix('h').and_then(|h| h.parse().ok()) {
            Some(hours) => Every::Hours(hours),
            None => Every::Cron(every.to_owned()),
        },
        keep: match keep.parse() {
            Ok(n) => Retain::Count(n),
            Err(_) => {
                let age =
                    humantime::parse_duration(keep).map_err(|e| Error::Failed(format!("backup.keep {keep:?}: {e}")))?;
                Retain::Days((age.as_secs() / 86_400) as i32)
            }
        },
    };
    let role = crate::aws::dlm::ensure_default_role(c, &env.account).await?;
    let volume = env.id(desired::DATA_VOLUME)?;
    network::set_spec(c, &volume, &[(crate::aws::dlm::TARGET_TAG.to_owned(), d.name().to_owned())]).await?;
    let done = tags::with_spec(tags, &step.fingerprint);
    crate::aws::dlm::ensure_policy(c, (d.name(), &env.account, &role), &spec, &done, step.id.as_deref()).await
}
