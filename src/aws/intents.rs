//! What a run is about to create where AWS cannot mark it as ours in the
//! same call (a bucket's name: S3 tags only after CreateBucket; the host's
//! launch nonce, its RunInstances ClientToken), kept beside the lock in SSM
//! as well as in the local state file (`State::intents`). A run killed in
//! between — a cancelled CI job — is then completed by the next run on any
//! machine, not only on the one that has its state file: it adopts the
//! bucket and launches the host with the same token (EC2 answers the
//! earlier instance).
//!
//! The parameter `/gascale/<name>/intents` exists only while intents are
//! outstanding; it is written under the deployment's lock.

use std::collections::BTreeMap;

use super::errors::{code, on};
use super::{retry, Clients};
use crate::error::{Error, Result};

pub fn parameter(deployment: &str) -> String {
    format!("/gascale/{deployment}/intents")
}

/// The outstanding intents (address → name or nonce); empty when none.
pub async fn read(c: &Clients, deployment: &str) -> Result<BTreeMap<String, String>> {
    let name = parameter(deployment);
    match retry::send("ssm:GetParameter", c.ssm.get_parameter().name(&name), |r| r.send()).await {
        Ok(out) => {
            let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
            serde_json::from_str(value).map_err(|e| {
                Error::Failed(format!("the SSM parameter {name} is not gascale's ({e}); remove it by hand"))
            })
        }
        Err(e) if code(&e) == Some("ParameterNotFound") => Ok(BTreeMap::new()),
        Err(e) => Err(on("ssm:GetParameter", &name)(e)),
    }
}

/// Replaces the outstanding intents; none deletes the parameter.
pub async fn write(c: &Clients, deployment: &str, intents: &BTreeMap<String, String>) -> Result<()> {
    let name = parameter(deployment);
    if intents.is_empty() {
        return match retry::send("ssm:DeleteParameter", c.ssm.delete_parameter().name(&name), |r| r.send()).await {
            Err(e) if code(&e) != Some("ParameterNotFound") => Err(on("ssm:DeleteParameter", &name)(e)),
            _ => Ok(()),
        };
    }
    let request = c
        .ssm
        .put_parameter()
        .name(&name)
        .value(serde_json::to_string(intents).expect("intents serialize"))
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .description("gascale: what the deployment's last run was about to create")
        .overwrite(true);
    retry::send("ssm:PutParameter", request, |r| r.send()).await.map_err(on("ssm:PutParameter", &name))?;
    Ok(())
}
