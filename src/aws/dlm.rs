//! Scheduled snapshots of the data volume through Amazon Data Lifecycle
//! Manager: AWS takes and retires them, no machine of the user's needs to
//! stay on. One snapshot-management policy per deployment, targeting the
//! one volume that carries `gascale:snapshot-schedule=<deployment>`, tagging
//! what it takes as gascale's snapshots (`gascale snapshots` lists them).
//!
//! API: DLM API reference, CreateLifecyclePolicy / UpdateLifecyclePolicy /
//! GetLifecyclePolicies / DeleteLifecyclePolicy, PolicyDetails (PolicyType
//! `EBS_SNAPSHOT_MANAGEMENT`, ResourceTypes `VOLUME`, TargetTags, Schedules
//! with a CreateRule — Interval 1, 2, 3, 4, 6, 8, 12 or 24 HOURS, or a
//! CronExpression — and a RetainRule by Count, 1–1000, or by age).

use std::collections::HashMap;

use aws_sdk_dlm::types::{
    CreateRule, IntervalUnitValues, PolicyDetails, PolicyTypeValues, ResourceTypeValues, RetainRule,
    RetentionIntervalUnitValues, Schedule, SettablePolicyStateValues, Tag,
};

use super::errors::{aws_error, code};
use super::{retry, tags, Clients};
use crate::error::Result;

/// The volume tag a deployment's policy targets.
pub const TARGET_TAG: &str = "gascale:snapshot-schedule";

/// The account's default role for snapshot policies, as `aws dlm
/// create-default-role` makes it (EBS user guide, "IAM service roles for
/// Amazon Data Lifecycle Manager"; aws-cli `customizations/dlm/constants.py`):
/// trusted by dlm.amazonaws.com, with the AWS managed policy
/// `service-role/AWSDataLifecycleManagerServiceRole`. Shared by every
/// deployment in the account, so `destroy` leaves it.
pub const DEFAULT_ROLE: &str = "AWSDataLifecycleManagerDefaultRole";
const SERVICE_POLICY: &str = "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole";

