//! docker-autoscaler's workers: a launch template (Amazon Linux 2023 with
//! Docker, IMDSv2, encrypted root, the worker profile and group, tags that
//! reach instances and volumes) and the Auto Scaling group the runner's
//! fleeting plugin scales (min 0, desired left to the runner, scale-in
//! protection, no AZ rebalancing or capacity rebalancing, spot by a
//! mixed-instances policy).

use std::time::Duration;

use aws_sdk_autoscaling::types::{
    InstancesDistribution, LaunchTemplate as AsgLaunchTemplate, LaunchTemplateOverrides,
    LaunchTemplateSpecification as AsgTemplateSpec, MixedInstancesPolicy, Tag as AsgTag,
};
use aws_sdk_ec2::types::{
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest, LaunchTemplateInstanceMetadataEndpointState,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
    ResourceType, VolumeType,
};
use base64::Engine;

use super::errors::{aws_error, is_gone, on};
use super::tags::{ec2_spec, ec2_tags};
use super::wait::{wait_for, Poll};
use super::{retry, Clients};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// What the launch template launches.
pub struct TemplateData<'a> {
    pub ami: &'a str,
    pub profile: &'a str,
    pub security_group: &'a str,
    pub root_volume_gb: u32,
    /// Workers in public subnets (no NAT) need a public address of their own.
    pub public_ip: bool,
    pub user_data: &'a str,
    /// Tags of the workers and their volumes (ownership, no plan address).
    pub worker_tags: &'a [(String, String)],
}

fn template_data(t: &TemplateData) -> RequestLaunchTemplateData {
    let tag_spec = |r: ResourceType| {
        LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(r)
            .set_tags(Some(ec2_tags(t.worker_tags)))
            .build()
    };
    let data = RequestLaunchTemplateData::builder();
    // The groups go with the interface when there is one (RunInstances
    // refuses both: "Network interfaces and an instance-level security
    // groups may not be specified on the same request").
    let data = if t.public_ip {
        data.network_interfaces(
            aws_sdk_ec2::types::LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                .device_index(0)
                .associate_public_ip_address(true)
                .groups(t.security_group)
                .delete_on_termination(true)
                .build(),
        )
    } else {
        data.security_group_ids(t.security_group)
    };
    data.image_id(t.ami)
        .iam_instance_profile(LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name(t.profile).build())
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                // Hop limit 1: the job containers on a worker (one hop
                // further) get no instance credentials (EC2 user guide,
                // "Configure the Instance Metadata Service options").
                .http_put_response_hop_limit(1)
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name("/dev/xvda")
                .ebs(
                    LaunchTemplateEbsBlockDeviceRequest::builder()
                        .volume_size(t.root_volume_gb as i32)
                        .volume_type(VolumeType::Gp3)
                        .encrypted(true)
                        .delete_on_termination(true)
                        .build(),
                )
                .build(),
        )
        .user_data(base64::engine::general_purpose::STANDARD.encode(t.user_data))
        .tag_specifications(tag_spec(ResourceType::Instance))
        .tag_specifications(tag_spec(ResourceType::Volume))
        .build()
}

/// Creates the launch template, or gives an existing one a new version (the
/// group launches `$Latest`); returns its ID.
pub async fn ensure_template(
    c: &Clients,
    name: &str,
    t: &TemplateData<'_>,
    tags: &[(String, String)],
    existing: Option<&str>,
) -> Result<String> {
    if let Some(id) = existing {
        retry::send(
            "ec2:CreateLaunchTemplateVersion",
            c.ec2.create_launch_template_version().launch_template_id(id).launch_template_data(template_data(t)),
            |r| r.send(),
        )
        .await
        .map_err(on("ec2:CreateLaunchTemplateVersion", id))?;
        return Ok(id.to_owned());
    }
    let out = retry::send(
        "ec2:CreateLaunchTemplate",
        c.ec2
            .create_launch_template()
            .launch_template_name(name)
            .version_description("gascale")
            .launch_template_data(template_data(t))
            .tag_specifications(ec2_spec(ResourceType::LaunchTemplate, tags)),
        |r| r.send(),
    )
    .await
    .map_err(on("ec2:CreateLaunchTemplate", name))?;
    out.launch_template()
        .and_then(|l| l.launch_template_id())
        .map(str::to_owned)
        .ok_or_else(|| Error::Failed(format!("launch template {name}: no ID in the answer")))
}

/// The Auto Scaling group's settings.
pub struct GroupSettings<'a> {
    pub name: &'a str,
    pub template_id: &'a str,
    pub subnet_ids: &'a [String],
    pub max_size: u32,
    pub instance_types: &'a [String],
    pub spot: bool,
    pub max_price: Option<&'a str>,
    pub on_demand_base: u32,
}

fn mixed_instances(g: &GroupSettings) -> MixedInstancesPolicy {
    let overrides =
        g.instance_types.iter().map(|t| LaunchTemplateOverrides::builder().instance_type(t).build()).collect();
    let mut distribution = InstancesDistribution::builder()
        .on_demand_base_capacity(g.on_demand_base as i32)
        .on_demand_percentage_above_base_capacity(if g.spot { 0 } else { 100 });
    if g.spot {
        distribution = distribution.spot_allocation_strategy("price-capacity-optimized");
        if let Some(p) = g.max_price {
            distribution = distribution.spot_max_price(p);
        }
    }
    MixedInstancesPolicy::builder()
        .launch_template(
            AsgLaunchTemplate::builder()
                .launch_template_specification(
                    AsgTemplateSpec::builder().launch_template_id(g.template_id).version("$Latest").build(),
                )
                .set_overrides(Some(overrides))
                .build(),
        )
        .instances_distribution(distribution.build())
        .build()
}

