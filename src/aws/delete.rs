//! Deleting one resource of each kind, tolerant of it being gone already.
//! Ordering and retries of dependency violations belong to the caller.

use std::time::Duration;

use super::errors::{aws_error, code, is_not_found_code};
use super::wait::{wait_for, Poll};
use super::{retry, Clients};
use crate::error::Result;
use crate::plan::desired::Kind;
use crate::progress::Progress;

/// Deletes the resource `id` of `kind`; a resource already gone is success.
pub async fn delete(c: &Clients, progress: &Progress, kind: Kind, id: &str, timeout: Duration) -> Result<()> {
    let result = match kind {
        Kind::Instance => return terminate(c, progress, &[id.to_owned()], timeout).await,
        Kind::Volume => retry::send("ec2:DeleteVolume", c.ec2.delete_volume().volume_id(id), |r| r.send())
            .await
            .map(drop)
            .map_err(|e| gone_ok("ec2:DeleteVolume", id, e)),
        Kind::ElasticIp => return release_address(c, id).await,
        Kind::NatGateway => return delete_nat(c, progress, id, timeout).await,
        Kind::Subnet => retry::send("ec2:DeleteSubnet", c.ec2.delete_subnet().subnet_id(id), |r| r.send())
            .await
            .map(drop)
            .map_err(|e| gone_ok("ec2:DeleteSubnet", id, e)),
        Kind::RouteTable => return delete_route_table(c, id).await,
        Kind::VpcEndpoint => return delete_endpoint(c, id).await,
        Kind::SecurityGroup => return delete_security_group(c, id).await,
        Kind::InternetGateway => return delete_internet_gateway(c, id).await,
        Kind::Vpc => retry::send("ec2:DeleteVpc", c.ec2.delete_vpc().vpc_id(id), |r| r.send())
            .await
            .map(drop)
            .map_err(|e| gone_ok("ec2:DeleteVpc", id, e)),
        Kind::AutoScalingGroup => return super::fleet::delete_group(c, progress, id, timeout).await,
        Kind::LaunchTemplate => {
            retry::send("ec2:DeleteLaunchTemplate", c.ec2.delete_launch_template().launch_template_id(id), |r| r.send())
                .await
                .map(drop)
                .map_err(|e| gone_ok("ec2:DeleteLaunchTemplate", id, e))
        }
        Kind::IamRole => return super::iam::delete_role(c, id).await,
        Kind::InstanceProfile => return super::iam::delete_profile(c, id).await,
        Kind::Bucket => return super::s3::delete_bucket(c, progress, id).await,
        // Go with the host.
        Kind::RunnerConfig | Kind::GitlabApp => return Ok(()),
        Kind::SnapshotSchedule => return super::dlm::delete_policy(c, id).await,
        Kind::Workers => {
            let workers: super::workers::Workers =
                serde_json::from_str(id).map_err(|e| crate::error::Error::Failed(format!("worker list {id}: {e}")))?;
            return super::workers::reap(c, progress, &workers, timeout).await;
        }
    };
    result.or_else(|e| e)
}

/// Not-found becomes `Ok(())`, anything else our error — as `Err(Err(e))`
/// so `or_else(|e| e)` flattens it.
fn gone_ok<E, R>(op: &str, id: &str, e: aws_smithy_runtime_api::client::result::SdkError<E, R>) -> Result<()>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if code(&e).is_some_and(is_not_found_code) {
        Ok(())
    } else {
        Err(aws_error(op, id, e))
    }
}

