//! What GitLab Runner and docker-machine call the workers they create, so
//! tests plant workers as those programs would — derived from their source,
//! with the MachineName read from the rendered config.toml, never from
//! gascale's constants:
//! - gitlab-runner `helpers/shorten_token.go` (ShortenToken: a `glrt-` token
//!   is shortened to `token[5:14]`),
//! - gitlab-runner `helpers/dns` (MakeRFC1123Compatible: lower case, only
//!   `[-a-z0-9]`, no leading `-`, at most 63),
//! - gitlab-runner `executors/docker/machine/name.go` (`"runner-" + short +
//!   "-" + MachineName`, `%s` = `fmt.Sprintf("%d-%x", unixTime, 4 random
//!   bytes)`),
//! - docker/machine `drivers/amazonec2/amazonec2.go` `createKeyPair`
//!   (`keyName := d.MachineName`).

use gascale::config::Deployment;

/// The `MachineName` template of the deployment's rendered config.toml.
pub fn machine_name_template(d: &Deployment) -> String {
    let rendered = crate::templates::rendered(d);
    let doc: toml::Value = toml::from_str(&rendered.config_toml).expect("config.toml parses");
    doc["runners"][0]["machine"]["MachineName"].as_str().expect("a docker+machine runner").to_owned()
}

/// A runner authentication token as GitLab creates it (CREATED_RUNNER_TOKEN_PREFIX
/// `glrt-`), with a body derived from `seed`.
pub fn runner_token(seed: u64) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let body: String = (0..20)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            alphabet[(x >> 33) as usize % alphabet.len()] as char
        })
        .collect();
    format!("glrt-{body}")
}

/// helpers.ShortenToken for the token kinds GitLab 19 hands out.
pub fn short_token(token: &str) -> String {
    if token.len() < 8 {
        token.to_owned()
    } else if let Some(rest) = token.strip_prefix("glrt-") {
        rest.chars().take(9).collect()
    } else {
        token[..8].to_owned()
    }
}

/// dns.MakeRFC1123Compatible.
pub fn rfc1123(name: &str) -> String {
    let lower = name.to_lowercase();
    let kept: String = lower.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect();
    let trimmed = kept.trim_start_matches('-');
    trimmed.chars().take(63).collect()
}

/// newMachineName: the machine's (and its key pair's, and its hostname's) name.
pub fn machine_name(template: &str, token: &str, unix_time: u64, random: [u8; 4]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let filled = template.replacen("%s", &format!("{unix_time}-{hex}"), 1);
    format!("runner-{}-{filled}", rfc1123(&short_token(token)))
}

#[test]
fn the_runner_shortens_a_created_runner_token_to_nine_characters() {
    assert_eq!(short_token("glrt-abcdefghijklmnopqrst"), "abcdefghi");
    assert_eq!(rfc1123("Ab_c-D"), "abc-d");
    assert_eq!(
        machine_name("m-%s", "glrt-ABCdefghijk", 1700000000, [0, 1, 0xab, 0xff]),
        "runner-abcdefghi-m-1700000000-0001abff"
    );
}
