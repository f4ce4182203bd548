//! The host role's policy, evaluated against every AWS call made with its
//! credentials: by the bootstrap, by the runner's cache, and by the runner's
//! executor — docker-machine's amazonec2 driver or the fleeting plugin. Each
//! call must be allowed on this deployment's resources and denied on
//! another's; removing any one statement must deny a call, named.
//!
//! moto enforces IAM only by action (it passes `*` as the resource and
//! cannot evaluate conditions), so the statements are evaluated here, after
//! AWS's documented logic ("Policy evaluation logic", IAM user guide): an
//! explicit Deny wins, else an Allow whose Action, Resource and every
//! Condition match, else denied.

use std::collections::BTreeMap;

use serde_json::Value;

use gascale::config::{Deployment, Executor};

const ACCOUNT: &str = "123456789012";

/// One call: the IAM action, the resource ARN it acts on and the condition
/// keys AWS fills in for it.
struct Call {
    action: &'static str,
    resource: String,
    context: BTreeMap<&'static str, Vec<String>>,
    /// Where the call comes from.
    source: &'static str,
}

fn call(action: &'static str, resource: impl Into<String>, source: &'static str) -> Call {
    Call { action, resource: resource.into(), context: BTreeMap::new(), source }
}

impl Call {
    fn with(mut self, key: &'static str, values: &[&str]) -> Call {
        self.context.insert(key, values.iter().map(|v| v.to_string()).collect());
        self
    }
}

fn glob(pattern: &str, value: &str, case_insensitive: bool) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = if case_insensitive {
        (pattern.to_lowercase().chars().collect(), value.to_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), value.chars().collect())
    };
    fn go(p: &[char], v: &[char]) -> bool {
        match (p.first(), v.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], v) || (!v.is_empty() && go(p, &v[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &v[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &v[1..]),
            _ => false,
        }
    }
    go(&p, &v)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_owned()).collect(),
        Value::String(s) => vec![s.clone()],
        other => vec![other.to_string()],
    }
}

fn condition_holds(conditions: &Value, context: &BTreeMap<&str, Vec<String>>) -> bool {
    let Some(ops) = conditions.as_object() else { return true };
    ops.iter().all(|(op, keys)| {
        keys.as_object().unwrap().iter().all(|(key, wanted)| {
            let wanted = strings(wanted);
            let have = context.get(key.as_str()).cloned().unwrap_or_default();
            match op.as_str() {
                // Single-valued: the key present and equal to one of the values.
                "StringEquals" => have.len() == 1 && wanted.contains(&have[0]),
                // Holds when the request has no such key.
                "StringEqualsIfExists" => have.is_empty() || (have.len() == 1 && wanted.contains(&have[0])),
                "StringLike" => have.len() == 1 && wanted.iter().any(|w| glob(w, &have[0], false)),
                "ArnLike" | "ArnEquals" => have.len() == 1 && wanted.iter().any(|w| glob(w, &have[0], false)),
                "Bool" => have.len() == 1 && wanted.contains(&have[0]),
                // Every value of the request's key among the allowed ones.
                "ForAllValues:StringEquals" => have.iter().all(|h| wanted.contains(h)),
                other => panic!("condition operator {other} is not evaluated here: add it"),
            }
        })
    })
}

/// Whether `policy` allows `c`.
fn allows(policy: &Value, c: &Call) -> bool {
    let mut allowed = false;
    for s in policy["Statement"].as_array().unwrap() {
        let action = strings(&s["Action"]).iter().any(|a| glob(a, c.action, true));
        let resource = strings(&s["Resource"]).iter().any(|r| glob(r, &c.resource, false));
        if !(action && resource && condition_holds(&s["Condition"], &c.context)) {
            continue;
        }
        match s["Effect"].as_str() {
            Some("Deny") => return false,
            _ => allowed = true,
        }
    }
    allowed
}

fn deployment(name: &str, executor: Executor) -> Deployment {
    let mut d = crate::templates::with_region(crate::templates::example("production.yaml"));
    d.metadata.name = name.into();
    d.runner.executor = Some(executor);
    d
}