fn group_tags(name: &str, tags: &[(String, String)]) -> Vec<AsgTag> {
    tags.iter()
        .map(|(k, v)| {
            AsgTag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(false)
                .build()
        })
        .collect()
}

/// Creates or converges the group. The desired capacity is set only at
/// creation (0): afterwards it is the runner's.
pub async fn ensure_group(c: &Clients, g: &GroupSettings<'_>, tags: &[(String, String)], exists: bool) -> Result<()> {
    let a = &c.autoscaling;
    let zones = g.subnet_ids.join(",");
    if exists {
        let update = a
            .update_auto_scaling_group()
            .auto_scaling_group_name(g.name)
            .mixed_instances_policy(mixed_instances(g))
            .min_size(0)
            .max_size(g.max_size as i32)
            .vpc_zone_identifier(&zones)
            .new_instances_protected_from_scale_in(true)
            .capacity_rebalance(false);
        retry::send("autoscaling:UpdateAutoScalingGroup", update, |r| r.send())
            .await
            .map_err(on("autoscaling:UpdateAutoScalingGroup", g.name))?;
    } else {
        // Retried while the worker profile has not reached Auto Scaling
        // (errors::transient_for).
        let create = a
            .create_auto_scaling_group()
            .auto_scaling_group_name(g.name)
            .mixed_instances_policy(mixed_instances(g))
            .min_size(0)
            .max_size(g.max_size as i32)
            .desired_capacity(0)
            .vpc_zone_identifier(&zones)
            .new_instances_protected_from_scale_in(true)
            .capacity_rebalance(false)
            .set_tags(Some(group_tags(g.name, tags)));
        retry::send("autoscaling:CreateAutoScalingGroup", create, |r| r.send())
            .await
            .map_err(on("autoscaling:CreateAutoScalingGroup", g.name))?;
    }
    // AZRebalance would terminate workers mid-job to even out the zones.
    a.suspend_processes()
        .auto_scaling_group_name(g.name)
        .scaling_processes("AZRebalance")
        .send()
        .await
        .map_err(on("autoscaling:SuspendProcesses", g.name))?;
    Ok(())
}

/// Marks the group converged to `spec`.
pub async fn set_group_spec(c: &Clients, name: &str, tags: &[(String, String)]) -> Result<()> {
    retry::send(
        "autoscaling:CreateOrUpdateTags",
        c.autoscaling.create_or_update_tags().set_tags(Some(group_tags(name, tags))),
        |r| r.send(),
    )
    .await
    .map_err(on("autoscaling:CreateOrUpdateTags", name))?;
    Ok(())
}

/// The group's instances, or `None` when there is no such group.
pub async fn group_instances(c: &Clients, name: &str) -> Result<Option<Vec<String>>> {
    let out = retry::send(
        "autoscaling:DescribeAutoScalingGroups",
        c.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(name),
        |r| r.send(),
    )
    .await
    .map_err(on("autoscaling:DescribeAutoScalingGroups", name))?;
    Ok(out
        .auto_scaling_groups()
        .first()
        .map(|g| g.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect()))
}

/// Deletes the group with its instances (scale-in protection or not) and
/// waits until both are gone.
pub async fn delete_group(c: &Clients, progress: &Progress, name: &str, timeout: Duration) -> Result<()> {
    let Some(instances) = group_instances(c, name).await? else { return Ok(()) };
    if let Err(e) = retry::send(
        "autoscaling:DeleteAutoScalingGroup",
        c.autoscaling.delete_auto_scaling_group().auto_scaling_group_name(name).force_delete(true),
        |r| r.send(),
    )
    .await
    {
        if !is_gone(&e) {
            return Err(aws_error("autoscaling:DeleteAutoScalingGroup", name, e));
        }
    }
    // A forced delete terminates them too; saying so ourselves makes sure
    // none outlives the group, even one whose termination AWS skipped.
    super::delete::terminate(c, progress, &instances, timeout).await?;
    wait_for(progress, &format!("Auto Scaling group {name} to be deleted"), timeout, || async {
        Ok(match group_instances(c, name).await? {
            None => Poll::Ready(()),
            Some(left) => Poll::Pending(format!("deleting, {} instances", left.len())),
        })
    })
    .await
}

/// The status messages of the group's failed or cancelled scaling
/// activities, newest first (DescribeScalingActivities lists newest first;
/// StatusCode Failed/Cancelled carries AWS's reason in StatusMessage, e.g.
/// insufficient capacity or a vCPU quota: Auto Scaling API reference).
pub async fn failed_activities(c: &Clients, group: &str) -> Result<Vec<String>> {
    use aws_sdk_autoscaling::types::ScalingActivityStatusCode as Status;
    let request = c.autoscaling.describe_scaling_activities().auto_scaling_group_name(group).max_records(20);
    let out = retry::send("autoscaling:DescribeScalingActivities", request, |r| r.send())
        .await
        .map_err(on("autoscaling:DescribeScalingActivities", group))?;
    Ok(out
        .activities()
        .iter()
        .filter(|a| matches!(a.status_code(), Some(Status::Failed | Status::Cancelled)))
        .map(|a| {
            let when = a.start_time().map(|t| format!("{t} ")).unwrap_or_default();
            format!("{when}{}", a.status_message().or(a.description()).unwrap_or("no reason given"))
        })
        .collect())
}
