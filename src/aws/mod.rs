//! AWS access: the one place that builds the SDK configuration (credential
//! chain, profile, region, endpoint override, retries) and the service
//! clients every command receives. Nothing here knows about clap or output.

pub mod delete;
pub mod discover;
pub mod dlm;
pub mod ec2;
pub mod errors;
pub mod fence;
pub mod fleet;
pub mod host_policy;
pub mod iam;
pub mod intents;
pub mod lock;
pub mod network;
pub mod offerings;
pub mod parameters;
pub mod policy;
pub mod retry;
pub mod s3;
pub mod security_groups;
pub mod snapshots;
pub mod ssm;
pub mod tags;
pub mod trace;
pub mod wait;
pub mod workers;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::Serialize;

use crate::error::{Error, Result};

/// How to reach AWS: already resolved from flags and the config file.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub profile: Option<String>,
    /// `--region`, else `metadata.region`; `None` falls back to the SDK's
    /// chain (AWS_REGION, the profile), and to an error when that is empty.
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub max_attempts: u32,
    /// Where `-vv` logs every call (`trace::CallLog`).
    pub log: Option<crate::progress::Progress>,
}

/// The SDK clients of one command run, all sharing one configuration.
#[derive(Clone, Debug)]
pub struct Clients {
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// Data Lifecycle Manager: the scheduled snapshots (`backup.schedule`).
    pub dlm: aws_sdk_dlm::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
    /// Service Quotas: the account's VPC quota, read by the preflight.
    pub quotas: aws_sdk_servicequotas::Client,
    pub sts: aws_sdk_sts::Client,
    pub region: String,
}

/// Builds the shared SDK configuration. The standard credential chain (env,
/// profile with SSO and assume-role, web identity, IMDS) is the SDK's own.
pub async fn sdk_config(settings: &AwsSettings) -> Result<SdkConfig> {
    if let Some(profile) = &settings.profile {
        profile_exists(profile)?;
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts));
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let config = loader.load().await;
    match config.region() {
        Some(r) if !r.as_ref().is_empty() => region_name(r.as_ref()).map(|_| config),
        _ => Err(Error::NoRegion),
    }
}

/// A named profile must exist, even when access keys in the environment
/// would win over it: the user asked for that account. Profiles live in
/// the config file as `[profile NAME]` (`[default]`) and in the
/// credentials file as `[NAME]` (AWS CLI user guide, "Configuration and
/// credential file settings"; AWS_CONFIG_FILE and
/// AWS_SHARED_CREDENTIALS_FILE move them).
fn profile_exists(name: &str) -> Result<()> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    let file = |var: &str, default: &str| std::env::var_os(var).map_or_else(|| home.join(default), Into::into);
    let config = std::fs::read_to_string(file("AWS_CONFIG_FILE", ".aws/config")).unwrap_or_default();
    let credentials =
        std::fs::read_to_string(file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")).unwrap_or_default();
    let section =
        |line: &str| line.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')).map(|s| s.trim().to_owned());
    let in_config = config
        .lines()
        .filter_map(section)
        .any(|s| s.strip_prefix("profile").map(str::trim) == Some(name) || (name == "default" && s == "default"));
    let in_credentials = credentials.lines().filter_map(section).any(|s| s == name);
    if in_config || in_credentials {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--profile {name}: no such profile in the AWS config or credentials file (`aws configure list-profiles` lists them)"
        )))
    }
}

/// An AWS region name as AWS spells them (`eu-west-1`, `us-gov-west-1`):
/// anything else is named here instead of failing later at DNS.
fn region_name(region: &str) -> Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let letters = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let ok = parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1].iter().all(letters)
        && parts.last().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!("region {region:?} is not an AWS region name (like eu-west-1)")))
    }
}

impl Clients {
    pub async fn connect(settings: &AwsSettings) -> Result<Clients> {
        let config = sdk_config(settings).await?;
        let region = config.region().map(|r| r.to_string()).unwrap_or_default();
        // An emulator serves every bucket on one host: virtual-hosted names
        // (bucket.127.0.0.1) do not resolve, so path-style it is.
        let custom_endpoint = config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let log = trace::CallLog(settings.log.clone().unwrap_or_else(crate::progress::Progress::silent));
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(custom_endpoint)
            .interceptor(log.clone())
            .interceptor(fence::Fence)
            .build();
        Ok(Clients {
            autoscaling: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(&config)
                    .interceptor(log.clone())
                    .interceptor(fence::Fence)
                    .build(),
            ),
            dlm: aws_sdk_dlm::Client::from_conf(
                aws_sdk_dlm::config::Builder::from(&config).interceptor(log.clone()).interceptor(fence::Fence).build(),
            ),
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(&config).interceptor(log.clone()).interceptor(fence::Fence).build(),
            ),
            iam: aws_sdk_iam::Client::from_conf(
                aws_sdk_iam::config::Builder::from(&config).interceptor(log.clone()).interceptor(fence::Fence).build(),
            ),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            ssm: aws_sdk_ssm::Client::from_conf(
                aws_sdk_ssm::config::Builder::from(&config).interceptor(log.clone()).interceptor(fence::Fence).build(),
            ),
            quotas: aws_sdk_servicequotas::Client::from_conf(
                aws_sdk_servicequotas::config::Builder::from(&config)
                    .interceptor(log.clone())
                    .interceptor(fence::Fence)
                    .build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&config).interceptor(log).interceptor(fence::Fence).build(),
            ),
            region,
        })
    }

    /// Who we are: printed before any mutating call and shown by `status`.
    pub async fn identity(&self) -> Result<Identity> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| errors::aws_error("sts:GetCallerIdentity", "(caller)", e))?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
            region: self.region.clone(),
        })
    }
}

/// The AWS account, caller and region a command acts in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub region: String,
}
