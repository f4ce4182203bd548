//! A plan that tells the truth: every bucket setting takes part in the
//! diff, and a security-group rule changed by hand shows as drift that
//! `plan --detailed-exitcode` reports and `up` puts back.

use aws_sdk_ec2::types::{IpPermission, IpRange};

use crate::harness::{runtime, sdk, unique_name};
use crate::up::{minimal, up_json};

#[test]
fn a_changed_bucket_setting_is_planned_and_applied() {
    let c = sdk();
    let name = unique_name("life");
    let w = minimal(&name, "cache: {expiration_days: 3}\n");
    let out = up_json(&w);
    let bucket = out["bucket"].as_str().unwrap().to_owned();
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    std::fs::write(w.path().join("gascale.yaml"), yaml.replace("expiration_days: 3", "expiration_days: 5")).unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("~ bucket"), "{}", plan.stdout);
    assert!(plan.stdout.contains("(expiration_days: 3 -> 5)"), "{}", plan.stdout);
    up_json(&w);
    assert_eq!(expiration_days(&c, &bucket), 5);
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0);
    // The same setting changed by hand is drift, and `up` puts it back.
    set_expiration_days(&c, &bucket, 30);
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("(changed outside gascale: expiration_days: 30 -> 5)"), "{}", plan.stdout);
    up_json(&w);
    assert_eq!(expiration_days(&c, &bucket), 5);
    // A launch setting of the host: a replacement, named as such.
    std::fs::write(
        w.path().join("gascale.yaml"),
        std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap() + "gitlab: {instance_type: t3.large}\n",
    )
    .unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("-/+ instance/host"), "{}", plan.stdout);
    assert!(plan.stdout.contains("instance_type: t3.xlarge -> t3.large (forces a new host)"), "{}", plan.stdout);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

fn expiration_days(c: &gascale::aws::Clients, bucket: &str) -> i32 {
    runtime().block_on(async {
        let lc = c.s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await.unwrap();
        lc.rules()
            .iter()
            .find(|r| r.id() == Some("gascale-cache-expiry"))
            .unwrap()
            .expiration()
            .unwrap()
            .days()
            .unwrap()
    })
}

/// The cache rule as someone editing it in the console leaves it.
fn set_expiration_days(c: &gascale::aws::Clients, bucket: &str, days: i32) {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    };
    let rule = LifecycleRule::builder()
        .id("gascale-cache-expiry")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("runner/").build())
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .unwrap();
    runtime().block_on(async {
        c.s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
            .send()
            .await
            .unwrap();
    });
}

/// A statement slipped into the host role's policy and a worker group
/// resized by hand: both drift, both named, both put back by `up`.
#[test]
fn a_policy_statement_and_a_group_size_changed_by_hand_are_drift() {
    let c = sdk();
    let name = unique_name("pol");
    let w = minimal(&name, "runner: {executor: docker-autoscaler}\n");
    up_json(&w);
    let role = format!("gascale-{name}-host");
    let group = format!("gascale-{name}-workers");
    runtime().block_on(async {
        let got = c.iam.get_role_policy().role_name(&role).policy_name("gascale").send().await.unwrap();
        let text = percent_encoding::percent_decode_str(got.policy_document()).decode_utf8().unwrap().into_owned();
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        doc["Statement"].as_array_mut().unwrap().push(serde_json::json!({
            "Sid": "AddedByHand", "Effect": "Allow", "Action": "s3:*", "Resource": "*"
        }));
        c.iam
            .put_role_policy()
            .role_name(&role)
            .policy_name("gascale")
            .policy_document(doc.to_string())
            .send()
            .await
            .unwrap();
        c.autoscaling.update_auto_scaling_group().auto_scaling_group_name(&group).max_size(99).send().await.unwrap();
    });
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains("~ iam/role/host")
            && plan.stdout.contains("statement AddedByHand: Allow s3:* on * -> (none)"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("(changed outside gascale: max_size: 99 -> 10)"), "{}", plan.stdout);
    up_json(&w);
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let max = runtime().block_on(async {
        let g = c.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group).send().await.unwrap();
        g.auto_scaling_groups()[0].max_size()
    });
    assert_eq!(max, Some(10));
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

