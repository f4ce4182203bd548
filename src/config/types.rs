//! Small value types of the config file that check their own syntax while
//! they are parsed, so a bad value is reported with its key path.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;
use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType as SchemaType, Schema, SchemaObject, StringValidation};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A string-typed schema with a pattern or format hint.
fn string_schema(format: Option<&str>, pattern: Option<&str>) -> Schema {
    SchemaObject {
        instance_type: Some(SchemaType::String.into()),
        format: format.map(str::to_owned),
        string: Some(Box::new(StringValidation { pattern: pattern.map(str::to_owned), ..Default::default() })),
        ..Default::default()
    }
    .into()
}

macro_rules! string_newtype {
    ($name:ident, $format:expr, $pattern:expr) => {
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.to_string()
            }
        }
        impl JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                string_schema($format, $pattern)
            }
        }
    };
}

/// An IPv4 CIDR block such as `10.0.0.0/16`, in canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr(pub Ipv4Net);
string_newtype!(Cidr, Some("ipv4-cidr"), None);

impl Cidr {
    pub fn parse(s: &str) -> Result<Self, String> {
        let net =
            Ipv4Net::from_str(s.trim()).map_err(|_| format!("{s:?} is not an IPv4 CIDR block like 10.0.0.0/16"))?;
        if net.trunc() != net {
            return Err(format!("{s:?} has host bits set; did you mean {}?", net.trunc()));
        }
        Ok(Cidr(net))
    }
    pub fn is_world(&self) -> bool {
        self.0.prefix_len() == 0
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An EC2 instance type such as `t3.xlarge` (syntax only; AWS checks the rest).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct InstanceType(String);
string_newtype!(InstanceType, None, Some(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$"));

impl InstanceType {
    pub(crate) fn new(s: &str) -> Self {
        InstanceType(s.to_owned())
    }
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an EC2 instance type like t3.xlarge");
        let (family, size) = s.split_once('.').ok_or_else(bad)?;
        let ok_part =
            |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok_part(family) || !ok_part(size) || !family.starts_with(|c: char| c.is_ascii_lowercase()) || s.len() > 32 {
            return Err(bad());
        }
        Ok(InstanceType(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GitLab Runner autoscaling period: a cron expression as the runner's
/// parser (gorhill/cronexpr) reads it — 7 fields `sec min hour dom mon dow
/// year`, or 6 (no seconds) or 5 (no seconds, no year).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronPeriod(String);
string_newtype!(CronPeriod, None, None);

impl CronPeriod {
    pub fn parse(s: &str) -> Result<Self, String> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let seven = match fields.len() {
            5 => format!("0 {} *", fields.join(" ")),
            6 => format!("0 {}", fields.join(" ")),
            7 => fields.join(" "),
            n => return Err(format!("{s:?} has {n} fields; a period has 5, 6 or 7 (sec min hour dom mon dow year)")),
        };
        cron::Schedule::from_str(&seven).map_err(|e| format!("{s:?} is not a valid cron period: {e}"))?;
        Ok(CronPeriod(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The period as the 5-field cron (`min hour dom mon dow`) of the
    /// docker-autoscaler's policies: seconds dropped, and only an unbounded
    /// year (`*`) can be expressed.
    pub fn five_fields(&self) -> Option<String> {
        let f: Vec<&str> = self.0.split_whitespace().collect();
        let (minute_on, year) = match f.len() {
            5 => return Some(f.join(" ")),
            6 => (0, f[5]),
            _ => (1, f[6]),
        };
        (year == "*").then(|| f[minute_on..minute_on + 5].join(" "))
    }
}

impl fmt::Display for CronPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IANA time zone name such as `Asia/Tokyo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(String);
string_newtype!(Timezone, None, None);

impl Default for Timezone {
    fn default() -> Self {
        Timezone("UTC".into())
    }
}

impl Timezone {
    pub fn parse(s: &str) -> Result<Self, String> {
        chrono_tz::Tz::from_str(s).map_err(|_| format!("{s:?} is not an IANA time zone like Asia/Tokyo or UTC"))?;
        Ok(Timezone(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_periods_in_the_runner_format() {
        assert!(CronPeriod::parse("* * 9-17 * * mon-fri *").is_ok());
        assert!(CronPeriod::parse("* 9-17 * * mon-fri").is_ok());
        assert!(CronPeriod::parse("* * 25 * * * *").is_err());
        assert!(CronPeriod::parse("* * *").is_err());
    }

    #[test]
    fn cidr_must_be_canonical() {
        assert!(Cidr::parse("10.0.0.0/16").is_ok());
        assert!(Cidr::parse("10.0.0.1/16").unwrap_err().contains("10.0.0.0/16"));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }

    #[test]
    fn instance_type_syntax() {
        assert!(InstanceType::parse("t3.xlarge").is_ok());
        assert!(InstanceType::parse("u-6tb1.metal").is_ok());
        assert!(InstanceType::parse("T3.large").is_err());
        assert!(InstanceType::parse("t3").is_err());
    }
}
