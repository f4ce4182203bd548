//! Semantic checks of a parsed deployment file: everything a type alone cannot
//! say. Every problem is reported with its key path, all at once, before any
//! AWS call is made.

use std::net::Ipv4Addr;

use super::model::*;
use super::types::Cidr;

/// One problem in the config file: the key path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

#[derive(Default)]
pub(super) struct Problems(Vec<Problem>);

impl Problems {
    pub(super) fn check(&mut self, ok: bool, key: impl Into<String>, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(Problem { key: key.into(), message: message() });
        }
    }
}

pub const MAX_NAME_LEN: usize = 20;
pub const MAX_USER_TAGS: usize = 40;

pub fn validate(d: &Deployment) -> Result<(), Vec<Problem>> {
    let mut p = Problems::default();
    metadata(&mut p, &d.metadata);
    network(&mut p, &d.network);
    gitlab(&mut p, &d.gitlab);
    super::validate_runner::runner(&mut p, &d.runner);
    cache(&mut p, &d.cache);
    super::validate_backup::backup(&mut p, &d.backup);
    if p.0.is_empty() {
        Ok(())
    } else {
        Err(p.0)
    }
}

/// Why `n` cannot name a deployment, if it cannot.
pub fn name_problem(n: &str) -> Option<String> {
    (!valid_name(n)).then(|| {
        format!("{n:?} must be 1-{MAX_NAME_LEN} characters of lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen")
    })
}

fn metadata(p: &mut Problems, m: &Metadata) {
    let problem = name_problem(&m.name);
    p.check(problem.is_none(), "metadata.name", || problem.clone().unwrap_or_default());
    if let Some(r) = &m.region {
        p.check(valid_region(r), "metadata.region", || format!("{r:?} is not an AWS region name like eu-west-1"));
        // The policies and endpoints gascale writes name the `aws` partition
        // (arn:aws:…, com.amazonaws.…); China (cn-*) and GovCloud
        // (us-gov-*) are other partitions (AWS General Reference, ARNs).
        p.check(
            !r.starts_with("cn-") && !r.starts_with("us-gov-") && !r.starts_with("us-iso"),
            "metadata.region",
            || format!("{r:?} is outside the aws partition (China, GovCloud, ISO), which gascale does not support"),
        );
    }
    if let Some(ttl) = &m.ttl {
        let ok = humantime::parse_duration(ttl).is_ok_and(|d| d.as_secs() >= 60);
        p.check(ok, "metadata.ttl", || format!("{ttl:?} must be a duration of a minute or more, like 6h or 2d"));
    }
    p.check(m.tags.len() <= MAX_USER_TAGS, "metadata.tags", || {
        format!(
            "{} tags given; at most {MAX_USER_TAGS} (AWS allows 50 per resource and gascale uses some)",
            m.tags.len()
        )
    });
    for (k, v) in m.tags.iter().take(MAX_USER_TAGS + 1) {
        let key = format!("metadata.tags.{k}");
        let reserved = k.to_ascii_lowercase().starts_with("aws:") || k.starts_with("gascale:") || k == "Name";
        p.check(!k.is_empty() && k.len() <= 128, &key, || "a tag key has 1-128 characters".into());
        p.check(!reserved, &key, || format!("{k:?} is reserved (aws:*, gascale:* and Name are set by AWS or gascale)"));
        p.check(v.len() <= 256, &key, || "a tag value has at most 256 characters".into());
        p.check(!k.contains(',') && !v.contains(','), &key, || {
            "tags may not contain ',' (the runner passes them to its workers as a comma-separated list)".into()
        });
        // The roles and instance profiles carry these tags too, and IAM takes
        // fewer characters than EC2: letters, digits, spaces and _.:/=+-@
        // (IAM API reference, Tag: [\p{L}\p{Z}\p{N}_.:/=+\-@]*).
        let iam_char = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
        p.check(k.chars().all(iam_char) && v.chars().all(iam_char), &key, || {
            "tags may hold only letters, digits, spaces and _ . : / = + - @ (IAM's tag characters)".into()
        });
    }
}

fn valid_name(n: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&n.len())
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.ends_with('-')
        && !n.contains("--")
}

fn valid_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && r.len() <= 32
        && parts[..parts.len() - 1].iter().all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn network(p: &mut Problems, n: &Network) {
    let len = n.cidr.0.prefix_len();
    p.check((16..=24).contains(&len), "network.cidr", || format!("{} must be a /16 to /24 block", n.cidr));
    p.check((1..=6).contains(&n.azs), "network.azs", || format!("{} must be 1 to 6", n.azs));
    for (i, c) in n.allow_cidrs.iter().enumerate() {
        p.check(c.0.prefix_len() >= 8 || n.allow_world, format!("network.allow_cidrs[{i}]"), || {
            format!(
                "{c} opens GitLab to (most of) the internet; set network.allow_world: true to allow that on purpose"
            )
        });
    }
    let mut all: Vec<(String, Cidr)> = Vec::new();
    for (key, list) in [("network.public_subnets", &n.public_subnets), ("network.private_subnets", &n.private_subnets)]
    {
        let Some(list) = list else { continue };
        p.check(list.len() == n.azs as usize, key, || {
            format!("{} blocks given for {} availability zones (network.azs); give one per zone", list.len(), n.azs)
        });
        for (i, c) in list.iter().enumerate() {
            let k = format!("{key}[{i}]");
            p.check(n.cidr.0.contains(&c.0), &k, || format!("{c} is not inside the VPC block {}", n.cidr));
            p.check(c.0.prefix_len() <= 28, &k, || format!("{c} is smaller than /28, the smallest subnet AWS allows"));
            all.push((k, *c));
        }
    }
    for (i, (ka, a)) in all.iter().enumerate() {
        for (kb, b) in &all[i + 1..] {
            let overlap = a.0.contains(&b.0.network()) || b.0.contains(&a.0.network());
            p.check(!overlap, kb, || format!("{b} overlaps {a} ({ka})"));
        }
    }
}

