//! The network: VPC, subnets, internet and NAT gateways, Elastic IPs, route
//! tables and the S3 gateway endpoint (security groups: `security_groups`). Every `ensure_*`
//! creates what is missing and converges the parts that are not resources of
//! their own (routes, associations, rules), so a re-run completes a resource
//! a killed run left half-done.

use std::time::Duration;

use aws_sdk_ec2::types::{AttributeBooleanValue, DomainType, ResourceType, VpcEndpointType};

use super::errors::{aws_error, code, is_already_exists_code};
use super::tags::ec2_spec;
use super::wait::{wait_for, Poll};
use super::{retry, Clients};
use crate::error::Result;
use crate::progress::Progress;

pub(super) type Tags = [(String, String)];

/// Records the converged fingerprint on an EC2 resource.
pub async fn set_spec(c: &Clients, id: &str, tags: &[(String, String)]) -> Result<()> {
    let tags: Vec<aws_sdk_ec2::types::Tag> =
        tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect();
    retry::send("ec2:CreateTags", c.ec2.create_tags().resources(id).set_tags(Some(tags)), |r| r.send())
        .await
        .map_err(|e| aws_error("ec2:CreateTags", id, e))?;
    Ok(())
}

pub async fn ensure_vpc(c: &Clients, cidr: &str, tags: &Tags, existing: Option<&str>) -> Result<String> {
    let id = match existing {
        Some(id) => id.to_owned(),
        None => {
            let out = retry::send(
                "ec2:CreateVpc",
                c.ec2.create_vpc().cidr_block(cidr).tag_specifications(ec2_spec(ResourceType::Vpc, tags)),
                |r| r.send(),
            )
            .await
            .map_err(|e| aws_error("ec2:CreateVpc", cidr, e))?;
            out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_owned()
        }
    };
    retry::send(
        "ec2:ModifyVpcAttribute",
        c.ec2
            .modify_vpc_attribute()
            .vpc_id(&id)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build()),
        |r| r.send(),
    )
    .await
    .map_err(|e| aws_error("ec2:ModifyVpcAttribute", &id, e))?;
    Ok(id)
}

pub async fn ensure_subnet(
    c: &Clients,
    vpc: &str,
    cidr: &str,
    az: &str,
    tags: &Tags,
    existing: Option<&str>,
) -> Result<String> {
    if let Some(id) = existing {
        return Ok(id.to_owned());
    }
    let out = retry::send(
        "ec2:CreateSubnet",
        c.ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .availability_zone(az)
            .tag_specifications(ec2_spec(ResourceType::Subnet, tags)),
        |r| r.send(),
    )
    .await
    .map_err(|e| aws_error("ec2:CreateSubnet", cidr, e))?;
    Ok(out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_owned())
}

pub async fn ensure_internet_gateway(c: &Clients, vpc: &str, tags: &Tags, existing: Option<&str>) -> Result<String> {
    let id = match existing {
        Some(id) => id.to_owned(),
        None => {
            let out = retry::send(
                "ec2:CreateInternetGateway",
                c.ec2.create_internet_gateway().tag_specifications(ec2_spec(ResourceType::InternetGateway, tags)),
                |r| r.send(),
            )
            .await
            .map_err(|e| aws_error("ec2:CreateInternetGateway", vpc, e))?;
            out.internet_gateway().and_then(|g| g.internet_gateway_id()).unwrap_or_default().to_owned()
        }
    };
    let attached = retry::send(
        "ec2:AttachInternetGateway",
        c.ec2.attach_internet_gateway().internet_gateway_id(&id).vpc_id(vpc),
        |r| r.send(),
    )
    .await;
    if let Err(e) = attached {
        if !code(&e).is_some_and(|c| is_already_exists_code(c) || c == "Resource.AlreadyAssociated") {
            return Err(aws_error("ec2:AttachInternetGateway", &id, e));
        }
    }
    Ok(id)
}

/// Allocates an EIP unless it exists; returns its allocation ID and public IP.
pub async fn ensure_elastic_ip(c: &Clients, tags: &Tags, existing: Option<(&str, &str)>) -> Result<(String, String)> {
    if let Some((id, ip)) = existing {
        return Ok((id.to_owned(), ip.to_owned()));
    }
    let out = retry::send(
        "ec2:AllocateAddress",
        c.ec2.allocate_address().domain(DomainType::Vpc).tag_specifications(ec2_spec(ResourceType::ElasticIp, tags)),
        |r| r.send(),
    )
    .await
    .map_err(|e| aws_error("ec2:AllocateAddress", "(new)", e))?;
    Ok((out.allocation_id().unwrap_or_default().to_owned(), out.public_ip().unwrap_or_default().to_owned()))
}

