//! config.toml as GitLab Runner 19.3 reads it: the runner ignores a key it
//! does not know (a typo does nothing) and stops at a value of the wrong
//! type; its `gitlab-runner lint` (commands/lint.go) refuses both. The
//! bootstrap and `runner-update.sh` lint before the runner starts on a file;
//! the stub bootstrap answers with `tests/fakes/runner_lint.py`, which holds
//! the keys and value types of the runner's own structs
//! (`scripts/gen-runner-config-schema`).

use crate::templates::{example, examples, rendered, with_region, Host};

/// `gitlab-runner lint -c FILE` as the fake answers it; Err holds its output.
pub fn lint(config_toml: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config_toml).unwrap();
    let out = std::process::Command::new("python3")
        .arg(crate::harness::root().join("tests/fakes/runner_lint.py"))
        .arg(&path)
        .output()
        .expect("python3 runs the fake lint");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(())
    } else {
        Err(text)
    }
}

#[test]
fn the_fake_lint_refuses_what_the_runner_refuses() {
    let good = "concurrent = 2\n[[runners]]\n  name = \"r\"\n  executor = \"docker\"\n  [runners.docker]\n    privileged = true\n    image = \"alpine\"\n";
    assert_eq!(lint(good), Ok(()));
    // An exact miss matches case-insensitively (BurntSushi/toml 1.6 decode.go unifyStruct).
    assert_eq!(lint(&good.replace("privileged", "Privileged")), Ok(()));
    let typo = lint(&good.replace("privileged", "privilegd")).unwrap_err();
    assert!(
        typo.contains("1 unknown key(s) found in") && typo.contains("unknown key: runners.docker.privilegd"),
        "{typo}"
    );
    let wrong = lint(&good.replace("privileged = true", "privileged = \"true\"")).unwrap_err();
    let message = "toml: (last key \"runners.docker.privileged\"): incompatible types: TOML value has type string; destination has type boolean";
    assert!(wrong.contains(message), "{wrong}");
    // time.Duration takes an integer or a Go duration string (decode.go unifyInt).
    let autoscaler = "[[runners]]\n  executor = \"docker-autoscaler\"\n  [runners.autoscaler]\n    [[runners.autoscaler.policy]]\n      idle_time = \"20m0s\"\n";
    assert_eq!(lint(autoscaler), Ok(()));
    assert!(lint(&autoscaler.replace("20m0s", "twenty")).unwrap_err().contains("invalid duration: \"twenty\""));
}

/// The fake's keys are the pinned runner's: a new runner version needs
/// `scripts/gen-runner-config-schema` run again at its tag.
#[test]
fn the_fake_lint_knows_the_keys_of_the_pinned_runner() {
    let schema = std::fs::read_to_string(crate::harness::root().join("tests/fakes/gitlab-runner-config.json")).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
    let source = schema["source"].as_str().unwrap();
    assert!(
        source.starts_with(&format!("gitlab-runner {} ", gascale::pins::RUNNER_VERSION)),
        "{source}: regenerate with scripts/gen-runner-config-schema GIT_DIR {}",
        gascale::pins::RUNNER_VERSION
    );
}

#[test]
fn every_examples_config_toml_passes_the_runners_lint() {
    for (name, d) in examples() {
        if let Err(out) = lint(&rendered(&d).config_toml) {
            panic!("{name}: {out}");
        }
    }
}

/// A config.toml the runner would misread fails the bootstrap at `runner`,
/// naming the key, and the runner is never started on it.
#[test]
fn the_bootstrap_fails_at_runner_on_a_key_the_runner_does_not_have() {
    let user_data = rendered(&with_region(example("minimal.yaml"))).user_data;
    assert!(user_data.contains("\n  limit = "), "the rendered config.toml sets the runner's limit");
    let host = Host::new(&user_data.replace("\n  limit = ", "\n  limt = "));
    let out = host.run("ok");
    assert!(!out.status.success());
    assert_eq!(host.read("root/var/lib/gascale/status").trim(), "failed:runner");
    let log = host.read("root/var/log/gascale-bootstrap.log");
    assert!(
        log.contains("gitlab-runner lint refused config.toml") && log.contains("unknown key: runners.limt"),
        "{log}"
    );
    assert!(!host.read("stub/calls").contains(" up -d runner"), "the runner never starts on it");
}

/// `runner-update.sh` lints the new config.toml before it replaces the
/// running one: refused, the runner keeps running on the old file,
/// untouched; a build that failed halfway is built again by the next run
/// (it once found the Dockerfile already written and said "unchanged").
#[test]
fn a_runner_update_the_runner_would_misread_leaves_the_running_runner_alone() {
    let mut d = with_region(example("minimal.yaml"));
    let host = Host::new(&rendered(&d).user_data);
    assert!(host.run("ok").status.success());
    assert_eq!(host.read("stub/lints"), "lint config.toml\n", "the bootstrap linted config.toml");
    let before = host.read("root/srv/gitlab/runner/config/config.toml");

    d.runner.limit += 1;
    let update = rendered(&d).runner_update;
    let wrong =
        update.replace(&format!("\n  limit = {}", d.runner.limit), &format!("\n  limit = \"{}\"", d.runner.limit));
    assert_ne!(wrong, update);
    let out = host.update(&wrong, &[]);
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lint refused the new config.toml") && stderr.contains("(last key \"runners.limit\")"),
        "{stderr}"
    );
    assert_eq!(host.read("root/srv/gitlab/runner/config/config.toml"), before, "the running config is kept");
    assert!(!host.path("root/srv/gitlab/runner/config/config.toml.tmp").exists());
    assert_eq!(host.read("stub/signals"), "", "the runner was not stopped");

    let failed_build = host.update(&update, &[("STUB_BUILD", "fail")]);
    assert!(!failed_build.status.success());
    assert_eq!(host.read("root/srv/gitlab/runner/config/config.toml"), before);
    let applied = host.update(&update, &[]);
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    assert!(String::from_utf8_lossy(&applied.stdout).contains("runner configuration applied"));
    assert!(host.read("root/srv/gitlab/runner/config/config.toml").contains(&format!("limit = {}", d.runner.limit)));
    let again = host.update(&update, &[]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("runner configuration unchanged"));
}