/// `plan --output json` carries the attributes of every kind of resource,
/// as the text shows them.
#[test]
fn the_json_plan_carries_every_resource_kinds_attributes() {
    let emulator = crate::harness::PrivateEmulator::start();
    let w = minimal(&unique_name("attrs"), "runner: {executor: docker-autoscaler}\ncache: {expiration_days: 3}\n");
    let r = emulator.gascale(&w, &["plan", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let attr = |address: &str, key: &str| -> String {
        let step = plan["steps"].as_array().unwrap().iter().find(|s| s["address"] == address).unwrap();
        let found = step["attributes"].as_array().unwrap().iter().find(|a| a["key"] == key);
        found.unwrap_or_else(|| panic!("{address} has no {key}: {step}"))["value"].as_str().unwrap().to_owned()
    };
    assert_eq!(attr("vpc", "cidr"), "10.0.0.0/16");
    assert_eq!(attr("subnet/private-1", "zone"), "eu-west-1b");
    assert_eq!(attr("igw", "vpc"), "vpc");
    assert_eq!(attr("eip/nat", "for"), "nat");
    assert_eq!(attr("nat", "subnet"), "subnet/public-0");
    assert_eq!(attr("rtb/private", "route"), "0.0.0.0/0 -> nat");
    assert_eq!(attr("endpoint/s3", "service"), "com.amazonaws.eu-west-1.s3 (gateway)");
    assert_eq!(attr("sg/workers", "ingress"), "22/tcp from sg/host");
    assert_eq!(attr("iam/role/worker", "policies"), "none");
    assert!(attr("iam/role/host", "statement FleetingScaleGroup").contains("autoscaling:SetDesiredCapacity"));
    assert_eq!(attr("iam/profile/host", "role"), format!("gascale-{}-host", plan["deployment"].as_str().unwrap()));
    assert_eq!(attr("bucket", "expiration_days"), "3");
    assert_eq!(attr("volume/data", "size_gb"), "100");
    assert_eq!(attr("instance/host", "instance_type"), "t3.xlarge");
    assert_eq!(attr("launch-template/workers", "imds"), "v2 only, hop limit 1");
    assert_eq!(attr("asg/workers", "max_size"), "10");
    assert_eq!(attr("runner/config", "executor"), "docker-autoscaler");
    assert_eq!(attr("gitlab/app", "gitlab"), "ee 19.3.0");
    let kinds: std::collections::BTreeSet<&str> =
        plan["steps"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 17, "every kind but the workers is in the plan: {kinds:?}");
    let host = plan["steps"].as_array().unwrap().iter().find(|s| s["address"] == "instance/host").unwrap();
    let forces = |a: &&serde_json::Value| (a["forces_new_host"] == true) == (a["key"] != "tags");
    assert!(host["attributes"].as_array().unwrap().iter().all(|a| forces(&a)), "{host}");
}

#[test]
fn an_ingress_rule_added_by_hand_is_drift_that_up_removes() {
    let c = sdk();
    let name = unique_name("drift");
    let w = minimal(&name, "network: {allow_cidrs: [203.0.113.0/24]}\n");
    let out = up_json(&w);
    let sg = out["host_security_group_id"].as_str().unwrap().to_owned();
    let ssh = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    runtime().block_on(async {
        c.ec2.authorize_security_group_ingress().group_id(&sg).ip_permissions(ssh).send().await.unwrap();
    });
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("changed outside gascale: 22/tcp from 0.0.0.0/0 added"), "{}", plan.stdout);
    up_json(&w);
    let rules = runtime().block_on(async {
        let g = c.ec2.describe_security_groups().group_ids(&sg).send().await.unwrap();
        gascale::aws::security_groups::ingress_rules(g.security_groups()[0].ip_permissions())
            .into_iter()
            .map(|(l, _)| l)
            .collect::<Vec<_>>()
    });
    assert!(!rules.iter().any(|l| l.starts_with("22/")), "{rules:?}");
    assert!(rules.contains(&"443/tcp from 203.0.113.0/24".to_owned()), "{rules:?}");
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0);
    // A rule of ours revoked by hand is drift too.
    let https = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("203.0.113.0/24").build())
        .build();
    runtime().block_on(async {
        c.ec2.revoke_security_group_ingress().group_id(&sg).ip_permissions(https).send().await.unwrap();
    });
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2);
    assert!(plan.stdout.contains("443/tcp from 203.0.113.0/24 removed"), "{}", plan.stdout);
    up_json(&w);
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

