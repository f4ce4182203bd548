//! Every setting takes part in the diff: walks every leaf key of `gascale
//! schema`, changes it in a converged deployment of either executor, and
//! checks that the plan changes — or that the key is on
//! `plan::NO_PLAN_CHANGE`, the documented list of keys that need none (and
//! that a listed key really changes nothing).

use serde_json::{json, Value};

use super::{build, desired, Action, Known, NO_PLAN_CHANGE};
use crate::aws::discover::{Found, Inventory};
use crate::config::{self, Deployment};

const BASE: &str = "apiVersion: gascale/v1
kind: Deployment
metadata: {name: walk, region: eu-west-1}
runner:
  autoscaling:
    - {periods: ['* 9-18 * * mon-fri'], timezone: Europe/Berlin, idle_count: 2, idle_time: 1800}
backup: {keep: 3}
";

/// Values to try where the type alone says too little (strings with a
/// format, optional settings, lists, maps), by key; the first one that
/// validates and differs from the current value is used.
fn candidates_for(path: &str) -> Vec<Value> {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let by_path = match path {
        "metadata.name" => vec![json!("walk2")],
        "metadata.region" => vec![json!("eu-central-1")],
        "metadata.tags" => vec![json!({"team": "platform"})],
        "metadata.ttl" => vec![json!("6h")],
        "network.cidr" => vec![json!("10.9.0.0/16")],
        "network.public_subnets" => vec![json!(["10.0.0.0/24", "10.0.1.0/24"])],
        "network.private_subnets" => vec![json!(["10.0.128.0/24", "10.0.129.0/24"])],
        "network.allow_cidrs" => vec![json!(["203.0.113.0/24"])],
        "gitlab.version" => vec![json!("19.3.1"), json!("19.2.0")],
        "gitlab.instance_type" => vec![json!("t3.large")],
        "gitlab.ami" | "runner.worker.ami" => vec![json!("ami-0123456789abcdef0")],
        "gitlab.domain" => vec![json!("gitlab.example.com")],
        "gitlab.letsencrypt_email" => vec![json!("ops@example.com")],
        "runner.version" => vec![json!("v19.3.1"), json!("19.3.1")],
        "runner.name" => vec![json!("walker")],
        "runner.worker.instance_type" => vec![json!("t3.large")],
        "runner.worker.max_price" => vec![json!("0.05")],
        "runner.autoscaler.plugin" => vec![json!("registry.gitlab.com/gitlab-org/fleeting/plugins/aws:1.1.0")],
        "runner.autoscaler.instance_types" => vec![json!(["m6i.large"])],
        "runner.registration.tags" => vec![json!(["docker", "walk"])],
        "runner.autoscaling.0.periods" => vec![json!(["* 8-17 * * mon-fri"])],
        "runner.autoscaling.0.timezone" => vec![json!("Asia/Tokyo")],
        "cache.bucket" => vec![json!("walk-cache-bucket")],
        "cache.prefix" => vec![json!("other/")],
        "gitlab.restore_from" => vec![json!("snap-0123456789abcdef0")],
        "backup.keep" => vec![json!(7), json!("30d")],
        "backup.schedule" => vec![json!("24h")],
        "cache.kms_key" => vec![json!("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")],
        "runner.docker_machine.sha256" => vec![json!("ab".repeat(32))],
        "runner.docker_machine.version" => vec![json!("v0.16.2-gitlab.30")],
        "runner.registration.maximum_timeout" => vec![json!(3600)],
        _ => Vec::new(),
    };
    let by_leaf = match leaf {
        "image" | "helper_image" => vec![json!("docker.io/library/alpine:3.20")],
        "volumes" => vec![json!(["/cache", "/builds"])],
        "options" => vec![json!(["amazonec2-use-ebs-optimized-instance=true"])],
        _ => Vec::new(),
    };
    [by_path, by_leaf].concat()
}

/// What a key needs beside it to validate (`cache.kms_key` needs `sse:
/// aws:kms`), set in the base too: the change walked is the key's alone.
fn companions(path: &str) -> Vec<(&'static str, Value)> {
    match path {
        "cache.kms_key" => vec![("cache.sse", json!("aws:kms")), ("cache.kms_key", json!("alias/walk"))],
        "cache.sse" => vec![],
        "gitlab.letsencrypt_email" => vec![("gitlab.domain", json!("gitlab.example.com"))],
        "runner.registration.run_untagged" => vec![("runner.registration.tags", json!(["docker"]))],
        "runner.docker_machine.sha256" | "runner.docker_machine.version" => {
            vec![("runner.docker_machine.sha256", json!("cd".repeat(32)))]
        }
        _ => Vec::new(),
    }
}

/// Further keys a change of `path` must carry: `cache.sse: aws:kms` needs
/// a key (this one, then, changes two settings).
fn with_change(path: &str) -> Vec<(&'static str, Value)> {
    match path {
        "cache.sse" => vec![("cache.kms_key", json!("alias/walk"))],
        _ => Vec::new(),
    }
}

/// Generic changes of a value the schema types.
fn generic(current: &Value, schema: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        out.extend(options.iter().filter(|o| *o != current).cloned());
    }
    match current {
        Value::Bool(b) => out.push(json!(!b)),
        Value::Number(n) if n.is_u64() || n.is_i64() => {
            let n = n.as_i64().unwrap_or(0);
            out.extend([json!(n + 1), json!(n * 2 + 2), json!(n - 1)]);
        }
        Value::Number(n) => out.extend([json!(n.as_f64().unwrap_or(0.0) + 0.5), json!(0.25)]),
        Value::Null => out.extend([json!(true), json!(3), json!(0.5)]),
        _ => {}
    }
    out
}

fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        schema = &root["definitions"][r.trim_start_matches("#/definitions/")];
    }
    for key in ["anyOf", "allOf", "oneOf"] {
        if let Some(object) = schema.get(key).and_then(Value::as_array).and_then(|alternatives| {
            alternatives
                .iter()
                .map(|a| resolve(root, a))
                .find(|a| a.get("properties").is_some() || a.get("enum").is_some())
        }) {
            return object;
        }
    }
    schema
}

/// Every leaf key path with its schema (list items as `.0.`).
fn leaves(root: &Value, schema: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    let schema = resolve(root, schema);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (key, sub) in props {
            let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            leaves(root, sub, &p, out);
        }
        return;
    }
    let items = schema.get("items").map(|i| resolve(root, i));
    if let Some(items) = items.filter(|i| i.get("properties").is_some()) {
        leaves(root, items, &format!("{path}.0"), out);
        return;
    }
    out.push((path.to_owned(), schema.clone()));
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[k],
    })
}

fn set(v: &mut Value, path: &str, value: Value) {
    let mut at = v;
    for k in path.split('.') {
        at = match k.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => {
                if !at.is_object() {
                    *at = json!({});
                }
                at.as_object_mut().expect("object").entry(k).or_insert(Value::Null)
            }
        };
    }
    *at = value;
}

/// A converged inventory of `d`: everything found, each with the
/// fingerprint the plan gives it and live settings equal to its attributes.
fn converged(d: &Deployment) -> Inventory {
    let mut inv = Inventory {
        availability_zones: ["eu-west-1a", "eu-west-1b", "eu-west-1c"].map(String::from).to_vec(),
        ..Inventory::default()
    };
    inv.eip_ips.insert(desired::HOST_EIP.into(), "203.0.113.10".into());
    for want in desired::desired(d, "walk-bucket") {
        let found = Found {
            address: want.address.clone(),
            kind: want.kind,
            id: format!("id-{}", want.address),
            spec: String::new(),
            state: String::new(),
        };
        inv.found.insert(want.address, found);
    }
    let plan = build(d, &known(&inv));
    for step in plan.steps {
        let live = step.attributes.iter().map(|a| (a.key.clone(), a.value.clone())).collect();
        inv.settings.insert(format!("id-{}", step.address), live);
        inv.found.get_mut(&step.address).expect("found").spec = step.fingerprint;
    }
    inv
}

fn known(inv: &Inventory) -> Known<'_> {
    Known { inventory: inv, state: None, account: "123456789012", bucket: "walk-bucket", restored: None }
}

#[test]
fn every_setting_changes_the_plan_or_is_documented_as_needing_no_change() {
    let schema = config::json_schema();
    let mut keys = Vec::new();
    leaves(&schema, &schema, "", &mut keys);
    assert!(keys.len() > 40, "the walk found only {} keys", keys.len());
    let bases: Vec<Value> = ["docker+machine", "docker-autoscaler"]
        .iter()
        .map(|executor| {
            let mut v: Value = serde_yaml::from_str(BASE).expect("base yaml");
            set(&mut v, "runner.executor", json!(executor));
            v
        })
        .collect();
    let mut failures = Vec::new();
    for (path, leaf_schema) in &keys {
        if matches!(path.as_str(), "apiVersion" | "kind") {
            continue; // one value each: nothing to change to
        }
        let mut outcome = None;
        // The executor a key belongs to goes first.
        let order: Vec<&Value> =
            if path.starts_with("runner.autoscaler") { bases.iter().rev().collect() } else { bases.iter().collect() };
        for base in order {
            let mut base = base.clone();
            for (k, v) in companions(path) {
                set(&mut base, k, v);
            }
            let base = &base;
            let d0 = config::parse(&serde_yaml::to_string(base).expect("yaml")).expect("base config is valid");
            let defaulted = serde_json::to_value(&d0).expect("serializes");
            let current = get(&defaulted, path).clone();
            let inv = converged(&d0);
            assert!(!build(&d0, &known(&inv)).has_changes(), "the converged base plans changes");
            let tries = [candidates_for(path), generic(&current, leaf_schema)].concat();
            for value in tries.into_iter().filter(|v| *v != current) {
                let mut changed = base.clone();
                set(&mut changed, path, value.clone());
                for (k, v) in with_change(path) {
                    set(&mut changed, k, v);
                }
                let Ok(d1) = config::parse(&serde_yaml::to_string(&changed).expect("yaml")) else { continue };
                let plan = build(&d1, &known(&inv));
                let what: Vec<String> = plan
                    .steps
                    .iter()
                    .filter(|s| s.action != Action::Keep)
                    .map(|s| format!("{} {}", s.action.symbol(), s.address))
                    .collect();
                outcome = Some((value, what));
                break;
            }
            if outcome.is_some() {
                break;
            }
        }
        let listed = NO_PLAN_CHANGE.iter().any(|(k, _)| k == path);
        match outcome {
            None => failures.push(format!("{path}: no valid change found; add a candidate value")),
            Some((value, what)) if what.is_empty() && !listed => failures
                .push(format!("{path} = {value}: the plan does not change and the key is not on NO_PLAN_CHANGE")),
            Some((value, what)) if !what.is_empty() && listed => {
                failures.push(format!("{path} = {value}: on NO_PLAN_CHANGE, but the plan changes: {what:?}"))
            }
            Some(_) => {}
        }
    }
    let walked: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    for (k, _) in NO_PLAN_CHANGE {
        if !walked.contains(k) {
            failures.push(format!("{k}: on NO_PLAN_CHANGE but not in the schema"));
        }
    }
    assert!(failures.is_empty(), "{} of {} keys:\n{}", failures.len(), keys.len(), failures.join("\n"));
}
