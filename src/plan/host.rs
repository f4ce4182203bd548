//! The host's inputs and fingerprint: the rendered user-data and launch
//! settings. A change to any of them needs a new host, which `up` refuses
//! without `--allow-host-replacement`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::desired::{self, worker_subnet};
use crate::aws::ec2::public_dns;
use crate::config::Deployment;
use crate::render::{self, HostInputs};

/// The host's template inputs, once every resource they name exists.
pub fn host_inputs(
    d: &Deployment,
    account: &str,
    ids: &BTreeMap<String, String>,
    eip_ips: &BTreeMap<String, String>,
    azs: &[String],
) -> Option<HostInputs> {
    let worker_subnet = worker_subnet(d);
    Some(HostInputs {
        vpc_id: ids.get(desired::VPC)?.clone(),
        worker_subnet_id: ids.get(&worker_subnet)?.clone(),
        worker_az: azs.first()?.clone(),
        worker_sg_name: d.worker_sg_name(),
        worker_profile: d.worker_profile_name(),
        bucket: d.bucket_name(account, d.region()),
        public_dns: public_dns(d.region(), eip_ips.get(desired::HOST_EIP)?),
        public_ip: eip_ips.get(desired::HOST_EIP)?.clone(),
    })
}

/// The host's template inputs from what discovery found.
pub fn found_host_inputs(d: &Deployment, account: &str, found: &crate::aws::discover::Inventory) -> Option<HostInputs> {
    host_inputs(d, account, &found.ids(), &found.eip_ips, &found.availability_zones)
}

/// Hash of everything the host is launched with, the runner's files aside
/// (those are `runner/config`'s).
pub fn host_fingerprint(d: &Deployment, inputs: &HostInputs, ids: &BTreeMap<String, String>) -> String {
    let user_data = match render::render(d, inputs) {
        Ok(r) => r.host_part,
        Err(e) => format!("render error: {e}"),
    };
    let mut h = Sha256::new();
    for part in [
        user_data.as_str(),
        d.gitlab.instance_type.as_str(),
        d.gitlab.ami.as_deref().unwrap_or("ssm-latest"),
        &d.gitlab.root_volume_gb.to_string(),
        &format!("{:?}", d.gitlab.arch),
        ids.get(desired::SG_HOST).map_or("", |s| s.as_str()),
        ids.get(&desired::public_subnet(0)).map_or("", |s| s.as_str()),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What `up` needs to replace the host.
pub const REPLACE_WITH: &str = "a new host is needed (--allow-host-replacement)";

pub const REPLACEMENT_REASON: &str =
    "its user-data or launch settings changed; a new host is needed (--allow-host-replacement)";

/// `d` as a host boots it: with the GitLab its data is at (`data`, the
/// `gascale:gitlab` tag of the host or data volume, e.g. `ee 19.2.4`), so a
/// new host never jumps the data across an upgrade stop; `gitlab/app`
/// upgrades it afterwards.
pub fn booting(d: &Deployment, data: Option<&str>) -> Deployment {
    let mut d = d.clone();
    let configured = super::attrs::gitlab(&d);
    let same = data.and_then(crate::upgrade::parse_tag) == crate::upgrade::parse_tag(&configured);
    if let Some((edition, version)) = data.and_then(crate::upgrade::parse_tag).filter(|_| !same) {
        d.gitlab.version = version.to_string();
        d.gitlab.edition = if edition == "ce" { crate::config::Edition::Ce } else { crate::config::Edition::Ee };
    }
    d
}
