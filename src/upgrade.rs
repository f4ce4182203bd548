//! GitLab's upgrade path: which versions an installation must stop at on its
//! way from the version its data is at to the configured one, as data with
//! the documentation it comes from. `plan` shows the stops, `up` walks them
//! (`gitlab/app`), and a restore checks its snapshot against them.
//!
//! Source: "Plan your upgrade path", docs.gitlab.com/update/upgrade_paths
//! (gitlab `doc/update/upgrade_paths.md`): "Upgrade to the required upgrade
//! stop after your current version. Allow the background migrations for the
//! upgrade to finish. Upgrade to the next required upgrade stop." The tables
//! for GitLab 15–17 name each stop's patch release; "In GitLab 17.5 and
//! later … required upgrade stops occur at versions x.2.z, x.5.z, x.8.z, and
//! x.11.z", and for each later major the docs' template says the same
//! (docs.gitlab.com/development/documentation/topic_types/version_specific_changes)
//! and points to the package repository for the newest patch: those stops
//! carry no patch here and the host takes the newest one it finds.
//! Stops the docs mark "required only for" some instances are taken always:
//! an extra stop costs time, a missing one a restart loop.

use std::fmt;

/// A GitLab release `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// `X.Y.Z`, or the image form `X.Y.Z-ee.N` (the suffix is dropped).
    pub fn parse(s: &str) -> Option<Version> {
        let core = s.split_once('-').map_or(s, |(v, _)| v);
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let v = Version { major: parts.next()??, minor: parts.next()??, patch: parts.next()?? };
        parts.next().is_none().then_some(v)
    }

    fn minor_of(self) -> (u32, u32) {
        (self.major, self.minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// One version to upgrade to on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    pub major: u32,
    pub minor: u32,
    /// The patch release the docs name; `None`: the newest patch of the minor.
    pub patch: Option<u32>,
}

impl Stop {
    const fn at(major: u32, minor: u32, patch: u32) -> Stop {
        Stop { major, minor, patch: Some(patch) }
    }

    /// `18.2` (newest patch) or `17.11.7`, as the host's upgrade script takes it.
    pub fn label(&self) -> String {
        match self.patch {
            Some(p) => format!("{}.{}.{p}", self.major, self.minor),
            None => format!("{}.{}", self.major, self.minor),
        }
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(_) => f.write_str(&self.label()),
            None => write!(f, "{}.{} (newest patch)", self.major, self.minor),
        }
    }
}

/// The stops GitLab 15–17 document with their patch release
/// (upgrade_paths.md, "Required GitLab 15/16/17 upgrade stops").
const DOCUMENTED: &[Stop] = &[
    Stop::at(15, 0, 5),
    Stop::at(15, 1, 6),
    Stop::at(15, 4, 6),
    Stop::at(15, 11, 13),
    Stop::at(16, 0, 10),
    Stop::at(16, 1, 8),
    Stop::at(16, 2, 11),
    Stop::at(16, 3, 9),
    Stop::at(16, 7, 10),
    Stop::at(16, 11, 10),
    Stop::at(17, 1, 8),
    Stop::at(17, 3, 7),
    Stop::at(17, 5, 5),
    Stop::at(17, 8, 7),
    Stop::at(17, 11, 7),
];

/// From GitLab 18 on: the scheduled stops x.2, x.5, x.8 and x.11.
const SCHEDULED_MINORS: [u32; 4] = [2, 5, 8, 11];
const FIRST_SCHEDULED_MAJOR: u32 = 18;

/// The oldest version the data covers (the first documented stop's major).
pub const OLDEST_LISTED: Version = Version { major: 15, minor: 0, patch: 0 };

/// The newest minor the data is known to cover: the GitLab gascale pins and
/// tests. A later minor may bring a stop the docs add afterwards.
pub fn newest_listed() -> (u32, u32) {
    Version::parse(crate::pins::GITLAB_VERSION).map_or((0, 0), Version::minor_of)
}

fn stops_through(major: u32) -> Vec<Stop> {
    let mut all = DOCUMENTED.to_vec();
    for m in FIRST_SCHEDULED_MAJOR..=major {
        all.extend(SCHEDULED_MINORS.iter().map(|&minor| Stop { major: m, minor, patch: None }));
    }
    all
}

