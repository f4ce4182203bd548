//! IAM policy documents as reviewers read them — one line a statement — and
//! the host role's inline policy as it is live, for `plan` to compare.

use serde_json::Value;

use super::errors::{code, on};
use super::Clients;
use crate::error::Result;

fn list(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(items)) => items.iter().map(|i| i.as_str().unwrap_or_default()).collect::<Vec<_>>().join(","),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// Each statement as (Sid, `Allow a,b on r1,r2 if {condition}`).
fn statements(policy: &Value) -> Vec<(String, String)> {
    let statements = match policy.get("Statement") {
        Some(Value::Array(s)) => s.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    statements
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let sid = s.get("Sid").and_then(Value::as_str).map_or_else(|| format!("#{i}"), str::to_owned);
            let mut line = format!(
                "{} {} on {}",
                s.get("Effect").and_then(Value::as_str).unwrap_or("Allow"),
                list(s.get("Action")),
                list(s.get("Resource"))
            );
            if let Some(condition) = s.get("Condition") {
                line.push_str(&format!(" if {condition}"));
            }
            (sid, line)
        })
        .collect()
}

/// A policy as `plan` shows and compares it, the desired one and the live
/// one alike: `policy` → `7 statements: SidA,SidB,…` (`none` without a
/// policy), then `statement <Sid>` → the statement on one line.
pub fn keyed(policy: Option<&Value>) -> Vec<(String, String)> {
    let statements = policy.map(statements).unwrap_or_default();
    let summary = if statements.is_empty() {
        "none".to_owned()
    } else {
        let sids: Vec<&str> = statements.iter().map(|(sid, _)| sid.as_str()).collect();
        format!("{} statements: {}", statements.len(), sids.join(","))
    };
    let mut out = vec![("policy".to_owned(), summary)];
    out.extend(statements.into_iter().map(|(sid, line)| (format!("statement {sid}"), line)));
    out
}

/// The role's inline policy `name`, decoded (IAM returns it URL-encoded:
/// IAM API reference, GetRolePolicy, "PolicyDocument"); `None` if absent.
pub async fn inline_policy(c: &Clients, role: &str, name: &str) -> Result<Option<Value>> {
    match c.iam.get_role_policy().role_name(role).policy_name(name).send().await {
        Ok(out) => {
            let text = percent_encoding::percent_decode_str(out.policy_document()).decode_utf8_lossy().into_owned();
            Ok(serde_json::from_str(&text).ok())
        }
        Err(e) if code(&e) == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(on("iam:GetRolePolicy", role)(e)),
    }
}
