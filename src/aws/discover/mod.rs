//! Discovery: what of a deployment exists in AWS, found by its tags and IAM
//! path — never by trusting a local file. One filtered describe call per
//! resource type, all at once; only resources carrying both ownership tags
//! (or living under the deployment's IAM path) are reported as owned.

mod collect;
mod named;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Tag;
use serde::Serialize;

use super::errors::{aws_error, on};
use super::tags::{self, ec2_filters};
use super::Clients;
use crate::error::Result;
use crate::plan::desired::Kind;
use collect::{collect_inside, collect_outside, text, Row};
use named::{discover_bucket, discover_fleet, discover_iam, BucketFound};

/// One owned resource as it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Found {
    pub address: String,
    pub kind: Kind,
    pub id: String,
    /// The `gascale:spec` fingerprint it was converged to.
    #[serde(skip)]
    pub spec: String,
    /// Live state as AWS reports it (`available`, `running`, ...).
    pub state: String,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub found: BTreeMap<String, Found>,
    /// Further resources claiming an address that is already taken.
    pub duplicates: Vec<Found>,
    /// Resources with our names that are not ours: `up` must not touch them.
    pub conflicts: Vec<String>,
    /// Public IPs of the deployment's EIPs by address.
    pub eip_ips: BTreeMap<String, String>,
    /// The host's `gascale:bootstrap` tag.
    pub bootstrap: Option<String>,
    /// The region's available zones, sorted by name.
    pub availability_zones: Vec<String>,
    /// Live settings by resource ID, as one line each (a security group's
    /// ingress rules: `22/tcp from 0.0.0.0/0`): what `plan` compares with
    /// the desired settings to find changes made outside gascale.
    pub live: BTreeMap<String, Vec<String>>,
    /// Further live settings by resource ID, keyed as `plan::attrs` keys
    /// them (`instance_type`, `expiration_days`, `statement <Sid>`, …).
    pub settings: BTreeMap<String, BTreeMap<String, String>>,
    /// What a run on another machine was about to create when it stopped
    /// (`aws::intents`): address → name or nonce.
    pub shared_intents: BTreeMap<String, String>,
    /// The preflight's reads of the region, when they went out with
    /// discovery (`offerings::RegionFacts`).
    pub region_facts: Option<super::offerings::RegionFacts>,
}

impl Inventory {
    /// Records a resource if it carries both ownership tags of `deployment`
    /// (checked here too: not every emulated or real filter is exact).
    fn add(&mut self, deployment: &str, kind: Kind, id: &str, tag_list: &[Tag], state: &str) {
        let ours = tags::is_owned(tag_list, deployment);
        let Some(address) = tags::get(tag_list, tags::RESOURCE).filter(|_| ours) else { return };
        let user =
            tags::user_tags(tag_list.iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())));
        self.settings.entry(id.to_owned()).or_default().insert("tags".into(), user);
        let found = Found {
            address: address.to_owned(),
            kind,
            id: id.to_owned(),
            spec: tags::get(tag_list, tags::SPEC).unwrap_or_default().to_owned(),
            state: state.to_owned(),
        };
        if self.found.contains_key(address) {
            self.duplicates.push(found);
        } else {
            self.found.insert(address.to_owned(), found);
        }
    }

    fn merge_settings(&mut self, more: Settings) {
        for (id, settings) in more {
            self.settings.entry(id).or_default().extend(settings);
        }
    }

    /// Address → ID of everything found.
    pub fn ids(&self) -> std::collections::BTreeMap<String, String> {
        self.found.values().map(|f| (f.address.clone(), f.id.clone())).collect()
    }

    pub fn id(&self, address: &str) -> Option<&str> {
        self.found.get(address).map(|f| f.id.as_str())
    }

    /// A live setting (`settings`) of the resource at `address`.
    pub fn setting(&self, address: &str, key: &str) -> Option<&str> {
        self.settings.get(self.id(address)?)?.get(key).map(String::as_str)
    }

    /// When the deployment expires: its VPC's `gascale:expires` tag.
    pub fn expires(&self) -> Option<String> {
        self.setting(crate::plan::desired::VPC, "expires").map(str::to_owned)
    }
}