/// Why there is no upgrade from one version to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPath {
    Downgrade {
        from: Version,
        to: Version,
    },
    Unlisted {
        version: Version,
    },
    Edition {
        from: &'static str,
        to: &'static str,
    },
    /// An edition and a version changed at once.
    EditionAndVersion,
}

impl fmt::Display for NoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoPath::Downgrade { from, to } => write!(
                f,
                "GitLab {from} -> {to} is a downgrade, which needs a backup from {to} \
                 (docs.gitlab.com/update/package/downgrade); restore a snapshot taken at {to} instead"
            ),
            NoPath::Unlisted { version } => {
                let (major, minor) = newest_listed();
                write!(
                    f,
                    "GitLab {version} is outside the upgrade path gascale knows ({OLDEST_LISTED} to {major}.{minor}.z); \
                     check docs.gitlab.com/update/upgrade_paths and pass --allow-unlisted-version to go on"
                )
            }
            NoPath::EditionAndVersion => f.write_str(
                "change the edition and the version in two runs (GitLab converts an edition at the same version: \
                 docs.gitlab.com/update/convert_to_ee)",
            ),
            NoPath::Edition { from, to } => write!(
                f,
                "GitLab edition {from} -> {to} is not an upgrade GitLab supports in place \
                 (docs.gitlab.com/downgrade_ee_to_ce needs manual clean-up first); keep gitlab.edition: {from}"
            ),
        }
    }
}

fn listed(v: Version) -> bool {
    v >= OLDEST_LISTED && v.minor_of() <= newest_listed()
}

/// The versions to upgrade through, the target last: every required stop
/// after `from` and before `to`, then `to` itself. Empty when equal.
pub fn path(from: Version, to: Version, allow_unlisted: bool) -> Result<Vec<Stop>, NoPath> {
    if to < from {
        return Err(NoPath::Downgrade { from, to });
    }
    if !allow_unlisted {
        if let Some(version) = [to, from].into_iter().find(|v| !listed(*v)) {
            return Err(NoPath::Unlisted { version });
        }
    }
    if to == from {
        return Ok(Vec::new());
    }
    let mut hops: Vec<Stop> = stops_through(to.major)
        .into_iter()
        // A stop at the current minor is done once its patch is reached
        // (`None`: any patch of it counts); the target's own minor is the
        // target itself.
        .filter(|s| {
            let minor = (s.major, s.minor);
            minor > from.minor_of() || (minor == from.minor_of() && s.patch.is_some_and(|p| p > from.patch))
        })
        .filter(|s| (s.major, s.minor) < to.minor_of())
        .collect();
    hops.push(Stop::at(to.major, to.minor, to.patch));
    Ok(hops)
}

/// GitLab's rules for an edition change in place: CE to EE is the
/// documented conversion ("Convert Community Edition to Enterprise
/// Edition", docs.gitlab.com/update/convert_to_ee: install EE of the same
/// version); EE to CE needs EE-only data removed by hand first
/// (doc/downgrade_ee_to_ce), so it is refused.
pub fn edition_change(from: &str, to: &str) -> Result<(), NoPath> {
    match (from, to) {
        (a, b) if a == b => Ok(()),
        ("ce", "ee") => Ok(()),
        ("ee", "ce") => Err(NoPath::Edition { from: "ee", to: "ce" }),
        _ => Ok(()),
    }
}

/// The way from one GitLab to another, each as (edition, version): the
/// stops, the target last — one restart for an edition change at the same
/// version — or why GitLab does not allow it.
pub fn way(from: (&str, Version), to: (&str, Version), allow_unlisted: bool) -> Result<Vec<Stop>, NoPath> {
    edition_change(from.0, to.0)?;
    if from.0 != to.0 && from.1 != to.1 {
        return Err(NoPath::EditionAndVersion);
    }
    let mut stops = path(from.1, to.1, allow_unlisted)?;
    if stops.is_empty() && from.0 != to.0 {
        stops.push(Stop::at(to.1.major, to.1.minor, to.1.patch));
    }
    Ok(stops)
}

