//! The docker-autoscaler executor: the launch template and Auto Scaling
//! group `up` creates (read back through the SDK), the runner's config.toml
//! for it, the host's IAM policy, destroy with instances in the group, and
//! switching a live deployment between the two executors.

use base64::Engine;

use crate::harness::{emulator_control, endpoint, runtime, sdk, unique_name, Workdir};
use crate::owned;
use crate::templates::{example, rendered, with_region};
use crate::up::{up_json as up, urlencoding_decode};

/// examples/autoscaler.yaml under another deployment name.
fn autoscaler_config(name: &str) -> String {
    let text = std::fs::read_to_string(crate::harness::root().join("examples/autoscaler.yaml")).unwrap();
    assert!(text.contains("name: fleet\n"));
    text.replace("name: fleet\n", &format!("name: {name}\n"))
}

/// The same deployment with docker+machine (and without its
/// docker-autoscaler-only settings).
fn docker_machine_config(name: &str) -> String {
    let text = autoscaler_config(name).replace("executor: docker-autoscaler", "executor: docker+machine");
    text.lines().filter(|l| !l.contains("scale_factor_limit")).collect::<Vec<_>>().join("\n") + "\n"
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

#[test]
fn config_toml_carries_the_autoscaler_sections() {
    let r = rendered(&with_region(example("autoscaler.yaml")));
    crate::runner_lint::lint(&r.config_toml).expect("gitlab-runner lint accepts config.toml");
    let doc: toml::Value = toml::from_str(&r.config_toml).expect("config.toml is TOML");
    // max_instances × capacity_per_instance, as concurrent is not set.
    assert_eq!(doc["concurrent"].as_integer(), Some(40));
    let runner = &doc["runners"][0];
    assert_eq!(runner["executor"].as_str(), Some("docker-autoscaler"));
    assert!(runner.get("machine").is_none(), "no docker-machine section with docker-autoscaler");
    let a = &runner["autoscaler"];
    assert_eq!(a["plugin"].as_str(), Some(gascale::pins::FLEETING_PLUGIN_AWS));
    assert_eq!(a["capacity_per_instance"].as_integer(), Some(2));
    assert_eq!(
        a["instance_ready_command"].as_str(),
        Some("cloud-init status --wait && docker info"),
        "a worker is used once Docker is there"
    );
    assert_eq!(a["max_use_count"].as_integer(), Some(10));
    assert_eq!(a["max_instances"].as_integer(), Some(20));
    assert_eq!(a["plugin_config"]["name"].as_str(), Some("gascale-fleet-workers"));
    assert_eq!(a["plugin_config"]["region"].as_str(), Some("eu-west-1"));
    assert_eq!(a["connector_config"]["username"].as_str(), Some("ec2-user"));
    assert_eq!(a["connector_config"]["use_external_addr"].as_bool(), Some(false));
    assert_eq!(a["connector_config"]["timeout"].as_str(), Some("600s"));
    let policies = a["policy"].as_array().unwrap();
    assert_eq!(policies.len(), 2, "the idle settings, then the one period");
    assert!(policies[0].get("periods").is_none(), "the first policy applies at all times");
    assert_eq!(policies[0]["idle_count"].as_integer(), Some(0));
    assert_eq!(policies[0]["idle_time"].as_str(), Some("1200s"));
    assert_eq!(policies[0]["scale_factor"].as_float(), Some(0.5));
    assert_eq!(policies[0]["scale_factor_limit"].as_integer(), Some(5));
    assert_eq!(policies[1]["periods"][0].as_str(), Some("* 9-18 * * mon-fri"));
    assert_eq!(policies[1]["timezone"].as_str(), Some("Asia/Tokyo"));
    assert_eq!(policies[1]["idle_count"].as_integer(), Some(4));
    assert_eq!(policies[1]["idle_time"].as_str(), Some("3600s"));
    assert_eq!(policies[1]["scale_factor"].as_float(), Some(1.0), "a float, also when whole");
    assert_eq!(policies[1]["scale_factor_limit"].as_integer(), Some(10));

    // A 7-field docker+machine period becomes 5 fields.
    let mut d = with_region(example("autoscaler.yaml"));
    d.runner.autoscaling[0].periods = vec![gascale::config::CronPeriod::parse("* * 9-17 * * mon-fri *").unwrap()];
    let doc: toml::Value = toml::from_str(&rendered(&d).config_toml).unwrap();
    assert_eq!(doc["runners"][0]["autoscaler"]["policy"][1]["periods"][0].as_str(), Some("* 9-17 * * mon-fri"));

    // The runner image installs the pinned plugin at build time; no docker-machine.
    assert!(r.dockerfile.contains(&format!("ARG FLEETING_PLUGIN={}", gascale::pins::FLEETING_PLUGIN_AWS)));
    assert!(r.dockerfile.contains("gitlab-runner fleeting -c /tmp/fleeting.toml install"));
    assert!(!r.dockerfile.contains("docker-machine"));
    // The host's own part of the bootstrap is the same for both executors.
    let mut dm = with_region(example("autoscaler.yaml"));
    dm.runner.executor = Some(gascale::config::Executor::DockerMachine);
    dm.runner.idle.scale_factor_limit = None;
    dm.runner.autoscaling[0].idle_scale_factor_limit = None;
    assert_eq!(rendered(&dm).host_part, r.host_part, "switching executors would need a new host");
    assert_ne!(rendered(&dm).runner_fingerprint(), r.runner_fingerprint());
}

#[test]
fn worker_user_data_passes_shellcheck() {
    let r = rendered(&with_region(example("autoscaler.yaml")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker-user-data.sh");
    std::fs::write(&path, &r.worker_user_data).unwrap();
    for (tool, args) in [("bash", vec!["-n"]), ("shellcheck", vec![])] {
        let out = std::process::Command::new(tool).args(args).arg(&path).output().unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Runs the rendered worker user-data against the stub commands, as on an
/// image where `installed` packages and `units` already exist.
fn run_worker_user_data(installed: &str, units: &str) -> (std::process::Output, String) {
    let r = rendered(&with_region(example("autoscaler.yaml")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("worker-user-data.sh");
    std::fs::write(&path, &r.worker_user_data).unwrap();
    std::fs::create_dir_all(dir.path().join("stub")).unwrap();
    let stubs = crate::harness::root().join("tests/stubs");
    let out = std::process::Command::new("bash")
        .arg(&path)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.display()))
        .env("GASCALE_ROOT", dir.path().join("root"))
        .env("STUB_DIR", dir.path().join("stub"))
        .env("STUB_RPM_INSTALLED", installed)
        .env("STUB_UNITS", units)
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(dir.path().join("stub/calls")).unwrap_or_default();
    (out, calls)
}

#[test]
fn a_worker_on_the_ecs_image_installs_only_instance_connect_and_stops_the_ecs_agent() {
    // The ECS-optimized AL2023 image: docker installed, the agent's `ecs`
    // unit present, built from the minimal AL2023 (its SSM metadata's
    // source_image_name), which lacks ec2-instance-connect.
    let (out, calls) = run_worker_user_data("docker", "ecs.service");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(calls.contains("dnf install -y ec2-instance-connect\n"), "{calls}");
    assert!(!calls.contains("dnf install -y docker"), "{calls}");
    assert!(calls.contains("systemctl disable --now ecs.service"), "{calls}");
    assert!(calls.contains("systemctl enable --now docker"), "{calls}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("gascale: worker ready"));
}

#[test]
fn a_worker_on_a_pinned_plain_image_installs_docker_and_instance_connect() {
    let (out, calls) = run_worker_user_data("", "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(calls.contains("dnf install -y docker ec2-instance-connect"), "{calls}");
    assert!(!calls.contains("disable --now ecs"), "{calls}");
    // Both there already (the standard AL2023 image with Docker baked in): nothing to install.
    let (out, calls) = run_worker_user_data("docker ec2-instance-connect", "");
    assert!(out.status.success());
    assert!(!calls.contains("dnf "), "{calls}");
}

#[test]
fn up_creates_the_worker_group_and_destroy_removes_it_with_its_instances() {
    let name = unique_name("fleet");
    let w = Workdir::with_config(&autoscaler_config(&name));
    let out = up(&w);
    let c = sdk();
    assert_eq!(owned::count(&c, &name), owned::complete_autoscaler());
    let group_name = format!("gascale-{name}-workers");
    let private: Vec<String> =
        out["private_subnet_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    let worker_sg = out["worker_security_group_id"].as_str().unwrap().to_owned();
    // The ECS-optimized AL2023 image, by AWS's public parameter for it (ECS
    // developer guide, "Retrieving Amazon ECS-optimized Linux AMI metadata").
    let ami =
        crate::fleet::public_parameter(&c, "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id");
    assert_ne!(ami, crate::fleet::ami(&c), "workers boot the ECS-optimized image, not the plain one");
    runtime().block_on(async {
        let groups = c.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group_name).send().await;
        let g = groups.unwrap().auto_scaling_groups()[0].clone();
        assert_eq!((g.min_size(), g.max_size(), g.desired_capacity()), (Some(0), Some(20), Some(0)));
        assert_eq!(g.new_instances_protected_from_scale_in(), Some(true));
        assert_ne!(g.capacity_rebalance(), Some(true));
        let suspended: Vec<&str> = g.suspended_processes().iter().filter_map(|p| p.process_name()).collect();
        assert_eq!(suspended, ["AZRebalance"]);
        let mut zones: Vec<&str> = g.vpc_zone_identifier().unwrap().split(',').collect();
        zones.sort();
        let mut want: Vec<&str> = private.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(zones, want, "the group launches in the private subnets");
        let gtag = |k: &str| g.tags().iter().find(|t| t.key() == Some(k)).cloned();
        assert_eq!(gtag("gascale:deployment").unwrap().value(), Some(name.as_str()));
        assert_eq!(gtag("gascale:managed-by").unwrap().value(), Some("gascale"));
        assert!(g.tags().iter().all(|t| t.propagate_at_launch() != Some(true)), "the group's tags stay on it");
        let mixed = g.mixed_instances_policy().expect("a mixed-instances policy");
        let types: Vec<&str> =
            mixed.launch_template().unwrap().overrides().iter().filter_map(|o| o.instance_type()).collect();
        assert_eq!(types, ["m7i.large", "m6i.large", "m5.large"]);
        let dist = mixed.instances_distribution().unwrap();
        assert_eq!(dist.on_demand_base_capacity(), Some(1));
        assert_eq!(dist.on_demand_percentage_above_base_capacity(), Some(0), "spot above the base");
        let spec = mixed.launch_template().unwrap().launch_template_specification().unwrap();
        assert_eq!(spec.version(), Some("$Latest"));
        let template_id = spec.launch_template_id().unwrap().to_owned();

        // The launch template: ECS-optimized AL2023, IMDSv2,
        // encrypted gp3 root, the worker profile and group, worker tags.
        let lt = c.ec2.describe_launch_templates().launch_template_ids(&template_id).send().await.unwrap();
        assert_eq!(tag(lt.launch_templates()[0].tags(), "gascale:resource"), Some("launch-template/workers"));
        let versions = c
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(&template_id)
            .versions("$Latest")
            .send()
            .await
            .unwrap();
        let data = versions.launch_template_versions()[0].launch_template_data().unwrap().clone();
        assert_eq!(data.image_id(), Some(ami.as_str()));
        let md = data.metadata_options().unwrap();
        assert_eq!(md.http_tokens().unwrap().as_str(), "required");
        assert_eq!(md.http_put_response_hop_limit(), Some(1), "job containers get no instance credentials");
        let root = &data.block_device_mappings()[0];
        assert_eq!(root.ebs().unwrap().encrypted(), Some(true));
        assert_eq!(root.ebs().unwrap().volume_size(), Some(50));
        assert_eq!(data.iam_instance_profile().unwrap().name(), Some(format!("gascale-{name}-worker").as_str()));
        assert_eq!(data.security_group_ids(), std::slice::from_ref(&worker_sg));
        let kinds: Vec<&str> =
            data.tag_specifications().iter().filter_map(|t| t.resource_type()).map(|r| r.as_str()).collect();
        assert!(kinds.contains(&"instance") && kinds.contains(&"volume"), "{kinds:?}");
        // (The emulator also lists the template's own tags here.)
        let workers = data
            .tag_specifications()
            .iter()
            .filter(|t| matches!(t.resource_type().map(|r| r.as_str()), Some("instance") | Some("volume")));
        for spec in workers {
            assert_eq!(tag(spec.tags(), "gascale:deployment"), Some(name.as_str()));
            assert_eq!(tag(spec.tags(), "team"), Some("platform"));
            assert_eq!(tag(spec.tags(), "gascale:resource"), None, "workers are no plan resource");
        }
        let script = base64::engine::general_purpose::STANDARD.decode(data.user_data().unwrap()).unwrap();
        assert!(String::from_utf8(script).unwrap().contains("systemctl enable --now docker"));

        // Workers reach the host's runner over SSH only: no docker-machine port.
        let sg = c.ec2.describe_security_groups().group_ids(&worker_sg).send().await.unwrap();
        let ports: Vec<i32> = sg.security_groups()[0].ip_permissions().iter().filter_map(|p| p.from_port()).collect();
        assert_eq!(ports, [22]);

        // The host may scale this group only, and push keys to its instances only.
        let doc = c.iam.get_role_policy().role_name(format!("gascale-{name}-host")).policy_name("gascale").send();
        let doc: serde_json::Value =
            serde_json::from_str(&urlencoding_decode(doc.await.unwrap().policy_document())).unwrap();
        let statements = doc["Statement"].as_array().unwrap();
        let by_sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).cloned().unwrap();
        assert_eq!(
            by_sid("FleetingScaleGroup")["Resource"],
            format!("arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:*:autoScalingGroupName/{group_name}")
        );
        assert_eq!(
            by_sid("FleetingConnect")["Condition"]["StringEquals"]["ec2:ResourceTag/aws:autoscaling:groupName"],
            group_name.as_str()
        );
        let actions = serde_json::to_string(statements).unwrap();
        assert!(!actions.contains("ec2:RunInstances") && !actions.contains("iam:PassRole"), "{actions}");
    });

    // A second up changes nothing.
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.stdout);

    // The runner scaled out (and protected its instances from scale-in).
    let instances: Vec<String> = runtime().block_on(async {
        c.autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(&group_name)
            .desired_capacity(3)
            .send()
            .await
            .unwrap();
        let g = c.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group_name).send().await;
        g.unwrap().auto_scaling_groups()[0].instances().iter().map(|i| i.instance_id().unwrap().to_owned()).collect()
    });
    assert_eq!(instances.len(), 3);

    // A group setting changes in place; the desired capacity stays the runner's.
    let config = autoscaler_config(&name).replace("max_instances: 20", "max_instances: 25");
    std::fs::write(w.path().join("gascale.yaml"), config).unwrap();
    let changed = changes(&w);
    assert!(changed.contains(&("asg/workers".to_owned(), "update".to_owned())), "{changed:?}");
    assert!(changed.iter().all(|(a, _)| a == "asg/workers" || a == "runner/config"), "{changed:?}");
    up(&w);
    runtime().block_on(async {
        let g = c.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group_name).send().await;
        let g = g.unwrap().auto_scaling_groups()[0].clone();
        assert_eq!((g.max_size(), g.desired_capacity()), (Some(25), Some(3)));
    });
    // A launch-template setting becomes a new version the group launches.
    let config = autoscaler_config(&name)
        .replace("max_instances: 20", "max_instances: 25")
        .replace("root_volume_gb: 50", "root_volume_gb: 60");
    std::fs::write(w.path().join("gascale.yaml"), config).unwrap();
    let changed = changes(&w);
    assert!(changed.contains(&("launch-template/workers".to_owned(), "update".to_owned())), "{changed:?}");
    up(&w);
    runtime().block_on(async {
        let versions = c
            .ec2
            .describe_launch_template_versions()
            .launch_template_name(&group_name)
            .versions("$Latest")
            .send()
            .await
            .unwrap();
        let data = versions.launch_template_versions()[0].launch_template_data().unwrap();
        assert_eq!(data.block_device_mappings()[0].ebs().unwrap().volume_size(), Some(60));
    });
    let destroy = w.gascale(&["destroy", "--yes"]);
    assert_eq!(destroy.code, 0, "{}", destroy.stderr);
    assert_eq!(owned::count(&c, &name), owned::nothing());
    runtime().block_on(async {
        let out = c.ec2.describe_instances().set_instance_ids(Some(instances.clone())).send().await.unwrap();
        for i in out.reservations().iter().flat_map(|r| r.instances()) {
            assert_eq!(i.state().unwrap().name().unwrap().as_str(), "terminated", "{:?}", i.instance_id());
        }
        let g = c.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group_name).send().await;
        assert!(g.unwrap().auto_scaling_groups().is_empty());
    });
}

/// Plan steps that are not `keep`, as (address, action).
fn changes(w: &Workdir) -> Vec<(String, String)> {
    let plan = w.gascale(&["plan", "--output", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut out: Vec<(String, String)> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] != "keep")
        .map(|s| (s["address"].as_str().unwrap().to_owned(), s["action"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

#[test]
fn switching_executors_changes_only_the_runner_side() {
    let name = unique_name("switch");
    let w = Workdir::with_config(&docker_machine_config(&name));
    let first = up(&w);
    let c = sdk();
    assert_eq!(owned::count(&c, &name), owned::complete());
    let host = first["host_instance_id"].as_str().unwrap().to_owned();
    let private0 = first["private_subnet_ids"][0].as_str().unwrap().to_owned();
    let volume = |c: &gascale::aws::Clients| {
        runtime().block_on(async {
            let f = aws_sdk_ec2::types::Filter::builder().name("tag:gascale:resource").values("volume/data").build();
            let mut filters = owned::filters(&name);
            filters.push(f);
            let v = c.ec2.describe_volumes().set_filters(Some(filters)).send().await.unwrap();
            let v = v.volumes()[0].clone();
            (v.volume_id().unwrap().to_owned(), v.attachments()[0].instance_id().unwrap().to_owned())
        })
    };
    let data_volume = volume(&c);
    assert_eq!(data_volume.1, host);
    // A worker docker-machine launched, named as the runner would have
    // (tests/integration/runner.rs).
    let d = crate::templates::with_region(gascale::config::parse(&docker_machine_config(&name)).unwrap());
    let machine_name = crate::runner::machine_name(
        &crate::runner::machine_name_template(&d),
        &crate::runner::runner_token(7),
        1_733_140_000,
        [1, 2, 3, 4],
    );
    let machine = runtime().block_on(async {
        let tags = aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
            .tags(aws_sdk_ec2::types::Tag::builder().key("Name").value(&machine_name).build())
            .tags(aws_sdk_ec2::types::Tag::builder().key("gascale:deployment").value(&name).build())
            .build();
        let out = c
            .ec2
            .run_instances()
            .image_id("ami-12c6146b")
            .min_count(1)
            .max_count(1)
            .subnet_id(&private0)
            .tag_specifications(tags)
            .send()
            .await
            .unwrap();
        out.instances()[0].instance_id().unwrap().to_owned()
    });

    // To docker-autoscaler: the runner's side only.
    std::fs::write(w.path().join("gascale.yaml"), autoscaler_config(&name)).unwrap();
    let want = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        v.sort();
        v
    };
    assert_eq!(
        changes(&w),
        want(&[
            ("asg/workers", "create"),
            ("iam/role/host", "update"),
            ("launch-template/workers", "create"),
            ("runner/config", "update"),
            ("sg/workers", "update"),
        ])
    );
    let text = w.gascale(&["plan"]);
    assert!(text.stdout.contains("executor docker+machine -> docker-autoscaler"), "{}", text.stdout);
    assert!(text.stdout.contains("= instance/host") && text.stdout.contains("= volume/data"), "{}", text.stdout);
    let after = up(&w);
    assert_eq!(after["host_instance_id"].as_str(), Some(host.as_str()), "the host was replaced");
    assert_eq!(volume(&c), data_volume, "the data volume moved");
    assert_eq!(owned::count(&c, &name), owned::complete_autoscaler());
    let sent = emulator_control(endpoint(), "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    assert!(sent.contains("[runners.autoscaler]") && sent.contains("runner configuration applied"), "{sent}");
    runtime().block_on(async {
        let out = c.ec2.describe_instances().instance_ids(&machine).instance_ids(&host).send().await.unwrap();
        for i in out.reservations().iter().flat_map(|r| r.instances()) {
            let state = i.state().unwrap().name().unwrap().as_str().to_owned();
            let want = if i.instance_id() == Some(host.as_str()) { "running" } else { "terminated" };
            assert_eq!(state, want, "{:?}: docker-machine's workers go, the host stays", i.instance_id());
        }
    });
    assert_eq!(changes(&w), vec![], "converged");

    // And back: the group and template go, after the runner lets go of them.
    std::fs::write(w.path().join("gascale.yaml"), docker_machine_config(&name)).unwrap();
    assert_eq!(
        changes(&w),
        want(&[
            ("asg/workers", "delete"),
            ("iam/role/host", "update"),
            ("launch-template/workers", "delete"),
            ("runner/config", "update"),
            ("sg/workers", "update"),
        ])
    );
    let back = up(&w);
    assert_eq!(back["host_instance_id"].as_str(), Some(host.as_str()));
    assert_eq!(volume(&c), data_volume);
    assert_eq!(owned::count(&c, &name), owned::complete());
    assert_eq!(changes(&w), vec![]);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
    assert_eq!(owned::count(&c, &name), owned::nothing());
}

/// Without `runner.executor` a new deployment gets docker-autoscaler
/// (docker+machine goes with GitLab Runner 20.0), while an existing
/// docker+machine deployment keeps its executor: the host's
/// `gascale:executor` tag says which it runs.
#[test]
fn the_executor_defaults_to_docker_autoscaler_only_for_new_deployments() {
    let name = unique_name("dflt");
    let w = Workdir::with_config(&format!("metadata: {{name: {name}, region: eu-west-1}}\n"));
    let plan = w.gascale(&["plan", "--output", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let addresses: Vec<&str> =
        plan["steps"].as_array().unwrap().iter().map(|s| s["address"].as_str().unwrap()).collect();
    assert!(addresses.contains(&"asg/workers") && addresses.contains(&"launch-template/workers"), "{addresses:?}");
    let yaml = docker_machine_config(&name);
    let w = Workdir::with_config(&yaml);
    up(&w);
    let without = yaml.replace("  executor: docker+machine\n", "");
    assert_ne!(without, yaml);
    std::fs::write(w.path().join("gascale.yaml"), without).unwrap();
    let plan = w.gascale(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the deployment keeps docker+machine: {}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("docker+machine is deprecated"), "{}", plan.stderr);
    assert_eq!(w.gascale(&["destroy", "--yes"]).code, 0);
}
