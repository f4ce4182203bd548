//! What the host and its workers download and boot, as the bootstrap runs it
//! against the stub commands: the compose plugin checked against the
//! checksum pinned in gascale, and docker+machine's workers on the Ubuntu
//! LTS image Canonical's public SSM parameter names when it is written.

use gascale::config::Arch;

use crate::templates::{example, rendered, with_region, Host};

/// Canonical's parameter for Ubuntu 24.04 on amd64 (Canonical, "Finding
/// Ubuntu images with the AWS SSM Parameter Store").
const UBUNTU_AMD64: &str = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id";

fn config_toml(host: &Host) -> String {
    host.read("root/srv/gitlab/runner/config/config.toml")
}

#[test]
fn the_compose_plugin_is_checked_against_the_pinned_checksum_per_architecture() {
    let mut d = with_region(example("minimal.yaml"));
    let x86 = rendered(&d).user_data;
    assert!(x86.contains(&format!("COMPOSE_SHA256='{}'", gascale::pins::COMPOSE_SHA256_X86_64)));
    d.gitlab.arch = Arch::Arm64;
    let arm = rendered(&d).user_data;
    assert!(arm.contains(&format!("COMPOSE_SHA256='{}'", gascale::pins::COMPOSE_SHA256_AARCH64)));
    assert!(arm.contains("ARCH='aarch64'"), "docker-compose-linux-aarch64 is the asset");
    // Nothing is fetched beside the release to check it against.
    assert!(!x86.contains(".sha256\""));
}

#[test]
fn a_compose_download_that_does_not_match_the_pin_fails_at_its_step() {
    let d = with_region(example("minimal.yaml"));
    let host = Host::with_compose_download(&rendered(&d).user_data, "#!/bin/sh\necho tampered\n");
    let out = host.run("ok");
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:compose-plugin");
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains("does not match its pinned checksum"), "{log}");
    assert!(!std::path::Path::new(&host.path("root/usr/local/lib/docker/cli-plugins/docker-compose")).exists());
}

#[test]
fn docker_machine_workers_boot_the_current_ubuntu_lts_read_on_the_host() {
    let d = with_region(example("production.yaml"));
    assert!(d.runner.worker.ami.is_none());
    let r = rendered(&d);
    assert!(r.config_toml.contains("\"amazonec2-ami=__GASCALE_WORKER_AMI__\""), "{}", r.config_toml);
    let host = Host::new(&r.user_data);
    let out = host.run_with("ok", &[("STUB_SSM_VALUE", "ami-0a1b2c3d4e5f60718")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let aws = host.read("stub/aws");
    assert!(
        aws.contains(&format!(
            "ssm get-parameter --region {} --name {UBUNTU_AMD64} --query Parameter.Value",
            d.region()
        )),
        "{aws}"
    );
    let config = config_toml(&host);
    assert!(config.contains("\"amazonec2-ami=ami-0a1b2c3d4e5f60718\""), "{config}");
    assert!(!config.contains("__GASCALE_"), "{config}");

    // Canonical publishes a new image: a runner update writes it and
    // restarts the runner, so new workers boot it.
    let update = host.update(&r.runner_update, &[("STUB_SSM_VALUE", "ami-0fedcba9876543210")]);
    assert!(update.status.success(), "{}", String::from_utf8_lossy(&update.stderr));
    assert!(config_toml(&host).contains("\"amazonec2-ami=ami-0fedcba9876543210\""));
    assert_eq!(
        host.read("stub/signals"),
        format!("runner SIGQUIT {}s\n", d.runner.registration.maximum_timeout.unwrap_or(3600))
    );
}

#[test]
fn an_arm64_worker_reads_the_arm64_parameter_and_a_pinned_image_reads_none() {
    let mut d = with_region(example("production.yaml"));
    d.runner.worker.arch = Arch::Arm64;
    assert!(rendered(&d).user_data.contains(&UBUNTU_AMD64.replace("/amd64/", "/arm64/")));
    d.runner.worker.ami = Some("ami-0123456789abcdef0".into());
    let r = rendered(&d);
    assert!(!r.user_data.contains("/aws/service/canonical"));
    let host = Host::new(&r.user_data);
    assert!(host.run("ok").status.success());
    assert!(!host.read("stub/aws").contains("ssm get-parameter"));
    assert!(config_toml(&host).contains("\"amazonec2-ami=ami-0123456789abcdef0\""));
    // Least privilege: the host role may read the parameter only when it must.
    let policy = gascale::aws::iam::host_policy(&d, "123456789012", "bucket").to_string();
    assert!(!policy.contains("ssm:GetParameter"), "{policy}");
}

#[test]
fn a_parameter_that_names_no_image_fails_the_bootstrap_naming_it() {
    let d = with_region(example("production.yaml"));
    let host = Host::new(&rendered(&d).user_data);
    let out = host.run_with("ok", &[("STUB_SSM_VALUE", "None")]);
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:runner-token");
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains(&format!("{UBUNTU_AMD64} did not name an AMI: None")), "{log}");
    assert!(!config_toml(&host).contains("amazonec2"), "no config.toml with a broken image");
}
