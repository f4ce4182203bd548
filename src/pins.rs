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
/// plugin, so the bootstrap downloads this release and checks it against the
/// `.sha256` file published beside it.
pub const COMPOSE_VERSION: &str = "v2.40.3";
/// GitLab's fleeting plugin for AWS (docker-autoscaler), by OCI reference.
/// 1.0.0 is the release GitLab Runner 17.x installs for `aws`; the plugin
/// negotiates its protocol with the runner, so newer 1.x releases work too.
pub const FLEETING_PLUGIN_AWS: &str = "registry.gitlab.com/gitlab-org/fleeting/plugins/aws:1.0.0";
