//! The runner's workers: instances docker-machine launched on its own, with
//! their spot requests and key pairs. gascale never created them, so it finds
//! them by the deployment tag the runner passes on (`amazonec2-tags`) or by
//! the machine name in the deployment's VPC — and reaps them in batches.

use std::time::Duration;

use aws_sdk_ec2::types::{Filter, Instance, SpotInstanceRequest};
use serde::{Deserialize, Serialize};

use super::errors::on;
use super::tags::{self, ec2_filters};
use super::{retry, Clients};
use crate::error::Result;
use crate::progress::Progress;

/// Every docker-machine worker's name contains this (the runner's
/// MachineName). Short on purpose: see `machine_name`.
pub const MACHINE_NAME_MARK: &str = "gsc";

/// The runner's `MachineName` for the deployment. GitLab Runner names a
/// machine `runner-` + its short token (at most 9 characters, helpers/
/// shorten_token.go, RFC 1123-cleaned by helpers/dns) + `-` + this with `%s`
/// = `<unix time>-<8 hex>` (executors/docker/machine/name.go), and
/// docker-machine makes that the worker's hostname, which Linux caps at 64
/// characters (HOST_NAME_MAX; the runner FAQ shows the `sudo hostname`
/// failure). 7 + 9 + 1 + (4 + 20 + 1 + 19) = 61 for a 20-character name.
pub fn machine_name(deployment: &str) -> String {
    format!("{MACHINE_NAME_MARK}-{deployment}-%s")
}

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