/// Names the deployment uses for resources AWS identifies by name.
pub struct Names<'a> {
    pub deployment: &'a str,
    pub roles: [(&'a str, String); 2],
    pub profiles: [(&'a str, String); 2],
    /// docker-autoscaler's launch template and Auto Scaling group.
    pub worker_group: String,
}

/// Discovers the deployment. With `network_likely` (a state file names a
/// VPC) every describe goes out in one round; without, a first round asks
/// only for what can exist without the VPC (the VPC itself, EIPs, volumes,
/// IAM, the bucket, the worker group), and the VPC's contents are described
/// only when a VPC was found — a fresh deployment costs half the calls, and
/// a lost state file still loses nothing.
///
/// The bucket's name comes from `bucket`, a future: it needs the account,
/// which STS may still be answering while the other describes run.
pub async fn discover(
    c: &Clients,
    names: &Names<'_>,
    bucket: impl std::future::Future<Output = Result<String>>,
    network_likely: bool,
) -> Result<Inventory> {
    let mut inv = Inventory::default();
    let bucket = async {
        let name = bucket.await?;
        let found = discover_bucket(c, names.deployment, &name).await?;
        Ok::<_, crate::error::Error>((name, found))
    };
    // The bucket's chain (its name may wait for STS) is the longest: polled
    // first, its first call goes out first.
    let ((bucket_name, bucket), ec2, iam, fleet, azs, schedules) = tokio::try_join!(
        bucket,
        discover_ec2(c, names.deployment, network_likely),
        discover_iam(c, names),
        discover_fleet(c, names),
        availability_zones(c),
        super::dlm::policies(c, names.deployment)
    )?;
    // A snapshot schedule is found by the volume tag it targets and owned by its own tags.
    for (id, policy_tags, state) in schedules {
        let t: Vec<Tag> = policy_tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        inv.add(names.deployment, Kind::SnapshotSchedule, &id, &t, &state);
    }
    for f in fleet.0 {
        inv.found.insert(f.address.clone(), f);
    }
    inv.conflicts.extend(fleet.1);
    inv.merge_settings(fleet.2);
    for (kind, id, tag_list, state) in ec2.0 {
        inv.add(names.deployment, kind, &id, &tag_list, &state);
    }
    inv.eip_ips = ec2.1;
    inv.bootstrap = ec2.2;
    inv.live = ec2.3;
    inv.merge_settings(ec2.4);
    inv.merge_settings(iam.2);
    for f in iam.0 {
        inv.found.insert(f.address.clone(), f);
    }
    inv.conflicts.extend(iam.1);
    match bucket {
        BucketFound::Ours(f, settings) => {
            inv.settings.insert(f.id.clone(), settings);
            inv.found.insert(f.address.clone(), f);
        }
        BucketFound::Missing => {}
        BucketFound::Conflict(msg) => inv.conflicts.push(msg),
        BucketFound::Untagged => {
            let address = crate::plan::desired::BUCKET.to_owned();
            let untagged = "untagged".to_owned();
            let found = Found {
                address: address.clone(),
                kind: Kind::Bucket,
                id: bucket_name.clone(),
                spec: untagged.clone(),
                state: untagged,
            };
            inv.found.insert(address, found);
        }
    }
    inv.availability_zones = azs;
    Ok(inv)
}

pub(super) type Settings = BTreeMap<String, BTreeMap<String, String>>;
type Ec2Found = (Vec<Row>, BTreeMap<String, String>, Option<String>, BTreeMap<String, Vec<String>>, Settings);

async fn discover_ec2(c: &Clients, deployment: &str, network_likely: bool) -> Result<Ec2Found> {
    let f = ec2_filters(deployment);
    let e = &c.ec2;
    let outside = async {
        tokio::try_join!(
            async {
                e.describe_vpcs().set_filters(Some(f.clone())).send().await.map_err(on("ec2:DescribeVpcs", deployment))
            },
            async {
                e.describe_addresses()
                    .set_filters(Some(f.clone()))
                    .send()
                    .await
                    .map_err(on("ec2:DescribeAddresses", deployment))
            },
            async {
                e.describe_volumes()
                    .set_filters(Some(f.clone()))
                    .send()
                    .await
                    .map_err(on("ec2:DescribeVolumes", deployment))
            },
        )
    };
    let (outside, inside) = if network_likely {
        let (outside, inside) = tokio::try_join!(outside, inside_vpc(c, deployment))?;
        (outside, Some(inside))
    } else {
        let outside = outside.await?;
        let has_vpc = outside.0.vpcs().iter().any(|v| tags::is_owned(v.tags(), deployment));
        let inside = if has_vpc { Some(inside_vpc(c, deployment).await?) } else { None };
        (outside, inside)
    };
    let mut settings = Settings::new();
    let (mut found, eip_ips) = collect_outside(deployment, outside, &mut settings);
    let mut bootstrap = None;
    let mut live = BTreeMap::new();
    if let Some(inside) = inside {
        let sg_rules = inside.5.security_groups().iter().map(|g| {
            (
                text(g.group_id()),
                super::security_groups::ingress_rules(g.ip_permissions()).into_iter().map(|(l, _)| l).collect(),
            )
        });
        live.extend(sg_rules);
        let (more, host_bootstrap) = collect_inside(deployment, inside, &mut settings);
        found.extend(more);
        bootstrap = host_bootstrap;
    }
    Ok((found, eip_ips, bootstrap, live, settings))
}

pub(super) type Outside = (
    aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsOutput,
    aws_sdk_ec2::operation::describe_addresses::DescribeAddressesOutput,
    aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput,
);

pub(super) type Inside = (
    aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsOutput,
    aws_sdk_ec2::operation::describe_internet_gateways::DescribeInternetGatewaysOutput,
    aws_sdk_ec2::operation::describe_nat_gateways::DescribeNatGatewaysOutput,
    aws_sdk_ec2::operation::describe_route_tables::DescribeRouteTablesOutput,
    aws_sdk_ec2::operation::describe_vpc_endpoints::DescribeVpcEndpointsOutput,
    aws_sdk_ec2::operation::describe_security_groups::DescribeSecurityGroupsOutput,
    aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput,
);

/// What only exists inside the deployment's VPC.
async fn inside_vpc(c: &Clients, deployment: &str) -> Result<Inside> {
    let f = ec2_filters(deployment);
    let e = &c.ec2;
    tokio::try_join!(
        async {
            e.describe_subnets()
                .set_filters(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeSubnets", deployment))
        },
        async {
            e.describe_internet_gateways()
                .set_filters(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeInternetGateways", deployment))
        },
        async {
            e.describe_nat_gateways()
                .set_filter(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeNatGateways", deployment))
        },
        async {
            e.describe_route_tables()
                .set_filters(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeRouteTables", deployment))
        },
        async {
            e.describe_vpc_endpoints()
                .set_filters(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeVpcEndpoints", deployment))
        },
        async {
            e.describe_security_groups()
                .set_filters(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeSecurityGroups", deployment))
        },
        async {
            e.describe_instances()
                .set_filters(Some(f.clone()))
                .send()
                .await
                .map_err(on("ec2:DescribeInstances", deployment))
        },
    )
}

async fn availability_zones(c: &Clients) -> Result<Vec<String>> {
    let out = c
        .ec2
        .describe_availability_zones()
        .filters(aws_sdk_ec2::types::Filter::builder().name("state").values("available").build())
        .send()
        .await
        .map_err(|e| aws_error("ec2:DescribeAvailabilityZones", &c.region, e))?;
    let mut zones: Vec<String> = out
        .availability_zones()
        .iter()
        .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
        .filter_map(|z| z.zone_name().map(str::to_owned))
        .collect();
    zones.sort();
    Ok(zones)
}
