//! The host role's inline policy: what its executor calls with the host's
//! own credentials (docker-machine's amazonec2 driver, or the fleeting
//! plugin), the bootstrap's status tag, the runner cache — each scoped to
//! this deployment. `tests/integration/iam.rs` evaluates every call against it.

use serde_json::json;

use super::iam::role_arn;
use crate::config::Deployment;
use crate::plan::desired::Role;

/// The host's inline policy: what its executor needs — docker+machine's EC2
/// calls (destructive ones only on instances tagged with this deployment)
/// and passing the worker role; or the fleeting plugin's scaling of this
/// deployment's Auto Scaling group only — and the cache bucket only.
pub fn host_policy(d: &Deployment, account: &str, bucket: &str) -> serde_json::Value {
    let mut statements =
        if d.autoscaler() { autoscaler_statements(d, account) } else { docker_machine_statements(d, account) };
    if d.autoscaler() {
        // The bootstrap publishes its progress as the `gascale:bootstrap` tag
        // on its own instance (templates/user-data.sh.hbs `publish`);
        // AmazonSSMManagedInstanceCore grants no ec2:CreateTags (AWS managed
        // policy reference). This instance and this tag key only. (With
        // docker+machine, DockerMachineTagWorkers covers it.)
        statements.push(json!({
            "Sid": "PublishBootstrapStatus",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": format!("arn:aws:ec2:{}:{account}:instance/*", d.region()),
            "Condition": {
                "StringEquals": { "ec2:ResourceTag/gascale:deployment": d.name() },
                "ForAllValues:StringEquals": { "aws:TagKeys": [super::tags::BOOTSTRAP] }
            }
        }));
    }
    statements.extend([
        json!({
            "Sid": "RunnerCacheObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": format!("arn:aws:s3:::{bucket}/*")
        }),
        json!({
            "Sid": "RunnerCacheBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": format!("arn:aws:s3:::{bucket}")
        }),
    ]);
    if let Some(key) = &d.cache.kms_key {
        statements.push(json!({
            "Sid": "RunnerCacheKms",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key
        }));
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn docker_machine_statements(d: &Deployment, account: &str) -> Vec<serde_json::Value> {
    let own = json!({ "StringEquals": { "ec2:ResourceTag/gascale:deployment": d.name() } });
    let mut statements = vec![
        json!({
            "Sid": "DockerMachineRead",
            "Effect": "Allow",
            "Action": [
                "ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeKeyPairs",
                "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeImages",
                "ec2:DescribeSpotInstanceRequests", "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeAvailabilityZones", "ec2:DescribeVpcs", "ec2:DescribeTags"
            ],
            "Resource": "*"
        }),
        json!({
            "Sid": "DockerMachineLaunch",
            "Effect": "Allow",
            "Action": [
                "ec2:RunInstances", "ec2:RequestSpotInstances", "ec2:CancelSpotInstanceRequests",
                "ec2:CreateKeyPair", "ec2:ImportKeyPair", "ec2:DeleteKeyPair"
            ],
            "Resource": "*"
        }),
        // docker-machine tags a worker after it runs (its Name and
        // amazonec2-tags): a new, untagged one or one of this deployment's,
        // never another deployment's.
        json!({
            "Sid": "DockerMachineTagWorkers",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": "*",
            "Condition": { "StringEqualsIfExists": { "ec2:ResourceTag/gascale:deployment": d.name() } }
        }),
        json!({
            "Sid": "DockerMachineOwnInstances",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:StopInstances", "ec2:StartInstances", "ec2:RebootInstances"],
            "Resource": "*",
            "Condition": own
        }),
        json!({
            "Sid": "PassWorkerRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role_arn(account, d, Role::Workers)
        }),
    ];
    if d.runner.worker.ami.is_none() {
        // The bootstrap and runner-update.sh read the workers' image from
        // Canonical's public parameter (pins::ubuntu_lts_parameter); a
        // public parameter's ARN has no account (SSM user guide, "Working
        // with public parameters").
        statements.push(json!({
            "Sid": "WorkerImageParameter",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": format!(
                "arn:aws:ssm:{}::parameter{}",
                d.region(),
                crate::pins::ubuntu_lts_parameter(d.runner.worker.arch)
            )
        }));
    }
    statements
}

/// The ARN of the deployment's worker group, any group ID: the policy is
/// written before the group exists.
pub fn worker_group_arn(d: &Deployment, account: &str) -> String {
    format!(
        "arn:aws:autoscaling:{}:{account}:autoScalingGroup:*:autoScalingGroupName/{}",
        d.region(),
        d.worker_group_name()
    )
}

/// The fleeting plugin's calls: scaling and terminating in this group only,
/// reading groups and instances, and pushing an SSH key only to instances of
/// this group.
fn autoscaler_statements(d: &Deployment, account: &str) -> Vec<serde_json::Value> {
    vec![
        json!({
            "Sid": "FleetingScaleGroup",
            "Effect": "Allow",
            "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
            "Resource": worker_group_arn(d, account)
        }),
        json!({
            "Sid": "FleetingRead",
            "Effect": "Allow",
            "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
            "Resource": "*"
        }),
        json!({
            "Sid": "FleetingConnect",
            "Effect": "Allow",
            "Action": "ec2-instance-connect:SendSSHPublicKey",
            "Resource": format!("arn:aws:ec2:{}:{account}:instance/*", d.region()),
            "Condition": { "StringEquals": { "ec2:ResourceTag/aws:autoscaling:groupName": d.worker_group_name() } }
        }),
    ]
}
