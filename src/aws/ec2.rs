//! The GitLab host: its AMI, its data volume, the instance itself (IMDSv2,
//! encrypted gp3 root, instance profile, user-data), its Elastic IP and the
//! bootstrap status it publishes.

use std::time::Duration;

use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest, InstanceType, ResourceType, VolumeType,
};
use base64::Engine;

use super::errors::{aws_error, on};
use super::tags::{self, ec2_spec};
use super::wait::{wait_for, Poll};
use super::{retry, Clients};
use crate::config::{Arch, Deployment};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// The bootstrap status of a host whose GitLab runs with a self-signed
/// certificate until its domain resolves to the Elastic IP.
pub const WAITING_DNS: &str = "running:waiting-dns";

/// The device name the data volume is attached as; the bootstrap mounts it.
pub const DATA_DEVICE: &str = "/dev/sdf";

/// The host's AMI: Amazon Linux 2023 unless the config pins one.
pub async fn host_ami(c: &Clients, d: &Deployment) -> Result<String> {
    al2023_ami(c, d.gitlab.ami.as_deref(), d.gitlab.arch).await
}

/// `pinned`, else Amazon Linux 2023 for `arch` from AWS's public SSM parameter.
pub async fn al2023_ami(c: &Clients, pinned: Option<&str>, arch: Arch) -> Result<String> {
    let word = if arch == Arch::Arm64 { "arm64" } else { "x86_64" };
    let name = format!("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{word}");
    public_ami(c, pinned, &name).await
}

/// `pinned`, else the image a public SSM parameter names today.
pub async fn public_ami(c: &Clients, pinned: Option<&str>, name: &str) -> Result<String> {
    if let Some(ami) = pinned {
        return Ok(ami.to_owned());
    }
    let out = c.ssm.get_parameter().name(name).send().await.map_err(|e| aws_error("ssm:GetParameter", name, e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| Error::Failed(format!("SSM parameter {name} has no value")))
}

/// The data volume in zone `az` of `size_gb`, from `snapshot` when given.
pub async fn ensure_volume(
    c: &Clients,
    progress: &Progress,
    (az, size_gb, snapshot): (&str, u32, Option<&str>),
    tags: &[(String, String)],
    existing: Option<&str>,
) -> Result<String> {
    if let Some(id) = existing {
        return Ok(id.to_owned());
    }
    let out = retry::send(
        "ec2:CreateVolume",
        c.ec2
            .create_volume()
            .availability_zone(az)
            .size(size_gb as i32)
            .volume_type(VolumeType::Gp3)
            .encrypted(true)
            .set_snapshot_id(snapshot.map(str::to_owned))
            .tag_specifications(ec2_spec(ResourceType::Volume, tags)),
        |r| r.send(),
    )
    .await
    .map_err(|e| aws_error("ec2:CreateVolume", az, e))?;
    let id = out.volume_id().unwrap_or_default().to_owned();
    wait_for(progress, &format!("data volume {id}"), Duration::from_secs(300), || async {
        let out = retry::send("ec2:DescribeVolumes", c.ec2.describe_volumes().volume_ids(&id), |r| r.send())
            .await
            .map_err(|e| aws_error("ec2:DescribeVolumes", &id, e))?;
        let state = out.volumes().first().and_then(|v| v.state()).map(|s| s.as_str().to_owned()).unwrap_or_default();
        Ok(match state.as_str() {
            "available" | "in-use" => Poll::Ready(()),
            "error" | "deleting" | "deleted" => Poll::Failed(format!("state {state}")),
            _ => Poll::Pending(state),
        })
    })
    .await?;
    Ok(id)
}

/// Everything RunInstances needs for the host.
pub struct HostLaunch<'a> {
    pub ami: String,
    pub subnet: &'a str,
    pub security_group: &'a str,
    pub profile: &'a str,
    pub user_data_gzip: Vec<u8>,
    pub tags: &'a [(String, String)],
    pub client_token: String,
}