/// What a deployment's schedule asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Hours between snapshots, or a `cron(…)` expression.
    pub every: Every,
    pub keep: Retain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Every {
    Hours(i32),
    Cron(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retain {
    Count(i32),
    Days(i32),
}

/// Creates the default role when the account lacks it.
pub async fn ensure_default_role(c: &Clients, account: &str) -> Result<String> {
    let arn = format!("arn:aws:iam::{account}:role/{DEFAULT_ROLE}");
    match c.iam.get_role().role_name(DEFAULT_ROLE).send().await {
        Ok(_) => return Ok(arn),
        Err(e) if code(&e) == Some("NoSuchEntity") => {}
        Err(e) => return Err(aws_error("iam:GetRole", DEFAULT_ROLE, e)),
    }
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "dlm.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    });
    let create = c.iam.create_role().role_name(DEFAULT_ROLE).assume_role_policy_document(trust.to_string());
    match retry::send("iam:CreateRole", create, |r| r.send()).await {
        Ok(_) => {}
        Err(e) if code(&e) == Some("EntityAlreadyExists") => {}
        Err(e) => return Err(aws_error("iam:CreateRole", DEFAULT_ROLE, e)),
    }
    let attach = c.iam.attach_role_policy().role_name(DEFAULT_ROLE).policy_arn(SERVICE_POLICY);
    retry::send("iam:AttachRolePolicy", attach, |r| r.send())
        .await
        .map_err(|e| aws_error("iam:AttachRolePolicy", DEFAULT_ROLE, e))?;
    Ok(arn)
}

fn details(deployment: &str, spec: &ScheduleSpec) -> PolicyDetails {
    let create = match &spec.every {
        Every::Hours(h) => CreateRule::builder().interval(*h).interval_unit(IntervalUnitValues::Hours).build(),
        Every::Cron(expr) => CreateRule::builder().cron_expression(expr).build(),
    };
    let retain = match spec.keep {
        Retain::Count(n) => RetainRule::builder().count(n).build(),
        Retain::Days(n) => RetainRule::builder().interval(n).interval_unit(RetentionIntervalUnitValues::Days).build(),
    };
    let added = [
        (tags::DEPLOYMENT, deployment),
        (tags::MANAGED_BY, tags::MANAGER),
        (tags::ROLE, super::snapshots::ROLE),
        (super::snapshots::REASON, "scheduled"),
    ];
    let schedule = Schedule::builder()
        .name(format!("gascale {deployment}"))
        // The volume's tags come along: `gascale:gitlab`, the GitLab the data is at.
        .copy_tags(true)
        .set_tags_to_add(Some(added.iter().map(|(k, v)| tag(k, v)).collect()))
        .create_rule(create)
        .retain_rule(retain)
        .build();
    PolicyDetails::builder()
        .policy_type(PolicyTypeValues::EbsSnapshotManagement)
        .resource_types(ResourceTypeValues::Volume)
        .target_tags(tag(TARGET_TAG, deployment))
        .schedules(schedule)
        .build()
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// Creates the deployment's policy, or brings an existing one to `spec`;
/// `tags` (the policy's own) carry ownership and the fingerprint.
pub async fn ensure_policy(
    c: &Clients,
    (deployment, account, role_arn): (&str, &str, &str),
    spec: &ScheduleSpec,
    policy_tags: &[(String, String)],
    existing: Option<&str>,
) -> Result<String> {
    let description = format!("gascale {deployment} snapshots of the GitLab data volume");
    let details = details(deployment, spec);
    let tag_map: HashMap<String, String> = policy_tags.iter().cloned().collect();
    if let Some(id) = existing {
        let update = c
            .dlm
            .update_lifecycle_policy()
            .policy_id(id)
            .execution_role_arn(role_arn)
            .state(SettablePolicyStateValues::Enabled)
            .description(description)
            .policy_details(details);
        retry::send("dlm:UpdateLifecyclePolicy", update, |r| r.send())
            .await
            .map_err(|e| aws_error("dlm:UpdateLifecyclePolicy", id, e))?;
        // The policy's ARN (Service Authorization Reference, Amazon Data
        // Lifecycle Manager, resource type `policy`).
        let arn = format!("arn:aws:dlm:{}:{account}:policy/{id}", c.region);
        let tag = c.dlm.tag_resource().resource_arn(&arn).set_tags(Some(tag_map));
        retry::send("dlm:TagResource", tag, |r| r.send()).await.map_err(|e| aws_error("dlm:TagResource", id, e))?;
        return Ok(id.to_owned());
    }
    let create = c
        .dlm
        .create_lifecycle_policy()
        .execution_role_arn(role_arn)
        .description(description)
        .state(SettablePolicyStateValues::Enabled)
        .policy_details(details)
        .set_tags(Some(tag_map));
    let out = retry::send("dlm:CreateLifecyclePolicy", create, |r| r.send())
        .await
        .map_err(|e| aws_error("dlm:CreateLifecyclePolicy", deployment, e))?;
    Ok(out.policy_id().unwrap_or_default().to_owned())
}

/// The deployment's policies as (ID, tags, state).
pub async fn policies(c: &Clients, deployment: &str) -> Result<Vec<(String, Vec<(String, String)>, String)>> {
    let target = format!("{TARGET_TAG}={deployment}");
    let out = c
        .dlm
        .get_lifecycle_policies()
        .target_tags(&target)
        .send()
        .await
        .map_err(|e| aws_error("dlm:GetLifecyclePolicies", deployment, e))?;
    Ok(out
        .policies()
        .iter()
        .map(|p| {
            let t = p.tags().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
            (
                p.policy_id().unwrap_or_default().to_owned(),
                t,
                p.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
            )
        })
        .collect())
}

/// Deletes a policy; one already gone is success.
pub async fn delete_policy(c: &Clients, id: &str) -> Result<()> {
    match retry::send("dlm:DeleteLifecyclePolicy", c.dlm.delete_lifecycle_policy().policy_id(id), |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => Err(aws_error("dlm:DeleteLifecyclePolicy", id, e)),
    }
}
