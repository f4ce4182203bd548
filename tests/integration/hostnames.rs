//! Hostnames the real programs refuse past Linux's 64 characters
//! (HOST_NAME_MAX): docker-machine's `sudo hostname` on a worker, and
//! Docker's start of a container whose `hostname:` is longer.

use gascale::config::Deployment;

use crate::templates::{example, examples, rendered, with_region, Host};

#[test]
fn worker_hostnames_fit_linux_s_64_characters() {
    // docker-machine runs `sudo hostname <machine name>`; Linux takes at most
    // 64 characters (HOST_NAME_MAX). The name is computed the way GitLab
    // Runner does (tests/integration/runner.rs) from the rendered MachineName,
    // with the longest short token (9) and a ten-digit Unix time.
    // docker-autoscaler's workers get names from EC2, not from the runner.
    // Every example as if it ran docker+machine (the default is
    // docker-autoscaler, but an existing deployment keeps docker+machine).
    let mut deployments: Vec<(String, Deployment)> = examples()
        .into_iter()
        .map(|(name, mut d)| {
            d.runner.executor = Some(gascale::config::Executor::DockerMachine);
            (name, d)
        })
        .collect();
    assert_eq!(deployments.len(), 4, "every example");
    let mut longest = with_region(example("production.yaml"));
    longest.metadata.name = "a".repeat(20);
    longest.runner.executor = Some(gascale::config::Executor::DockerMachine);
    deployments.push(("a 20-character name".into(), longest));
    for (name, d) in deployments {
        let template = crate::runner::machine_name_template(&d);
        let hostname = crate::runner::machine_name(&template, "glrt-zzzzzzzzzzzzzzzzzzzz", 9_999_999_999, [0xff; 4]);
        assert!(hostname.len() <= 64, "{name}: {hostname} has {} characters", hostname.len());
    }
}

/// GitLab's container takes the domain as its hostname: the stub's Docker
/// refuses a longer one at start as runc does, so the bootstrap fails at
/// `gitlab` naming it — and `gitlab.domain` refuses such a domain before
/// anything is created (`config::bad_files_fail_with_64_naming_the_key`).
#[test]
fn a_gitlab_hostname_over_64_characters_fails_the_bootstrap_at_gitlab() {
    let mut d = with_region(example("production.yaml"));
    d.gitlab.domain = Some(format!("{}.example.com", "a".repeat(53)));
    let host = Host::new(&rendered(&d).user_data);
    let out = host.run_with("ok", &[("STUB_DNS", "")]);
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:gitlab");
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(log.contains("sethostname: invalid argument"), "{log}");
}