/// Terminates instances (up to 1000 a call) and waits until all are
/// terminated, terminating again what still runs on each poll: a NotFound
/// for a just-launched instance "doesn't mean that the instance was or will
/// be terminated" (EC2 developer guide, "Eventual consistency").
pub async fn terminate(c: &Clients, progress: &Progress, ids: &[String], timeout: Duration) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let what = if ids.len() == 1 { format!("instance {}", ids[0]) } else { format!("{} instances", ids.len()) };
    send_terminate(c, ids).await?;
    wait_for(progress, &format!("{what} to terminate"), timeout, || async {
        let mut running = Vec::new();
        let mut left = 0;
        for chunk in ids.chunks(1000) {
            let request = c.ec2.describe_instances().set_instance_ids(Some(chunk.to_vec()));
            let out = retry::send("ec2:DescribeInstances", request, |r| r.send())
                .await
                .map_err(|e| aws_error("ec2:DescribeInstances", &what, e))?;
            for i in out.reservations().iter().flat_map(|r| r.instances()) {
                let state = i.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default();
                if state != "terminated" {
                    left += 1;
                }
                if matches!(state, "pending" | "running" | "stopping" | "stopped") {
                    running.extend(i.instance_id().map(str::to_owned));
                }
            }
        }
        send_terminate(c, &running).await?;
        Ok(if left == 0 { Poll::Ready(()) } else { Poll::Pending(format!("{left} not terminated")) })
    })
    .await
}

/// TerminateInstances is all or nothing: "If you specify multiple instances
/// and the request fails (for example, because of a single incorrect
/// instance ID), none of the instances are terminated" (API reference). On a
/// NotFound the instances go one by one, the unknown ones left to the wait.
async fn send_terminate(c: &Clients, ids: &[String]) -> Result<()> {
    for chunk in ids.chunks(1000) {
        let request = c.ec2.terminate_instances().set_instance_ids(Some(chunk.to_vec()));
        match retry::send("ec2:TerminateInstances", request, |r| r.send()).await {
            Ok(_) => {}
            Err(e) if chunk.len() > 1 && code(&e).is_some_and(is_not_found_code) => {
                for id in chunk {
                    let one = c.ec2.terminate_instances().instance_ids(id);
                    if let Err(e) = retry::send("ec2:TerminateInstances", one, |r| r.send()).await {
                        gone_ok("ec2:TerminateInstances", id, e)?;
                    }
                }
            }
            Err(e) => gone_ok("ec2:TerminateInstances", &chunk[0], e)?,
        }
    }
    Ok(())
}

/// A 200 from DeleteVpcEndpoints can carry a per-endpoint failure in
/// `Unsuccessful` (API reference); not-found there is success too.
async fn delete_endpoint(c: &Clients, id: &str) -> Result<()> {
    let request = c.ec2.delete_vpc_endpoints().vpc_endpoint_ids(id);
    let out = match retry::send("ec2:DeleteVpcEndpoints", request, |r| r.send()).await {
        Ok(out) => out,
        Err(e) => return gone_ok("ec2:DeleteVpcEndpoints", id, e),
    };
    for item in out.unsuccessful() {
        let error = item.error();
        let code = error.and_then(|e| e.code()).unwrap_or_default();
        if !is_not_found_code(code) {
            return Err(crate::error::Error::Aws {
                operation: "ec2:DeleteVpcEndpoints".into(),
                resource: id.into(),
                code: Some(code.to_owned()),
                message: format!("{code}: {}", error.and_then(|e| e.message()).unwrap_or("no message")),
                request_id: None,
            });
        }
    }
    Ok(())
}

async fn release_address(c: &Clients, id: &str) -> Result<()> {
    let out =
        match retry::send("ec2:DescribeAddresses", c.ec2.describe_addresses().allocation_ids(id), |r| r.send()).await {
            Ok(out) => out,
            Err(e) => return gone_ok("ec2:DescribeAddresses", id, e),
        };
    if let Some(assoc) = out.addresses().first().and_then(|a| a.association_id()) {
        if let Err(e) =
            retry::send("ec2:DisassociateAddress", c.ec2.disassociate_address().association_id(assoc), |r| r.send())
                .await
        {
            gone_ok("ec2:DisassociateAddress", id, e)?;
        }
    }
    match retry::send("ec2:ReleaseAddress", c.ec2.release_address().allocation_id(id), |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:ReleaseAddress", id, e),
    }
}

