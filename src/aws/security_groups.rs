//! The security groups and their ingress rules. A rule is compared as one
//! line (`22/tcp from 0.0.0.0/0`) by plans, drift and convergence, and
//! converged rule by rule, so a rule opened by hand is seen and revoked.

use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, UserIdGroupPair};

use super::errors::{aws_error, code, is_already_exists_code};
use super::network::Tags;
use super::tags::ec2_spec;
use super::{retry, Clients};
use crate::error::Result;

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
