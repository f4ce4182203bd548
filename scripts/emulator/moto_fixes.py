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


def _spot_requests_keep_their_network_interfaces():
    """RequestSpotInstances may name the subnet only inside the launch
    specification's network interface (EC2 API reference,
    RequestSpotLaunchSpecification: NetworkInterfaces, "If you specify a
    network interface, you must specify any subnets ... as part of the
    network interface"), and DescribeSpotInstanceRequests then returns it
    there, with no top-level SubnetId. moto 5.2.5 drops the specification
    and fulfils the request in the default VPC. Mended: the instance
    launches in the interface's subnet, and the request keeps the interface
    (SubnetId and Groups) and no top-level subnet, as AWS shows it."""
    from moto.ec2.responses.spot_instances import SpotInstances

    original = SpotInstances.request_spot_instances

    def request_spot_instances(self):
        interfaces = self._get_param("LaunchSpecification.NetworkInterfaces", []) or []
        subnet = next((i.get("SubnetId") for i in interfaces if i.get("SubnetId")), None)
        if not subnet or self._get_param("LaunchSpecification.SubnetId"):
            return original(self)
        before = set(self.ec2_backend.spot_instance_requests)
        self._get_param = _with_param(self._get_param, "LaunchSpecification.SubnetId", subnet)
        result = original(self)
        for rid in set(self.ec2_backend.spot_instance_requests) - before:
            spec = self.ec2_backend.spot_instance_requests[rid].launch_specification
            spec.subnet_id = None
            spec.network_interfaces = [
                {"DeviceIndex": int(i.get("DeviceIndex", 0)), "SubnetId": i.get("SubnetId"), "Groups": i.get("Groups", [])}
                for i in interfaces
            ]
        return result

    SpotInstances.request_spot_instances = request_spot_instances


# Whether EC2 has Spot capacity for new requests (POST /gascale-test/spot-capacity).
SPOT_CAPACITY = {"available": True}


def _spot_requests_wait_for_capacity():
    """Without capacity a Spot request is held: state `open`, status
    `capacity-not-available`, no instance, until capacity comes or it is
    cancelled (EC2 user guide, "State changes for a Spot request", Holding).
    moto 5.2.5 fulfils every request at once; with SPOT_CAPACITY off, new
    requests are held as EC2 holds them."""
    from moto.ec2.models.spot_requests import SpotInstanceRequest

    launch = SpotInstanceRequest.launch_instance
    init = SpotInstanceRequest.__init__

    def held_launch(self):
        return launch(self) if SPOT_CAPACITY["available"] else None

    def held_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if self.instance is None:
            self.state = "open"
            self._status_code = "capacity-not-available"
            # The guide documents the code; this message is the emulator's own.
            self.status_message = "held: no Spot capacity (gascale emulator)"

    SpotInstanceRequest.launch_instance = held_launch
    SpotInstanceRequest.__init__ = held_init
    SpotInstanceRequest.instance_id = property(lambda self: self.instance.id if self.instance else None)


def _vpcs_within_the_quota():
    """CreateVpc past the account's "VPCs per Region" (Service Quotas
    L-F678F1CE; the default VPC counts) answers VpcLimitExceeded (EC2 API
    reference, "Error codes"), "The maximum number of VPCs has been reached."
    as AWS words it. moto 5.2.5 creates any number; the quota is the one
    GetServiceQuota answers (launch.py --vpc-quota)."""
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.vpcs import VPCBackend
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS

    create = VPCBackend.create_vpc

    def within_quota(self, *args, **kwargs):
        quota = next(q["Value"] for q in VPC_DEFAULT_QUOTAS if q["QuotaCode"] == "L-F678F1CE")
        if len(self.vpcs) >= quota:
            raise EC2ClientError("VpcLimitExceeded", "The maximum number of VPCs has been reached.")
        return create(self, *args, **kwargs)

    VPCBackend.create_vpc = within_quota


def _with_param(get_param, name, value):
    def get(key, *args, **kwargs):
        return value if key == name else get_param(key, *args, **kwargs)

    return get


def apply():
    _keep_unchanged_mixed_instances_policy()
    _no_signature_recomputation()
    _s3_permissions_of_subresources()
    _spot_requests_keep_their_network_interfaces()
    _spot_requests_wait_for_capacity()
    _vpcs_within_the_quota()