#[test]
fn what_would_fail_halfway_is_refused_before_any_change() {
    let emulator = crate::harness::PrivateEmulator::start();
    // The emulated region has three zones (eu-west-1a/b/c).
    let w = minimal(&unique_name("zones"), "network: {azs: 4}\n");
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("network.azs: 4 zones asked for, but eu-west-1 has 3"), "{}", r.stderr);
    let plan = emulator.gascale(&w, &["plan"]);
    assert!(plan.stdout.contains("! network.azs"), "{}", plan.stdout);
    // A Graviton type with the default x86_64 architecture.
    let w = minimal(&unique_name("arch"), "gitlab: {instance_type: t4g.xlarge}\n");
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("gitlab.instance_type: t4g.xlarge runs arm64, not x86_64 (gitlab.arch)"), "{}", r.stderr);
    let mutating: Vec<String> =
        emulator.operations().into_iter().filter(|o| crate::harness::changes_deployment(o)).collect();
    assert!(mutating.is_empty(), "calls before the refusal: {mutating:?}");
}

/// The preflight's reads of the region (quotas, offerings, architectures):
/// a new deployment's `up` reads each once (beside discovery, a round trip
/// `scripts/bench` measures); an existing deployment's plan reads only what
/// it turns out to need — nothing for a no-op, the types for a new host —
/// and refuses the same way on either path.
#[test]
fn the_preflight_reads_with_discovery_only_for_a_new_deployment() {
    // Sorted, as `reads_since` answers.
    const PREFLIGHT: [&str; 4] =
        ["DescribeAccountAttributes", "DescribeInstanceTypeOfferings", "DescribeInstanceTypes", "GetServiceQuota"];
    let emulator = crate::harness::PrivateEmulator::start();
    let reads_since = |from: usize| -> Vec<String> {
        let mut read: Vec<String> =
            emulator.operations()[from..].iter().filter(|o| PREFLIGHT.contains(&o.as_str())).cloned().collect();
        read.sort();
        read
    };
    let w = minimal(&unique_name("pre"), "");
    let before = emulator.operations().len();
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(reads_since(before), PREFLIGHT, "each read once");
    let before = emulator.operations().len();
    assert_eq!(emulator.gascale(&w, &["plan", "--detailed-exitcode"]).code, 0);
    assert_eq!(reads_since(before), Vec::<String>::new(), "a no-op plan reads no preflight");
    // A Graviton type for the host of an existing deployment, x86_64 kept.
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    std::fs::write(w.path().join("gascale.yaml"), format!("{yaml}gitlab: {{instance_type: t4g.xlarge}}\n")).unwrap();
    let before = emulator.operations().len();
    let r = emulator.gascale(&w, &["up", "--no-wait", "--allow-host-replacement"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("gitlab.instance_type: t4g.xlarge runs arm64, not x86_64 (gitlab.arch)"), "{}", r.stderr);
    assert_eq!(
        reads_since(before),
        ["DescribeInstanceTypeOfferings", "DescribeInstanceTypes"],
        "only the types are read"
    );
    let mutating: Vec<String> =
        emulator.operations()[before..].iter().filter(|o| crate::harness::changes_deployment(o)).cloned().collect();
    assert!(mutating.is_empty(), "calls before the refusal: {mutating:?}");
}

#[test]
fn a_deployment_that_would_run_out_of_elastic_ips_is_refused_before_any_change() {
    // moto's account, like a new AWS account, may hold 5 Elastic IPs a
    // region; a deployment takes 2 (host and NAT): the third is refused.
    let emulator = crate::harness::PrivateEmulator::start_with(&["--eip-quota", "5"]);
    for _ in 0..2 {
        let w = minimal(&unique_name("eip"), "");
        let r = emulator.gascale(&w, &["up", "--no-wait"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let w = minimal(&unique_name("eip"), "");
    let before = emulator.operations().len();
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs 2 new Elastic IPs (host and NAT gateway), and eu-west-1 has 4 of its 5 in use"),
        "{}",
        r.stderr
    );
    let mutating: Vec<String> =
        emulator.operations()[before..].iter().filter(|o| crate::harness::changes_deployment(o)).cloned().collect();
    assert!(mutating.is_empty(), "calls before the refusal: {mutating:?}");
}

#[test]
fn a_deployment_past_the_vpc_quota_is_refused_before_any_change() {
    // An account whose "VPCs per Region" is 2 (Service Quotas, as
    // GetServiceQuota answers it); the region's default VPC is one of them.
    let emulator = crate::harness::PrivateEmulator::start_with(&["--vpc-quota", "2"]);
    let w = minimal(&unique_name("vpcq"), "");
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let w = minimal(&unique_name("vpcq"), "");
    let plan = emulator.gascale(&w, &["plan"]);
    assert!(plan.stdout.contains("! network: the deployment needs a new VPC"), "{}", plan.stdout);
    let before = emulator.operations().len();
    let r = emulator.gascale(&w, &["up", "--no-wait"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs a new VPC, and eu-west-1 has 2 of its 2; delete one you no longer use, or raise the quota \"VPCs per Region\""),
        "{}",
        r.stderr
    );
    let mutating: Vec<String> =
        emulator.operations()[before..].iter().filter(|o| crate::harness::changes_deployment(o)).cloned().collect();
    assert!(mutating.is_empty(), "calls before the refusal: {mutating:?}");
}

#[test]
fn plan_warns_while_docker_machine_is_in_use() {
    let w = minimal(&unique_name("dm"), "runner: {executor: docker+machine}\n");
    let plan = w.gascale(&["plan"]);
    assert!(plan.stderr.contains("docker+machine is deprecated and goes with GitLab Runner 20.0"), "{}", plan.stderr);
    let w = minimal(&unique_name("da"), "runner: {executor: docker-autoscaler}\n");
    assert!(!w.gascale(&["plan"]).stderr.contains("deprecated"));
}

/// `metadata.tags` reach what exists: a tag added to the config shows on
/// every resource that carries tags, `up` writes it, and the plan is clean
/// again; a tag of someone else's on a resource is left alone.
#[test]
fn a_tag_added_to_the_config_reaches_every_existing_resource() {
    let c = sdk();
    let name = unique_name("tags");
    let w = minimal(&name, "");
    let out = up_json(&w);
    let vpc = out["vpc_id"].as_str().unwrap().to_owned();
    runtime().block_on(async {
        let backup = aws_sdk_ec2::types::Tag::builder().key("backup").value("daily").build();
        c.ec2.create_tags().resources(&vpc).tags(backup).send().await.unwrap();
    });
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0, "another tool's tag is not drift");
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    let tagged = yaml.replace(&format!("name: {name},"), &format!("name: {name}, tags: {{team: platform}},"));
    assert_ne!(tagged, yaml);
    std::fs::write(w.path().join("gascale.yaml"), tagged).unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}{}", plan.stdout, plan.stderr);
    for address in
        ["vpc", "subnet/private-1", "nat", "sg/host", "iam/role/host", "bucket", "volume/data", "instance/host"]
    {
        let line = plan.stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(address)).unwrap();
        assert!(line.trim_start().starts_with('~') && line.contains("tags: "), "{line}\n{}", plan.stdout);
        assert!(line.contains("-> team=platform"), "{line}");
    }
    assert!(!plan.stdout.contains("-/+"), "a tag never replaces the host: {}", plan.stdout);
    up_json(&w);
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    let tags = runtime().block_on(async {
        let v = c.ec2.describe_vpcs().vpc_ids(&vpc).send().await.unwrap();
        v.vpcs()[0].tags().iter().map(|t| format!("{}={}", t.key().unwrap(), t.value().unwrap())).collect::<Vec<_>>()
    });
    assert!(tags.contains(&"team=platform".to_owned()) && tags.contains(&"backup=daily".to_owned()), "{tags:?}");
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}

/// The host opens HTTP to the world only with a domain (Let's Encrypt's
/// HTTP-01 challenge comes from the internet); HTTPS stays with the
/// allowed networks either way.
#[test]
fn http_is_open_to_the_world_only_with_a_domain() {
    let ingress = |extra: &str| {
        let w = minimal(&unique_name("http"), extra);
        let r = w.gascale(&["plan", "--output", "json"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let plan: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        let step = plan["steps"].as_array().unwrap().iter().find(|s| s["address"] == "sg/host").unwrap().clone();
        let attr = step["attributes"].as_array().unwrap().iter().find(|a| a["key"] == "ingress").unwrap().clone();
        attr["value"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        ingress("network: {allow_cidrs: [203.0.113.0/24]}\ngitlab: {domain: gitlab.example.com}\n"),
        "80/tcp from 0.0.0.0/0; 443/tcp from 203.0.113.0/24; 80,443/tcp from sg/workers"
    );
    assert_eq!(
        ingress("network: {allow_cidrs: [203.0.113.0/24]}\n"),
        "80,443/tcp from 203.0.113.0/24; 80,443/tcp from sg/workers"
    );
}
