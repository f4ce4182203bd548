//! Checks of the runner settings (`runner.*`, the autoscaler's included):
//! what GitLab Runner, docker-machine and the fleeting plugin accept, named
//! by key.

use super::model::*;
use super::validate::{is_semver, pinned_image, valid_ami, Problems};

pub(super) fn runner(p: &mut Problems, r: &Runner) {
    let v = r.version.strip_prefix('v').unwrap_or(&r.version);
    p.check(is_semver(v), "runner.version", || format!("{:?} must be vX.Y.Z", r.version));
    if let Some(n) = &r.name {
        p.check(
            !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "runner.name",
            || format!("{n:?} must be 1-64 letters, digits, '-' or '_'"),
        );
    }
    if let Some(c) = r.concurrent {
        p.check((1..=10_000).contains(&c), "runner.concurrent", || format!("{c} must be 1 to 10000"));
    }
    autoscaler(p, r);
    p.check(r.limit <= 10_000, "runner.limit", || format!("{} must be at most 10000", r.limit));
    p.check(r.check_interval <= 3600, "runner.check_interval", || {
        format!("{} must be at most 3600 seconds", r.check_interval)
    });
    p.check(pinned_image(&r.docker.image), "runner.docker.image", || {
        format!("{:?} must name a tag or digest other than latest, e.g. alpine:3.22", r.docker.image)
    });
    let dm = &r.docker_machine;
    let dm_ok = dm
        .version
        .strip_prefix('v')
        .and_then(|s| s.split_once("-gitlab."))
        .is_some_and(|(v, n)| is_semver(v) && n.parse::<u32>().is_ok());
    p.check(dm_ok, "runner.docker_machine.version", || format!("{:?} must look like v0.16.2-gitlab.48", dm.version));
    if let Some(sum) = &dm.sha256 {
        p.check(sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()), "runner.docker_machine.sha256", || {
            "must be 64 hex digits".into()
        });
    }
    let w = &r.worker;
    if let Some(price) = &w.max_price {
        let ok = price.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0) && !price.contains(['e', 'E']);
        p.check(ok, "runner.worker.max_price", || {
            format!("{price:?} must be a positive price in USD per hour, e.g. \"0.05\"")
        });
        p.check(w.spot, "runner.worker.max_price", || "is only used with runner.worker.spot: true".into());
    }
    p.check((8..=16384).contains(&w.root_volume_gb), "runner.worker.root_volume_gb", || {
        format!("{} must be 8 to 16384", w.root_volume_gb)
    });
    if let Some(ami) = &w.ami {
        p.check(valid_ami(ami), "runner.worker.ami", || format!("{ami:?} is not an AMI ID like ami-0123456789abcdef0"));
    }
    if let Some(f) = r.idle.scale_factor {
        p.check(f.is_finite() && f >= 0.0, "runner.idle.scale_factor", || format!("{f} must be 0 or more"));
    }
    for (i, a) in r.autoscaling.iter().enumerate() {
        let key = format!("runner.autoscaling[{i}]");
        p.check(!a.periods.is_empty(), format!("{key}.periods"), || "needs at least one cron period".into());
        if let Some(f) = a.idle_scale_factor {
            p.check(f.is_finite() && f >= 0.0, format!("{key}.idle_scale_factor"), || format!("{f} must be 0 or more"));
        }
    }
    let reg = &r.registration;
    if let Some(d) = &reg.description {
        p.check(!d.trim().is_empty() && d.len() <= 255, "runner.registration.description", || {
            "must be 1-255 characters".into()
        });
    }
    for (i, t) in reg.tags.iter().enumerate() {
        p.check(
            !t.trim().is_empty() && !t.contains(',') && t.len() <= 255,
            format!("runner.registration.tags[{i}]"),
            || format!("{t:?} must be 1-255 characters without commas"),
        );
    }
    p.check(!reg.tags.is_empty() || reg.run_untagged, "runner.registration.run_untagged", || {
        "is false and no tags are set, so the runner would never pick up a job".into()
    });
    if let Some(t) = reg.maximum_timeout {
        p.check(t >= 600, "runner.registration.maximum_timeout", || {
            format!("{t} is below GitLab's minimum of 600 seconds")
        });
    }
}

