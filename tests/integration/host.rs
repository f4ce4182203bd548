//! `fetch-root-password` and `exec` through SSM Run Command, against the
//! emulator with command results set by the test (moto runs nothing).

use crate::harness::{emulator_control, endpoint, runtime, sdk, set_ssm_result, unique_name, Workdir};
use crate::up::minimal;

/// A deployment whose host is up with the given bootstrap status.
fn deployed(bootstrap: &str) -> (Workdir, String) {
    let name = unique_name("ssm");
    let w = minimal(&name, "");
    let r = w.gascale(&["up", "--no-wait", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let host = v["host_instance_id"].as_str().unwrap().to_owned();
    let c = sdk();
    runtime().block_on(crate::harness::publish_bootstrap(&c, &host, bootstrap));
    (w, host)
}

const PASSWORD: &str = "Xy7$kQ9`pL2\"mN4'vB8";

#[test]
fn the_password_and_nothing_else_on_stdout_and_nowhere_else() {
    let (w, host) = deployed("complete");
    set_ssm_result(&host, "Success", 0, &format!("{PASSWORD}\n"), "");
    let r = w.gascale(&["fetch-root-password"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{PASSWORD}\n"));
    assert!(!r.stderr.contains(PASSWORD), "the password leaked to stderr");
    let json = w.gascale(&["fetch-root-password", "--output", "json"]);
    assert_eq!(json.code, 0);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"username": "root", "password": PASSWORD}));
    let verbose = w.gascale(&["fetch-root-password", "-vv"]);
    assert_eq!(verbose.code, 0);
    assert!(!verbose.stderr.contains(PASSWORD), "the password leaked into -vv logs");
    let state = std::fs::read_to_string(w.path().join(format!(".gascale/{}.json", host_name(&w)))).unwrap();
    assert!(!state.contains(PASSWORD));
    // The script read the password file, and printed only the password.
    let sent = emulator_control(endpoint(), "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    assert!(sent.contains("/srv/gitlab/config/initial_root_password") && sent.contains("Password: "), "{sent}");
}

fn host_name(w: &Workdir) -> String {
    let text = std::fs::read_to_string(w.path().join("gascale.yaml")).unwrap();
    text.split("name: ").nth(1).unwrap().split(',').next().unwrap().to_owned()
}

#[test]
fn a_deleted_password_file_is_an_error_pointing_at_the_reset() {
    let (w, host) = deployed("complete");
    set_ssm_result(
        &host,
        "Failed",
        1,
        "",
        "cat: /srv/gitlab/config/initial_root_password: No such file or directory\n",
    );
    let r = w.gascale(&["fetch-root-password"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty(), "printed {:?}", r.stdout);
    assert!(r.stderr.contains("gitlab:password:reset[root]") && r.stderr.contains("24 hours"), "{}", r.stderr);
}

#[test]
fn a_command_that_never_ends_times_out_with_exit_5() {
    let (w, host) = deployed("complete");
    set_ssm_result(&host, "InProgress", -1, "", "");
    let r = w.gascale(&["fetch-root-password", "--timeout", "3s"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn an_unfinished_bootstrap_is_said_not_waited_for() {
    let (w, _) = deployed("running:gitlab");
    let r = w.gascale(&["fetch-root-password"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("still in progress (running:gitlab)") && r.stderr.contains("--wait"), "{}", r.stderr);
    let (w, _) = deployed("failed:runner-token");
    let r = w.gascale(&["fetch-root-password", "--wait"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("failed at step runner-token"), "{}", r.stderr);
    let nothing = minimal(&unique_name("none"), "");
    let r = nothing.gascale(&["fetch-root-password"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("has no GitLab host"), "{}", r.stderr);
}

#[test]
fn exec_passes_output_and_exit_code_through_and_says_when_output_was_cut() {
    let (w, host) = deployed("running:gitlab");
    set_ssm_result(&host, "Failed", 7, "hello from the host\n", "a warning\n");
    let r = w.gascale(&["exec", "--", "docker", "compose", "ps"]);
    assert_eq!(r.code, 7, "{}", r.stderr);
    assert_eq!(r.stdout, "hello from the host\n");
    assert!(r.stderr.contains("a warning"));
    let sent = emulator_control(endpoint(), "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    assert!(sent.contains("docker compose ps"), "{sent}");
    set_ssm_result(&host, "Success", 0, &"x".repeat(24_000), "");
    let r = w.gascale(&["exec", "--", "cat", "/var/log/gascale-bootstrap.log"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.len(), 24_000);
    assert!(r.stderr.contains("24000 characters"), "{}", r.stderr);
}

#[test]
fn token_prints_the_token_alone_and_keeps_it_nowhere() {
    // What `gitlab-rails runner` prints for the mint script: a token as
    // GitLab generates them (prefix `glpat-`, app/models/personal_access_token.rb).
    const TOKEN: &str = "glpat-Stub0Token_abcdefghij";
    let (w, host) = deployed("complete");
    set_ssm_result(&host, "Success", 0, &format!("DEPRECATION WARNING: rails noise\ngascale-token: {TOKEN}\n"), "");
    let r = w.gascale(&["token", "--scopes", "api,read_repository", "--expires-in", "36h", "-vv"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{TOKEN}\n"));
    assert!(!r.stderr.contains(TOKEN), "the token leaked to stderr");
    let state = std::fs::read_to_string(w.path().join(format!(".gascale/{}.json", host_name(&w)))).unwrap_or_default();
    assert!(!state.contains(TOKEN));
    let json = w.gascale(&["token", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v["token"], TOKEN);
    assert_eq!(v["user"], "root");
    let name = v["name"].as_str().unwrap();
    assert!(name.starts_with(&format!("gascale-{}-", host_name(&w))), "{name}");
    // The command mints through GitLab's documented call, its inputs in the
    // environment: 36h is two whole days; nothing secret is sent.
    let sent = emulator_control(endpoint(), "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    assert!(sent.contains("personal_access_tokens.create!"), "{sent}");
    assert!(sent.contains("GASCALE_SCOPES=api,read_repository") && sent.contains("GASCALE_DAYS=2"), "{sent}");
    assert!(!sent.contains(TOKEN));
    // Revoking: the active tokens of the name.
    set_ssm_result(&host, "Success", 0, "gascale-revoked: 1\n", "");
    let r = w.gascale(&["token", "--revoke", name]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("revoked 1 token(s) named {name} of root\n"));
    let sent = emulator_control(endpoint(), "GET", &format!("/gascale-test/ssm-commands?instance={host}"), "");
    assert!(sent.contains("revoke!") && sent.contains(&format!("GASCALE_TOKEN_NAME={name}")), "{sent}");
    // A failing mint names the user and shows Rails' error, never a token.
    set_ssm_result(&host, "Failed", 1, "", "gascale: no user bot\n");
    let r = w.gascale(&["token", "--user", "bot"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("minting a token for bot failed") && r.stderr.contains("no user bot"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}
