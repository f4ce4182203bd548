//! The runner's workers: instances docker-machine launched on its own, with
//! their spot requests and key pairs. gascale never created them, so it finds
//! them by the deployment tag the runner passes on (`amazonec2-tags`) or by
//! the machine name in the deployment's VPC — and reaps them in batches.

use std::time::Duration;

use aws_sdk_ec2::types::Filter;
use serde::{Deserialize, Serialize};

use super::errors::on;
use super::tags::{self, ec2_filters};
use super::Clients;
use crate::error::Result;
use crate::progress::Progress;

/// Every worker's name contains this (the runner's MachineName).
pub const MACHINE_NAME_MARK: &str = "gitlab-docker-machine";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workers {
    pub instances: Vec<String>,
    pub spot_requests: Vec<String>,
    pub key_pairs: Vec<String>,
}

impl Workers {
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.spot_requests.is_empty() && self.key_pairs.is_empty()
    }

    pub fn describe(&self) -> String {
        format!(
            "{} instances, {} spot requests, {} key pairs",
            self.instances.len(),
            self.spot_requests.len(),
            self.key_pairs.len()
        )
    }
}

/// Key pair names docker-machine gives this deployment's machines.
pub fn key_prefix(deployment: &str) -> String {
    format!("{MACHINE_NAME_MARK}-{deployment}-")
}

/// Which workers to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every worker of either executor (destroy).
    All,
    /// docker-machine's only (after a switch to docker-autoscaler, whose
    /// group's instances are the runner's now).
    DockerMachine,
}

/// Finds the workers: four describe calls, however many workers there are.
pub async fn find(
    c: &Clients,
    deployment: &str,
    vpc: Option<&str>,
    subnets: &[String],
    scope: Scope,
) -> Result<Workers> {
    let live = |s: Option<&str>| !matches!(s, Some("terminated") | Some("shutting-down"));
    let in_scope = |t: &[aws_sdk_ec2::types::Tag]| {
        scope == Scope::All || tags::get(t, "Name").is_some_and(|n| n.contains(MACHINE_NAME_MARK))
    };
    let mut instances = Vec::new();
    let tagged = c
        .ec2
        .describe_instances()
        .set_filters(Some(ec2_filters(deployment)))
        .send()
        .await
        .map_err(on("ec2:DescribeInstances", deployment))?;
    for i in tagged.reservations().iter().flat_map(|r| r.instances()) {
        let ours = tags::get(i.tags(), tags::DEPLOYMENT) == Some(deployment);
        if ours
            && in_scope(i.tags())
            && tags::get(i.tags(), tags::RESOURCE).is_none()
            && live(i.state().and_then(|s| s.name()).map(|n| n.as_str()))
        {
            instances.extend(i.instance_id().map(str::to_owned));
        }
    }
    if let Some(vpc) = vpc {
        let in_vpc = c
            .ec2
            .describe_instances()
            .filters(Filter::builder().name("vpc-id").values(vpc).build())
            .send()
            .await
            .map_err(on("ec2:DescribeInstances", vpc))?;
        for i in in_vpc.reservations().iter().flat_map(|r| r.instances()) {
            let named = tags::get(i.tags(), "Name").is_some_and(|n| n.contains(MACHINE_NAME_MARK));
            let host = tags::get(i.tags(), tags::RESOURCE).is_some();
            let id = i.instance_id().unwrap_or_default().to_owned();
            if named && !host && live(i.state().and_then(|s| s.name()).map(|n| n.as_str())) && !instances.contains(&id)
            {
                instances.push(id);
            }
        }
    }
    let spots = c
        .ec2
        .describe_spot_instance_requests()
        .filters(Filter::builder().name("state").values("open").values("active").build())
        .send()
        .await
        .map_err(on("ec2:DescribeSpotInstanceRequests", deployment))?;
    let spot_requests: Vec<String> = spots
        .spot_instance_requests()
        .iter()
        .filter(|r| {
            let unfulfilled = r.instance_id().is_none() || scope == Scope::All;
            r.instance_id().is_some_and(|i| instances.iter().any(|w| w == i))
                || unfulfilled
                    && (r
                        .launch_specification()
                        .and_then(|l| l.subnet_id())
                        .is_some_and(|s| subnets.iter().any(|x| x == s))
                        || tags::get(r.tags(), tags::DEPLOYMENT) == Some(deployment))
        })
        .filter_map(|r| r.spot_instance_request_id().map(str::to_owned))
        .collect();
    // A fulfilled request's instance is a worker even if it was never tagged.
    for r in spots.spot_instance_requests() {
        if spot_requests.iter().any(|id: &String| Some(id.as_str()) == r.spot_instance_request_id()) {
            if let Some(i) = r.instance_id().filter(|i| !instances.iter().any(|w| w == i)) {
                instances.push(i.to_owned());
            }
        }
    }
    let keys = c.ec2.describe_key_pairs().send().await.map_err(on("ec2:DescribeKeyPairs", deployment))?;
    let prefix = key_prefix(deployment);
    let key_pairs = keys
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    instances.sort();
    Ok(Workers { instances, spot_requests, key_pairs })
}

/// Cancels the spot requests and terminates the instances, one call each
/// for all of them, waits until they are gone, then deletes the key pairs
/// (EC2 deletes those one at a time only).
pub async fn reap(c: &Clients, progress: &Progress, w: &Workers, timeout: Duration) -> Result<()> {
    if !w.spot_requests.is_empty() {
        c.ec2
            .cancel_spot_instance_requests()
            .set_spot_instance_request_ids(Some(w.spot_requests.clone()))
            .send()
            .await
            .map_err(on("ec2:CancelSpotInstanceRequests", &format!("{} spot requests", w.spot_requests.len())))?;
    }
    super::delete::terminate(c, progress, &w.instances, timeout).await?;
    for key in &w.key_pairs {
        c.ec2.delete_key_pair().key_name(key).send().await.map_err(on("ec2:DeleteKeyPair", key))?;
    }
    Ok(())
}
