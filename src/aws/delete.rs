//! Deleting one resource of each kind, tolerant of it being gone already.
//! Ordering and retries of dependency violations belong to the caller.

use std::time::Duration;

use super::errors::{aws_error, code, is_not_found_code};
use super::wait::{wait_for, Poll};
use super::Clients;
use crate::error::Result;
use crate::plan::desired::Kind;
use crate::progress::Progress;

/// Deletes the resource `id` of `kind`; a resource already gone is success.
pub async fn delete(c: &Clients, progress: &Progress, kind: Kind, id: &str, timeout: Duration) -> Result<()> {
    let result = match kind {
        Kind::Instance => return terminate(c, progress, &[id.to_owned()], timeout).await,
        Kind::Volume => {
            c.ec2.delete_volume().volume_id(id).send().await.map(drop).map_err(|e| gone_ok("ec2:DeleteVolume", id, e))
        }
        Kind::ElasticIp => return release_address(c, id).await,
        Kind::NatGateway => return delete_nat(c, progress, id, timeout).await,
        Kind::Subnet => {
            c.ec2.delete_subnet().subnet_id(id).send().await.map(drop).map_err(|e| gone_ok("ec2:DeleteSubnet", id, e))
        }
        Kind::RouteTable => return delete_route_table(c, id).await,
        Kind::VpcEndpoint => c
            .ec2
            .delete_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| gone_ok("ec2:DeleteVpcEndpoints", id, e)),
        Kind::SecurityGroup => return delete_security_group(c, id).await,
        Kind::InternetGateway => return delete_internet_gateway(c, id).await,
        Kind::Vpc => c.ec2.delete_vpc().vpc_id(id).send().await.map(drop).map_err(|e| gone_ok("ec2:DeleteVpc", id, e)),
        Kind::AutoScalingGroup => return super::fleet::delete_group(c, progress, id, timeout).await,
        Kind::LaunchTemplate => c
            .ec2
            .delete_launch_template()
            .launch_template_id(id)
            .send()
            .await
            .map(drop)
            .map_err(|e| gone_ok("ec2:DeleteLaunchTemplate", id, e)),
        Kind::IamRole => return super::iam::delete_role(c, id).await,
        Kind::InstanceProfile => return super::iam::delete_profile(c, id).await,
        Kind::Bucket => return super::s3::delete_bucket(c, progress, id).await,
        // Goes with the host.
        Kind::RunnerConfig => return Ok(()),
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

/// Terminates instances in one call and waits until all are terminated.
pub async fn terminate(c: &Clients, progress: &Progress, ids: &[String], timeout: Duration) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let what = if ids.len() == 1 { format!("instance {}", ids[0]) } else { format!("{} instances", ids.len()) };
    if let Err(e) = c.ec2.terminate_instances().set_instance_ids(Some(ids.to_vec())).send().await {
        gone_ok("ec2:TerminateInstances", &what, e)?;
    }
    wait_for(progress, &format!("{what} to terminate"), timeout, || async {
        let out = c
            .ec2
            .describe_instances()
            .set_instance_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("ec2:DescribeInstances", &what, e))?;
        let left: Vec<String> = out
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).is_none_or(|n| n.as_str() != "terminated"))
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        Ok(if left.is_empty() { Poll::Ready(()) } else { Poll::Pending(format!("{} not terminated", left.len())) })
    })
    .await
}

async fn release_address(c: &Clients, id: &str) -> Result<()> {
    let out = match c.ec2.describe_addresses().allocation_ids(id).send().await {
        Ok(out) => out,
        Err(e) => return gone_ok("ec2:DescribeAddresses", id, e),
    };
    if let Some(assoc) = out.addresses().first().and_then(|a| a.association_id()) {
        if let Err(e) = c.ec2.disassociate_address().association_id(assoc).send().await {
            gone_ok("ec2:DisassociateAddress", id, e)?;
        }
    }
    match c.ec2.release_address().allocation_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:ReleaseAddress", id, e),
    }
}

async fn delete_nat(c: &Clients, progress: &Progress, id: &str, timeout: Duration) -> Result<()> {
    if let Err(e) = c.ec2.delete_nat_gateway().nat_gateway_id(id).send().await {
        return gone_ok("ec2:DeleteNatGateway", id, e);
    }
    wait_for(progress, &format!("NAT gateway {id} to be deleted"), timeout, || async {
        let out = c.ec2.describe_nat_gateways().nat_gateway_ids(id).send().await;
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
    let out = match c.ec2.describe_route_tables().route_table_ids(id).send().await {
        Ok(out) => out,
        Err(e) => return gone_ok("ec2:DescribeRouteTables", id, e),
    };
    for assoc in out.route_tables().iter().flat_map(|t| t.associations()) {
        if assoc.main() == Some(true) {
            continue;
        }
        if let Some(a) = assoc.route_table_association_id() {
            if let Err(e) = c.ec2.disassociate_route_table().association_id(a).send().await {
                gone_ok("ec2:DisassociateRouteTable", a, e)?;
            }
        }
    }
    match c.ec2.delete_route_table().route_table_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:DeleteRouteTable", id, e),
    }
}

async fn delete_internet_gateway(c: &Clients, id: &str) -> Result<()> {
    let out = match c.ec2.describe_internet_gateways().internet_gateway_ids(id).send().await {
        Ok(out) => out,
        Err(e) => return gone_ok("ec2:DescribeInternetGateways", id, e),
    };
    for vpc in out.internet_gateways().iter().flat_map(|g| g.attachments()).filter_map(|a| a.vpc_id()) {
        if let Err(e) = c.ec2.detach_internet_gateway().internet_gateway_id(id).vpc_id(vpc).send().await {
            gone_ok("ec2:DetachInternetGateway", id, e)?;
        }
    }
    match c.ec2.delete_internet_gateway().internet_gateway_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:DeleteInternetGateway", id, e),
    }
}

/// Revokes the group's ingress first: the host and worker groups refer to
/// each other, and a referenced group cannot be deleted.
async fn delete_security_group(c: &Clients, id: &str) -> Result<()> {
    let out = match c.ec2.describe_security_groups().group_ids(id).send().await {
        Ok(out) => out,
        Err(e) => return gone_ok("ec2:DescribeSecurityGroups", id, e),
    };
    let rules = out.security_groups().first().map(|g| g.ip_permissions().to_vec()).unwrap_or_default();
    if !rules.is_empty() {
        if let Err(e) = c.ec2.revoke_security_group_ingress().group_id(id).set_ip_permissions(Some(rules)).send().await
        {
            gone_ok("ec2:RevokeSecurityGroupIngress", id, e)?;
        }
    }
    match c.ec2.delete_security_group().group_id(id).send().await {
        Ok(_) => Ok(()),
        Err(e) => gone_ok("ec2:DeleteSecurityGroup", id, e),
    }
}
