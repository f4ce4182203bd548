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
use super::tags::ec2_spec;
use super::wait::{wait_for, Poll};
use super::{retry, Clients};
use crate::error::Result;
use crate::progress::Progress;

type Tags = [(String, String)];

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
    let out = retry::send(
        "ec2:CreateSecurityGroup",
        c.ec2
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(description)
            .tag_specifications(ec2_spec(ResourceType::SecurityGroup, tags)),
        |r| r.send(),
    )
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

/// A rule as one line, `PORTS/PROTOCOL from SOURCE` (`22/tcp from
/// 0.0.0.0/0`): how plans, drift and convergence compare rules.
pub fn line((port, source): &(i32, Source)) -> String {
    match source {
        Source::Cidr(s) | Source::Group(s) => format!("{port}/tcp from {s}"),
    }
}

/// Whether a rule line's source is `source` (a group ID or a CIDR).
pub fn from_source(line: &str, source: &str) -> bool {
    line.strip_suffix(source).is_some_and(|rest| rest.ends_with(" from "))
}

/// A group's ingress split into single-source rules, each with its line:
/// what discovery shows and what convergence can revoke one at a time.
pub fn ingress_rules(permissions: &[IpPermission]) -> Vec<(String, IpPermission)> {
    let mut rules = Vec::new();
    for p in permissions {
        let protocol = match p.ip_protocol().unwrap_or("-1") {
            "-1" => "all",
            other => other,
        };
        let ports = match (p.from_port(), p.to_port()) {
            (Some(a), Some(b)) if a == b && a >= 0 => a.to_string(),
            (Some(a), Some(b)) if a >= 0 => format!("{a}-{b}"),
            _ => "all".to_owned(),
        };
        let single = |b: aws_sdk_ec2::types::builders::IpPermissionBuilder| {
            b.set_ip_protocol(p.ip_protocol().map(str::to_owned))
                .set_from_port(p.from_port())
                .set_to_port(p.to_port())
                .build()
        };
        for r in p.ip_ranges() {
            let line = format!("{ports}/{protocol} from {}", r.cidr_ip().unwrap_or_default());
            rules.push((line, single(IpPermission::builder().ip_ranges(r.clone()))));
        }
        for r in p.ipv6_ranges() {
            let line = format!("{ports}/{protocol} from {}", r.cidr_ipv6().unwrap_or_default());
            rules.push((line, single(IpPermission::builder().ipv6_ranges(r.clone()))));
        }
        for g in p.user_id_group_pairs() {
            let line = format!("{ports}/{protocol} from {}", g.group_id().unwrap_or_default());
            let pair = UserIdGroupPair::builder().set_group_id(g.group_id().map(str::to_owned)).build();
            rules.push((line, single(IpPermission::builder().user_id_group_pairs(pair))));
        }
        for l in p.prefix_list_ids() {
            let line = format!("{ports}/{protocol} from {}", l.prefix_list_id().unwrap_or_default());
            rules.push((line, single(IpPermission::builder().prefix_list_ids(l.clone()))));
        }
    }
    rules.sort_by(|a, b| a.0.cmp(&b.0));
    rules
}

/// Makes the group's ingress rules that `manages` claims exactly `want`:
/// missing ones authorized, the others it claims revoked — a rule added by
/// hand included, whatever its protocol. A group created a moment ago has
/// no rules to look at (`fresh`).
pub async fn converge_ingress(
    c: &Clients,
    group: &str,
    want: &[(i32, Source)],
    manages: impl Fn(&str) -> bool,
    fresh: bool,
) -> Result<()> {
    let have = if fresh {
        Vec::new()
    } else {
        let request = c.ec2.describe_security_groups().group_ids(group);
        let out = retry::send("ec2:DescribeSecurityGroups", request, |r| r.send())
            .await
            .map_err(|e| aws_error("ec2:DescribeSecurityGroups", group, e))?;
        ingress_rules(out.security_groups().first().map(|g| g.ip_permissions()).unwrap_or_default())
    };
    let add: Vec<IpPermission> =
        want.iter().filter(|w| !have.iter().any(|(l, _)| *l == line(w))).map(permission).collect();
    let remove: Vec<IpPermission> =
        have.into_iter().filter(|(l, _)| manages(l) && !want.iter().any(|w| line(w) == *l)).map(|(_, p)| p).collect();
    if !add.is_empty() {
        let request = c.ec2.authorize_security_group_ingress().group_id(group).set_ip_permissions(Some(add));
        if let Err(e) = retry::send("ec2:AuthorizeSecurityGroupIngress", request, |r| r.send()).await {
            if !code(&e).is_some_and(is_already_exists_code) {
                return Err(aws_error("ec2:AuthorizeSecurityGroupIngress", group, e));
            }
        }
    }
    if !remove.is_empty() {
        let request = c.ec2.revoke_security_group_ingress().group_id(group).set_ip_permissions(Some(remove));
        retry::send("ec2:RevokeSecurityGroupIngress", request, |r| r.send())
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
