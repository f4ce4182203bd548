//! Changes made outside gascale: the live settings discovery read, compared
//! with what the config asks for. A difference makes the resource an update
//! whose reason names it, so `plan --detailed-exitcode` exits 2 and `up`
//! puts it back. Today: security-group ingress, the setting a hand-made
//! change endangers most.

use super::desired::{self, Desired, Role, Spec};
use crate::aws::discover::Inventory;
use crate::aws::network::{line, Source};

/// `changed outside gascale: …` for the resource at `want`, if it drifted.
pub fn describe(want: &Desired, inv: &Inventory) -> Option<String> {
    let Spec::SecurityGroup { role, allow_cidrs, ssh_only, .. } = &want.spec else { return None };
    let rules = |address: &str| inv.id(address).and_then(|id| inv.live.get(id).map(|l| (id, l)));
    let workers = inv.id(desired::SG_WORKERS);
    let from = |id: &str, l: &String| l.ends_with(&format!(" from {id}"));
    let (have, want_lines): (Vec<String>, Vec<String>) = match role {
        Role::Host => {
            let (_, live) = rules(desired::SG_HOST)?;
            let have = live.iter().filter(|l| workers.is_none_or(|w| !from(w, l))).cloned().collect();
            let want =
                allow_cidrs.iter().flat_map(|c| [80, 443].map(|p| line(&(p, Source::Cidr(c.clone()))))).collect();
            (have, want)
        }
        Role::Workers => {
            let (id, live) = rules(desired::SG_WORKERS)?;
            let (host, host_live) = rules(desired::SG_HOST)?;
            let ports: &[i32] = if *ssh_only { &[22] } else { &[22, 2376] };
            let mut want: Vec<String> = ports.iter().map(|p| line(&(*p, Source::Group(host.to_owned())))).collect();
            want.extend([80, 443].map(|p| line(&(p, Source::Group(id.to_owned())))));
            let mut have = live.clone();
            have.extend(host_live.iter().filter(|l| from(id, l)).cloned());
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
