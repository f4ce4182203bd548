//! The emulator's strict mode (scripts/emulator/strict.py) answers as AWS
//! documents: each behaviour is checked here through the SDK, with AWS's
//! error code, so the rest of the suite runs against what it claims.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{IamInstanceProfileSpecification, ResourceType, Tag, TagSpecification};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::harness::{runtime, sdk_strict as sdk, unique_name};

/// The error code of a failed call, or panics naming the call that succeeded.
fn code_of<T, E: ProvideErrorMetadata, R>(
    what: &str,
    r: Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>,
) -> String {
    match r {
        Ok(_) => panic!("{what} succeeded; strict mode should have refused it"),
        Err(e) => e.as_service_error().and_then(|s| s.code()).unwrap_or("(no code)").to_owned(),
    }
}

/// Runs `call` until it succeeds, for at most 5 s (every strict window is
/// shorter).
async fn eventually<T, E: std::fmt::Debug, F, Fut>(what: &str, mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    loop {
        match call().await {
            Ok(v) => return v,
            Err(e) if started.elapsed() > Duration::from_secs(5) => panic!("{what} still fails after 5 s: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn new_vpc(c: &gascale::aws::Clients, cidr: &str) -> String {
    let out = c.ec2.create_vpc().cidr_block(cidr).send().await.unwrap();
    out.vpc().and_then(|v| v.vpc_id()).unwrap().to_owned()
}

async fn al2023(c: &gascale::aws::Clients) -> String {
    gascale::aws::ec2::al2023_ami(c, None, gascale::config::Arch::X86_64).await.unwrap()
}

#[test]
fn ec2_ids_are_unknown_for_a_moment_after_create() {
    let c = sdk();
    runtime().block_on(async {
        let vpc = new_vpc(&c, "10.9.0.0/16").await;
        let tag = Tag::builder().key("k").value("v").build();
        let r = c.ec2.create_tags().resources(&vpc).tags(tag.clone()).send().await;
        assert_eq!(code_of("CreateTags on a new VPC", r), "InvalidVpcID.NotFound");
        eventually("CreateTags", || c.ec2.create_tags().resources(&vpc).tags(tag.clone()).send()).await;
        let subnet = c.ec2.create_subnet().vpc_id(&vpc).cidr_block("10.9.1.0/24").send().await.unwrap();
        let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_owned();
        let r = c.ec2.describe_subnets().subnet_ids(&subnet).send().await;
        assert_eq!(code_of("DescribeSubnets of a new subnet", r), "InvalidSubnetID.NotFound");
        let group = c
            .ec2
            .create_security_group()
            .vpc_id(&vpc)
            .group_name(unique_name("sg"))
            .description("d")
            .send()
            .await
            .unwrap();
        let r = c.ec2.describe_security_groups().group_ids(group.group_id().unwrap()).send().await;
        assert_eq!(code_of("DescribeSecurityGroups of a new group", r), "InvalidGroup.NotFound");
    });
}

#[test]
fn nat_gateways_take_time_to_come_and_go_and_their_interface_outlives_the_delete() {
    let c = sdk();
    runtime().block_on(async {
        let vpc = new_vpc(&c, "10.8.0.0/16").await;
        let subnet =
            eventually("CreateSubnet", || c.ec2.create_subnet().vpc_id(&vpc).cidr_block("10.8.1.0/24").send()).await;
        let subnet = subnet.subnet().unwrap().subnet_id().unwrap().to_owned();
        let eip = c.ec2.allocate_address().send().await.unwrap().allocation_id().unwrap().to_owned();
        let nat =
            eventually("CreateNatGateway", || c.ec2.create_nat_gateway().subnet_id(&subnet).allocation_id(&eip).send())
                .await;
        let nat = nat.nat_gateway().unwrap().nat_gateway_id().unwrap().to_owned();
        let state = |nat: String| {
            let c = c.clone();
            async move {
                let out = c.ec2.describe_nat_gateways().nat_gateway_ids(&nat).send().await?;
                Ok::<_, aws_sdk_ec2::Error>(out.nat_gateways()[0].state().unwrap().as_str().to_owned())
            }
        };
        let first = eventually("DescribeNatGateways", || state(nat.clone())).await;
        assert_eq!(first, "pending", "a new NAT gateway is pending first");
        eventually("the NAT gateway to be available", || async {
            let s = state(nat.clone()).await.map_err(|e| e.to_string())?;
            if s == "available" {
                Ok(())
            } else {
                Err(s)
            }
        })
        .await;
        c.ec2.delete_nat_gateway().nat_gateway_id(&nat).send().await.unwrap();
        assert_eq!(state(nat.clone()).await.unwrap(), "deleting");
        let r = c.ec2.delete_subnet().subnet_id(&subnet).send().await;
        assert_eq!(code_of("DeleteSubnet while the NAT's interface goes", r), "DependencyViolation");
        eventually("DeleteSubnet", || c.ec2.delete_subnet().subnet_id(&subnet).send()).await;
    });
}

#[test]
fn instance_profiles_reach_ec2_and_auto_scaling_late() {
    let c = sdk();
    let (role, profile) = (unique_name("strict-role-"), unique_name("strict-profile-"));
    runtime().block_on(async {
        c.iam.create_role().role_name(&role).assume_role_policy_document("{}").send().await.unwrap();
        c.iam.create_instance_profile().instance_profile_name(&profile).send().await.unwrap();
        let r = c.iam.add_role_to_instance_profile().instance_profile_name(&profile).role_name(&role).send().await;
        assert_eq!(code_of("AddRoleToInstanceProfile right after CreateRole", r), "NoSuchEntity");
        eventually("AddRoleToInstanceProfile", || {
            c.iam.add_role_to_instance_profile().instance_profile_name(&profile).role_name(&role).send()
        })
        .await;
        let ami = al2023(&c).await;
        let launch = || {
            c.ec2
                .run_instances()
                .image_id(&ami)
                .min_count(1)
                .max_count(1)
                .iam_instance_profile(IamInstanceProfileSpecification::builder().name(&profile).build())
                .send()
        };
        let mut messages = Vec::new();
        let out = loop {
            match launch().await {
                Ok(out) => break out,
                Err(e) => {
                    let e = e.into_service_error();
                    assert_eq!(e.code(), Some("InvalidParameterValue"));
                    messages.push(e.message().unwrap_or_default().to_owned());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        assert!(messages.iter().any(|m| m.contains("has no associated IAM Roles")), "{messages:?}");
        assert!(messages
            .iter()
            .all(|m| m.contains("Invalid IAM Instance Profile") || m.contains("has no associated IAM Roles")));
        let id = out.instances()[0].instance_id().unwrap().to_owned();
        eventually("TerminateInstances", || c.ec2.terminate_instances().instance_ids(&id).send()).await;
    });
}

#[test]
fn iam_conflicts_and_deleted_entities_that_still_read() {
    let c = sdk();
    let role = unique_name("strict-conflict-");
    runtime().block_on(async {
        c.iam.create_role().role_name(&role).assume_role_policy_document("{}").send().await.unwrap();
        let put = |n: &'static str| {
            c.iam
                .put_role_policy()
                .role_name(&role)
                .policy_name(n)
                .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
                .send()
        };
        let (a, b) = tokio::join!(put("a"), put("b"));
        let codes: Vec<String> = [a.err(), b.err()].into_iter().flatten().map(|e| e.code().unwrap_or_default().to_owned()).collect();
        assert_eq!(codes, ["ConcurrentModification"], "one of two writes at once is refused");
        c.iam.get_role().role_name(&role).send().await.unwrap();
        c.iam.delete_role_policy().role_name(&role).policy_name("a").send().await.ok();
        c.iam.delete_role_policy().role_name(&role).policy_name("b").send().await.ok();
        c.iam.delete_role().role_name(&role).send().await.unwrap();
        assert!(c.iam.get_role().role_name(&role).send().await.is_ok(), "a deleted role still reads for a moment");
        eventually("GetRole to answer NoSuchEntity", || async {
            match c.iam.get_role().role_name(&role).send().await {
                Err(e) if e.code() == Some("NoSuchEntity") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    });
}

#[test]
fn s3_configuration_conflicts_and_a_name_that_is_not_free_again_at_once() {
    let c = sdk();
    let bucket = unique_name("strict-bucket-");
    runtime().block_on(async {
        let create = || {
            c.s3.create_bucket()
                .bucket(&bucket)
                .create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                        .build(),
                )
                .send()
        };
        create().await.unwrap();
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(aws_sdk_s3::types::Tag::builder().key("k").value("v").build().unwrap())
            .build()
            .unwrap();
        let tag = || c.s3.put_bucket_tagging().bucket(&bucket).tagging(tagging.clone()).send();
        assert_eq!(code_of("PutBucketTagging right after CreateBucket", tag().await), "NoSuchBucket");
        eventually("PutBucketTagging", tag).await;
        let policy =
            || c.s3.put_bucket_policy().bucket(&bucket).policy(gascale::aws::s3::tls_only_policy(&bucket)).send();
        let (a, b) = tokio::join!(tag(), policy());
        let codes: Vec<String> = [
            a.err().map(|e| e.code().unwrap_or_default().to_owned()),
            b.err().map(|e| e.code().unwrap_or_default().to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(codes, ["OperationAborted"], "one of two configuration writes at once is refused");
        c.s3.delete_bucket().bucket(&bucket).send().await.unwrap();
        assert_eq!(code_of("CreateBucket of a name deleted moments ago", create().await), "OperationAborted");
        eventually("CreateBucket", create).await;
        eventually("DeleteBucket", || c.s3.delete_bucket().bucket(&bucket).send()).await;
    });
}

#[test]
fn run_instances_honours_its_client_token_after_termination() {
    let c = sdk();
    runtime().block_on(async {
        let ami = al2023(&c).await;
        let token = unique_name("token-");
        let launch =
            |count: i32| c.ec2.run_instances().image_id(&ami).min_count(1).max_count(count).client_token(&token).send();
        let first = launch(1).await.unwrap().instances()[0].instance_id().unwrap().to_owned();
        let again = launch(1).await.unwrap().instances()[0].instance_id().unwrap().to_owned();
        assert_eq!(again, first, "the same token and parameters give the earlier instance");
        assert_eq!(code_of("the same token, other parameters", launch(2).await), "IdempotentParameterMismatch");
        eventually("TerminateInstances", || c.ec2.terminate_instances().instance_ids(&first).send()).await;
        let after = launch(1).await.unwrap().instances()[0].instance_id().unwrap().to_owned();
        assert_eq!(after, first, "a token stays bound to its instance after termination");
    });
}

#[test]
fn terminate_with_one_unknown_id_terminates_none_and_volumes_detach_late() {
    let c = sdk();
    runtime().block_on(async {
        let ami = al2023(&c).await;
        let out = c
            .ec2
            .run_instances()
            .image_id(&ami)
            .min_count(1)
            .max_count(1)
            .placement(aws_sdk_ec2::types::Placement::builder().availability_zone("eu-west-1a").build())
            .send()
            .await
            .unwrap();
        let id = out.instances()[0].instance_id().unwrap().to_owned();
        let volume = c
            .ec2
            .create_volume()
            .availability_zone("eu-west-1a")
            .size(1)
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Volume)
                    .tags(Tag::builder().key("k").value("v").build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let volume = volume.volume_id().unwrap().to_owned();
        eventually("AttachVolume", || {
            c.ec2.attach_volume().volume_id(&volume).instance_id(&id).device("/dev/sdf").send()
        })
        .await;
        let r = c.ec2.terminate_instances().instance_ids(&id).instance_ids("i-0123456789abcdef0").send().await;
        assert_eq!(code_of("TerminateInstances with an unknown ID", r), "InvalidInstanceID.NotFound");
        let state = c.ec2.describe_instances().instance_ids(&id).send().await.unwrap().reservations()[0].instances()[0]
            .state()
            .unwrap()
            .name()
            .unwrap()
            .as_str()
            .to_owned();
        assert_eq!(state, "running", "none of the batch was terminated");
        c.ec2.terminate_instances().instance_ids(&id).send().await.unwrap();
        let r = c.ec2.delete_volume().volume_id(&volume).send().await;
        assert_eq!(code_of("DeleteVolume right after its instance terminated", r), "VolumeInUse");
        eventually("DeleteVolume", || c.ec2.delete_volume().volume_id(&volume).send()).await;
    });
}

#[test]
fn an_auto_scaling_group_cannot_be_deleted_right_after_a_capacity_change() {
    let c = sdk();
    let name = unique_name("strict-asg-");
    runtime().block_on(async {
        let ami = al2023(&c).await;
        let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Small)
            .build();
        let lt =
            c.ec2.create_launch_template().launch_template_name(&name).launch_template_data(data).send().await.unwrap();
        let lt = lt.launch_template().unwrap().launch_template_id().unwrap().to_owned();
        let spec = aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&lt).build();
        eventually("CreateAutoScalingGroup", || {
            c.autoscaling
                .create_auto_scaling_group()
                .auto_scaling_group_name(&name)
                .launch_template(spec.clone())
                .min_size(0)
                .max_size(2)
                .availability_zones("eu-west-1a")
                .send()
        })
        .await;
        c.autoscaling.set_desired_capacity().auto_scaling_group_name(&name).desired_capacity(1).send().await.unwrap();
        let r =
            c.autoscaling.delete_auto_scaling_group().auto_scaling_group_name(&name).force_delete(true).send().await;
        assert_eq!(code_of("DeleteAutoScalingGroup right after SetDesiredCapacity", r), "ScalingActivityInProgress");
        eventually("DeleteAutoScalingGroup", || {
            c.autoscaling.delete_auto_scaling_group().auto_scaling_group_name(&name).force_delete(true).send()
        })
        .await;
    });
}

/// "VPCs per Region" holds (the default VPC counts): past it CreateVpc
/// answers VpcLimitExceeded (EC2 API reference, "Error codes").
#[test]
fn create_vpc_past_the_accounts_vpc_quota_is_refused() {
    let emulator = crate::harness::PrivateEmulator::start_with(&["--vpc-quota", "2"]);
    let c = crate::harness::sdk_at(&emulator.endpoint);
    runtime().block_on(async {
        let existing = c.ec2.describe_vpcs().send().await.unwrap().vpcs().len();
        assert_eq!(existing, 1, "the region's default VPC");
        new_vpc(&c, "10.1.0.0/16").await;
        let r = c.ec2.create_vpc().cidr_block("10.2.0.0/16").send().await;
        assert_eq!(code_of("CreateVpc at the quota of 2", r), "VpcLimitExceeded");
        assert_eq!(c.ec2.describe_vpcs().send().await.unwrap().vpcs().len(), 2, "nothing created past the quota");
    });
}
