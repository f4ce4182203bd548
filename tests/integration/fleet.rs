//! What a deployment's fleet looks like in AWS once the runner has worked:
//! workers planted as GitLab Runner and docker-machine make them, and the
//! check that nothing of a deployment is left after `destroy`.

use aws_sdk_ec2::types::{
    Filter, InstanceMarketOptionsRequest, InstanceType, MarketType, RequestSpotLaunchSpecification, ResourceType, Tag,
    TagSpecification,
};

use crate::harness::{runtime, Workdir};
use crate::owned;

/// Amazon Linux 2023, by AWS's public parameter.
pub fn ami(c: &gascale::aws::Clients) -> String {
    public_parameter(c, "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
}

/// The value of an SSM parameter (a public one names an AMI).
pub fn public_parameter(c: &gascale::aws::Clients, name: &str) -> String {
    runtime().block_on(async {
        let p = c.ssm.get_parameter().name(name).send().await.unwrap();
        p.parameter().unwrap().value().unwrap().to_owned()
    })
}

/// Plants `n` workers of deployment `name` (config in `w`) as GitLab Runner
/// and docker-machine make them (tests/integration/runner.rs): spot instances
/// in the worker subnet named `runner-<short token>-<MachineName>`, tagged
/// with what `amazonec2-tags` passes on only once they run, `keys` key pairs
/// named after their machines; plus `caught` instances docker-machine was
/// still creating (no tags, no name yet) and an open spot request that names
/// its subnet only inside its network-interface specification.
pub fn launch_workers(
    c: &gascale::aws::Clients,
    w: &Workdir,
    outputs: &serde_json::Value,
    n: i32,
    keys: usize,
    caught: i32,
) {
    let text = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    let d = crate::templates::with_region(gascale::config::parse(&text).unwrap());
    let template = crate::runner::machine_name_template(&d);
    let token = crate::runner::runner_token(n as u64);
    let image = ami(c);
    let subnet = outputs["private_subnet_ids"][0].as_str().unwrap().to_owned();
    let sg = outputs["worker_security_group_id"].as_str().unwrap().to_owned();
    let name = d.name().to_owned();
    runtime().block_on(async {
        for i in 0..n {
            let machine =
                crate::runner::machine_name(&template, &token, 1_733_140_000 + i as u64, (i as u32).to_be_bytes());
            if (i as usize) < keys {
                c.ec2.create_key_pair().key_name(&machine).send().await.unwrap();
            }
            let tags = TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("gascale:deployment").value(&name).build())
                .tags(Tag::builder().key("gascale:managed-by").value("gascale").build())
                .tags(Tag::builder().key("gascale:role").value("worker").build())
                .tags(Tag::builder().key("Name").value(&machine).build())
                .build();
            let mut launch = c
                .ec2
                .run_instances()
                .image_id(&image)
                .instance_type(InstanceType::T3Small)
                .min_count(1)
                .max_count(1)
                .subnet_id(&subnet)
                .security_group_ids(&sg)
                .instance_market_options(InstanceMarketOptionsRequest::builder().market_type(MarketType::Spot).build())
                .tag_specifications(tags);
            if (i as usize) < keys {
                launch = launch.key_name(&machine);
            }
            launch.send().await.unwrap();
        }
        if caught > 0 {
            c.ec2
                .run_instances()
                .image_id(&image)
                .instance_type(InstanceType::T3Small)
                .min_count(caught)
                .max_count(caught)
                .subnet_id(&subnet)
                .security_group_ids(&sg)
                .send()
                .await
                .unwrap();
        }
        // A request naming its subnet at the top, then one naming it only in
        // its network interface, as docker-machine's amazonec2 driver sends
        // it (drivers/amazonec2/amazonec2.go, Create: the subnet goes into
        // NetworkInterfaces when a public address is asked for). The
        // emulator keeps that interface as AWS does (scripts/emulator/
        // moto_fixes.py), so destroy must find the request by it.
        let spec = || RequestSpotLaunchSpecification::builder().image_id(&image).instance_type(InstanceType::T3Small);
        let interface = aws_sdk_ec2::types::InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .subnet_id(&subnet)
            .groups(&sg)
            .build();
        for request in [spec().subnet_id(&subnet).build(), spec().network_interfaces(interface).build()] {
            c.ec2.request_spot_instances().launch_specification(request).send().await.unwrap();
        }
        let planted: Vec<aws_sdk_ec2::types::SpotInstanceRequest> =
            c.ec2.describe_spot_instance_requests().into_paginator().items().send().try_collect().await.unwrap();
        let by_interface = planted
            .iter()
            .filter_map(|r| r.launch_specification())
            .filter(|l| l.subnet_id().is_none())
            .filter(|l| l.network_interfaces().iter().any(|n| n.subnet_id() == Some(subnet.as_str())))
            .count();
        assert!(by_interface >= 1, "the emulator keeps a request's subnet in its network interface, as AWS does");
    });
}

