//! Resources AWS identifies by name — the IAM roles and instance profiles,
//! the bucket — looked up by those names, each checked to be ours (IAM path,
//! bucket tags) rather than merely named like ours.

use super::{Found, Names};
use crate::aws::errors::{aws_error, code, on};
use crate::aws::{tags, Clients};
use crate::error::Result;
use crate::plan::desired::Kind;

/// IAM: the deployment's roles and profiles, each looked up by name (one
/// round of calls, tags included); one of our names at another path than
/// `/gascale/<name>/` is a conflict.
pub(super) async fn discover_iam(c: &Clients, names: &Names<'_>) -> Result<(Vec<Found>, Vec<String>, super::Settings)> {
    let path = crate::aws::iam::path(names.deployment);
    let path = path.as_str();
    let role_tags = std::sync::Mutex::new(super::Settings::new());
    let role_tags = &role_tags;
    let role = |i: usize| {
        let (address, name) = &names.roles[i];
        async move {
            let role = match c.iam.get_role().role_name(name).send().await {
                Ok(out) => out.role().cloned(),
                Err(e) if code(&e) == Some("NoSuchEntity") => None,
                Err(e) => return Err(on("iam:GetRole", name)(e)),
            };
            Ok(match role {
                None => (None, None),
                Some(r) if r.path() != path => (
                    None,
                    Some(format!("IAM role {name} exists at path {} and is not ours (gascale uses {path})", r.path())),
                ),
                Some(r) => {
                    let spec = r
                        .tags()
                        .iter()
                        .find(|t| t.key() == tags::SPEC)
                        .map(|t| t.value().to_owned())
                        .unwrap_or_default();
                    let user = tags::user_tags(r.tags().iter().map(|t| (t.key(), t.value())));
                    role_tags.lock().expect("tags lock").insert(name.clone(), [("tags".to_owned(), user)].into());
                    (
                        Some(Found {
                            address: address.to_string(),
                            kind: Kind::IamRole,
                            id: name.clone(),
                            spec,
                            state: "exists".into(),
                        }),
                        None,
                    )
                }
            })
        }
    };
    let profile = |i: usize| {
        let (address, name) = &names.profiles[i];
        async move {
            let profile = match c.iam.get_instance_profile().instance_profile_name(name).send().await {
                Ok(out) => out.instance_profile().cloned(),
                Err(e) if code(&e) == Some("NoSuchEntity") => None,
                Err(e) => return Err(on("iam:GetInstanceProfile", name)(e)),
            };
            Ok(match profile {
                None => (None, None),
                Some(p) if p.path() != path => (
                    None,
                    Some(format!(
                        "IAM instance profile {name} exists at path {} and is not ours (gascale uses {path})",
                        p.path()
                    )),
                ),
                Some(p) => {
                    // Converged when it holds its role.
                    let held: Vec<&str> = p.roles().iter().map(|r| r.role_name()).collect();
                    let spec = if held.len() == 1 { format!("role:{}", held[0]) } else { tags::PENDING.to_owned() };
                    let found = Found {
                        address: address.to_string(),
                        kind: Kind::InstanceProfile,
                        id: name.clone(),
                        spec,
                        state: "exists".into(),
                    };
                    (Some(found), None)
                }
            })
        }
    };
    // The host role's inline policy, read beside the roles: its statements
    // are what `plan` compares (`statement <Sid>`).
    let host_role = names.roles.iter().find(|(a, _)| *a == crate::plan::desired::ROLE_HOST).map(|(_, n)| n.as_str());
    let policy = async {
        match host_role {
            Some(name) => crate::aws::policy::inline_policy(c, name, crate::aws::iam::INLINE_POLICY).await,
            None => Ok(None),
        }
    };
    let (all, policy): ([(Option<Found>, Option<String>); 4], _) = {
        let (a, b, c2, d, policy) = tokio::try_join!(role(0), role(1), profile(0), profile(1), policy)?;
        ([a, b, c2, d], policy)
    };
    let mut settings = std::mem::take(&mut *role_tags.lock().expect("tags lock"));
    if let Some(live) = host_role.and_then(|name| settings.get_mut(name)) {
        live.extend(crate::aws::policy::keyed(policy.as_ref()));
    }
    let mut found = Vec::new();
    let mut conflicts = Vec::new();
    for (f, conflict) in all {
        found.extend(f);
        conflicts.extend(conflict);
    }
    Ok((found, conflicts, settings))
}

pub(super) enum BucketFound {
    Ours(Found, std::collections::BTreeMap<String, String>),
    Missing,
    Untagged,
    Conflict(String),
}

