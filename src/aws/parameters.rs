//! SSM Parameter Store calls for gascale's own parameters (the lock and the
//! intents under `/gascale/<name>/`): one place that says what a missing
//! parameter means and how each call is retried.

use super::errors::{code, on};
use super::retry;
use crate::error::Result;

/// The parameter's value; `None` when it does not exist.
pub async fn get(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<String>> {
    match retry::send("ssm:GetParameter", ssm.get_parameter().name(name), |r| r.send()).await {
        Ok(out) => Ok(Some(out.parameter().and_then(|p| p.value()).unwrap_or_default().to_owned())),
        Err(e) if code(&e) == Some("ParameterNotFound") => Ok(None),
        Err(e) => Err(on("ssm:GetParameter", name)(e)),
    }
}

/// Writes a String parameter. Without `overwrite` it is created or SSM
/// answers `ParameterAlreadyExists` (SSM API reference, PutParameter).
pub async fn put(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    value: String,
    description: &str,
    overwrite: bool,
) -> Result<()> {
    let request = ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .description(description)
        .overwrite(overwrite);
    retry::send("ssm:PutParameter", request, |r| r.send()).await.map_err(on("ssm:PutParameter", name))?;
    Ok(())
}

/// Deletes a parameter; one already gone is no error.
pub async fn delete(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<()> {
    match retry::send("ssm:DeleteParameter", ssm.delete_parameter().name(name), |r| r.send()).await {
        Err(e) if code(&e) != Some("ParameterNotFound") => Err(on("ssm:DeleteParameter", name)(e)),
        _ => Ok(()),
    }
}
