//! Changes made outside gascale: the live settings discovery read, compared
//! with what the config asks for. A difference makes the resource an update
//! whose reason names it, so `plan --detailed-exitcode` exits 2 and `up`
//! puts it back. Today: security-group ingress, the setting a hand-made
//! change endangers most.

use super::desired::{self, Desired, Role, Spec};
use crate::aws::discover::Inventory;
use crate::aws::security_groups::{from_source, line, Source};

/// The host group's rules of its own: HTTP(S) from the allowed networks;
/// with a domain, HTTP from anywhere: Let's Encrypt's HTTP-01 challenge
/// comes from the internet (omnibus-gitlab doc/settings/ssl, "Let's Encrypt
/// fails on reconfigure"), and nginx only redirects it to HTTPS otherwise.
pub fn host_rules(allow_cidrs: &[String], open_http: bool) -> Vec<(i32, Source)> {
    let mut rules: Vec<(i32, Source)> = if open_http {
        vec![(80, Source::Cidr("0.0.0.0/0".into()))]
    } else {
        allow_cidrs.iter().map(|c| (80, Source::Cidr(c.clone()))).collect()
    };
    rules.extend(allow_cidrs.iter().map(|c| (443, Source::Cidr(c.clone()))));
    rules
}

/// The workers' group's rules: SSH, and docker-machine's Docker port unless
/// the workers are docker-autoscaler's, from the host's group.
pub fn worker_rules(ssh_only: bool, host_group: &str) -> Vec<(i32, Source)> {
    let ports: &[i32] = if ssh_only { &[22] } else { &[22, 2376] };
    ports.iter().map(|p| (*p, Source::Group(host_group.to_owned()))).collect()
}

/// What the workers' step adds to the host's group: HTTP(S) from the workers.
pub fn from_workers(workers_group: &str) -> Vec<(i32, Source)> {
    [80, 443].map(|p| (p, Source::Group(workers_group.to_owned()))).to_vec()
}

/// `changed outside gascale: …` for the resource at `want`, if it drifted.
pub fn describe(want: &Desired, inv: &Inventory) -> Option<String> {
    let Spec::SecurityGroup { role, allow_cidrs, ssh_only, open_http, .. } = &want.spec else { return None };
    let rules = |address: &str| inv.id(address).and_then(|id| inv.live.get(id).map(|l| (id, l)));
    let workers = inv.id(desired::SG_WORKERS);
    let lines = |rules: Vec<(i32, Source)>| rules.iter().map(line).collect::<Vec<String>>();
    let (have, want_lines): (Vec<String>, Vec<String>) = match role {
        Role::Host => {
            let (_, live) = rules(desired::SG_HOST)?;
            let have = live.iter().filter(|l| workers.is_none_or(|w| !from_source(l, w))).cloned().collect();
            (have, lines(host_rules(allow_cidrs, *open_http)))
        }
        Role::Workers => {
            let (id, live) = rules(desired::SG_WORKERS)?;
            let (host, host_live) = rules(desired::SG_HOST)?;
            let mut want = lines(worker_rules(*ssh_only, host));
            want.extend(lines(from_workers(id)));
            let mut have = live.clone();
            have.extend(host_live.iter().filter(|l| from_source(l, id)).cloned());
            (have, want)
        }
    };
    let added: Vec<&String> = have.iter().filter(|l| !want_lines.contains(l)).collect();
    let removed: Vec<&String> = want_lines.iter().filter(|l| !have.contains(l)).collect();
    if added.is_empty() && removed.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = added.iter().map(|l| format!("{l} added")).collect();
    parts.extend(removed.iter().map(|l| format!("{l} removed")));
    Some(format!("changed outside gascale: {}", parts.join(", ")))
}