pub(super) async fn discover_bucket(c: &Clients, deployment: &str, b: &str) -> Result<BucketFound> {
    // The settings are read beside the tags (one round trip, not two) and
    // used only once the tags say the bucket is ours.
    let (tagging, settings) =
        tokio::join!(c.s3.get_bucket_tagging().bucket(b).send(), crate::aws::s3::bucket_settings(c, b));
    match tagging {
        Ok(out) => {
            let get = |k: &str| out.tag_set().iter().find(|t| t.key() == k).map(|t| t.value().to_owned());
            if get(tags::DEPLOYMENT).as_deref() == Some(deployment)
                && get(tags::MANAGED_BY).as_deref() == Some(tags::MANAGER)
            {
                let spec = get(tags::SPEC).unwrap_or_default();
                let mut settings = settings?.unwrap_or_default();
                let all = out.tag_set().iter().map(|t| (t.key(), t.value()));
                settings.insert("tags".into(), tags::user_tags(all));
                let found = Found {
                    address: crate::plan::desired::BUCKET.into(),
                    kind: Kind::Bucket,
                    id: b.into(),
                    spec,
                    state: "exists".into(),
                };
                Ok(BucketFound::Ours(found, settings))
            } else {
                Ok(BucketFound::Conflict(format!(
                    "S3 bucket {b} exists and is not ours (it lacks the tags of deployment {deployment})"
                )))
            }
        }
        Err(e) => match code(&e) {
            Some("NoSuchBucket") => Ok(BucketFound::Missing),
            Some("NoSuchTagSet") => Ok(BucketFound::Untagged),
            Some("AccessDenied") | Some("AllAccessDisabled") => Ok(BucketFound::Conflict(format!(
                "S3 bucket {b}: s3:GetBucketTagging AccessDenied: the bucket exists in another account (set cache.bucket to another name), or the caller lacks the permission (`gascale permissions`)"
            ))),
            _ => Err(aws_error("s3:GetBucketTagging", b, e)),
        },
    }
}

/// docker-autoscaler's launch template and Auto Scaling group, looked up by
/// their name (the same for both), whatever the executor: a group left from
/// before a switch is found too. One of our names without our tags is a
/// conflict.
pub(super) async fn discover_fleet(
    c: &Clients,
    names: &Names<'_>,
) -> Result<(Vec<Found>, Vec<String>, super::Settings)> {
    let name = names.worker_group.as_str();
    let by_name = aws_sdk_ec2::types::Filter::builder().name("launch-template-name").values(name).build();
    let (groups, templates) = tokio::try_join!(
        async {
            c.autoscaling
                .describe_auto_scaling_groups()
                .auto_scaling_group_names(name)
                .send()
                .await
                .map_err(on("autoscaling:DescribeAutoScalingGroups", name))
        },
        async {
            c.ec2
                .describe_launch_templates()
                .filters(by_name)
                .send()
                .await
                .map_err(on("ec2:DescribeLaunchTemplates", name))
        },
    )?;
    let (mut found, mut conflicts, mut settings) = (Vec::new(), Vec::new(), super::Settings::new());
    let ours = |get: &dyn Fn(&str) -> Option<String>| {
        get(tags::DEPLOYMENT).as_deref() == Some(names.deployment)
            && get(tags::MANAGED_BY).as_deref() == Some(tags::MANAGER)
    };
    for g in groups.auto_scaling_groups().iter().filter(|g| g.auto_scaling_group_name() == Some(name)) {
        let get = |k: &str| g.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_owned);
        let deleting = g.status().is_some_and(|s| s.to_ascii_lowercase().contains("delete"));
        if !ours(&get) {
            conflicts.push(format!("Auto Scaling group {name} exists and is not ours (it lacks our tags)"));
        } else if deleting {
            conflicts.push(format!("Auto Scaling group {name} is being deleted; run again once it is gone"));
        } else {
            let types: Vec<&str> = g
                .mixed_instances_policy()
                .and_then(|p| p.launch_template())
                .map(|t| t.overrides().iter().filter_map(|o| o.instance_type()).collect())
                .unwrap_or_default();
            let live = [
                ("min_size", g.min_size().unwrap_or_default().to_string()),
                ("max_size", g.max_size().unwrap_or_default().to_string()),
                ("instance_types", types.join(",")),
                (
                    "tags",
                    tags::user_tags(
                        g.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())),
                    ),
                ),
            ];
            settings.insert(name.to_owned(), live.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            found.push(Found {
                address: get(tags::RESOURCE).unwrap_or_else(|| crate::plan::desired::WORKER_GROUP.into()),
                kind: Kind::AutoScalingGroup,
                id: name.to_owned(),
                spec: get(tags::SPEC).unwrap_or_default(),
                state: format!("{} instances", g.instances().len()),
            });
        }
    }
    for t in templates.launch_templates().iter().filter(|t| t.launch_template_name() == Some(name)) {
        let get = |k: &str| tags::get(t.tags(), k).map(str::to_owned);
        if !ours(&get) {
            conflicts.push(format!("launch template {name} exists and is not ours (it lacks our tags)"));
            continue;
        }
        let user =
            tags::user_tags(t.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default())));
        settings.insert(t.launch_template_id().unwrap_or_default().to_owned(), [("tags".to_owned(), user)].into());
        found.push(Found {
            address: get(tags::RESOURCE).unwrap_or_else(|| crate::plan::desired::LAUNCH_TEMPLATE.into()),
            kind: Kind::LaunchTemplate,
            id: t.launch_template_id().unwrap_or_default().to_owned(),
            spec: get(tags::SPEC).unwrap_or_default(),
            state: format!("version {}", t.latest_version_number().unwrap_or_default()),
        });
    }
    Ok((found, conflicts, settings))
}
