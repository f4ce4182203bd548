//! The runner-cache bucket: encrypted, private (public access block, owner
//! enforced), TLS only, with the cache prefix and incomplete multipart
//! uploads expiring by lifecycle.

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use serde_json::json;

use super::errors::{aws_error, code, on};
use super::{retry, Clients};
use crate::config::{Cache, Sse};
use crate::error::Result;

/// Creates the bucket if missing and applies every setting; idempotent.
pub async fn ensure_bucket(
    c: &Clients,
    name: &str,
    cache: &Cache,
    tags: &[(String, String)],
    exists: bool,
) -> Result<String> {
    if !exists {
        let mut create = c.s3.create_bucket().bucket(name);
        if c.region != "us-east-1" {
            let constraint = BucketLocationConstraint::from(c.region.as_str());
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder().location_constraint(constraint).build(),
            );
        }
        // A name deleted moments ago answers OperationAborted for a while
        // (terraform s3/bucket.go retries it): errors::transient_for.
        if let Err(e) = retry::send("s3:CreateBucket", create, |r| r.send()).await {
            if code(&e) != Some("BucketAlreadyOwnedByYou") {
                return Err(aws_error("s3:CreateBucket", name, e));
            }
        }
    }
    // Ownership tags first: a bucket of ours must never look foreign.
    put_tags(c, name, tags).await?;
    let access = async move {
        retry::send(
            "s3:PutPublicAccessBlock",
            c.s3.put_public_access_block().bucket(name).public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            ),
            |r| r.send(),
        )
        .await
        .map_err(on("s3:PutPublicAccessBlock", name))
    };
    let ownership = async move {
        retry::send(
            "s3:PutBucketOwnershipControls",
            c.s3.put_bucket_ownership_controls().bucket(name).ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .expect("ownership"),
                    )
                    .build()
                    .expect("controls"),
            ),
            |r| r.send(),
        )
        .await
        .map_err(on("s3:PutBucketOwnershipControls", name))
    };
    let default = match cache.sse {
        Sse::Aes256 => ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256),
        Sse::Kms => ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .set_kms_master_key_id(cache.kms_key.clone()),
    }
    .build()
    .expect("algorithm set");
    let encryption = async move {
        retry::send(
            "s3:PutBucketEncryption",
            c.s3.put_bucket_encryption().bucket(name).server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(default)
                            .bucket_key_enabled(true)
                            .build(),
                    )
                    .build()
                    .expect("rules"),
            ),
            |r| r.send(),
        )
        .await
        .map_err(on("s3:PutBucketEncryption", name))
    };
    let policy = async move {
        retry::send("s3:PutBucketPolicy", c.s3.put_bucket_policy().bucket(name).policy(tls_only_policy(name)), |r| {
            r.send()
        })
        .await
        .map_err(on("s3:PutBucketPolicy", name))
    };
    let rules = vec![
        LifecycleRule::builder()
            .id("gascale-cache-expiry")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix(&cache.prefix).build())
            .expiration(LifecycleExpiration::builder().days(cache.expiration_days as i32).build())
            .build()
            .expect("rule"),
        LifecycleRule::builder()
            .id("gascale-abort-incomplete-uploads")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().prefix("").build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
            )
            .build()
            .expect("rule"),
    ];
    let lifecycle = async move {
        retry::send(
            "s3:PutBucketLifecycleConfiguration",
            c.s3.put_bucket_lifecycle_configuration().bucket(name).lifecycle_configuration(
                BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().expect("rules"),
            ),
            |r| r.send(),
        )
        .await
        .map_err(on("s3:PutBucketLifecycleConfiguration", name))
    };
    // One at a time: S3 answers 409 OperationAborted to concurrent
    // configuration writes on one bucket (terraform-provider-aws #7628), and
    // the bucket is off the host's critical path anyway.
    access.await?;
    ownership.await?;
    encryption.await?;
    policy.await?;
    lifecycle.await?;
    Ok(name.to_owned())
}

/// Replaces the bucket's tags (S3 has no single-tag update).
pub async fn put_tags(c: &Clients, name: &str, tags: &[(String, String)]) -> Result<()> {
    let set: Vec<Tag> =
        tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value")).collect();
    retry::send(
        "s3:PutBucketTagging",
        c.s3.put_bucket_tagging()
            .bucket(name)
            .tagging(Tagging::builder().set_tag_set(Some(set)).build().expect("tag set")),
        |r| r.send(),
    )
    .await
    .map_err(|e| aws_error("s3:PutBucketTagging", name, e))?;
    Ok(())
}

pub fn tls_only_policy(bucket: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } }
        }]
    })
    .to_string()
}

