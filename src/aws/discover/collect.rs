//! What the EC2 describes of discovery found, turned into rows (kind, ID,
//! tags, state) and the live settings `plan` compares.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Tag;

use super::{Inside, Outside, Settings};
use crate::aws::tags;
use crate::plan::desired::Kind;

pub(super) type Row = (Kind, String, Vec<Tag>, String);

pub(super) fn text(x: Option<&str>) -> String {
    x.unwrap_or_default().to_owned()
}

/// The VPCs, EIPs and volumes as (kind, ID, tags, state), and the EIPs'
/// public IPs by address.
pub(super) fn collect_outside(
    deployment: &str,
    (vpcs, eips, volumes): Outside,
    settings: &mut Settings,
) -> (Vec<Row>, BTreeMap<String, String>) {
    let s = text;
    let mut out = Vec::new();
    for v in vpcs.vpcs() {
        let mut live: BTreeMap<String, String> = [("cidr".to_owned(), s(v.cidr_block()))].into();
        if let Some(expires) = tags::get(v.tags(), tags::EXPIRES) {
            live.insert("expires".into(), expires.to_owned());
        }
        settings.insert(s(v.vpc_id()), live);
        out.push((
            Kind::Vpc,
            s(v.vpc_id()),
            v.tags().to_vec(),
            v.state().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        ));
    }
    let mut eip_ips = BTreeMap::new();
    for a in eips.addresses() {
        let state = if a.association_id().is_some() { "associated" } else { "allocated" };
        if let Some(addr) = tags::get(a.tags(), tags::RESOURCE).filter(|_| tags::is_owned(a.tags(), deployment)) {
            eip_ips.insert(addr.to_owned(), s(a.public_ip()));
        }
        out.push((Kind::ElasticIp, s(a.allocation_id()), a.tags().to_vec(), state.into()));
    }
    for v in volumes.volumes() {
        let state = v.state().map(|x| x.as_str().to_owned()).unwrap_or_default();
        if matches!(state.as_str(), "deleting" | "deleted") {
            continue;
        }
        let size = v.size().unwrap_or_default().to_string();
        let mut live: BTreeMap<String, String> = [("size_gb".to_owned(), size)].into();
        if let Some(gitlab) = tags::get(v.tags(), tags::GITLAB) {
            live.insert("gitlab".into(), gitlab.to_owned());
        }
        settings.insert(s(v.volume_id()), live);
        out.push((Kind::Volume, s(v.volume_id()), v.tags().to_vec(), state));
    }
    (out, eip_ips)
}

/// What lives in the VPC as (kind, ID, tags, state), and the host's
/// bootstrap status.
pub(super) fn collect_inside(deployment: &str, inside: Inside, settings: &mut Settings) -> (Vec<Row>, Option<String>) {
    let (subnets, igws, nats, rtbs, endpoints, sgs, instances) = inside;
    let mut out = Vec::new();
    let s = text;
    let ours = |t: &[Tag]| tags::is_owned(t, deployment);
    for n in subnets.subnets() {
        let live = [("cidr".to_owned(), s(n.cidr_block())), ("zone".to_owned(), s(n.availability_zone()))];
        settings.insert(s(n.subnet_id()), live.into());
        out.push((
            Kind::Subnet,
            s(n.subnet_id()),
            n.tags().to_vec(),
            n.state().map(|x| x.as_str().to_owned()).unwrap_or_default(),
        ));
    }
    for g in igws.internet_gateways() {
        let state = if g.attachments().is_empty() { "detached" } else { "attached" };
        out.push((Kind::InternetGateway, s(g.internet_gateway_id()), g.tags().to_vec(), state.into()));
    }
    for n in nats.nat_gateways() {
        let state = n.state().map(|x| x.as_str().to_owned()).unwrap_or_default();
        if matches!(state.as_str(), "deleted" | "deleting" | "failed") {
            continue;
        }
        out.push((Kind::NatGateway, s(n.nat_gateway_id()), n.tags().to_vec(), state));
    }
    for r in rtbs.route_tables() {
        out.push((Kind::RouteTable, s(r.route_table_id()), r.tags().to_vec(), "available".into()));
    }
    for p in endpoints.vpc_endpoints() {
        let state = p.state().map(|x| x.as_str().to_owned()).unwrap_or_default();
        if matches!(state.to_ascii_lowercase().as_str(), "deleted" | "deleting") {
            continue;
        }
        out.push((Kind::VpcEndpoint, s(p.vpc_endpoint_id()), p.tags().to_vec(), state));
    }
    for g in sgs.security_groups() {
        out.push((Kind::SecurityGroup, s(g.group_id()), g.tags().to_vec(), "available".into()));
    }
    let mut bootstrap = None;
    for i in instances.reservations().iter().flat_map(|r| r.instances()) {
        let state = i.state().and_then(|x| x.name()).map(|x| x.as_str().to_owned()).unwrap_or_default();
        if matches!(state.as_str(), "terminated" | "shutting-down") {
            continue;
        }
        if ours(i.tags()) && tags::get(i.tags(), tags::RESOURCE) == Some(crate::plan::desired::HOST) {
            let instance_type = i.instance_type().map(|t| t.as_str().to_owned()).unwrap_or_default();
            let mut live: BTreeMap<String, String> =
                [("instance_type".to_owned(), instance_type), ("ami".to_owned(), s(i.image_id()))].into();
            if let Some(gitlab) = tags::get(i.tags(), tags::GITLAB) {
                live.insert("gitlab".into(), gitlab.to_owned());
            }
            // The bootstrap's timeline (crate::timeline) and when it started.
            if let Some(timeline) = tags::get(i.tags(), tags::TIMELINE) {
                live.insert("timeline".into(), timeline.to_owned());
            }
            if let Some(launched) = i.launch_time() {
                live.insert("launched".into(), launched.secs().to_string());
            }
            settings.insert(s(i.instance_id()), live);
            bootstrap = tags::get(i.tags(), tags::BOOTSTRAP).map(str::to_owned);
            // The GitLab it runs is `gitlab/app`, converged when it is the
            // configured one.
            if let Some(gitlab) = tags::get(i.tags(), tags::GITLAB) {
                let mut t = i.tags().to_vec();
                t.retain(|t| t.key() != Some(tags::RESOURCE) && t.key() != Some(tags::SPEC));
                t.push(Tag::builder().key(tags::RESOURCE).value(crate::plan::desired::GITLAB_APP).build());
                t.push(Tag::builder().key(tags::SPEC).value(gitlab).build());
                out.push((Kind::GitlabApp, s(i.instance_id()), t, gitlab.to_owned()));
            }
            // The runner's configuration lives on the host: its fingerprint
            // is the host's `gascale:runner-spec` tag.
            if let Some(spec) = tags::get(i.tags(), tags::RUNNER_SPEC) {
                let mut t = i.tags().to_vec();
                t.retain(|t| t.key() != Some(tags::RESOURCE) && t.key() != Some(tags::SPEC));
                t.push(Tag::builder().key(tags::RESOURCE).value(crate::plan::desired::RUNNER_CONFIG).build());
                t.push(Tag::builder().key(tags::SPEC).value(spec).build());
                let executor = tags::get(i.tags(), tags::EXECUTOR).unwrap_or("applied").to_owned();
                out.push((Kind::RunnerConfig, s(i.instance_id()), t, executor));
            }
        }
        out.push((Kind::Instance, s(i.instance_id()), i.tags().to_vec(), state));
    }
    (out, bootstrap)
}
