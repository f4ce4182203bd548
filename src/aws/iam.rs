//! IAM: the host and worker roles with their policies, and their instance
//! profiles, all under the path `/gascale/<name>/` so they are found without
//! the tagging API.

use serde_json::json;

use super::errors::{aws_error, code, is_already_exists_code};
use super::{retry, Clients};
use crate::config::Deployment;
use crate::error::Result;
use crate::plan::desired::{role_name, Role};

pub const SSM_CORE: &str = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
pub const INLINE_POLICY: &str = "gascale";

pub fn path(deployment: &str) -> String {
    format!("/gascale/{deployment}/")
}

fn arn(account: &str, kind: &str, d: &Deployment, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{}{name}", path(d.name()))
}

pub fn role_arn(account: &str, d: &Deployment, role: Role) -> String {
    arn(account, "role", d, &role_name(d, role))
}

/// The host's inline policy: what its executor needs — docker+machine's EC2
/// calls (destructive ones only on instances tagged with this deployment)
/// and passing the worker role; or the fleeting plugin's scaling of this
/// deployment's Auto Scaling group only — and the cache bucket only.
pub fn host_policy(d: &Deployment, account: &str, bucket: &str) -> serde_json::Value {
    let mut statements =
        if d.autoscaler() { autoscaler_statements(d, account) } else { docker_machine_statements(d, account) };
    if d.autoscaler() {
        // The bootstrap publishes its progress as the `gascale:bootstrap` tag
        // on its own instance (templates/user-data.sh.hbs `publish`);
        // AmazonSSMManagedInstanceCore grants no ec2:CreateTags (AWS managed
        // policy reference). This instance and this tag key only. (With
        // docker+machine, DockerMachineTagWorkers covers it.)
        statements.push(json!({
            "Sid": "PublishBootstrapStatus",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": format!("arn:aws:ec2:{}:{account}:instance/*", d.region()),
            "Condition": {
                "StringEquals": { "ec2:ResourceTag/gascale:deployment": d.name() },
                "ForAllValues:StringEquals": { "aws:TagKeys": [super::tags::BOOTSTRAP] }
            }
        }));
    }
    statements.extend([
        json!({
            "Sid": "RunnerCacheObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }),
        json!({
            "Sid": "RunnerCacheBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": format!("arn:aws:s3:::{bucket}")
        }),
    ]);
    if let Some(key) = &d.cache.kms_key {
        statements.push(json!({
            "Sid": "RunnerCacheKms",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn docker_machine_statements(d: &Deployment, account: &str) -> Vec<serde_json::Value> {
    let own = json!({ "StringEquals": { "ec2:ResourceTag/gascale:deployment": d.name() } });
    vec![
        json!({
            "Sid": "DockerMachineRead",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeKeyPairs",
                "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeImages",
                "ec2:DescribeSpotInstanceRequests", "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeAvailabilityZones", "ec2:DescribeVpcs", "ec2:DescribeTags"
            ],
            "Resource": "*"
        }),
        json!({
            "Sid": "DockerMachineLaunch",
            "Effect": "Allow",
            "Action": [
                "ec2:RunInstances", "ec2:RequestSpotInstances", "ec2:CancelSpotInstanceRequests",
                "ec2:CreateKeyPair", "ec2:ImportKeyPair", "ec2:DeleteKeyPair"
            ],
            "Resource": "*"
        }),
        // docker-machine tags a worker after it runs (its Name and
        // amazonec2-tags): a new, untagged one or one of this deployment's,
        // never another deployment's.
        json!({
            "Sid": "DockerMachineTagWorkers",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": { "StringEqualsIfExists": { "ec2:ResourceTag/gascale:deployment": d.name() } }
        }),
        json!({
            "Sid": "DockerMachineOwnInstances",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:RebootInstances"],
            "Resource": "*",
            "Condition": own
        }),
        json!({
            "Sid": "PassWorkerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role_arn(account, d, Role::Workers)
        }),
    ]
}

/// The ARN of the deployment's worker group, any group ID: the policy is
/// written before the group exists.
pub fn worker_group_arn(d: &Deployment, account: &str) -> String {
    format!(
        "arn:aws:autoscaling:{}:{account}:autoScalingGroup:*:autoScalingGroupName/{}",
        d.region(),
        d.worker_group_name()
    )
}

/// The fleeting plugin's calls: scaling and terminating in this group only,
/// reading groups and instances, and pushing an SSH key only to instances of
/// this group.
fn autoscaler_statements(d: &Deployment, account: &str) -> Vec<serde_json::Value> {
    vec![
        json!({
            "Sid": "FleetingScaleGroup",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": worker_group_arn(d, account)
        }),
        json!({
            "Sid": "FleetingRead",
            "Effect": "Allow",
            "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
            "Resource": "*"
        }),
        json!({
            "Sid": "FleetingConnect",
            "Effect": "Allow",
            "Action": "ec2-instance-connect:SendSSHPublicKey",
            "Resource": format!("arn:aws:ec2:{}:{account}:instance/*", d.region()),
            "Condition": { "StringEquals": { "ec2:ResourceTag/aws:autoscaling:groupName": d.worker_group_name() } }
        }),
    ]
}

fn iam_tags(tags: &[(String, String)]) -> Vec<aws_sdk_iam::types::Tag> {
    tags.iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value"))
        .collect()
}

fn trust_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": "ec2.amazonaws.com" }, "Action": "sts:AssumeRole" }]
    })
    .to_string()
}

/// Creates the role if missing, then puts its policies; idempotent.
pub async fn ensure_role(
    c: &Clients,
    d: &Deployment,
    name: &str,
    tags: &[(String, String)],
    inline: Option<&serde_json::Value>,
    exists: bool,
) -> Result<String> {
    if !exists {
        let created = retry::send(
            "iam:CreateRole",
            c.iam
                .create_role()
                .role_name(name)
                .path(path(d.name()))
                .assume_role_policy_document(trust_policy())
                .description(format!("gascale deployment {}", d.name()))
                .set_tags(Some(iam_tags(tags))),
            |r| r.send(),
        )
        .await;
        if let Err(e) = created {
            if !code(&e).is_some_and(is_already_exists_code) {
                return Err(aws_error("iam:CreateRole", name, e));
            }
        }
    }
    // One write at a time: IAM answers ConcurrentModification to two writes
    // on one role at once (terraform role_policy_attachment.go retries it).
    // gascale reaches the host through SSM Run Command: the host role gets
    // AmazonSSMManagedInstanceCore. The workers run untrusted CI jobs and
    // need no AWS access: their role holds nothing (an older one loses it).
    let attach = async {
        if inline.is_some() {
            let request = c.iam.attach_role_policy().role_name(name).policy_arn(SSM_CORE);
            retry::send("iam:AttachRolePolicy", request, |r| r.send())
                .await
                .map(drop)
                .map_err(|e| aws_error("iam:AttachRolePolicy", name, e))
        } else if exists {
            let request = c.iam.detach_role_policy().role_name(name).policy_arn(SSM_CORE);
            match retry::send("iam:DetachRolePolicy", request, |r| r.send()).await {
                Err(e) if !gone(&e) => Err(aws_error("iam:DetachRolePolicy", name, e)),
                _ => Ok(()),
            }
        } else {
            Ok(())
        }
    };
    let put = async {
        let Some(doc) = inline else { return Ok(()) };
        retry::send(
            "iam:PutRolePolicy",
            c.iam.put_role_policy().role_name(name).policy_name(INLINE_POLICY).policy_document(doc.to_string()),
            |r| r.send(),
        )
        .await
        .map(drop)
        .map_err(|e| aws_error("iam:PutRolePolicy", name, e))
    };
    attach.await?;
    put.await?;
    Ok(name.to_owned())
}

/// Makes sure the account has the EC2 Spot service-linked role: the first
/// spot request of an account creates it only for a caller allowed
/// `iam:CreateServiceLinkedRole`, which the host role (docker-machine's
/// caller) is not, and every request then fails with
/// `AuthFailure.ServiceLinkedRoleCreationNotPermitted` (EC2 user guide, "Spot
/// Instance permissions": with the API "you must ensure that these roles
/// exist"). An existing role answers InvalidInput "has been taken".
pub async fn ensure_spot_service_role(c: &Clients) -> Result<()> {
    let request = c.iam.create_service_linked_role().aws_service_name("spot.amazonaws.com");
    match retry::send("iam:CreateServiceLinkedRole", request, |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) if code(&e).is_some_and(is_already_exists_code) => Ok(()),
        Err(e)
            if code(&e) == Some("InvalidInput")
                && e.as_service_error()
                    .and_then(aws_smithy_types::error::metadata::ProvideErrorMetadata::message)
                    .is_some_and(|m| m.contains("has been taken")) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_error("iam:CreateServiceLinkedRole", "spot.amazonaws.com", e)),
    }
}

/// Records the converged fingerprint on the role.
pub async fn tag_role_spec(c: &Clients, name: &str, tags: &[(String, String)]) -> Result<()> {
    retry::send("iam:TagRole", c.iam.tag_role().role_name(name).set_tags(Some(iam_tags(tags))), |r| r.send())
        .await
        .map_err(|e| aws_error("iam:TagRole", name, e))?;
    Ok(())
}

/// Creates the instance profile if missing and puts the role in it.
pub async fn ensure_profile(
    c: &Clients,
    d: &Deployment,
    name: &str,
    role: &str,
    tags: &[(String, String)],
    exists: bool,
) -> Result<String> {
    if !exists {
        let created = retry::send(
            "iam:CreateInstanceProfile",
            c.iam
                .create_instance_profile()
                .instance_profile_name(name)
                .path(path(d.name()))
                .set_tags(Some(iam_tags(tags))),
            |r| r.send(),
        )
        .await;
        if let Err(e) = created {
            if !code(&e).is_some_and(is_already_exists_code) {
                return Err(aws_error("iam:CreateInstanceProfile", name, e));
            }
        }
    }
    let added = retry::send(
        "iam:AddRoleToInstanceProfile",
        c.iam.add_role_to_instance_profile().instance_profile_name(name).role_name(role),
        |r| r.send(),
    )
    .await;
    if let Err(e) = added {
        // LimitExceeded: the profile already holds a role (ours, by path).
        if !matches!(code(&e), Some("LimitExceeded") | Some("EntityAlreadyExists")) {
            return Err(aws_error("iam:AddRoleToInstanceProfile", name, e));
        }
    }
    Ok(name.to_owned())
}

fn gone<E: aws_smithy_types::error::metadata::ProvideErrorMetadata, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> bool {
    code(e) == Some("NoSuchEntity")
}

/// Takes the role out of its profiles, removes its policies, deletes it.
pub async fn delete_role(c: &Clients, name: &str) -> Result<()> {
    let profiles = match retry::send(
        "iam:ListInstanceProfilesForRole",
        c.iam.list_instance_profiles_for_role().role_name(name),
        |r| r.send(),
    )
    .await
    {
        Ok(out) => out,
        Err(e) if gone(&e) => return Ok(()),
        Err(e) => return Err(aws_error("iam:ListInstanceProfilesForRole", name, e)),
    };
    for p in profiles.instance_profiles() {
        let r = retry::send(
            "iam:RemoveRoleFromInstanceProfile",
            c.iam.remove_role_from_instance_profile().instance_profile_name(p.instance_profile_name()).role_name(name),
            |r| r.send(),
        )
        .await;
        if let Err(e) = r {
            if !gone(&e) {
                return Err(aws_error("iam:RemoveRoleFromInstanceProfile", name, e));
            }
        }
    }
    let attached =
        retry::send("iam:ListAttachedRolePolicies", c.iam.list_attached_role_policies().role_name(name), |r| r.send())
            .await
            .map_err(|e| aws_error("iam:ListAttachedRolePolicies", name, e))?;
    for p in attached.attached_policies() {
        if let Some(arn) = p.policy_arn() {
            retry::send("iam:DetachRolePolicy", c.iam.detach_role_policy().role_name(name).policy_arn(arn), |r| {
                r.send()
            })
            .await
            .map_err(|e| aws_error("iam:DetachRolePolicy", name, e))?;
        }
    }
    let inline = retry::send("iam:ListRolePolicies", c.iam.list_role_policies().role_name(name), |r| r.send())
        .await
        .map_err(|e| aws_error("iam:ListRolePolicies", name, e))?;
    for p in inline.policy_names() {
        retry::send("iam:DeleteRolePolicy", c.iam.delete_role_policy().role_name(name).policy_name(p), |r| r.send())
            .await
            .map_err(|e| aws_error("iam:DeleteRolePolicy", name, e))?;
    }
    match retry::send("iam:DeleteRole", c.iam.delete_role().role_name(name), |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(aws_error("iam:DeleteRole", name, e)),
    }
}

pub async fn delete_profile(c: &Clients, name: &str) -> Result<()> {
    let profile =
        match retry::send("iam:GetInstanceProfile", c.iam.get_instance_profile().instance_profile_name(name), |r| {
            r.send()
        })
        .await
        {
            Ok(out) => out,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(aws_error("iam:GetInstanceProfile", name, e)),
        };
    for role in profile.instance_profile().map(|p| p.roles()).unwrap_or_default() {
        let r = retry::send(
            "iam:RemoveRoleFromInstanceProfile",
            c.iam.remove_role_from_instance_profile().instance_profile_name(name).role_name(role.role_name()),
            |r| r.send(),
        )
        .await;
        if let Err(e) = r {
            if !gone(&e) {
                return Err(aws_error("iam:RemoveRoleFromInstanceProfile", name, e));
            }
        }
    }
    match retry::send("iam:DeleteInstanceProfile", c.iam.delete_instance_profile().instance_profile_name(name), |r| {
        r.send()
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if gone(&e) => Ok(()),
        Err(e) => Err(aws_error("iam:DeleteInstanceProfile", name, e)),
    }
}