/// Every call made with the host role's credentials for deployment `d`,
/// on its own resources (`own`) or on those of deployment `other`.
fn host_calls(d: &Deployment, target: &Deployment) -> Vec<Call> {
    let region = d.region();
    let instance = format!("arn:aws:ec2:{region}:{ACCOUNT}:instance/i-0123456789abcdef0");
    let bucket = target.bucket_name(ACCOUNT, region);
    let name = target.name();
    let mut calls = vec![
        // templates/user-data.sh.hbs `publish`: aws ec2 create-tags on the
        // host itself, key gascale:bootstrap.
        call("ec2:CreateTags", &instance, "bootstrap: publish (user-data.sh)")
            .with("ec2:ResourceTag/gascale:deployment", &[name])
            .with("aws:TagKeys", &["gascale:bootstrap"]),
        // GitLab Runner's S3 cache with IAM credentials (docs: "Use the AWS
        // S3 cache"; runner cache/s3 adapter): objects under the bucket.
        call("s3:GetObject", format!("arn:aws:s3:::{bucket}/runner/project/1/key"), "runner cache"),
        call("s3:PutObject", format!("arn:aws:s3:::{bucket}/runner/project/1/key"), "runner cache"),
        // gitlab-runner MR 5903: without s3:ListBucket cache downloads fail
        // with 403.
        call("s3:ListBucket", format!("arn:aws:s3:::{bucket}"), "runner cache"),
    ];
    if let Some(key) = &target.cache.kms_key {
        // SSE-KMS: a PutObject needs kms:GenerateDataKey, a GetObject
        // kms:Decrypt on the key (S3 user guide, "Using SSE-KMS").
        calls.push(call("kms:GenerateDataKey", key, "runner cache upload (SSE-KMS)"));
        calls.push(call("kms:Decrypt", key, "runner cache download (SSE-KMS)"));
    }
    let role = format!("arn:aws:iam::{ACCOUNT}:role/gascale/{name}/gascale-{name}-worker");
    if d.autoscaler() {
        // fleeting-plugin-aws README, "Recommended IAM Policy", and its
        // provider.go: the group is read and scaled, instances described
        // and terminated through the group, keys pushed by EC2 Instance Connect.
        let group = format!(
            "arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName/{}",
            target.worker_group_name()
        );
        calls.extend([
            call("autoscaling:DescribeAutoScalingGroups", "*", "fleeting-plugin-aws: Init/Update"),
            call("autoscaling:SetDesiredCapacity", &group, "fleeting-plugin-aws: Increase"),
            call("autoscaling:TerminateInstanceInAutoScalingGroup", &group, "fleeting-plugin-aws: Decrease"),
            call("ec2:DescribeInstances", "*", "fleeting-plugin-aws: ConnectInfo"),
            call("ec2-instance-connect:SendSSHPublicKey", &instance, "fleeting-plugin-aws: ConnectInfo")
                .with("ec2:ResourceTag/aws:autoscaling:groupName", &[&target.worker_group_name()]),
        ]);
    } else {
        // docker/machine drivers/amazonec2/amazonec2.go (the GitLab fork
        // keeps its calls): checkPrereqs DescribeKeyPairs; createKeyPair
        // ImportKeyPair; configureSecurityGroups DescribeSecurityGroups
        // (read-only group); Create RunInstances or RequestSpotInstances
        // with DescribeSpotInstanceRequests, DescribeInstances while
        // waiting, CreateTags; Remove TerminateInstances, DeleteKeyPair;
        // Start/Stop/Restart; the instance profile passed with iam:PassRole.
        let key = format!("arn:aws:ec2:{region}:{ACCOUNT}:key-pair/runner-abcdefghi-gsc-{name}-1733140000-0a1b2c3d");
        // docker-machine's tags: Name and what amazonec2-tags passes on.
        let worker_tag_keys = &["Name", "gascale:deployment", "gascale:managed-by", "gascale:role"];
        calls.extend([
            call("ec2:DescribeKeyPairs", "*", "docker-machine checkPrereqs"),
            call("ec2:ImportKeyPair", &key, "docker-machine createKeyPair"),
            call("ec2:DescribeSecurityGroups", "*", "docker-machine configureSecurityGroups"),
            call("ec2:DescribeSubnets", "*", "docker-machine Create"),
            call("ec2:RunInstances", &instance, "docker-machine Create"),
            call(
                "ec2:RequestSpotInstances",
                format!("arn:aws:ec2:{region}:{ACCOUNT}:spot-instances-request/*"),
                "docker-machine Create (spot)",
            ),
            call("ec2:DescribeSpotInstanceRequests", "*", "docker-machine Create (spot)"),
            call("ec2:DescribeInstances", "*", "docker-machine waitForInstance"),
            call("ec2:CreateTags", &instance, "docker-machine configureTags")
                .with("ec2:ResourceTag/gascale:deployment", &[name])
                .with("aws:TagKeys", worker_tag_keys),
            // A worker it just launched carries no tag yet.
            call(
                "ec2:CreateTags",
                format!("arn:aws:ec2:{region}:{ACCOUNT}:instance/i-0fedcba9876543210"),
                "docker-machine configureTags (new)",
            )
            .with("aws:TagKeys", worker_tag_keys),
            call("iam:PassRole", role, "docker-machine Create (instance profile)"),
            call("ec2:TerminateInstances", &instance, "docker-machine Remove")
                .with("ec2:ResourceTag/gascale:deployment", &[name]),
            call("ec2:DeleteKeyPair", &key, "docker-machine Remove"),
            call("ec2:StopInstances", &instance, "docker-machine Stop")
                .with("ec2:ResourceTag/gascale:deployment", &[name]),
            call("ec2:StartInstances", &instance, "docker-machine Start")
                .with("ec2:ResourceTag/gascale:deployment", &[name]),
        ]);
        if d.runner.worker.ami.is_none() {
            // templates/user-data.sh.hbs and runner-update.sh.hbs: aws ssm
            // get-parameter of Canonical's public parameter (no account in
            // a public parameter's ARN).
            calls.push(call(
                "ssm:GetParameter",
                format!(
                    "arn:aws:ssm:{region}::parameter/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
                ),
                "bootstrap: workers' image (user-data.sh)",
            ));
        }
    }
    calls
}

