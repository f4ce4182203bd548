//! Quoting for each language a config value can land in. Each function
//! returns a complete literal, quotes included.

use handlebars::{Context, Helper, HelperResult, Output, RenderContext, RenderErrorReason};

/// A bash single-quoted word: nothing inside is expanded.
pub fn shell(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A double-quoted string valid in both TOML (basic string) and YAML (double
/// quoted scalar): backslash, quote and every control character escaped.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Ruby single-quoted string (no interpolation). Control characters are
/// refused: the value sits in a YAML block scalar where a newline would end it.
pub fn ruby(s: &str) -> Option<String> {
    if s.chars().any(char::is_control) {
        return None;
    }
    Some(format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'")))
}

pub fn ruby_helper(
    h: &Helper,
    _: &handlebars::Handlebars,
    _: &Context,
    _: &mut RenderContext,
    out: &mut dyn Output,
) -> HelperResult {
    let value =
        h.param(0).and_then(|p| p.value().as_str()).ok_or(RenderErrorReason::ParamNotFoundForIndex("ruby", 0))?;
    let quoted = ruby(value).ok_or_else(|| RenderErrorReason::Other(format!("{value:?} has a control character")))?;
    out.write(&quoted)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quotes_survive_bash() {
        for s in ["plain", "it's", "$(touch /tmp/pwned)", "`id`", "a\nb", "'; rm -rf / #"] {
            let out =
                std::process::Command::new("bash").arg("-c").arg(format!("printf %s {}", shell(s))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }

    #[test]
    fn double_quoted_is_toml_and_yaml() {
        for s in ["plain", "quote \" and \\ backslash", "line\nbreak", "tab\tand\u{7f}del", "$(x) `y`"] {
            let toml_doc: toml::Value = toml::from_str(&format!("v = {}", double_quoted(s))).unwrap();
            assert_eq!(toml_doc["v"].as_str(), Some(s));
            let yaml: serde_yaml::Value = serde_yaml::from_str(&format!("v: {}", double_quoted(s))).unwrap();
            assert_eq!(yaml["v"].as_str(), Some(s));
        }
    }

    #[test]
    fn ruby_refuses_newlines() {
        assert_eq!(ruby("it's").unwrap(), r"'it\'s'");
        assert!(ruby("a\nb").is_none());
    }
}
