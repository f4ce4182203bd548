//! The network: VPC, subnets, internet and NAT gateways, Elastic IPs, route
//! tables, the S3 gateway endpoint and the security groups. Every `ensure_*`
//! creates what is missing and converges the parts that are not resources of
//! their own (routes, associations, rules), so a re-run completes a resource
//! a killed run left half-done.

use std::time::Duration;

use aws_sdk_ec2::types::{
    AttributeBooleanValue, DomainType, IpPermission, IpRange, ResourceType, UserIdGroupPair, VpcEndpointType,
};

use super::errors::{aws_error, code, is_already_exists_code};
use super::tags::{ec2_spec, SPEC};
use super::wait::{wait_for, Poll};
use super::Clients;
use crate::error::Result;
use crate::progress::Progress;

type Tags = [(String, String)];

/// Records the converged fingerprint on an EC2 resource.
pub async fn set_spec(c: &Clients, id: &str, spec: &str) -> Result<()> {
    let tag = aws_sdk_ec2::types::Tag::builder().key(SPEC).value(spec).build();
    c.ec2.create_tags().resources(id).tags(tag).send().await.map_err(|e| aws_error("ec2:CreateTags", id, e))?;
    Ok(())
}

pub async fn ensure_vpc(c: &Clients, cidr: &str, tags: &Tags, existing: Option<&str>) -> Result<String> {
    let id = match existing {
        Some(id) => id.to_owned(),
        None => {
            let out = c
                .ec2
                .create_vpc()
                .cidr_block(cidr)
                .tag_specifications(ec2_spec(ResourceType::Vpc, tags))
                .send()
                .await
                .map_err(|e| aws_error("ec2:CreateVpc", cidr, e))?;
            out.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_owned()
        }
    };
    c.ec2
        .modify_vpc_attribute()
        .vpc_id(&id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
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
    let out = c
        .ec2
        .create_subnet()
        .vpc_id(vpc)
        .cidr_block(cidr)
        .availability_zone(az)
        .tag_specifications(ec2_spec(ResourceType::Subnet, tags))
        .send()
        .await
        .map_err(|e| aws_error("ec2:CreateSubnet", cidr, e))?;
    Ok(out.subnet().and_then(|s| s.subnet_id()).unwrap_or_default().to_owned())
}

pub async fn ensure_internet_gateway(c: &Clients, vpc: &str, tags: &Tags, existing: Option<&str>) -> Result<String> {
    let id = match existing {
        Some(id) => id.to_owned(),
        None => {
            let out = c
                .ec2
                .create_internet_gateway()
                .tag_specifications(ec2_spec(ResourceType::InternetGateway, tags))
                .send()
                .await
                .map_err(|e| aws_error("ec2:CreateInternetGateway", vpc, e))?;
            out.internet_gateway().and_then(|g| g.internet_gateway_id()).unwrap_or_default().to_owned()
        }
    };
    let attached = c.ec2.attach_internet_gateway().internet_gateway_id(&id).vpc_id(vpc).send().await;
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
    let out = c
        .ec2
        .allocate_address()
        .domain(DomainType::Vpc)
        .tag_specifications(ec2_spec(ResourceType::ElasticIp, tags))
        .send()
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
            let out = c
                .ec2
                .create_nat_gateway()
                .subnet_id(subnet)
                .allocation_id(allocation)
                .tag_specifications(ec2_spec(ResourceType::Natgateway, tags))
                .send()
                .await
                .map_err(|e| aws_error("ec2:CreateNatGateway", subnet, e))?;
            out.nat_gateway().and_then(|n| n.nat_gateway_id()).unwrap_or_default().to_owned()
        }
    };
    wait_for(progress, &format!("NAT gateway {id} to be available"), timeout, || async {
        let out = c
            .ec2
            .describe_nat_gateways()
            .nat_gateway_ids(&id)
            .send()
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
            let out = c
                .ec2
                .create_route_table()
                .vpc_id(vpc)
                .tag_specifications(ec2_spec(ResourceType::RouteTable, tags))
                .send()
                .await
                .map_err(|e| aws_error("ec2:CreateRouteTable", vpc, e))?;
            (out.route_table().and_then(|r| r.route_table_id()).unwrap_or_default().to_owned(), Vec::new(), false)
        }
        Some(id) => {
            let out = c
                .ec2
                .describe_route_tables()
                .route_table_ids(id)
                .send()
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
        match route.send().await {
            Err(e) if !code(&e).is_some_and(is_already_exists_code) => Err(aws_error("ec2:CreateRoute", &id, e)),
            _ => Ok(()),
        }
    };
    let associations = subnets.iter().filter(|s| !associated.contains(s)).map(|subnet| {
        let id = &id;
        async move {
            match c.ec2.associate_route_table().route_table_id(id).subnet_id(subnet).send().await {
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
        c.ec2
            .modify_vpc_endpoint()
            .vpc_endpoint_id(id)
            .set_add_route_table_ids(Some(route_tables.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("ec2:ModifyVpcEndpoint", id, e))?;
        return Ok(id.to_owned());
    }
    let out = c
        .ec2
        .create_vpc_endpoint()
        .vpc_id(vpc)
        .service_name(format!("com.amazonaws.{}.s3", c.region))
        .vpc_endpoint_type(VpcEndpointType::Gateway)
        .set_route_table_ids(Some(route_tables.to_vec()))
        .tag_specifications(ec2_spec(ResourceType::VpcEndpoint, tags))
        .send()
        .await
        .map_err(|e| aws_error("ec2:CreateVpcEndpoint", vpc, e))?;
    Ok(out.vpc_endpoint().and_then(|p| p.vpc_endpoint_id()).unwrap_or_default().to_owned())
}

pub async fn ensure_security_group(
    c: &Clients,
    vpc: &str,
    name: &str,
    description: &str,
    tags: &Tags,
    existing: Option<&str>,
) -> Result<String> {
    if let Some(id) = existing {
        return Ok(id.to_owned());
    }
    let out = c
        .ec2
        .create_security_group()
        .vpc_id(vpc)
        .group_name(name)
        .description(description)
        .tag_specifications(ec2_spec(ResourceType::SecurityGroup, tags))
        .send()
        .await
        .map_err(|e| aws_error("ec2:CreateSecurityGroup", name, e))?;
    Ok(out.group_id().unwrap_or_default().to_owned())
}

/// One ingress rule: TCP port from a CIDR block or another group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Cidr(String),
    Group(String),
}

/// Makes the group's TCP ingress rules of the given kind (CIDR-sourced or
/// group-sourced) exactly `want`: missing ones authorized, others revoked.
/// A group created a moment ago has no rules to look at (`fresh`).
pub async fn converge_ingress(
    c: &Clients,
    group: &str,
    want: &[(i32, Source)],
    groups_not_cidrs: bool,
    fresh: bool,
) -> Result<()> {
    if fresh {
        if want.is_empty() {
            return Ok(());
        }
        let add: Vec<IpPermission> = want.iter().map(permission).collect();
        return match c.ec2.authorize_security_group_ingress().group_id(group).set_ip_permissions(Some(add)).send().await
        {
            Err(e) if !code(&e).is_some_and(is_already_exists_code) => {
                Err(aws_error("ec2:AuthorizeSecurityGroupIngress", group, e))
            }
            _ => Ok(()),
        };
    }
    let out = c
        .ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeSecurityGroups", group, e))?;
    let mut have: Vec<(i32, Source)> = Vec::new();
    for p in out.security_groups().first().map(|g| g.ip_permissions()).unwrap_or_default() {
        let port = p.from_port().unwrap_or(-1);
        if groups_not_cidrs {
            have.extend(
                p.user_id_group_pairs()
                    .iter()
                    .filter_map(|u| u.group_id())
                    .map(|g| (port, Source::Group(g.to_owned()))),
            );
        } else {
            have.extend(p.ip_ranges().iter().filter_map(|r| r.cidr_ip()).map(|r| (port, Source::Cidr(r.to_owned()))));
        }
    }
    let add: Vec<IpPermission> = want.iter().filter(|w| !have.contains(w)).map(permission).collect();
    let remove: Vec<IpPermission> = have.iter().filter(|h| !want.contains(h)).map(permission).collect();
    if !add.is_empty() {
        let r = c.ec2.authorize_security_group_ingress().group_id(group).set_ip_permissions(Some(add)).send().await;
        if let Err(e) = r {
            if !code(&e).is_some_and(is_already_exists_code) {
                return Err(aws_error("ec2:AuthorizeSecurityGroupIngress", group, e));
            }
        }
    }
    if !remove.is_empty() {
        c.ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(remove))
            .send()
            .await
            .map_err(|e| aws_error("ec2:RevokeSecurityGroupIngress", group, e))?;
    }
    Ok(())
}

fn permission((port, source): &(i32, Source)) -> IpPermission {
    let p = IpPermission::builder().ip_protocol("tcp").from_port(*port).to_port(*port);
    match source {
        Source::Cidr(cidr) => p.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        Source::Group(g) => p.user_id_group_pairs(UserIdGroupPair::builder().group_id(g).build()),
    }
    .build()
}
