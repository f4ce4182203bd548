//! The tags that make a resource the deployment's: set at creation on every
//! taggable resource, read back by discovery. `gascale:resource` names the
//! resource's address in the plan; `gascale:spec` is the fingerprint of the
//! settings it was converged to (`pending` until it is complete).

use std::collections::BTreeMap;

pub const DEPLOYMENT: &str = "gascale:deployment";
pub const MANAGED_BY: &str = "gascale:managed-by";
pub const MANAGER: &str = "gascale";
pub const RESOURCE: &str = "gascale:resource";
pub const SPEC: &str = "gascale:spec";
pub const CREATED: &str = "gascale:created";
pub const BOOTSTRAP: &str = "gascale:bootstrap";
/// The bootstrap's step timings (crate::timeline).
pub const TIMELINE: &str = "gascale:timeline";
/// On the host: the fingerprint of the runner configuration applied to it.
pub const RUNNER_SPEC: &str = "gascale:runner-spec";
/// On the host: the executor of the runner configuration applied to it.
pub const EXECUTOR: &str = "gascale:executor";
/// On the host: the GitLab it was launched with (`ce 19.3.0`), so `plan`
/// shows `gitlab: old -> new`.
pub const GITLAB: &str = "gascale:gitlab";
pub const PENDING: &str = "pending";
/// On workers: `worker`.
pub const ROLE: &str = "gascale:role";
/// On the VPC: the deployment's bucket, for `reap`.
pub const BUCKET: &str = "gascale:bucket";
/// On the VPC: when the deployment expires (RFC 3339), for `reap --expired`.
pub const EXPIRES: &str = "gascale:expires";

/// Everything a new resource is tagged with, in a stable order.
pub fn owned(deployment: &str, address: &str, user: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = user.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.extend([
        ("Name".to_owned(), format!("gascale-{deployment}-{}", address.replace('/', "-"))),
        (DEPLOYMENT.to_owned(), deployment.to_owned()),
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (RESOURCE.to_owned(), address.to_owned()),
        (SPEC.to_owned(), PENDING.to_owned()),
        (CREATED.to_owned(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    ]);
    tags
}

/// What marks a resource converged: the user's tags (`metadata.tags`, so a
/// change to them reaches resources that exist) and `gascale:spec`.
pub fn converged(user: &BTreeMap<String, String>, fingerprint: &str) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = user.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    tags.push((SPEC.to_owned(), fingerprint.to_owned()));
    tags
}

/// `metadata.tags` as read back: every tag but gascale's own, `Name` and
/// AWS's (`aws:*`), as `k=v,…` (or `none`), the form `plan` compares.
pub fn user_tags<'a>(all: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut user: Vec<String> = all
        .filter(|(k, _)| !k.starts_with("gascale:") && !k.starts_with("aws:") && *k != "Name")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    user.sort();
    if user.is_empty() {
        "none".into()
    } else {
        user.join(",")
    }
}

/// `tags` with `gascale:spec` set to `fingerprint`: for a resource created
/// complete in one call, or marked complete in one tagging call.
pub fn with_spec(tags: &[(String, String)], fingerprint: &str) -> Vec<(String, String)> {
    let mut done = tags.to_vec();
    done.iter_mut().filter(|(k, _)| k == SPEC).for_each(|(_, v)| *v = fingerprint.to_owned());
    done
}

/// Tags of the runner's workers (both executors): ownership without a plan
/// address, so destroy reaps them as workers and discovery never mistakes
/// one for a resource of the plan.
pub fn worker(deployment: &str, user: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut tags = vec![
        (DEPLOYMENT.to_owned(), deployment.to_owned()),
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (ROLE.to_owned(), "worker".to_owned()),
    ];
    tags.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}

pub fn ec2_tags(tags: &[(String, String)]) -> Vec<aws_sdk_ec2::types::Tag> {
    tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect()
}

pub fn ec2_spec(
    resource: aws_sdk_ec2::types::ResourceType,
    tags: &[(String, String)],
) -> aws_sdk_ec2::types::TagSpecification {
    aws_sdk_ec2::types::TagSpecification::builder().resource_type(resource).set_tags(Some(ec2_tags(tags))).build()
}

/// EC2 filters selecting the deployment's resources.
pub fn ec2_filters(deployment: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    vec![
        aws_sdk_ec2::types::Filter::builder().name(format!("tag:{DEPLOYMENT}")).values(deployment).build(),
        aws_sdk_ec2::types::Filter::builder().name(format!("tag:{MANAGED_BY}")).values(MANAGER).build(),
    ]
}

/// Whether EC2 tags carry both ownership tags of `deployment`.
pub fn is_owned(tags: &[aws_sdk_ec2::types::Tag], deployment: &str) -> bool {
    get(tags, DEPLOYMENT) == Some(deployment) && get(tags, MANAGED_BY) == Some(MANAGER)
}

pub fn get<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}
