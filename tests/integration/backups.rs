//! Snapshots of GitLab's data volume against the emulator: `destroy` keeps a
//! final one (unless told not to), `up` restores from one and refuses one
//! it cannot boot, replacing the host snapshots first, and `backup.keep`
//! prunes only the deployment's own. Read back through the SDK.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

use crate::harness::{runtime, sdk, unique_name, PrivateEmulator, Workdir};
use crate::up::{minimal, up_json};

/// gascale's snapshots of `name`, as (ID, tags by key, volume).
fn snapshots_of(
    c: &gascale::aws::Clients,
    name: &str,
) -> Vec<(String, std::collections::BTreeMap<String, String>, String)> {
    runtime().block_on(async {
        let out = c
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(Filter::builder().name("tag:gascale:deployment").values(name).build())
            .send()
            .await
            .unwrap();
        out.snapshots()
            .iter()
            .map(|s| {
                let tags =
                    s.tags().iter().map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned())).collect();
                (s.snapshot_id().unwrap().to_owned(), tags, s.volume_id().unwrap_or_default().to_owned())
            })
            .collect()
    })
}

fn volume_exists(c: &gascale::aws::Clients, id: &str) -> bool {
    runtime().block_on(async {
        match c.ec2.describe_volumes().volume_ids(id).send().await {
            Ok(out) => out.volumes().iter().any(|v| v.state().map(|s| s.as_str()) != Some("deleted")),
            Err(_) => false,
        }
    })
}