/// Calls whose resource or condition names the deployment: on another
/// deployment they must be denied.
fn scoped(c: &Call) -> bool {
    c.resource != "*"
        && !c.action.ends_with("KeyPair")
        && !c.action.starts_with("kms:")
        && !c.action.starts_with("ssm:")
        && c.action != "ec2:RunInstances"
        && c.action != "ec2:RequestSpotInstances"
        && !c.source.ends_with("(new)")
}

#[test]
fn the_host_role_allows_every_call_made_with_it_and_nothing_of_another_deployment() {
    for executor in [Executor::DockerMachine, Executor::DockerAutoscaler] {
        let d = deployment("ours", executor);
        let other = deployment("theirs", executor);
        let policy = gascale::aws::iam::host_policy(&d, ACCOUNT, &d.bucket_name(ACCOUNT, d.region()));
        for c in host_calls(&d, &d) {
            assert!(allows(&policy, &c), "{executor:?}: {} on {} ({}) is denied", c.action, c.resource, c.source);
        }
        for c in host_calls(&d, &other).into_iter().filter(scoped) {
            assert!(
                !allows(&policy, &c),
                "{executor:?}: {} on another deployment's {} ({}) is allowed",
                c.action,
                c.resource,
                c.source
            );
        }
        // Every statement is needed by some call: without it one is denied.
        let statements = policy["Statement"].as_array().unwrap();
        for (i, s) in statements.iter().enumerate() {
            let mut fewer = policy.clone();
            fewer["Statement"].as_array_mut().unwrap().remove(i);
            let denied: Vec<String> = host_calls(&d, &d)
                .into_iter()
                .filter(|c| !allows(&fewer, c))
                .map(|c| format!("{} ({})", c.action, c.source))
                .collect();
            assert!(!denied.is_empty(), "{executor:?}: statement {} is needed by no call", s["Sid"]);
        }
    }
}

#[test]
fn the_evaluator_denies_what_aws_denies() {
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "arn:aws:ec2:*:*:instance/*",
         "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}},
        {"Effect": "Deny", "Action": "ec2:*", "Resource": "*", "Condition": {"StringEquals": {"ec2:ResourceTag/x": "y"}}},
    ]});
    let tag =
        |keys: &[&str]| call("ec2:CreateTags", "arn:aws:ec2:eu-west-1:1:instance/i-1", "t").with("aws:TagKeys", keys);
    assert!(allows(&policy, &tag(&["a"])));
    assert!(!allows(&policy, &tag(&["a", "b"])), "a key outside the list");
    assert!(!allows(
        &policy,
        &call("ec2:CreateTags", "arn:aws:ec2:eu-west-1:1:volume/vol-1", "t").with("aws:TagKeys", &["a"])
    ));
    assert!(!allows(&policy, &tag(&["a"]).with("ec2:ResourceTag/x", &["y"])), "an explicit deny wins");
    assert!(!allows(&policy, &call("ec2:DeleteVpc", "*", "t")), "nothing allows it");
}