pub async fn ensure_nat_gateway(
    c: &Clients,
    progress: &Progress,
    subnet: &str,
    allocation: &str,
    tags: &Tags,
    existing: Option<&str>,
    timeout: Duration,
) -> Result<String> {
    let id = match existing {
        Some(id) => id.to_owned(),
        None => {
            let out = retry::send(
                "ec2:CreateNatGateway",
                c.ec2
                    .create_nat_gateway()
                    .subnet_id(subnet)
                    .allocation_id(allocation)
                    .tag_specifications(ec2_spec(ResourceType::Natgateway, tags)),
                |r| r.send(),
            )
            .await
            .map_err(|e| aws_error("ec2:CreateNatGateway", subnet, e))?;
            out.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap_or_default().to_owned()
        }
    };
    wait_for(progress, &format!("NAT gateway {id} to be available"), timeout, || async {
        let out =
            retry::send("ec2:DescribeNatGateways", c.ec2.describe_nat_gateways().nat_gateway_ids(&id), |r| r.send())
                .await
                .map_err(|e| aws_error("ec2:DescribeNatGateways", &id, e))?;
        let nat = out.nat_gateways().first();
        let state = nat.and_then(|n| n.state()).map(|s| s.as_str().to_owned()).unwrap_or_else(|| "unknown".into());
        Ok(match state.as_str() {
            "available" => Poll::Ready(()),
            "failed" | "deleted" | "deleting" => Poll::Failed(format!(
                "state {state}: {}",
                nat.and_then(|n| n.failure_message()).unwrap_or("no reason given")
            )),
            _ => Poll::Pending(state),
        })
    })
    .await?;
    Ok(id)
}

/// What the default route of a table points at.
pub enum RouteTarget<'a> {
    Gateway(&'a str),
    Nat(&'a str),
}

pub async fn ensure_route_table(
    c: &Clients,
    vpc: &str,
    target: RouteTarget<'_>,
    subnets: &[String],
    tags: &Tags,
    existing: Option<&str>,
) -> Result<String> {
    let (id, associated, has_default) = match existing {
        None => {
            let out = retry::send(
                "ec2:CreateRouteTable",
                c.ec2.create_route_table().vpc_id(vpc).tag_specifications(ec2_spec(ResourceType::RouteTable, tags)),
                |r| r.send(),
            )
            .await
            .map_err(|e| aws_error("ec2:CreateRouteTable", vpc, e))?;
            (out.route_table().and_then(|r| r.route_table_id()).unwrap_or_default().to_owned(), Vec::new(), false)
        }
        Some(id) => {
            let out =
                retry::send("ec2:DescribeRouteTables", c.ec2.describe_route_tables().route_table_ids(id), |r| r.send())
                    .await
                    .map_err(|e| aws_error("ec2:DescribeRouteTables", id, e))?;
            let table = out.route_tables().first();
            let associated: Vec<String> = table
                .map(|t| t.associations().iter().filter_map(|a| a.subnet_id().map(str::to_owned)).collect())
                .unwrap_or_default();
            let has_default =
                table.is_some_and(|t| t.routes().iter().any(|r| r.destination_cidr_block() == Some("0.0.0.0/0")));
            (id.to_owned(), associated, has_default)
        }
    };
    // The default route and the associations are independent: at once.
    let route = async {
        if has_default {
            return Ok(());
        }
        let route = c.ec2.create_route().route_table_id(&id).destination_cidr_block("0.0.0.0/0");
        let route = match target {
            RouteTarget::Gateway(g) => route.gateway_id(g),
            RouteTarget::Nat(n) => route.nat_gateway_id(n),
        };
        match retry::send("ec2:CreateRoute", route, |r| r.send()).await {
            Err(e) if !code(&e).is_some_and(is_already_exists_code) => Err(aws_error("ec2:CreateRoute", &id, e)),
            _ => Ok(()),
        }
    };
    let associations = subnets.iter().filter(|s| !associated.contains(s)).map(|subnet| {
        let id = &id;
        async move {
            match retry::send(
                "ec2:AssociateRouteTable",
                c.ec2.associate_route_table().route_table_id(id).subnet_id(subnet),
                |r| r.send(),
            )
            .await
            {
                Err(e) if !code(&e).is_some_and(is_already_exists_code) => {
                    Err(aws_error("ec2:AssociateRouteTable", subnet, e))
                }
                _ => Ok(()),
            }
        }
    });
    tokio::try_join!(route, futures::future::try_join_all(associations))?;
    Ok(id)
}

pub async fn ensure_s3_endpoint(
    c: &Clients,
    vpc: &str,
    route_tables: &[String],
    tags: &Tags,
    existing: Option<&str>,
) -> Result<String> {
    if let Some(id) = existing {
        retry::send(
            "ec2:ModifyVpcEndpoint",
            c.ec2.modify_vpc_endpoint().vpc_endpoint_id(id).set_add_route_table_ids(Some(route_tables.to_vec())),
            |r| r.send(),
        )
        .await
        .map_err(|e| aws_error("ec2:ModifyVpcEndpoint", id, e))?;
        return Ok(id.to_owned());
    }
    let out = retry::send(
        "ec2:CreateVpcEndpoint",
        c.ec2
            .create_vpc_endpoint()
            .vpc_id(vpc)
            .service_name(format!("com.amazonaws.{}.s3", c.region))
            .vpc_endpoint_type(VpcEndpointType::Gateway)
            .set_route_table_ids(Some(route_tables.to_vec()))
            .tag_specifications(ec2_spec(ResourceType::VpcEndpoint, tags)),
        |r| r.send(),
    )
    .await
    .map_err(|e| aws_error("ec2:CreateVpcEndpoint", vpc, e))?;
    Ok(out.vpc_endpoint().and_then(|p| p.vpc_endpoint_id()).unwrap_or_default().to_owned())
}
