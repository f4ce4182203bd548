//! What the region offers, read before anything is created: the instance
//! types offered in each zone and the processor architectures of a type.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{Filter, LocationType};

use super::errors::on;
use super::Clients;
use crate::error::Result;

/// What the preflight reads of the region and the account, whatever the
/// plan: read beside discovery when the deployment is likely new, as its
/// plan then needs all of it.
#[derive(Debug, Clone)]
pub struct RegionFacts {
    /// VPCs in the region, and the quota (`vpcs`).
    pub vpcs: (usize, usize),
    /// Elastic IPs in the region, and the quota (`elastic_ips`).
    pub elastic_ips: (usize, usize),
    /// Zone → the types offered there, in every zone of the region.
    pub offered: BTreeMap<String, BTreeSet<String>>,
    /// Type → the architectures it runs.
    pub architectures: BTreeMap<String, Vec<String>>,
}

impl RegionFacts {
    /// Every fact at once, for `types`: one round trip.
    pub async fn read(c: &Clients, types: &[String]) -> Result<RegionFacts> {
        let (vpcs, elastic_ips, offered, architectures) =
            tokio::try_join!(vpcs(c), elastic_ips(c), types_by_zone(c, None, types), architectures(c, types))?;
        Ok(RegionFacts { vpcs, elastic_ips, offered, architectures })
    }
}

/// Zone → the types among `types` offered there, in `zones` or, with
/// `None`, every zone of the region (DescribeInstanceTypeOfferings,
/// location type availability-zone).
pub async fn types_by_zone(
    c: &Clients,
    zones: Option<&[String]>,
    types: &[String],
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let location = zones.map(|z| Filter::builder().name("location").set_values(Some(z.to_vec())).build());
    let offerings: Vec<aws_sdk_ec2::types::InstanceTypeOffering> = c
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .set_filters(location.map(|l| vec![l]))
        .filters(Filter::builder().name("instance-type").set_values(Some(types.to_vec())).build())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(on("ec2:DescribeInstanceTypeOfferings", &types.join(",")))?;
    let mut by_zone: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for o in offerings {
        if let (Some(zone), Some(t)) = (o.location(), o.instance_type()) {
            by_zone.entry(zone.to_owned()).or_default().insert(t.as_str().to_owned());
        }
    }
    Ok(by_zone)
}

/// (Elastic IPs allocated in the region, the account's quota of them):
/// DescribeAddresses and the `vpc-max-elastic-ips` account attribute
/// (DescribeAccountAttributes).
pub async fn elastic_ips(c: &Clients) -> Result<(usize, usize)> {
    let (addresses, attributes) = tokio::try_join!(
        async { c.ec2.describe_addresses().send().await.map_err(on("ec2:DescribeAddresses", "(region)")) },
        async {
            c.ec2
                .describe_account_attributes()
                .attribute_names(aws_sdk_ec2::types::AccountAttributeName::from("vpc-max-elastic-ips"))
                .send()
                .await
                .map_err(on("ec2:DescribeAccountAttributes", "vpc-max-elastic-ips"))
        },
    )?;
    let quota = attributes
        .account_attributes()
        .iter()
        .filter(|a| a.attribute_name() == Some("vpc-max-elastic-ips"))
        .flat_map(|a| a.attribute_values())
        .filter_map(|v| v.attribute_value()?.parse().ok())
        .next()
        .unwrap_or(usize::MAX);
    Ok((addresses.addresses().len(), quota))
}

/// "VPCs per Region" in Service Quotas, default 5 (VPC user guide, "Amazon
/// VPC quotas").
pub const VPC_QUOTA_CODE: &str = "L-F678F1CE";
pub const VPC_DEFAULT_QUOTA: usize = 5;

/// (VPCs in the region, the account's quota of them). The quota is the
/// applied value (GetServiceQuota); without one, Service Quotas answers
/// NoSuchResourceException and the default holds (Service Quotas API
/// reference, GetServiceQuota).
pub async fn vpcs(c: &Clients) -> Result<(usize, usize)> {
    let all_vpcs = async {
        let vpcs: std::result::Result<Vec<aws_sdk_ec2::types::Vpc>, _> =
            c.ec2.describe_vpcs().into_paginator().items().send().try_collect().await;
        vpcs
    };
    let (vpcs, quota) =
        tokio::join!(all_vpcs, c.quotas.get_service_quota().service_code("vpc").quota_code(VPC_QUOTA_CODE).send());
    let vpcs = vpcs.map_err(on("ec2:DescribeVpcs", "(region)"))?;
    let quota = match quota {
        Ok(out) => out.quota().and_then(|q| q.value()).map_or(VPC_DEFAULT_QUOTA, |v| v as usize),
        Err(e) if super::errors::code(&e) == Some("NoSuchResourceException") => VPC_DEFAULT_QUOTA,
        Err(e) => return Err(super::errors::aws_error("servicequotas:GetServiceQuota", VPC_QUOTA_CODE, e)),
    };
    Ok((vpcs.len(), quota))
}

/// Type → the architectures it runs (`x86_64`, `arm64`), for known types.
pub async fn architectures(c: &Clients, types: &[String]) -> Result<BTreeMap<String, Vec<String>>> {
    let request =
        c.ec2.describe_instance_types().set_instance_types(Some(types.iter().map(|t| t.as_str().into()).collect()));
    let out = request.send().await.map_err(on("ec2:DescribeInstanceTypes", &types.join(",")))?;
    Ok(out
        .instance_types()
        .iter()
        .filter_map(|t| {
            let name = t.instance_type()?.as_str().to_owned();
            let archs = t.processor_info()?.supported_architectures().iter().map(|a| a.as_str().to_owned()).collect();
            Some((name, archs))
        })
        .collect())
}