#[test]
fn destroy_keeps_a_final_snapshot_tagged_with_the_deployment_and_version() {
    let name = unique_name("fin");
    let w = minimal(&name, "");
    let outputs = up_json(&w);
    let volume = outputs["data_volume_id"].as_str().unwrap().to_owned();

    let dry = w.gascale(&["destroy", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let line = dry.stdout.lines().find(|l| l.contains("+ snapshot")).unwrap_or_else(|| panic!("{}", dry.stdout));
    assert!(line.contains("(of volume/data: final, GitLab ee 19.3.0; kept after destroy)"), "{line}");
    let json: serde_json::Value =
        serde_json::from_str(&w.gascale(&["destroy", "--dry-run", "--output", "json"]).stdout).unwrap();
    let step = json["steps"].as_array().unwrap().iter().find(|s| s["address"] == "volume/data").unwrap();
    assert_eq!(step["snapshot_first"], serde_json::json!({"reason": "final", "gitlab": "ee 19.3.0"}));
    assert!(snapshots_of(&sdk(), &name).is_empty(), "a dry run took a snapshot");

    let r = w.gascale(&["destroy", "--yes", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let done: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let snaps = snapshots_of(&sdk(), &name);
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let (id, tags, from) = &snaps[0];
    assert_eq!(done["final_snapshot"], id.as_str());
    assert_eq!(from, &volume);
    assert_eq!(tags["gascale:gitlab"], "ee 19.3.0");
    assert_eq!(tags["gascale:reason"], "final");
    assert_eq!(tags["gascale:managed-by"], "gascale");
    assert!(tags.contains_key("gascale:taken-at") && !tags.contains_key("gascale:resource"), "{tags:?}");
    assert!(!volume_exists(&sdk(), &volume), "the data volume survived destroy");
    let text = w.gascale(&["destroy", "--yes"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    // The snapshot outlives the deployment, and destroy says how to delete it.
    assert_eq!(snapshots_of(&sdk(), &name).len(), 1);
    let listed = w.gascale(&["snapshots", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed["snapshots"][0]["id"], id.as_str());
    assert_eq!(listed["snapshots"][0]["reason"], "final");
}

#[test]
fn destroy_says_how_to_delete_the_final_snapshot_and_no_final_snapshot_keeps_none() {
    let name = unique_name("fin");
    let w = minimal(&name, "");
    up_json(&w);
    let r = w.gascale(&["destroy", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = &snapshots_of(&sdk(), &name)[0].0;
    assert!(
        r.stdout.contains(&format!("aws ec2 delete-snapshot --region eu-west-1 --snapshot-id {id}")),
        "{}",
        r.stdout
    );

    let name = unique_name("nofin");
    let w = minimal(&name, "");
    let volume = up_json(&w)["data_volume_id"].as_str().unwrap().to_owned();
    let dry = w.gascale(&["destroy", "--dry-run", "--no-final-snapshot"]);
    assert!(!dry.stdout.contains("snapshot"), "{}", dry.stdout);
    let r = w.gascale(&["destroy", "--yes", "--no-final-snapshot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(snapshots_of(&sdk(), &name).is_empty());
    assert!(!volume_exists(&sdk(), &volume));
}

#[test]
fn up_restores_the_data_volume_from_a_snapshot() {
    let source = unique_name("src");
    let w = minimal(&source, "");
    up_json(&w);
    let taken = w.gascale(&["snapshot", "--wait", "--output", "json"]);
    assert_eq!(taken.code, 0, "{}", taken.stderr);
    let taken: serde_json::Value = serde_json::from_str(&taken.stdout).unwrap();
    let snap = taken["snapshot"].as_str().unwrap().to_owned();
    assert_eq!(snapshots_of(&sdk(), &source)[0].1["gascale:reason"], "on-demand");

    // By ID in the config file, and by `--restore-from latest:<name>`.
    let by_config = minimal(&unique_name("cln"), &format!("gitlab: {{restore_from: {snap}}}\n"));
    let plan = by_config.gascale(&["plan"]);
    assert!(plan.stdout.contains(&format!("(from snapshot {snap})")), "{}", plan.stdout);
    let by_flag = minimal(&unique_name("cln"), "");
    let latest = format!("latest:{source}");
    for (w, args) in [(&by_config, vec![]), (&by_flag, vec!["--restore-from", latest.as_str()])] {
        let r = w.gascale(&[&["up", "--no-wait", "--output", "json"], &args[..]].concat());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let volume = serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()["data_volume_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let c = sdk();
        let from = runtime().block_on(async {
            let out = c.ec2.describe_volumes().volume_ids(&volume).send().await.unwrap();
            out.volumes()[0].snapshot_id().unwrap_or_default().to_owned()
        });
        assert_eq!(from, snap, "volume {volume} was not created from the snapshot");
        // A second `up` keeps the restored volume; a restore onto it is refused.
        let again = w.gascale(&["plan", "--detailed-exitcode"]);
        assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    }
    let onto = by_flag.gascale(&["up", "--no-wait", "--restore-from", &snap]);
    assert_eq!(onto.code, 64, "{}", onto.stderr);
    assert!(onto.stderr.contains("already has its data volume"), "{}", onto.stderr);
}

/// A snapshot as an earlier gascale would have left it for GitLab `gitlab`.
pub fn plant_snapshot(c: &gascale::aws::Clients, deployment: &str, gitlab: &str) -> String {
    runtime().block_on(async {
        let v = c.ec2.create_volume().availability_zone("eu-west-1a").size(10).send().await.unwrap();
        let tags = [
            ("gascale:deployment", deployment),
            ("gascale:managed-by", "gascale"),
            ("gascale:role", "snapshot"),
            ("gascale:gitlab", gitlab),
            ("gascale:reason", "on-demand"),
        ];
        let spec = TagSpecification::builder()
            .resource_type(ResourceType::Snapshot)
            .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect()))
            .build();
        let s =
            c.ec2.create_snapshot().volume_id(v.volume_id().unwrap()).tag_specifications(spec).send().await.unwrap();
        s.snapshot_id().unwrap().to_owned()
    })
}

#[test]
fn a_snapshot_of_a_newer_gitlab_an_unknown_one_or_another_edition_is_refused_before_anything_is_created() {
    let emulator = PrivateEmulator::start();
    let c = crate::harness::sdk_at(&emulator.endpoint);
    let newer = plant_snapshot(&c, "old", "ee 19.4.1");
    let far = plant_snapshot(&c, "old", "ee 14.10.5");
    let ee_to_ce = plant_snapshot(&c, "old", "ee 19.3.0");
    let cases = [
        (newer.as_str(), "", "GitLab 19.4.1 -> 19.3.0 is a downgrade"),
        (far.as_str(), "", "GitLab 14.10.5 is outside the upgrade path gascale knows"),
        (ee_to_ce.as_str(), "edition: ce, ", "edition ee -> ce"),
    ];
    for (snap, extra, why) in cases {
        let w = minimal(&unique_name("rst"), &format!("gitlab: {{{extra}restore_from: {snap}}}\n"));
        let before = emulator.operations().len();
        let r = emulator.gascale(&w, &["up", "--no-wait"]);
        assert_eq!(r.code, 64, "{}", r.stderr);
        assert!(r.stderr.contains(&format!("gitlab.restore_from: snapshot {snap} holds GitLab ")), "{}", r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
        let mutating: Vec<String> =
            emulator.operations()[before..].iter().filter(|o| crate::harness::changes_deployment(o)).cloned().collect();
        assert!(mutating.is_empty(), "calls before the refusal: {mutating:?}");
    }
    // A direct step (no stop between) is a legal start: GitLab migrates the
    // data at its first start.
    let near = plant_snapshot(&c, "old", "ee 19.2.4");
    let w = minimal(&unique_name("rst"), &format!("gitlab: {{restore_from: {near}}}\n"));
    let plan = emulator.gascale(&w, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stdout.contains("! gitlab.restore_from"), "{}", plan.stdout);
}

#[test]
fn replacing_the_host_snapshots_its_data_first() {
    let name = unique_name("rep");
    let w = minimal(&name, "");
    let volume = up_json(&w)["data_volume_id"].as_str().unwrap().to_owned();
    std::fs::write(
        w.path().join("gascale.yaml"),
        format!(
            "apiVersion: gascale/v1\nkind: Deployment\nmetadata: {{name: {name}, region: eu-west-1}}\n\
             runner: {{executor: docker+machine}}\ngitlab: {{instance_type: t3.large}}\n"
        ),
    )
    .unwrap();
    let plan = w.gascale(&["plan"]);
    assert!(plan.stdout.contains("(of instance/host: before-host-replacement, GitLab ee 19.3.0)"), "{}", plan.stdout);
    let r = w.gascale(&["up", "--no-wait", "--allow-host-replacement"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let snaps = snapshots_of(&sdk(), &name);
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    assert_eq!(snaps[0].1["gascale:reason"], "before-host-replacement");
    assert_eq!(snaps[0].2, volume);
}

#[test]
fn retention_keeps_exactly_n_of_this_deployments_snapshots_and_no_other() {
    let kept = unique_name("keep");
    let other = unique_name("other");
    let w = minimal(&kept, "backup: {keep: 2}\n");
    let o = minimal(&other, "backup: {keep: 5}\n");
    up_json(&w);
    up_json(&o);
    for _ in 0..2 {
        assert_eq!(o.gascale(&["snapshot", "--wait"]).code, 0);
    }
    let mut taken = Vec::new();
    for _ in 0..4 {
        let r = w.gascale(&["snapshot", "--wait"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        taken.push(r.stdout.trim().to_owned());
    }
    let mut left: Vec<String> = snapshots_of(&sdk(), &kept).into_iter().map(|s| s.0).collect();
    left.sort();
    let mut newest = taken[2..].to_vec();
    newest.sort();
    assert_eq!(left, newest, "taken in order: {taken:?}");
    assert_eq!(snapshots_of(&sdk(), &other).len(), 2, "another deployment's snapshots were touched");
    // `snapshots` without a config file lists every deployment's.
    let bare = Workdir::with_config("");
    let all = bare.gascale(&["--region", "eu-west-1", "-f", "absent.yaml", "snapshots"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert!(all.stdout.contains(&kept) && all.stdout.contains(&other), "{}", all.stdout);
}

#[test]
fn a_schedule_is_a_lifecycle_policy_on_the_data_volume_that_destroy_removes() {
    let name = unique_name("sch");
    let bad = minimal(&unique_name("sch"), "backup: {schedule: 5h}\n");
    let r = bad.gascale(&["plan"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("backup.schedule: \"5h\" must be 1h, 2h"), "{}", r.stderr);
    assert!(r.stderr.contains("backup.keep: backup.schedule needs backup.keep"), "{}", r.stderr);

    let w = minimal(&name, "backup: {schedule: 12h, keep: 14}\n");
    let plan = w.gascale(&["plan"]);
    assert!(plan.stdout.contains("+ backup/schedule     every: 12h  keep: 14"), "{}", plan.stdout);
    let volume = up_json(&w)["data_volume_id"].as_str().unwrap().to_owned();
    let c = sdk();
    let target = format!("gascale:snapshot-schedule={name}");
    let policy = |c: &gascale::aws::Clients| {
        runtime().block_on(async {
            let found = c.dlm.get_lifecycle_policies().target_tags(&target).send().await.unwrap();
            let ids: Vec<String> = found.policies().iter().map(|p| p.policy_id().unwrap().to_owned()).collect();
            match ids.as_slice() {
                [] => None,
                [id] => {
                    Some(c.dlm.get_lifecycle_policy().policy_id(id).send().await.unwrap().policy().unwrap().clone())
                }
                more => panic!("{} policies target {target}: {more:?}", more.len()),
            }
        })
    };
    let p = policy(&c).expect("no lifecycle policy");
    assert!(p.execution_role_arn().unwrap().ends_with(":role/AWSDataLifecycleManagerDefaultRole"));
    assert_eq!(p.state().unwrap().as_str(), "ENABLED");
    let details = p.policy_details().unwrap();
    assert_eq!(details.policy_type().unwrap().as_str(), "EBS_SNAPSHOT_MANAGEMENT");
    assert_eq!(details.resource_types().iter().map(|r| r.as_str()).collect::<Vec<_>>(), ["VOLUME"]);
    let targets: Vec<(&str, &str)> =
        details.target_tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(targets, [("gascale:snapshot-schedule", name.as_str())]);
    let schedule = &details.schedules()[0];
    let create = schedule.create_rule().unwrap();
    assert_eq!((create.interval(), create.interval_unit().map(|u| u.as_str())), (Some(12), Some("HOURS")));
    assert_eq!(schedule.retain_rule().unwrap().count(), Some(14));
    assert_eq!(schedule.copy_tags(), Some(true), "the volume's gascale:gitlab goes onto each snapshot");
    let added: std::collections::BTreeMap<&str, &str> =
        schedule.tags_to_add().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(added["gascale:deployment"], name.as_str());
    assert_eq!(
        (added["gascale:managed-by"], added["gascale:role"], added["gascale:reason"]),
        ("gascale", "snapshot", "scheduled")
    );
    // The volume is the policy's one target; the role is the one `aws dlm create-default-role` makes.
    let volume_tags = runtime().block_on(async {
        let out = c.ec2.describe_volumes().volume_ids(&volume).send().await.unwrap();
        out.volumes()[0]
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
            .collect::<Vec<_>>()
    });
    assert!(volume_tags.contains(&("gascale:snapshot-schedule".to_owned(), name.clone())), "{volume_tags:?}");
    let attached = runtime().block_on(async {
        let out =
            c.iam.list_attached_role_policies().role_name("AWSDataLifecycleManagerDefaultRole").send().await.unwrap();
        out.attached_policies().iter().map(|p| p.policy_arn().unwrap().to_owned()).collect::<Vec<_>>()
    });
    assert_eq!(attached, ["arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole"]);
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0, "not converged");

    // A new schedule updates the same policy.
    let id = p.policy_id().unwrap().to_owned();
    let yaml = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    let yaml = yaml.replace("backup: {schedule: 12h, keep: 14}", "backup: {schedule: 'cron(0 3 * * ? *)', keep: 30d}");
    std::fs::write(w.path().join("gascale.yaml"), yaml).unwrap();
    let plan = w.gascale(&["plan"]);
    assert!(plan.stdout.contains(&format!("~ backup/schedule     {id}")), "{}", plan.stdout);
    assert_eq!(w.gascale(&["up", "--no-wait"]).code, 0);
    let p = policy(&c).expect("the policy went away");
    assert_eq!(p.policy_id(), Some(id.as_str()));
    let schedule = &p.policy_details().unwrap().schedules()[0];
    assert_eq!(schedule.create_rule().unwrap().cron_expression(), Some("cron(0 3 * * ? *)"));
    let retain = schedule.retain_rule().unwrap();
    assert_eq!((retain.interval(), retain.interval_unit().map(|u| u.as_str())), (Some(30), Some("DAYS")));
    assert_eq!(w.gascale(&["plan", "--detailed-exitcode"]).code, 0, "not converged");

    let r = w.gascale(&["destroy", "--yes", "--no-final-snapshot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(policy(&c).is_none(), "destroy left the lifecycle policy");
}

#[test]
fn retention_by_age_deletes_only_this_deployments_snapshots_older_than_it() {
    let name = unique_name("age");
    let w = minimal(&name, "backup: {keep: 30d}\n");
    up_json(&w);
    let c = sdk();
    let old = chrono::Utc::now() - chrono::Duration::days(45);
    let recent = chrono::Utc::now() - chrono::Duration::days(3);
    // As gascale tagged them 45 and 3 days ago; and another deployment's old one.
    let plant = |deployment: &str, at: chrono::DateTime<chrono::Utc>| {
        let id = plant_snapshot(&c, deployment, "ee 19.3.0");
        let taken = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        runtime().block_on(async {
            let t = Tag::builder().key("gascale:taken-at").value(taken).build();
            c.ec2.create_tags().resources(&id).tags(t).send().await.unwrap();
        });
        id
    };
    let (aged, young) = (plant(&name, old), plant(&name, recent));
    let other = unique_name("age");
    let others = plant(&other, old);
    let r = w.gascale(&["snapshot", "--wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let taken: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(taken["pruned"], serde_json::json!([aged]));
    let left: Vec<String> = snapshots_of(&c, &name).into_iter().map(|s| s.0).collect();
    assert!(left.contains(&young) && !left.contains(&aged) && left.len() == 2, "{left:?}");
    assert_eq!(snapshots_of(&c, &other).into_iter().map(|s| s.0).collect::<Vec<_>>(), [others]);
}
