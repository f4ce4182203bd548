//! Counting what a deployment owns in the emulator, through the SDK, by the
//! same tags and IAM path gascale uses — the tests' independent view.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;

use crate::harness::runtime;

pub fn filters(name: &str) -> Vec<Filter> {
    vec![
        Filter::builder().name("tag:gascale:deployment").values(name).build(),
        Filter::builder().name("tag:gascale:managed-by").values("gascale").build(),
    ]
}

/// Resource type → how many the deployment owns (terminated instances,
/// deleted NAT gateways and released things excluded).
pub fn count(c: &gascale::aws::Clients, name: &str) -> BTreeMap<&'static str, usize> {
    runtime().block_on(async {
        let f = filters(name);
        let e = &c.ec2;
        let mut n = BTreeMap::new();
        n.insert("vpc", e.describe_vpcs().set_filters(Some(f.clone())).send().await.unwrap().vpcs().len());
        n.insert("subnet", e.describe_subnets().set_filters(Some(f.clone())).send().await.unwrap().subnets().len());
        n.insert(
            "igw",
            e.describe_internet_gateways().set_filters(Some(f.clone())).send().await.unwrap().internet_gateways().len(),
        );
        // The emulator ignores tag filters on NAT gateways: check the tags here.
        let ours = |tags: &[aws_sdk_ec2::types::Tag]| {
            tags.iter().any(|t| t.key() == Some("gascale:deployment") && t.value() == Some(name))
        };
        let nats = e.describe_nat_gateways().set_filter(Some(f.clone())).send().await.unwrap();
        n.insert(
            "nat",
            nats.nat_gateways()
                .iter()
                .filter(|g| {
                    ours(g.tags()) && !matches!(g.state().map(|s| s.as_str()), Some("deleted") | Some("deleting"))
                })
                .count(),
        );
        n.insert("eip", e.describe_addresses().set_filters(Some(f.clone())).send().await.unwrap().addresses().len());
        n.insert(
            "rtb",
            e.describe_route_tables().set_filters(Some(f.clone())).send().await.unwrap().route_tables().len(),
        );
        let endpoints = e.describe_vpc_endpoints().set_filters(Some(f.clone())).send().await.unwrap();
        let live_endpoints = endpoints
            .vpc_endpoints()
            .iter()
            .filter(|p| {
                !matches!(
                    p.state().map(|s| s.as_str().to_ascii_lowercase()).as_deref(),
                    Some("deleted") | Some("deleting")
                )
            })
            .count();
        n.insert("endpoint", live_endpoints);
        n.insert(
            "sg",
            e.describe_security_groups().set_filters(Some(f.clone())).send().await.unwrap().security_groups().len(),
        );
        let instances = e.describe_instances().set_filters(Some(f.clone())).send().await.unwrap();
        let live = instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|s| s.as_str()) != Some("terminated"))
            .count();
        n.insert("instance", live);
        let mut with_resource = f.clone();
        with_resource.push(Filter::builder().name("tag:gascale:resource").values("volume/data").build());
        n.insert(
            "data-volume",
            e.describe_volumes().set_filters(Some(with_resource)).send().await.unwrap().volumes().len(),
        );
        let groups = c
            .autoscaling
            .describe_auto_scaling_groups()
            .filters(aws_sdk_autoscaling::types::Filter::builder().name("tag:gascale:deployment").values(name).build())
            .send()
            .await
            .unwrap();
        n.insert("asg", groups.auto_scaling_groups().len());
        let templates = e.describe_launch_templates().set_filters(Some(f.clone())).send().await.unwrap();
        n.insert("launch-template", templates.launch_templates().len());
        let path = format!("/gascale/{name}/");
        n.insert("role", c.iam.list_roles().path_prefix(&path).send().await.unwrap().roles().len());
        // The emulator ignores PathPrefix for instance profiles: check the path here.
        let profiles = c.iam.list_instance_profiles().path_prefix(&path).send().await.unwrap();
        n.insert("profile", profiles.instance_profiles().iter().filter(|p| p.path() == path).count());
        let buckets = c.s3.list_buckets().send().await.unwrap();
        n.insert(
            "bucket",
            buckets
                .buckets()
                .iter()
                // gascale-<name>-<account>-<region>: `demo` must not count `demo-2`'s.
                .filter(|b| b.name().is_some_and(|b| b.starts_with(&format!("gascale-{name}-123456789012-"))))
                .count(),
        );
        n
    })
}

/// What a complete minimal deployment (2 AZs, NAT) owns.
pub fn complete() -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("vpc", 1),
        ("subnet", 4),
        ("igw", 1),
        ("nat", 1),
        ("eip", 2),
        ("rtb", 2),
        ("endpoint", 1),
        ("sg", 2),
        ("instance", 1),
        ("data-volume", 1),
        ("role", 2),
        ("profile", 2),
        ("bucket", 1),
        ("asg", 0),
        ("launch-template", 0),
    ])
}

/// What a complete docker-autoscaler deployment (2 AZs, NAT) owns.
pub fn complete_autoscaler() -> BTreeMap<&'static str, usize> {
    let mut n = complete();
    n.insert("asg", 1);
    n.insert("launch-template", 1);
    n
}

/// Nothing at all.
pub fn nothing() -> BTreeMap<&'static str, usize> {
    complete().into_keys().map(|k| (k, 0)).collect()
}