/// `ee 19.3.0` (the `gascale:gitlab` tag) as (edition, version).
pub fn parse_tag(tag: &str) -> Option<(&str, Version)> {
    let (edition, version) = tag.split_once(' ')?;
    Some((edition, Version::parse(version)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn labels(from: &str, to: &str) -> Vec<String> {
        path(v(from), v(to), false).unwrap().iter().map(Stop::label).collect()
    }

    #[test]
    fn every_documented_stop_is_on_the_way_from_15_0_to_17_11() {
        let want: Vec<String> = DOCUMENTED.iter().skip(1).map(Stop::label).collect();
        assert_eq!(labels("15.0.5", "17.11.7"), want);
        // From below the first stop, it comes first.
        assert_eq!(labels("15.0.0", "15.1.6"), ["15.0.5", "15.1.6"]);
    }

    #[test]
    fn scheduled_stops_from_18_on_take_the_newest_patch() {
        assert_eq!(labels("17.11.7", "19.3.0"), ["18.2", "18.5", "18.8", "18.11", "19.2", "19.3.0"]);
        let stops = path(v("18.1.0"), v("18.3.1"), false).unwrap();
        assert_eq!(stops[0], Stop { major: 18, minor: 2, patch: None });
        assert_eq!(stops[0].to_string(), "18.2 (newest patch)");
    }

    #[test]
    fn a_jump_across_two_stops_stops_at_both() {
        assert_eq!(labels("16.4.1", "16.12.0"), ["16.7.10", "16.11.10", "16.12.0"]);
        assert_eq!(labels("19.0.1", "19.3.0"), ["19.2", "19.3.0"]);
    }

    #[test]
    fn a_patch_update_or_a_minor_without_stop_goes_straight() {
        assert_eq!(labels("19.3.0", "19.3.2"), ["19.3.2"]);
        assert_eq!(labels("18.2.4", "18.4.0"), ["18.4.0"]);
        // Standing on a documented stop below its patch: the stop's patch first.
        assert_eq!(labels("17.11.2", "18.0.1"), ["17.11.7", "18.0.1"]);
        assert!(labels("19.3.0", "19.3.0").is_empty());
    }

    #[test]
    fn a_downgrade_is_refused_naming_both_versions() {
        let e = path(v("19.3.0"), v("19.2.1"), true).unwrap_err();
        assert_eq!(e, NoPath::Downgrade { from: v("19.3.0"), to: v("19.2.1") });
        assert!(e.to_string().contains("19.3.0 -> 19.2.1"), "{e}");
    }

    #[test]
    fn an_unlisted_version_needs_the_flag() {
        let (major, minor) = newest_listed();
        let future = Version { major, minor: minor + 1, patch: 0 };
        let e = path(v("19.3.0"), future, false).unwrap_err();
        assert_eq!(e, NoPath::Unlisted { version: future });
        assert!(e.to_string().contains("--allow-unlisted-version"), "{e}");
        assert_eq!(path(v("19.3.0"), future, true).unwrap().last().unwrap().label(), future.to_string());
        assert!(matches!(path(v("14.10.5"), v("15.0.5"), false), Err(NoPath::Unlisted { .. })));
    }

    #[test]
    fn editions_follow_gitlabs_rules() {
        assert!(edition_change("ce", "ee").is_ok());
        assert!(edition_change("ee", "ee").is_ok());
        assert_eq!(edition_change("ee", "ce"), Err(NoPath::Edition { from: "ee", to: "ce" }));
        let stops = way(("ce", v("17.4.0")), ("ee", v("17.4.0")), false).unwrap();
        assert_eq!(stops.iter().map(Stop::label).collect::<Vec<_>>(), ["17.4.0"], "one restart on the EE image");
        assert_eq!(way(("ce", v("17.4.0")), ("ee", v("17.9.0")), false), Err(NoPath::EditionAndVersion));
        assert!(way(("ee", v("19.3.0")), ("ee", v("19.3.0")), false).unwrap().is_empty());
    }

    #[test]
    fn versions_parse_in_both_forms() {
        assert_eq!(v("19.3.0-ee.0"), v("19.3.0"));
        assert_eq!(parse_tag("ce 18.2.4"), Some(("ce", v("18.2.4"))));
        assert!(Version::parse("19.3").is_none() && Version::parse("19.3.0.1").is_none());
    }
}
