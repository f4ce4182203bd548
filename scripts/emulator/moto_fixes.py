"""Where moto answers differently from AWS in a way gascale's tests meet,
moto is mended here, each with the AWS documentation that says otherwise.
Imported by launch.py before the server starts.
"""

from moto.autoscaling.models import FakeAutoScalingGroup


def _keep_unchanged_mixed_instances_policy():
    """UpdateAutoScalingGroup: "If you do not specify a parameter, its value
    is not changed" (Amazon EC2 Auto Scaling API reference,
    UpdateAutoScalingGroup). moto 5.2.5 drops the group's mixed instances
    policy whenever an update does not repeat it (models.py `update`), so a
    size changed in the console would lose the group's instance types."""
    original = FakeAutoScalingGroup.update

    def update(self, *args, **kwargs):
        sends = any(kwargs.get(k) for k in ("mixed_instances_policy", "launch_template", "launch_config_name"))
        kept = {k: v for k, v in self.__dict__.items() if k.startswith("launch_") or k == "mixed_instances_policy"}
        original(self, *args, **kwargs)
        if not sends and not args:
            self.__dict__.update(kept)

    FakeAutoScalingGroup.update = update


def _no_signature_recomputation():
    """Under IAM enforcement moto recomputes each request's SigV4 signature
    from the form it parsed, re-encoded (iam/access_control.py
    `_calculate_signature`); a body the SDK encodes otherwise (parentheses
    in a security group's description) then "does not match", where AWS
    verifies the bytes that were sent. The tests check authorization, not
    signatures: the key still names the user whose policies are applied."""
    from moto.iam.access_control import IAMRequestBase

    IAMRequestBase.check_signature = lambda self: None


def _s3_permissions_of_subresources():
    """Under IAM enforcement moto names the permission an S3 call needs from
    its subresource (s3/responses.py ACTION_MAP); the bucket configurations
    gascale writes are missing there, so moto asks for ListBucket or
    CreateBucket instead. These are the permissions AWS requires (S3 user
    guide, "Required permissions for Amazon S3 API operations"), the same
    table scripts/check-permissions maps the request log with."""
    from moto.s3.responses import ACTION_MAP

    bucket = ACTION_MAP["BUCKET"]
    bucket["GET"].update(
        encryption="GetEncryptionConfiguration",
        ownershipControls="GetBucketOwnershipControls",
        publicAccessBlock="GetBucketPublicAccessBlock",
    )
    bucket["PUT"].update(
        encryption="PutEncryptionConfiguration",
        ownershipControls="PutBucketOwnershipControls",
        publicAccessBlock="PutBucketPublicAccessBlock",
    )
    bucket.setdefault("POST", {}).update({"delete": "DeleteObject", "DEFAULT": "PutObject"})


def apply():
    _keep_unchanged_mixed_instances_policy()
    _no_signature_recomputation()
    _s3_permissions_of_subresources()