#[test]
fn the_worker_role_holds_no_permission() {
    // Workers run untrusted CI jobs; nothing they run needs AWS (the runner
    // on the host reaches the cache and the fleet). Read back after `up`.
    let c = crate::harness::sdk();
    let name = crate::harness::unique_name("wrk");
    let w = crate::up::minimal(&name, "");
    crate::up::up_json(&w);
    let role = format!("gascale-{name}-worker");
    crate::harness::runtime().block_on(async {
        let attached = c.iam.list_attached_role_policies().role_name(&role).send().await.unwrap();
        assert!(attached.attached_policies().is_empty(), "{:?}", attached.attached_policies());
        let inline = c.iam.list_role_policies().role_name(&role).send().await.unwrap();
        assert!(inline.policy_names().is_empty(), "{:?}", inline.policy_names());
    });
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

#[test]
fn a_worker_role_an_older_gascale_gave_ssm_loses_it() {
    // Before, every role carried AmazonSSMManagedInstanceCore: converging
    // such a role (its spec tag from then) detaches it.
    let c = crate::harness::sdk();
    let name = crate::harness::unique_name("old");
    let w = crate::up::minimal(&name, "");
    crate::up::up_json(&w);
    let role = format!("gascale-{name}-worker");
    crate::harness::runtime().block_on(async {
        let policy = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
        c.iam.attach_role_policy().role_name(&role).policy_arn(policy).send().await.unwrap();
        let old = aws_sdk_iam::types::Tag::builder().key("gascale:spec").value("0123456789abcdef").build().unwrap();
        c.iam.tag_role().role_name(&role).tags(old).send().await.unwrap();
    });
    let plan = w.gascale(&["plan"]);
    assert!(plan.stdout.contains("~ iam/role/worker"), "{}", plan.stdout);
    crate::up::up_json(&w);
    crate::harness::runtime().block_on(async {
        let attached = c.iam.list_attached_role_policies().role_name(&role).send().await.unwrap();
        assert!(attached.attached_policies().is_empty(), "{:?}", attached.attached_policies());
    });
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

/// The operator policy's SSM statements, by resource: moto evaluates only
/// actions, and `ssm:GetParameter` is in two statements with different
/// resources, so the operator test cannot tell them apart.
#[test]
fn the_operator_policy_scopes_parameters_to_the_lock_and_the_public_amis() {
    let policy = gascale::plan::permissions::operator_policy("gascale-*");
    let region = "eu-west-1";
    let own = |path: &str| format!("arn:aws:ssm:{region}:{ACCOUNT}:parameter{path}");
    let name = "ci-123";
    let mut needed = Vec::new();
    for path in [
        gascale::aws::lock::parameter(name),
        format!("{}.takeover", gascale::aws::lock::parameter(name)),
        gascale::aws::intents::parameter(name),
    ] {
        for action in ["ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter"] {
            needed.push(call(action, own(&path), "aws::lock"));
        }
    }
    // reap lists the locks under /gascale: GetParametersByPath acts on the path.
    needed.push(call("ssm:GetParametersByPath", own("/gascale"), "aws::lock::stale"));
    // A public parameter's ARN has no account (SSM user guide, "Working with public parameters").
    let ami = |p: String| call("ssm:GetParameter", format!("arn:aws:ssm:{region}::parameter{p}"), "ec2::host_ami");
    // The host's image (aws::ec2::al2023_ami), the workers' (pins).
    needed.push(ami("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64".into()));
    needed.push(ami(gascale::pins::ubuntu_lts_parameter(gascale::config::Arch::X86_64)));
    needed.push(ami(gascale::pins::ecs_al2023_parameter(gascale::config::Arch::Arm64).into()));
    for c in &needed {
        assert!(allows(&policy, c), "{} on {} ({}) is denied", c.action, c.resource, c.source);
    }
    for (action, resource) in [
        ("ssm:GetParameter", own("/prod/database-password")),
        ("ssm:PutParameter", own("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")),
        ("ssm:DeleteParameter", format!("arn:aws:ssm:{region}::parameter/aws/service/ecs/optimized-ami")),
    ] {
        assert!(!allows(&policy, &call(action, resource.clone(), "none")), "{action} on {resource} is allowed");
    }
    for sid in ["DeploymentLock", "PublicAmiParameters"] {
        let mut without = policy.clone();
        without["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] != sid);
        assert!(needed.iter().any(|c| !allows(&without, c)), "without {sid} every SSM call is still allowed");
    }
}
