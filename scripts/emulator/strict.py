"""Strict mode: what AWS documents, and moto does not do, in front of moto.

moto answers at once, is always consistent and never conflicts. Real AWS is
eventually consistent and rejects concurrent writes. This layer reproduces
each documented behaviour with AWS's own error code, for a short seeded window,
so that gascale's tests meet them on every run:

EC2 eventual consistency (EC2 developer guide, "Eventual consistency in the
Amazon EC2 API": "if you run a command to modify or describe the resource that
you just created, its ID might not have propagated throughout the system, and
you will get an error responding that the resource does not exist"):
  * a request naming an ID created moments ago answers that ID's NotFound code
    (codes: EC2 API reference, "Error codes"; messages as moto renders them);
  * a NAT gateway is `pending` for a while after CreateNatGateway, `deleting`
    after DeleteNatGateway, and its subnet and VPC answer DependencyViolation
    while its network interface goes (DeleteNatGateway returns first);
  * a gateway endpoint's route tables answer DependencyViolation for a while
    after DeleteVpcEndpoints returns.
IAM propagation (IAM user guide, "Changes that I make are not always
immediately visible"; the retries terraform-provider-aws carries for each):
  * RunInstances with a new instance profile answers InvalidParameterValue
    "... Invalid IAM Instance Profile name", then, until its role propagated,
    "IAM Instance Profile ... has no associated IAM Roles"
    (internal/service/ec2/ec2_instance.go); CreateAutoScalingGroup answers
    ValidationError with the first text (internal/service/autoscaling/group.go);
  * AddRoleToInstanceProfile right after CreateRole answers NoSuchEntity
    "The role with name ... cannot be found." (iam/instance_profile.go);
  * two writes on one role at once: ConcurrentModification (409);
  * a deleted role, instance profile or bucket still reads for a while.
S3 (terraform-provider-aws internal/service/s3/service_package.go retries
OperationAborted on every call; bucket.go retries CreateBucket on it):
  * two configuration writes on one bucket at once: 409 OperationAborted;
  * configuration writes right after CreateBucket: 404 NoSuchBucket;
  * CreateBucket of a name deleted moments ago: 409 OperationAborted.
RunInstances idempotency (EC2 API reference, "Ensuring idempotency"): the same
ClientToken with other parameters answers IdempotentParameterMismatch; with
the same parameters, the earlier answer (valid 24 h after termination).
A data volume stays in use for a while after its instance terminated
(VolumeInUse on DeleteVolume and AttachVolume; terraform ebs_volume.go), and
DeleteAutoScalingGroup right after a capacity change answers
ScalingActivityInProgress (terraform autoscaling/group.go).

Not modelled: describes by filter never hide a new resource; deletes see a new
ID at once; moto's own instant state changes elsewhere.
"""

import hashlib
import random
import re
import threading
import time
import urllib.parse

EC2_NOT_FOUND = {
    "vpc": ("InvalidVpcID.NotFound", "The vpc ID '{}' does not exist"),
    "subnet": ("InvalidSubnetID.NotFound", "The subnet ID '{}' does not exist"),
    "sg": ("InvalidGroup.NotFound", "The security group '{}' does not exist"),
    "igw": ("InvalidInternetGatewayID.NotFound", "The internetGateway ID '{}' does not exist"),
    "nat": ("NatGatewayNotFound", "NAT gateway {} was not found"),
    "rtb": ("InvalidRouteTableID.NotFound", "The routeTable ID '{}' does not exist"),
    "vpce": ("InvalidVpcEndpointId.NotFound", "The VpcEndPoint ID '{}' does not exist"),
    "eipalloc": ("InvalidAllocationID.NotFound", "The allocation ID '{}' does not exist"),
    "vol": ("InvalidVolume.NotFound", "The volume '{}' does not exist."),
    "i": ("InvalidInstanceID.NotFound", "The instance ID '{}' does not exist"),
    "lt": ("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID {}, does not exist."),
    "snap": ("InvalidSnapshot.NotFound", "The snapshot '{}' does not exist."),
}
ID = re.compile(r"\b(" + "|".join(EC2_NOT_FOUND) + r")-[0-9a-f]{8,17}\b")
# Deletes see new IDs at once here (see "Not modelled").
DELETES = ("Delete", "Release", "Disassociate", "Detach", "Revoke", "Cancel")
# Query parameters of S3 requests that are arguments, not the sub-resource
# that names the operation (?tagging, ?versions, ?uploadId, ...).
S3_NOT_SUBRESOURCES = {"prefix", "delimiter", "max-keys", "list-type", "continuation-token", "key-marker",
                       "version-id-marker", "versionId", "upload-id-marker", "x-id"}