async fn delete_nat(c: &Clients, progress: &Progress, id: &str, timeout: Duration) -> Result<()> {
    if let Err(e) =
        retry::send("ec2:DeleteNatGateway", c.ec2.delete_nat_gateway().nat_gateway_id(id), |r| r.send()).await
    {
        return gone_ok("ec2:DeleteNatGateway", id, e);
    }
    wait_for(progress, &format!("NAT gateway {id} to be deleted"), timeout, || async {
        let out =
            retry::send("ec2:DescribeNatGateways", c.ec2.describe_nat_gateways().nat_gateway_ids(id), |r| r.send())
                .await;
        let state = match out {
            Ok(out) => out.nat_gateways().first().and_then(|n| n.state()).map(|s| s.as_str().to_owned()),
            Err(e) if code(&e).is_some_and(is_not_found_code) => None,
            Err(e) => return Err(aws_error("ec2:DescribeNatGateways", id, e)),
        };
        Ok(match state.as_deref() {
            None | Some("deleted") => Poll::Ready(()),
            Some(s) => Poll::Pending(s.to_owned()),
        })
    })
    .await
}

async fn delete_route_table(c: &Clients, id: &str) -> Result<()> {
    let out =
        match retry::send("ec2:DescribeRouteTables", c.ec2.describe_route_tables().route_table_ids(id), |r| r.send())
            .await
        {
            Ok(out) => out,
            Err(e) => return gone_ok("ec2:DescribeRouteTables", id, e),
        };
    for assoc in out.route_tables().iter().flat_map(|t| t.associations()) {
        if assoc.main() == Some(true) {
            continue;
        }
        if let Some(a) = assoc.route_table_association_id() {
            if let Err(e) =
                retry::send("ec2:DisassociateRouteTable", c.ec2.disassociate_route_table().association_id(a), |r| {
                    r.send()
                })
                .await
            {
                gone_ok("ec2:DisassociateRouteTable", a, e)?;
            }
        }
    }
    match retry::send("ec2:DeleteRouteTable", c.ec2.delete_route_table().route_table_id(id), |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:DeleteRouteTable", id, e),
    }
}

async fn delete_internet_gateway(c: &Clients, id: &str) -> Result<()> {
    let out = match retry::send(
        "ec2:DescribeInternetGateways",
        c.ec2.describe_internet_gateways().internet_gateway_ids(id),
        |r| r.send(),
    )
    .await
    {
        Ok(out) => out,
        Err(e) => return gone_ok("ec2:DescribeInternetGateways", id, e),
    };
    for vpc in out.internet_gateways().iter().flat_map(|g| g.attachments()).filter_map(|a| a.vpc_id()) {
        if let Err(e) = retry::send(
            "ec2:DetachInternetGateway",
            c.ec2.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc),
            |r| r.send(),
        )
        .await
        {
            gone_ok("ec2:DetachInternetGateway", id, e)?;
        }
    }
    match retry::send("ec2:DeleteInternetGateway", c.ec2.delete_internet_gateway().internet_gateway_id(id), |r| {
        r.send()
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:DeleteInternetGateway", id, e),
    }
}

/// Revokes the group's ingress first: the host and worker groups refer to
/// each other, and a referenced group cannot be deleted.
async fn delete_security_group(c: &Clients, id: &str) -> Result<()> {
    let out =
        match retry::send("ec2:DescribeSecurityGroups", c.ec2.describe_security_groups().group_ids(id), |r| r.send())
            .await
        {
            Ok(out) => out,
            Err(e) => return gone_ok("ec2:DescribeSecurityGroups", id, e),
        };
    let rules = out.security_groups().first().map(|g| g.ip_permissions().to_vec()).unwrap_or_default();
    if !rules.is_empty() {
        if let Err(e) = retry::send(
            "ec2:RevokeSecurityGroupIngress",
            c.ec2.revoke_security_group_ingress().group_id(id).set_ip_permissions(Some(rules)),
            |r| r.send(),
        )
        .await
        {
            gone_ok("ec2:RevokeSecurityGroupIngress", id, e)?;
        }
    }
    match retry::send("ec2:DeleteSecurityGroup", c.ec2.delete_security_group().group_id(id), |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:DeleteSecurityGroup", id, e),
    }
}