/// Empties the bucket completely — every object version, delete marker and
/// multipart upload, paginated, deleted 1000 at a time — then deletes it.
pub async fn delete_bucket(c: &Clients, progress: &crate::progress::Progress, name: &str) -> Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut removed = 0usize;
    let mut key_marker: Option<String> = None;
    let mut version_marker: Option<String> = None;
    loop {
        let page = match retry::send(
            "s3:ListObjectVersions",
            c.s3.list_object_versions()
                .bucket(name)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone()),
            |r| r.send(),
        )
        .await
        {
            Ok(p) => p,
            Err(e) if code(&e) == Some("NoSuchBucket") => return Ok(()),
            Err(e) => return Err(aws_error("s3:ListObjectVersions", name, e)),
        };
        let mut ids: Vec<ObjectIdentifier> = Vec::new();
        for v in page.versions() {
            ids.push(
                ObjectIdentifier::builder()
                    .set_key(v.key().map(str::to_owned))
                    .set_version_id(v.version_id().map(str::to_owned))
                    .build()
                    .expect("key"),
            );
        }
        for m in page.delete_markers() {
            ids.push(
                ObjectIdentifier::builder()
                    .set_key(m.key().map(str::to_owned))
                    .set_version_id(m.version_id().map(str::to_owned))
                    .build()
                    .expect("key"),
            );
        }
        for chunk in ids.chunks(1000) {
            let out = retry::send(
                "s3:DeleteObjects",
                c.s3.delete_objects()
                    .bucket(name)
                    .delete(Delete::builder().set_objects(Some(chunk.to_vec())).quiet(true).build().expect("objects")),
                |r| r.send(),
            )
            .await
            .map_err(|e| aws_error("s3:DeleteObjects", name, e))?;
            // DeleteObjects answers 200 and lists the keys it could not
            // delete, each with its own error (S3 API reference,
            // DeleteObjects: "Error" elements); the bucket would then stay
            // non-empty and DeleteBucket fail for as long as it is retried.
            if let Some(first) = out.errors().first() {
                return Err(crate::error::Error::Failed(format!(
                    "s3:DeleteObjects {name}: {} of {} keys not deleted; {} on {}: {}",
                    out.errors().len(),
                    chunk.len(),
                    first.code().unwrap_or("error"),
                    first.key().unwrap_or("?"),
                    first.message().unwrap_or("")
                )));
            }
            removed += chunk.len();
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
    let mut upload_marker: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = retry::send(
            "s3:ListMultipartUploads",
            c.s3.list_multipart_uploads()
                .bucket(name)
                .set_key_marker(upload_marker.0.clone())
                .set_upload_id_marker(upload_marker.1.clone()),
            |r| r.send(),
        )
        .await
        .map_err(|e| aws_error("s3:ListMultipartUploads", name, e))?;
        for u in page.uploads() {
            if let (Some(key), Some(id)) = (u.key(), u.upload_id()) {
                retry::send(
                    "s3:AbortMultipartUpload",
                    c.s3.abort_multipart_upload().bucket(name).key(key).upload_id(id),
                    |r| r.send(),
                )
                .await
                .map_err(|e| aws_error("s3:AbortMultipartUpload", name, e))?;
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        upload_marker = (page.next_key_marker().map(str::to_owned), page.next_upload_id_marker().map(str::to_owned));
    }
    if removed > 0 {
        progress.verbose(format!("emptied bucket {name}: {removed} object versions and markers"));
    }
    match retry::send("s3:DeleteBucket", c.s3.delete_bucket().bucket(name), |r| r.send()).await {
        Ok(_) => Ok(()),
        Err(e) if code(&e) == Some("NoSuchBucket") => Ok(()),
        Err(e) => Err(aws_error("s3:DeleteBucket", name, e)),
    }
}

/// A bucket's default encryption as `plan` shows and compares it, desired
/// and live alike: `AES256`, or `aws:kms <key>`.
pub fn encryption_text(algorithm: &str, kms_key: Option<&str>) -> String {
    match kms_key {
        Some(key) => format!("{algorithm} {key}"),
        None => algorithm.to_owned(),
    }
}

/// The live settings `plan` compares (the keys of `plan::attrs`): the cache
/// rule's expiry and prefix, and the default encryption. Two reads at once.
/// `None` while S3 answers NoSuchBucket to a bucket its tagging call still
/// shows: one being deleted, or created moments ago (configuration calls
/// lag CreateBucket: terraform-provider-aws s3 bucket.go retries them).
pub async fn bucket_settings(c: &Clients, name: &str) -> Result<Option<std::collections::BTreeMap<String, String>>> {
    let lifecycle = async {
        match c.s3.get_bucket_lifecycle_configuration().bucket(name).send().await {
            Ok(out) => Ok(Some(out.rules().iter().find(|r| r.id() == Some("gascale-cache-expiry")).cloned())),
            Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => Ok(Some(None)),
            Err(e) if code(&e) == Some("NoSuchBucket") => Ok(None),
            Err(e) => Err(aws_error("s3:GetBucketLifecycleConfiguration", name, e)),
        }
    };
    let encryption = async {
        match c.s3.get_bucket_encryption().bucket(name).send().await {
            Ok(out) => Ok(Some(
                out.server_side_encryption_configuration()
                    .and_then(|s| s.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| encryption_text(d.sse_algorithm().as_str(), d.kms_master_key_id())),
            )),
            Err(e) if code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(Some(None)),
            Err(e) if code(&e) == Some("NoSuchBucket") => Ok(None),
            Err(e) => Err(aws_error("s3:GetBucketEncryption", name, e)),
        }
    };
    let (Some(rule), Some(encryption)) = tokio::try_join!(lifecycle, encryption)? else { return Ok(None) };
    let none = || "none".to_owned();
    let days = rule.as_ref().and_then(|r| r.expiration()).and_then(|x| x.days()).map(|d| d.to_string());
    let prefix = rule.as_ref().and_then(|r| r.filter()).and_then(|f| f.prefix()).map(str::to_owned);
    Ok(Some(
        [
            ("expiration_days".to_owned(), days.unwrap_or_else(none)),
            ("prefix".to_owned(), prefix.unwrap_or_else(none)),
            ("encryption".to_owned(), encryption.unwrap_or_else(none)),
        ]
        .into(),
    ))
}
