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

pub use super::host_policy::{host_policy, worker_group_arn};

pub fn path(deployment: &str) -> String {
    format!("/gascale/{deployment}/")
}

fn arn(account: &str, kind: &str, d: &Deployment, name: &str) -> String {
    format!("arn:aws:iam::{account}:{kind}{}{name}", path(d.name()))
}

pub fn role_arn(account: &str, d: &Deployment, role: Role) -> String {
    arn(account, "role", d, &role_name(d, role))
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