/// Everything of the deployment that could be left: the owned resources,
/// live workers, spot requests, key pairs and network interfaces.
pub fn assert_nothing_left(c: &gascale::aws::Clients, name: &str, outputs: &serde_json::Value) {
    assert_eq!(owned::count(c, name), owned::nothing(), "owned resources left");
    let subnets: Vec<String> = ["public_subnet_ids", "private_subnet_ids"]
        .iter()
        .flat_map(|k| outputs[k].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()))
        .collect();
    runtime().block_on(async {
        let named = c
            .ec2
            .describe_instances()
            .filters(Filter::builder().name("vpc-id").values(outputs["vpc_id"].as_str().unwrap()).build())
            .send()
            .await
            .unwrap();
        let live: Vec<_> = named
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|s| s.as_str()) != Some("terminated"))
            .collect();
        assert!(live.is_empty(), "{} workers still running", live.len());
        let spots: Vec<aws_sdk_ec2::types::SpotInstanceRequest> =
            c.ec2.describe_spot_instance_requests().into_paginator().items().send().try_collect().await.unwrap();
        let open: Vec<_> = spots
            .iter()
            .filter(|r| {
                r.launch_specification().is_some_and(|l| {
                    l.subnet_id()
                        .into_iter()
                        .chain(l.network_interfaces().iter().filter_map(|n| n.subnet_id()))
                        .any(|s| subnets.iter().any(|x| x == s))
                })
            })
            .filter(|r| matches!(r.state().map(|s| s.as_str()), Some("open") | Some("active")))
            .collect();
        assert!(open.is_empty(), "{} spot requests left", open.len());
        let keys = c.ec2.describe_key_pairs().send().await.unwrap();
        // The planted machines' times start at 1733140000 (launch_workers).
        let planted = format!("-{name}-173314");
        let ours = keys.key_pairs().iter().filter(|k| k.key_name().unwrap_or_default().contains(&planted)).count();
        assert_eq!(ours, 0, "key pairs left");
        // The emulator keeps the interfaces of terminated instances and deleted
        // NAT gateways (AWS removes them); none may belong to a live instance.
        let enis = c
            .ec2
            .describe_network_interfaces()
            .filters(Filter::builder().name("subnet-id").set_values(Some(subnets.clone())).build())
            .send()
            .await
            .unwrap();
        for eni in enis.network_interfaces() {
            if let Some(instance) = eni.attachment().and_then(|a| a.instance_id()) {
                let out = c.ec2.describe_instances().instance_ids(instance).send().await.unwrap();
                let state = out.reservations()[0].instances()[0].state().unwrap().name().unwrap().as_str().to_owned();
                assert_eq!(
                    state,
                    "terminated",
                    "network interface {:?} belongs to a live instance",
                    eni.network_interface_id()
                );
            }
        }
    });
}