/// The docker-autoscaler's settings, and the settings that only one of the
/// two executors understands (named, rather than silently ignored).
fn autoscaler(p: &mut Problems, r: &Runner) {
    let a = &r.autoscaler;
    let plugin_ok = !a.plugin.is_empty()
        && a.plugin.len() <= 255
        && a.plugin.bytes().all(|b| b.is_ascii_alphanumeric() || b"./:-_@".contains(&b));
    p.check(plugin_ok, "runner.autoscaler.plugin", || {
        format!("{:?} must be an OCI reference like {}", a.plugin, crate::pins::FLEETING_PLUGIN_AWS)
    });
    let version = a.plugin.rsplit('/').next().and_then(|n| n.split_once(':')).map(|(_, v)| v);
    p.check(plugin_ok && version.is_some_and(|v| !v.is_empty() && v != "latest"), "runner.autoscaler.plugin", || {
        format!("{:?} must pin a version, e.g. {}", a.plugin, crate::pins::FLEETING_PLUGIN_AWS)
    });
    p.check((1..=100).contains(&a.capacity_per_instance), "runner.autoscaler.capacity_per_instance", || {
        format!("{} must be 1 to 100", a.capacity_per_instance)
    });
    p.check(a.max_use_count <= 10_000, "runner.autoscaler.max_use_count", || {
        format!("{} must be at most 10000 (0 = unlimited)", a.max_use_count)
    });
    p.check((1..=1000).contains(&a.max_instances), "runner.autoscaler.max_instances", || {
        format!("{} must be 1 to 1000", a.max_instances)
    });
    p.check(a.on_demand_base <= a.max_instances, "runner.autoscaler.on_demand_base", || {
        format!("{} is more than max_instances ({})", a.on_demand_base, a.max_instances)
    });
    p.check(a.instance_types.len() <= 19, "runner.autoscaler.instance_types", || {
        "at most 19 further types (an Auto Scaling group takes 20 in all)".into()
    });
    p.check((10..=3600).contains(&a.connect_timeout), "runner.autoscaler.connect_timeout", || {
        format!("{} must be 10 to 3600 seconds", a.connect_timeout)
    });
    let (only_machine, only_autoscaler) = match r.executor.unwrap_or(Executor::DockerAutoscaler) {
        Executor::DockerAutoscaler => ("is a docker+machine setting; docker-autoscaler has none like it", ""),
        Executor::DockerMachine => ("", "is a docker-autoscaler setting; docker+machine has none like it"),
    };
    if !only_machine.is_empty() {
        p.check(r.idle.count_min.is_none(), "runner.idle.count_min", || only_machine.into());
    } else {
        p.check(r.idle.scale_factor_limit.is_none(), "runner.idle.scale_factor_limit", || only_autoscaler.into());
        p.check(r.worker.arch == Arch::X86_64, "runner.worker.arch", || only_autoscaler.into());
    }
    for (i, a) in r.autoscaling.iter().enumerate() {
        let key = format!("runner.autoscaling[{i}]");
        if !only_machine.is_empty() {
            p.check(a.idle_count_min.is_none(), format!("{key}.idle_count_min"), || only_machine.into());
            for (j, period) in a.periods.iter().enumerate() {
                p.check(period.five_fields().is_some(), format!("{key}.periods[{j}]"), || {
                    format!(
                        "{:?} names a year; docker-autoscaler periods have 5 fields (min hour dom mon dow)",
                        period.as_str()
                    )
                });
            }
        } else {
            p.check(a.idle_scale_factor_limit.is_none(), format!("{key}.idle_scale_factor_limit"), || {
                only_autoscaler.into()
            });
        }
    }
}