S3_CONFIG = {"publicAccessBlock", "ownershipControls", "encryption", "policy", "lifecycle", "tagging"}
IAM_ROLE_WRITES = {"AttachRolePolicy", "PutRolePolicy", "TagRole", "UntagRole", "DetachRolePolicy",
                   "DeleteRolePolicy", "UpdateAssumeRolePolicy", "AddRoleToInstanceProfile",
                   "RemoveRoleFromInstanceProfile"}
ASG_CAPACITY = {"SetDesiredCapacity", "UpdateAutoScalingGroup", "TerminateInstanceInAutoScalingGroup"}


class Strict:
    """Seeded windows, in seconds, scaled by `scale` (1.0: tens to hundreds of ms)."""

    def __init__(self, seed=1, scale=1.0, enabled=True):
        self.enabled = enabled
        self.random = random.Random(seed)
        self.scale = scale
        self.lock = threading.Lock()
        self.seen = set()  # every EC2 ID ever seen
        self.hidden = {}  # EC2 ID -> visible from
        self.nat_subnet = {}  # NAT ID -> subnet ID
        self.lingering = {}  # subnet / route table / VPC ID -> DependencyViolation until
        self.profiles = {}  # profile name -> [visible from, role visible from, arn]
        self.templates = {}  # launch template ID -> profile name
        self.roles_new = {}  # role name -> visible to AddRoleToInstanceProfile from
        self.role_busy = set()
        self.bucket_busy = set()
        self.buckets_new = {}  # bucket -> config writes succeed from
        self.buckets_gone = {}  # bucket -> CreateBucket succeeds from
        self.deleted = {}  # (kind, name) -> still readable until
        self.last_read = {}  # (kind, name) -> last 200 body
        self.tokens = {}  # RunInstances ClientToken -> (parameters digest, body)
        self.attached = {}  # volume -> instance
        self.volume_busy = {}  # volume -> (instance, in use until)
        self.scaling = {}  # group -> scaling activity until

    def window(self, low, high):
        with self.lock:
            return (low + (high - low) * self.random.random()) * self.scale

    # -- before moto ---------------------------------------------------------

    def before(self, r):
        """An error answer (status, content type, body) or None to go on.
        Requests signed with the access key `setup` (the tests' own
        arrangements of the world) pass, and leave no window behind: they
        stand for things done long ago."""
        if not self.enabled or r.access_key == "setup":
            return None
        now = time.time()
        handler = {"ec2": self._ec2, "iam": self._iam, "s3": self._s3, "autoscaling": self._asg}.get(r.service)
        return handler(r, now) if handler else None

    def _ec2(self, r, now):
        if r.op == "RunInstances":
            answer = self._client_token(r) or self._profile_check(r, r.form.get("IamInstanceProfile.Name")
                                                                  or _last(r.form.get("IamInstanceProfile.Arn")), now, "ec2")
            if answer:
                return answer
        if not r.op.startswith(DELETES):
            for key, value in r.form.items():
                if key.startswith("Filter."):
                    continue
                until = self.hidden.get(value)
                if until and now < until:
                    code, message = EC2_NOT_FOUND[value.split("-")[0]]
                    return ec2_error(code, message.format(value))
        if r.op in ("DeleteSubnet", "DeleteVpc", "DeleteRouteTable"):
            target = r.form.get("SubnetId") or r.form.get("VpcId") or r.form.get("RouteTableId")
            if now < self.lingering.get(target, 0):
                return ec2_error("DependencyViolation",
                                 f"The {r.op[6:].lower()} '{target}' has dependencies and cannot be deleted.")
        if r.op in ("DeleteVolume", "AttachVolume"):
            volume = r.form.get("VolumeId")
            instance, until = self.volume_busy.get(volume, (None, 0))
            if now < until:
                return ec2_error("VolumeInUse", f"Volume {volume} is currently attached to {instance}")
        return None

    def _client_token(self, r):
        token = r.form.get("ClientToken")
        if not token:
            return None
        digest = hashlib.sha256(repr(sorted((k, v) for k, v in r.form.items() if k != "ClientToken")).encode()).hexdigest()
        with self.lock:
            earlier = self.tokens.get(token)
        if earlier is None:
            return None
        if earlier[0] != digest:
            return ec2_error("IdempotentParameterMismatch",
                             "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
        return (200, "text/xml", earlier[1])

    def _profile_check(self, r, name, now, service):
        if not name or name not in self.profiles:
            return None
        visible, role_visible, arn = self.profiles[name]
        if now < visible:
            text = f"Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
        elif now < role_visible:
            text = f'IAM Instance Profile "{arn}" has no associated IAM Roles'
        else:
            return None
        if service == "ec2":
            return ec2_error("InvalidParameterValue", text)
        return query_error("ValidationError", "You must use a valid fully-formed launch template. " + text, 400)

    def _iam(self, r, now):
        role = r.form.get("RoleName")
        if r.op == "AddRoleToInstanceProfile" and now < self.roles_new.get(role, 0):
            return query_error("NoSuchEntity", f"The role with name {role} cannot be found.", 404)
        kind = {"GetRole": "role", "GetInstanceProfile": "profile"}.get(r.op)
        if kind:
            name = role or r.form.get("InstanceProfileName")
            if now < self.deleted.get((kind, name), 0) and (kind, name) in self.last_read:
                return (200, "text/xml", self.last_read[(kind, name)])
        if r.op in IAM_ROLE_WRITES and role:
            with self.lock:
                if role in self.role_busy:
                    return query_error("ConcurrentModification",
                                       "Rate exceeded: multiple requests to change this object were submitted simultaneously.", 409)
                self.role_busy.add(role)
            r.release.append(lambda: self.role_busy.discard(role))
            time.sleep(0.04 * self.scale)
        return None

    def _s3(self, r, now):
        bucket = r.bucket
        if not bucket:
            return None
        if r.method == "PUT" and not r.subresources:  # CreateBucket
            if now < self.buckets_gone.get(bucket, 0):
                return s3_error(409, "OperationAborted",
                                "A conflicting conditional operation is currently in progress against this resource. Please try again.", bucket)
            return None
        if r.method == "GET" and r.subresources == {"tagging"} and now < self.deleted.get(("bucket", bucket), 0):
            if ("bucket", bucket) in self.last_read:
                return (200, "application/xml", self.last_read[("bucket", bucket)])
        if r.method in ("PUT", "DELETE") and r.subresources & S3_CONFIG:
            if now < self.buckets_new.get(bucket, 0):
                return s3_error(404, "NoSuchBucket", "The specified bucket does not exist", bucket)
            with self.lock:
                if bucket in self.bucket_busy:
                    return s3_error(409, "OperationAborted",
                                    "A conflicting conditional operation is currently in progress against this resource. Please try again.", bucket)
                self.bucket_busy.add(bucket)
            r.release.append(lambda: self.bucket_busy.discard(bucket))
            time.sleep(0.04 * self.scale)
        return None

    def _asg(self, r, now):
        group = r.form.get("AutoScalingGroupName")
        if r.op == "DeleteAutoScalingGroup" and now < self.scaling.get(group, 0):
            return query_error("ScalingActivityInProgress",
                               "You cannot delete an AutoScalingGroup while there are scaling activities in progress for that group.", 400)
        if r.op == "CreateAutoScalingGroup":
            for value in r.form.values():
                if value in self.templates:
                    return self._profile_check(r, self.templates[value], now, "autoscaling")
        return None

    # -- after moto ----------------------------------------------------------

    def after(self, r, status, body):
        for release in r.release:
            release()
        if not self.enabled or not 200 <= status < 300:
            return
        now = time.time()
        text = body.decode("utf-8", "replace")
        if r.access_key == "setup":
            self.seen |= {m.group(0) for m in ID.finditer(text)}
            return
        if r.service == "ec2":
            self._after_ec2(r, now, text, body)
        elif r.service == "iam":
            self._after_iam(r, now, body)
        elif r.service == "s3" and r.bucket:
            self._after_s3(r, now, body)
        elif r.service == "autoscaling" and r.op in ASG_CAPACITY:
            self.scaling[r.form.get("AutoScalingGroupName")] = now + self.window(0.3, 0.6)

    def _after_ec2(self, r, now, text, body):
        ids = {m.group(0) for m in ID.finditer(text)} | {v for v in r.form.values() if ID.fullmatch(v)}
        fresh = ids - self.seen
        self.seen |= ids
        if r.op.startswith(("Create", "RunInstances", "AllocateAddress")):
            for new in fresh:
                self.hidden[new] = now + self.window(0.1, 0.3)
        if r.op == "RunInstances" and r.form.get("ClientToken"):
            digest = hashlib.sha256(repr(sorted((k, v) for k, v in r.form.items() if k != "ClientToken")).encode()).hexdigest()
            self.tokens[r.form["ClientToken"]] = (digest, body)
        if r.op == "CreateLaunchTemplate":
            profile = r.form.get("LaunchTemplateData.IamInstanceProfile.Name") or _last(
                r.form.get("LaunchTemplateData.IamInstanceProfile.Arn"))
            for new in fresh:
                if new.startswith("lt-") and profile:
                    self.templates[new] = profile
        if r.op == "CreateNatGateway":
            for new in fresh:
                if new.startswith("nat-"):
                    self.nat_subnet[new] = r.form.get("SubnetId")
                    self._set_nat(r, new, "pending", "available", self.window(0.4, 0.8))
        if r.op == "CreateSnapshot":
            # "pending until the snapshot is complete" (EBS user guide,
            # "Create Amazon EBS snapshots"); moto completes it at once.
            for new in fresh:
                if new.startswith("snap-"):
                    self._set_snapshot(r, new, self.window(0.3, 0.6))
        if r.op == "DeleteNatGateway":
            nat = r.form.get("NatGatewayId")
            self._set_nat(r, nat, "deleting", "deleted", self.window(0.4, 0.8))
            until = now + self.window(0.6, 1.0)
            subnet = self.nat_subnet.get(nat)
            for target in (subnet, self._vpc_of_subnet(r, subnet)):
                if target:
                    self.lingering[target] = until
        if r.op == "DeleteVpcEndpoints":
            until = now + self.window(0.4, 0.8)
            for table in re.findall(r"<routeTableId>(rtb-[0-9a-f]+)</routeTableId>", self.last_read.get(("endpoint", r.form.get("VpcEndpointId.1")), b"").decode()):
                self.lingering[table] = until
        if r.op == "DescribeVpcEndpoints":
            for item in re.findall(r"<item>.*?</item>(?=<item>|</vpcEndpointSet>)", text, re.S):
                m = re.search(r"<vpcEndpointId>(vpce-[0-9a-f]+)</vpcEndpointId>", item)
                if m:
                    self.last_read[("endpoint", m.group(1))] = item.encode()
        if r.op == "AttachVolume":
            self.attached[r.form.get("VolumeId")] = r.form.get("InstanceId")
        if r.op == "TerminateInstances":
            terminated = {v for k, v in r.form.items() if k.startswith("InstanceId.")}
            for volume, instance in list(self.attached.items()):
                if instance in terminated:
                    self.volume_busy[volume] = (instance, now + self.window(0.3, 0.6))
                    del self.attached[volume]

    def _set_nat(self, r, nat, state, final, delay):
        try:
            from moto.ec2.models import ec2_backends
            gateway = ec2_backends[r.account][r.region].nat_gateways[nat]
        except (KeyError, ImportError):
            return
        gateway.state = state
        timer = threading.Timer(delay, lambda: setattr(gateway, "state", final))
        timer.daemon = True
        timer.start()

    def _set_snapshot(self, r, snapshot, delay):
        try:
            from moto.ec2.models import ec2_backends
            snap = ec2_backends[r.account][r.region].snapshots[snapshot]
        except (KeyError, ImportError):
            return
        snap.status = "pending"
        timer = threading.Timer(delay, lambda: setattr(snap, "status", "completed"))
        timer.daemon = True
        timer.start()

    def _vpc_of_subnet(self, r, subnet):
        try:
            from moto.ec2.models import ec2_backends
            return ec2_backends[r.account][r.region].get_subnet(subnet).vpc_id
        except Exception:  # noqa: BLE001 - a subnet already gone has no VPC to hold
            return None

    def _after_iam(self, r, now, body):
        role, profile = r.form.get("RoleName"), r.form.get("InstanceProfileName")
        if r.op == "CreateRole":
            self.roles_new[role] = now + self.window(0.1, 0.3)
        elif r.op == "CreateInstanceProfile":
            m = re.search(rb"<Arn>([^<]+)</Arn>", body)
            arn = m.group(1).decode() if m else profile
            visible = now + self.window(0.2, 0.4)
            self.profiles[profile] = [visible, visible + 0.2 * self.scale, arn]
        elif r.op == "AddRoleToInstanceProfile" and profile in self.profiles:
            entry = self.profiles[profile]
            entry[1] = max(entry[0], now) + self.window(0.2, 0.4)
        elif r.op == "GetRole":
            self.last_read[("role", role)] = body
        elif r.op == "GetInstanceProfile":
            self.last_read[("profile", profile)] = body
        elif r.op == "DeleteRole":
            self.deleted[("role", role)] = now + self.window(0.3, 0.6)
        elif r.op == "DeleteInstanceProfile":
            self.deleted[("profile", profile)] = now + self.window(0.3, 0.6)

    def _after_s3(self, r, now, body):
        bucket = r.bucket
        if r.method == "PUT" and not r.subresources:
            self.buckets_new[bucket] = now + self.window(0.1, 0.3)
        elif r.method == "GET" and r.subresources == {"tagging"}:
            self.last_read[("bucket", bucket)] = body
        elif r.method == "DELETE" and not r.subresources and r.key is None:
            until = now + self.window(0.3, 0.6)
            self.deleted[("bucket", bucket)] = until
            self.buckets_gone[bucket] = until


class Request:
    """What the strict layer reads of a request."""

    def __init__(self, environ, body, service, op, region, account):
        self.service, self.op, self.region, self.account = service, op, region, account
        self.method = environ.get("REQUEST_METHOD", "GET")
        auth = environ.get("HTTP_AUTHORIZATION", "")
        self.access_key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None
        self.release = []
        self.form = {}
        self.bucket = self.key = None
        self.subresources = set()
        if service == "s3":
            parts = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)
            self.bucket = parts[0] or None
            self.key = parts[1] if len(parts) > 1 and parts[1] else None
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
            self.subresources = set(query) - S3_NOT_SUBRESOURCES
        elif body:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            self.form = {k: v[0] for k, v in form.items()}


def _last(arn):
    return arn.rsplit("/", 1)[-1] if arn else None


def ec2_error(code, message):
    body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{_xml(message)}</Message></Error></Errors>"
            f"<RequestID>gascale-strict</RequestID></Response>")
    return (400, "text/xml", body.encode())


def query_error(code, message, status):
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
            f"<RequestId>gascale-strict</RequestId></ErrorResponse>")
    return (status, "text/xml", body.encode())


def s3_error(status, code, message, bucket):
    body = (f"<Error><Code>{code}</Code><Message>{_xml(message)}</Message><BucketName>{bucket}</BucketName>"
            f"<RequestId>gascale-strict</RequestId></Error>")
    return (status, "application/xml", body.encode())


def _xml(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