/// Launches the host and waits until it runs.
pub async fn launch_host(
    c: &Clients,
    progress: &Progress,
    d: &Deployment,
    l: HostLaunch<'_>,
    timeout: Duration,
) -> Result<String> {
    let root = BlockDeviceMapping::builder()
        .device_name("/dev/xvda")
        .ebs(
            EbsBlockDevice::builder()
                .volume_size(d.gitlab.root_volume_gb as i32)
                .volume_type(VolumeType::Gp3)
                .encrypted(true)
                .delete_on_termination(true)
                .build(),
        )
        .build();
    let metadata = InstanceMetadataOptionsRequest::builder()
        .http_tokens(HttpTokensState::Required)
        .http_put_response_hop_limit(2)
        .http_endpoint(InstanceMetadataEndpointState::Enabled)
        .build();
    let user_data = base64::engine::general_purpose::STANDARD.encode(&l.user_data_gzip);
    // The root volume is the deployment's but no plan resource of its own: it
    // goes with the instance. `gascale:created` changes from run to run, and a
    // resumed run must send the very request of the run it resumes (same
    // ClientToken, same parameters): the instance's LaunchTime says when.
    let instance_tags: Vec<(String, String)> = l.tags.iter().filter(|(k, _)| k != tags::CREATED).cloned().collect();
    let root_tags: Vec<(String, String)> =
        instance_tags.iter().filter(|(k, _)| k != tags::RESOURCE && k != tags::SPEC).cloned().collect();
    let request = c
        .ec2
        .run_instances()
        .image_id(&l.ami)
        .instance_type(InstanceType::from(d.gitlab.instance_type.as_str()))
        .min_count(1)
        .max_count(1)
        .subnet_id(l.subnet)
        .security_group_ids(l.security_group)
        .iam_instance_profile(IamInstanceProfileSpecification::builder().name(l.profile).build())
        .metadata_options(metadata)
        .block_device_mappings(root)
        .user_data(&user_data)
        .client_token(&l.client_token)
        .tag_specifications(ec2_spec(ResourceType::Instance, &instance_tags))
        .tag_specifications(ec2_spec(ResourceType::Volume, &root_tags));
    // Retried while IAM has not yet propagated the profile to EC2 (errors::transient_for).
    let out = retry::send("ec2:RunInstances", request, |r| r.send())
        .await
        .map_err(|e| aws_error("ec2:RunInstances", "the GitLab host", e))?;
    let id = out.instances().first().and_then(|i| i.instance_id()).unwrap_or_default().to_owned();
    progress.verbose(format!("launched the host {id}"));
    wait_running(c, progress, &id, timeout).await?;
    Ok(id)
}

pub async fn wait_running(c: &Clients, progress: &Progress, id: &str, timeout: Duration) -> Result<()> {
    wait_for(progress, &format!("instance {id} to run"), timeout, || async {
        let out = retry::send("ec2:DescribeInstances", c.ec2.describe_instances().instance_ids(id), |r| r.send())
            .await
            .map_err(|e| aws_error("ec2:DescribeInstances", id, e))?;
        let instance = out.reservations().iter().flat_map(|r| r.instances()).next();
        let state =
            instance.and_then(|i| i.state()).and_then(|s| s.name()).map(|s| s.as_str().to_owned()).unwrap_or_default();
        Ok(match state.as_str() {
            "running" => Poll::Ready(()),
            "terminated" | "shutting-down" | "stopping" | "stopped" => Poll::Failed(format!(
                "state {state}: {}",
                instance.and_then(|i| i.state_reason()).and_then(|r| r.message()).unwrap_or("no reason given")
            )),
            _ => Poll::Pending(state),
        })
    })
    .await
}

/// Associates the EIP and attaches the data volume (both at once),
/// skipping what is done.
pub async fn attach_host_parts(c: &Clients, instance: &str, allocation: &str, volume: &str) -> Result<()> {
    let eip = async {
        let addr =
            retry::send("ec2:DescribeAddresses", c.ec2.describe_addresses().allocation_ids(allocation), |r| r.send())
                .await
                .map_err(on("ec2:DescribeAddresses", allocation))?;
        if addr.addresses().first().and_then(|a| a.instance_id()) != Some(instance) {
            retry::send(
                "ec2:AssociateAddress",
                // The address is the host's: one still on a host that is gone
                // (moto keeps it on a terminated instance) moves over.
                c.ec2.associate_address().allocation_id(allocation).instance_id(instance).allow_reassociation(true),
                |r| r.send(),
            )
            .await
            .map_err(on("ec2:AssociateAddress", allocation))?;
        }
        Ok::<_, Error>(())
    };
    let data = async {
        let vol = retry::send("ec2:DescribeVolumes", c.ec2.describe_volumes().volume_ids(volume), |r| r.send())
            .await
            .map_err(on("ec2:DescribeVolumes", volume))?;
        let attached =
            vol.volumes().first().is_some_and(|v| v.attachments().iter().any(|a| a.instance_id() == Some(instance)));
        if !attached {
            retry::send(
                "ec2:AttachVolume",
                c.ec2.attach_volume().volume_id(volume).instance_id(instance).device(DATA_DEVICE),
                |r| r.send(),
            )
            .await
            .map_err(on("ec2:AttachVolume", volume))?;
        }
        Ok(())
    };
    tokio::try_join!(eip, data)?;
    Ok(())
}

