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

use super::{parameters, Clients};
use crate::error::{Error, Result};

pub fn parameter(deployment: &str) -> String {
    format!("/gascale/{deployment}/intents")
}

/// The outstanding intents (address → name or nonce); empty when none.
pub async fn read(c: &Clients, deployment: &str) -> Result<BTreeMap<String, String>> {
    let name = parameter(deployment);
    let Some(value) = parameters::get(&c.ssm, &name).await? else { return Ok(BTreeMap::new()) };
    serde_json::from_str(&value)
        .map_err(|e| Error::Failed(format!("the SSM parameter {name} is not gascale's ({e}); remove it by hand")))
}

/// Replaces the outstanding intents; none deletes the parameter.
pub async fn write(c: &Clients, deployment: &str, intents: &BTreeMap<String, String>) -> Result<()> {
    let name = parameter(deployment);
    if intents.is_empty() {
        return parameters::delete(&c.ssm, &name).await;
    }
    let value = serde_json::to_string(intents).expect("intents serialize");
    parameters::put(&c.ssm, &name, value, "gascale: what the deployment's last run was about to create", true).await
}