fn gitlab(p: &mut Problems, g: &Gitlab) {
    let edition = if g.edition == Edition::Ce { "ce" } else { "ee" };
    let version_ok = match g.version.split_once('-') {
        None => is_semver(&g.version),
        Some((v, suffix)) => {
            is_semver(v)
                && suffix
                    .strip_prefix(edition)
                    .and_then(|s| s.strip_prefix('.'))
                    .is_some_and(|n| n.parse::<u32>().is_ok())
        }
    };
    p.check(version_ok, "gitlab.version", || {
        format!("{:?} must be X.Y.Z or X.Y.Z-{edition}.N matching gitlab.edition", g.version)
    });
    if let Some(snap) = &g.restore_from {
        p.check(super::validate_backup::is_snapshot_id(snap), "gitlab.restore_from", || {
            format!("{snap:?} must be a snapshot ID like snap-0123456789abcdef0")
        });
    }
    if let Some(ami) = &g.ami {
        p.check(valid_ami(ami), "gitlab.ami", || format!("{ami:?} is not an AMI ID like ami-0123456789abcdef0"));
    }
    p.check((8..=16384).contains(&g.root_volume_gb), "gitlab.root_volume_gb", || {
        format!("{} must be 8 to 16384", g.root_volume_gb)
    });
    p.check((10..=16384).contains(&g.data_volume_gb), "gitlab.data_volume_gb", || {
        format!("{} must be 10 to 16384", g.data_volume_gb)
    });
    if let Some(d) = &g.domain {
        p.check(valid_dns_name(d), "gitlab.domain", || format!("{d:?} is not a DNS name like gitlab.example.com"));
        // The domain is the GitLab container's hostname (docker-compose.yaml):
        // Linux takes at most 64 characters (HOST_NAME_MAX) and Docker fails
        // a longer one at start ("sethostname: invalid argument", runc).
        p.check(d.len() <= 64, "gitlab.domain", || {
            format!(
                "{d:?} is {} characters; GitLab's container takes it as its hostname, which Linux limits to 64",
                d.len()
            )
        });
    }
    if let Some(e) = &g.letsencrypt_email {
        p.check(g.domain.is_some(), "gitlab.letsencrypt_email", || {
            "needs gitlab.domain (Let's Encrypt cannot certify an EC2 host name)".into()
        });
        p.check(e.contains('@') && !e.contains(char::is_whitespace), "gitlab.letsencrypt_email", || {
            format!("{e:?} is not an e-mail address")
        });
    }
    p.check((60..=7200).contains(&g.readiness_timeout), "gitlab.readiness_timeout", || {
        format!("{} must be 60 to 7200 seconds", g.readiness_timeout)
    });
}

fn cache(p: &mut Problems, c: &Cache) {
    if let Some(b) = &c.bucket {
        if let Err(why) = check_bucket_name(b) {
            p.check(false, "cache.bucket", || format!("{b:?} is not a valid S3 bucket name: {why}"));
        }
    }
    p.check((1..=3650).contains(&c.expiration_days), "cache.expiration_days", || {
        format!("{} must be 1 to 3650", c.expiration_days)
    });
    let pre = &c.prefix;
    p.check(
        !pre.is_empty() && !pre.starts_with('/') && pre.len() <= 200 && !pre.contains(char::is_whitespace),
        "cache.prefix",
        || format!("{pre:?} must be a non-empty S3 key prefix without leading '/' or spaces"),
    );
    match (c.sse, &c.kms_key) {
        (Sse::Kms, None) => p.check(false, "cache.kms_key", || "is required with cache.sse: aws:kms".into()),
        (Sse::Aes256, Some(_)) => p.check(false, "cache.kms_key", || "is only used with cache.sse: aws:kms".into()),
        _ => {}
    }
}

/// S3's bucket naming rules for general purpose buckets.
pub fn check_bucket_name(b: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&b.len()) {
        return Err("it must be 3-63 characters");
    }
    if !b.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.') {
        return Err("only lowercase letters, digits, '.' and '-' are allowed");
    }
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge_ok(b.as_bytes()[0]) || !edge_ok(b.as_bytes()[b.len() - 1]) {
        return Err("it must begin and end with a letter or digit");
    }
    if b.contains("..") || b.contains(".-") || b.contains("-.") {
        return Err("dots may not be adjacent to each other or to hyphens");
    }
    if b.parse::<Ipv4Addr>().is_ok() {
        return Err("it must not look like an IP address");
    }
    if b.starts_with("xn--") || b.starts_with("sthree-") || b.ends_with("-s3alias") || b.ends_with("--ol-s3") {
        return Err("it uses a prefix or suffix AWS reserves");
    }
    Ok(())
}

pub(super) fn is_semver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && parts.iter().all(|s| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()))
}

pub(super) fn valid_ami(a: &str) -> bool {
    a.strip_prefix("ami-").is_some_and(|h| (8..=17).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn valid_dns_name(d: &str) -> bool {
    d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// An image reference with a tag or digest, and not `latest`.
pub(super) fn pinned_image(image: &str) -> bool {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        return true;
    }
    matches!(last.split_once(':'), Some((_, tag)) if !tag.is_empty() && tag != "latest")
}