/// Waits for the host's `gascale:bootstrap` tag to read `complete` (or, up
/// on a self-signed certificate until its domain points at the host,
/// `running:waiting-dns`: done for now); a `failed:STEP` ends the wait
/// naming the step.
pub async fn wait_bootstrap(c: &Clients, progress: &Progress, host: &str, timeout: Duration) -> Result<String> {
    wait_for(progress, &format!("GitLab on {host} to finish its bootstrap"), timeout, || async {
        Ok(match bootstrap_status(c, host).await?.as_deref() {
            Some("complete") => Poll::Ready("complete".to_owned()),
            Some(WAITING_DNS) => Poll::Ready(WAITING_DNS.to_owned()),
            Some(failed) if failed.starts_with("failed:") => Poll::Failed(bootstrap_failed(&failed["failed:".len()..])),
            Some(running) => Poll::Pending(running.to_owned()),
            None => Poll::Pending("not started".to_owned()),
        })
    })
    .await
}

pub fn bootstrap_failed(step: &str) -> String {
    format!(
        "the bootstrap failed at step {step}; see its log: gascale exec -- tail -n 100 /var/log/gascale-bootstrap.log"
    )
}

/// The host's bootstrap status tag (`running:STEP`, `complete`, `failed:STEP`).
pub async fn bootstrap_status(c: &Clients, instance: &str) -> Result<Option<String>> {
    let i = describe_instance(c, instance).await?;
    Ok(i.as_ref().and_then(|i| tags::get(i.tags(), tags::BOOTSTRAP)).map(str::to_owned))
}

/// The host's bootstrap timeline (`crate::timeline`): its tag and the
/// instance's launch time, read in one describe.
pub async fn timeline(c: &Clients, instance: &str) -> Result<Option<crate::timeline::Timeline>> {
    let Some(i) = describe_instance(c, instance).await? else { return Ok(None) };
    let launched = i.launch_time().map(|t| t.secs());
    Ok(tags::get(i.tags(), tags::TIMELINE).and_then(|t| crate::timeline::Timeline::parse(t, launched)))
}

async fn describe_instance(c: &Clients, instance: &str) -> Result<Option<aws_sdk_ec2::types::Instance>> {
    let out = retry::send("ec2:DescribeInstances", c.ec2.describe_instances().instance_ids(instance), |r| r.send())
        .await
        .map_err(|e| aws_error("ec2:DescribeInstances", instance, e))?;
    Ok(out.reservations().iter().flat_map(|r| r.instances()).next().cloned())
}

/// Sets the host's bootstrap status tag (gascale's own `running:restart`
/// before it runs a failed bootstrap again).
pub async fn set_bootstrap_status(c: &Clients, instance: &str, status: &str) -> Result<()> {
    let tag = aws_sdk_ec2::types::Tag::builder().key(tags::BOOTSTRAP).value(status).build();
    retry::send("ec2:CreateTags", c.ec2.create_tags().resources(instance).tags(tag), |r| r.send())
        .await
        .map_err(|e| aws_error("ec2:CreateTags", instance, e))?;
    Ok(())
}

/// EC2's public DNS name for an address, as instances inside the VPC resolve
/// it (to the private address).
pub fn public_dns(region: &str, ip: &str) -> String {
    let dashed = ip.replace('.', "-");
    if region == "us-east-1" {
        format!("ec2-{dashed}.compute-1.amazonaws.com")
    } else {
        format!("ec2-{dashed}.{region}.compute.amazonaws.com")
    }
}
