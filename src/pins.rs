//! Pinned versions of everything the host installs or pulls. Each one can be
//! overridden in the config; they are kept here so a bump is one edit.
//!
//! GitLab and GitLab Runner 19.3 are the versions DESIGN.md records from the
//! upstream sources (mid-2026); `v0.16.2-gitlab.48` is the docker-machine
//! release GitLab Runner's docs name.

pub const GITLAB_VERSION: &str = "19.3.0";
pub const RUNNER_VERSION: &str = "v19.3.0";
pub const DOCKER_MACHINE_VERSION: &str = "v0.16.2-gitlab.48";
pub const DEFAULT_JOB_IMAGE: &str = "alpine:3.22";
/// Docker's compose plugin: Amazon Linux 2023 packages Docker but not the
/// plugin (amazonlinux/amazon-linux-2023#186), so the bootstrap downloads
/// this release and checks it against the checksum pinned here, not against
/// a file from the same place. v2.40.3 was the last v2 release; v5 is the
/// same CLI with an SDK (Compose docs, "History and development"). Without
/// buildx, v5 builds with the engine's classic builder
/// (pkg/compose/build.go `buildWithBake` falls back to `doBuildClassic`),
/// which the runner's Dockerfile needs nothing beyond.
pub const COMPOSE_VERSION: &str = "v5.4.0";
/// SHA-256 of `docker-compose-linux-x86_64` and `-aarch64` of
/// [`COMPOSE_VERSION`], as Docker's official image pins them
/// (docker-library/docker `versions.json`, commit 3289af8, 2026-08-06).
pub const COMPOSE_SHA256_X86_64: &str = "837fd1d35bf6a494f41b5b5988269a7be79de337cf1a1a6ff0e45ab51bb4e9be";
pub const COMPOSE_SHA256_AARCH64: &str = "fc5d1371f1ec7987e703da94ede49af3fbfb240b83f22991a98511de7bc4b93b";
/// GitLab's fleeting plugin for AWS (docker-autoscaler), by OCI reference.
/// v1.0.1 is the newest tag a source on record names (nixpkgs
/// `pkgs/by-name/fl/fleeting-plugin-aws/package.nix`: `version = "1.0.1"`,
/// `tag = "v${version}"`); the plugin negotiates its protocol with the
/// runner, so a config may name a newer 1.x.
pub const FLEETING_PLUGIN_AWS: &str = "registry.gitlab.com/gitlab-org/fleeting/plugins/aws:1.0.1";

/// The Ubuntu LTS release docker+machine's workers boot, from Canonical's
/// public SSM parameter (Canonical, "Finding Ubuntu images with the AWS SSM
/// Parameter Store": `/aws/service/canonical/ubuntu/<product>/<release>/
/// stable/current/<arch>/hvm/<volume type>/ami-id`). 24.04 is the newest LTS
/// Docker Engine lists for Ubuntu (docker/docs `engine/install/ubuntu.md`),
/// which docker-machine installs on it. Without a pin the fork boots its
/// built-in default, an end-of-life Ubuntu (review B6).
pub fn ubuntu_lts_parameter(arch: crate::config::Arch) -> String {
    let arch = if arch == crate::config::Arch::Arm64 { "arm64" } else { "amd64" };
    format!("/aws/service/canonical/ubuntu/server/24.04/stable/current/{arch}/hvm/ebs-gp3/ami-id")
}

/// The ECS-optimized Amazon Linux 2023 image docker-autoscaler's workers
/// boot: Docker is installed and enabled, so a worker is ready in seconds
/// (ECS developer guide, "Retrieving Amazon ECS-optimized Linux AMI
/// metadata": `/aws/service/ecs/optimized-ami/amazon-linux-2023[/arm64]/
/// recommended/image_id`).
pub fn ecs_al2023_parameter(arch: crate::config::Arch) -> &'static str {
    if arch == crate::config::Arch::Arm64 {
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
    } else {
        "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
    }
}