/// Whether a key pair is one docker-machine made for this deployment's
/// workers. GitLab Runner names a machine `runner-<short token>-` + its
/// MachineName with `%s` = `<unix time>-<8 hex>` (gitlab-runner
/// executors/docker/machine/name.go), and docker-machine's amazonec2 driver
/// names the key pair after the machine (`createKeyPair`: `keyName :=
/// d.MachineName`; rancher's fork appends `-<random>`). Anchored on the time
/// and hex after the deployment's name, so `demo` never matches `demo-2`.
pub fn is_worker_key(name: &str, deployment: &str) -> bool {
    let marker = format!("-{MACHINE_NAME_MARK}-{deployment}-");
    let Some(rest) = name.strip_prefix("runner-").and_then(|n| n.split_once(&marker)).map(|(_, rest)| rest) else {
        return false;
    };
    let mut parts = rest.splitn(3, '-');
    let time = parts.next().unwrap_or_default();
    let hex = parts.next().unwrap_or_default();
    let suffix = parts.next();
    (9..=11).contains(&time.len())
        && time.bytes().all(|b| b.is_ascii_digit())
        && hex.len() == 8
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
        && suffix.is_none_or(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
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

/// Finds the workers: a few paginated describes, however many there are.
pub async fn find(
    c: &Clients,
    deployment: &str,
    vpc: Option<&str>,
    subnets: &[String],
    scope: Scope,
) -> Result<Workers> {
    let live = |i: &Instance| {
        !matches!(i.state().and_then(|s| s.name()).map(|n| n.as_str()), Some("terminated") | Some("shutting-down"))
    };
    let named = |i: &Instance| tags::get(i.tags(), "Name").is_some_and(|n| n.contains(MACHINE_NAME_MARK));
    let host = |i: &Instance| tags::get(i.tags(), tags::RESOURCE).is_some();
    let mut found: Vec<Instance> = Vec::new();
    for i in instances(c, ec2_filters(deployment), deployment).await? {
        let ours = tags::get(i.tags(), tags::DEPLOYMENT) == Some(deployment);
        if ours && (scope == Scope::All || named(&i)) && !host(&i) && live(&i) {
            found.push(i);
        }
    }
    if let Some(vpc) = vpc {
        // docker-machine tags an instance only once it runs (rancher/machine
        // amazonec2.go: spot instances are tagged after "running"), so one it
        // was still creating has no tag and no name. On destroy the VPC is
        // ours: every instance in it but the host is a worker.
        for i in instances(c, vec![Filter::builder().name("vpc-id").values(vpc).build()], vpc).await? {
            let taken = found.iter().any(|f| f.instance_id() == i.instance_id());
            if (scope == Scope::All || named(&i)) && !host(&i) && live(&i) && !taken {
                found.push(i);
            }
        }
    }
    let spots: Vec<SpotInstanceRequest> = c
        .ec2
        .describe_spot_instance_requests()
        .filters(Filter::builder().name("state").values("open").values("active").build())
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(on("ec2:DescribeSpotInstanceRequests", deployment))?;
    let mut instance_ids: Vec<String> = found.iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
    let in_our_subnets = |r: &SpotInstanceRequest| spot_request_in(r, subnets);
    let spot_requests: Vec<String> = spots
        .iter()
        .filter(|r| {
            let unfulfilled = r.instance_id().is_none() || scope == Scope::All;
            r.instance_id().is_some_and(|i| instance_ids.iter().any(|w| w == i))
                || unfulfilled && (in_our_subnets(r) || tags::get(r.tags(), tags::DEPLOYMENT) == Some(deployment))
        })
        .filter_map(|r| r.spot_instance_request_id().map(str::to_owned))
        .collect();
    // A fulfilled request's instance is a worker even if it was never tagged.
    for r in &spots {
        if spot_requests.iter().any(|id: &String| Some(id.as_str()) == r.spot_instance_request_id()) {
            if let Some(i) = r.instance_id().filter(|i| !instance_ids.iter().any(|w| w == i)) {
                instance_ids.push(i.to_owned());
            }
        }
    }
    // DescribeKeyPairs has no pagination: it answers every key pair at once.
    let keys = retry::send("ec2:DescribeKeyPairs", c.ec2.describe_key_pairs(), |r| r.send())
        .await
        .map_err(on("ec2:DescribeKeyPairs", deployment))?;
    let mut key_pairs: Vec<String> = keys
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name())
        .filter(|n| is_worker_key(n, deployment))
        .map(str::to_owned)
        .collect();
    // And the key of every worker being reaped, whatever its name.
    for key in found.iter().filter_map(|i| i.key_name()) {
        if !key_pairs.iter().any(|k| k == key) && keys.key_pairs().iter().any(|k| k.key_name() == Some(key)) {
            key_pairs.push(key.to_owned());
        }
    }
    instance_ids.sort();
    key_pairs.sort();
    Ok(Workers { instances: instance_ids, spot_requests, key_pairs })
}

/// Whether a spot request launches into one of `subnets`: docker-machine
/// passes the subnet inside the network-interface specification, not as the
/// request's own SubnetId (rancher/machine amazonec2.go `netSpecs`).
pub fn spot_request_in(r: &SpotInstanceRequest, subnets: &[String]) -> bool {
    r.launch_specification().is_some_and(|l| {
        l.subnet_id()
            .into_iter()
            .chain(l.network_interfaces().iter().filter_map(|n| n.subnet_id()))
            .any(|s| subnets.iter().any(|x| x == s))
    })
}

/// Every instance the filters match, all pages.
async fn instances(c: &Clients, filters: Vec<Filter>, what: &str) -> Result<Vec<Instance>> {
    let reservations: Vec<aws_sdk_ec2::types::Reservation> = c
        .ec2
        .describe_instances()
        .set_filters(Some(filters))
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(on("ec2:DescribeInstances", what))?;
    Ok(reservations.iter().flat_map(|r| r.instances()).cloned().collect())
}

/// Cancels the spot requests and terminates the instances, one call each
/// for all of them, waits until they are gone, then deletes the key pairs
/// (EC2 deletes those one at a time only).
pub async fn reap(c: &Clients, progress: &Progress, w: &Workers, timeout: Duration) -> Result<()> {
    if !w.spot_requests.is_empty() {
        retry::send(
            "ec2:CancelSpotInstanceRequests",
            c.ec2.cancel_spot_instance_requests().set_spot_instance_request_ids(Some(w.spot_requests.clone())),
            |r| r.send(),
        )
        .await
        .map_err(on("ec2:CancelSpotInstanceRequests", &format!("{} spot requests", w.spot_requests.len())))?;
    }
    super::delete::terminate(c, progress, &w.instances, timeout).await?;
    for key in &w.key_pairs {
        retry::send("ec2:DeleteKeyPair", c.ec2.delete_key_pair().key_name(key), |r| r.send())
            .await
            .map_err(on("ec2:DeleteKeyPair", key))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_worker_key;

    #[test]
    fn a_spot_request_is_found_by_the_subnet_of_its_network_interface() {
        use aws_sdk_ec2::types::{InstanceNetworkInterfaceSpecification, LaunchSpecification, SpotInstanceRequest};
        let ours = vec!["subnet-1".to_owned()];
        let interface = InstanceNetworkInterfaceSpecification::builder().device_index(0).subnet_id("subnet-1").build();
        let by_interface = SpotInstanceRequest::builder()
            .launch_specification(LaunchSpecification::builder().network_interfaces(interface).build())
            .build();
        let elsewhere = SpotInstanceRequest::builder()
            .launch_specification(LaunchSpecification::builder().subnet_id("subnet-9").build())
            .build();
        assert!(super::spot_request_in(&by_interface, &ours));
        assert!(!super::spot_request_in(&elsewhere, &ours));
    }

    #[test]
    fn worker_keys_are_named_after_their_machine() {
        // runner- + 9-character short token + - + MachineName with %s filled
        // (gitlab-runner name.go); rancher's fork appends -<random>.
        assert!(is_worker_key("runner-abcdefghi-gsc-demo-1733140000-0a1b2c3d", "demo"));
        assert!(is_worker_key("runner-abcdefghi-gsc-demo-1733140000-0a1b2c3d-x7k2p", "demo"));
        assert!(!is_worker_key("runner-abcdefghi-gsc-demo-2-1733140000-0a1b2c3d", "demo"));
        assert!(is_worker_key("runner-abcdefghi-gsc-demo-2-1733140000-0a1b2c3d", "demo-2"));
        assert!(!is_worker_key("gsc-demo-1733140000-0a1b2c3d", "demo"), "no runner- prefix");
        assert!(!is_worker_key("runner-abcdefghi-gsc-demo-notatime-0a1b2c3d", "demo"));
        assert!(!is_worker_key("my-own-key", "demo"));
    }
}
