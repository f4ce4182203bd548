"""Start moto in server mode on a loopback port, for gascale's tests and demo.

Why a launcher instead of `moto_server`: it binds port 0 and reports the port
the kernel chose (no race on a "free" port), it writes a request log with the
AWS operation name of every call (tests count mutating calls with it), and it
exits by itself when the process that started it is gone, so a killed test
run leaves no server behind.
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# Emulator switches that must be set before moto is imported.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
os.environ.setdefault("MOTO_ENABLE_AMI_VALIDATION", "true")

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from strict import S3_NOT_SUBRESOURCES, Request, Strict  # noqa: E402
from dlm import Dlm  # noqa: E402
import moto_fixes  # noqa: E402

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def operation_name(environ, body):
    """The AWS operation of a request, as the SDK names it where possible."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:  # JSON protocols (SSM, ...): "AmazonSSM.GetParameter"
        return target.split(".")[-1]
    if body:
        try:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        except ValueError:
            form = {}
        if "Action" in form:  # query protocols (EC2, IAM, STS)
            return form["Action"][0]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query:
        return query["Action"][0]
    # S3 REST: method and the sub-resource, good enough to tell reads from writes.
    method = environ.get("REQUEST_METHOD", "GET")
    sub = sorted(k for k in query if k not in S3_NOT_SUBRESOURCES)
    return "S3:" + method + (":" + ",".join(sub) if sub else "")


class SsmResults:
    """What SSM commands print, set by tests.

    moto's Run Command "succeeds" with empty output. Tests POST the result
    an instance's commands should have to /gascale-test/ssm-result; every
    GetCommandInvocation for that instance then answers with it, and the
    scripts sent to it are kept for GET /gascale-test/ssm-commands.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.results = {}
        self.commands = {}

    def handle(self, environ, body, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/gascale-test/ssm-result" and environ.get("REQUEST_METHOD") == "POST":
            result = json.loads(body or b"{}")
            with self.lock:
                self.results[result["InstanceId"]] = result
            return _json(start_response, {"ok": True})
        if path == "/gascale-test/ssm-commands":
            instance = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("instance", [""])[0]
            with self.lock:
                return _json(start_response, self.commands.get(instance, []))
        return None

    def record(self, body):
        request = json.loads(body or b"{}")
        with self.lock:
            for instance in request.get("InstanceIds", []):
                self.commands.setdefault(instance, []).append(request.get("Parameters", {}))

    def has_result(self, body):
        with self.lock:
            return json.loads(body or b"{}").get("InstanceId") in self.results

    def answer(self, body, start_response):
        request = json.loads(body or b"{}")
        with self.lock:
            result = self.results[request.get("InstanceId")]
        status = result.get("Status", "Success")
        return _json(start_response, {
            "CommandId": request.get("CommandId"),
            "InstanceId": request.get("InstanceId"),
            "DocumentName": "AWS-RunShellScript",
            "PluginName": "aws:runShellScript",
            "Status": status,
            "StatusDetails": status,
            "ResponseCode": result.get("ResponseCode", 0),
            "StandardOutputContent": result.get("StandardOutputContent", ""),
            "StandardErrorContent": result.get("StandardErrorContent", ""),
        })


# The error each service answers when it throttles, and when it fails.
THROTTLE = {
    "ec2": (503, "text/xml", "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"),
    "iam": (400, "text/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"),
    "sts": (400, "text/xml", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"),
    "s3": (503, "application/xml", "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>{rid}</RequestId></Error>"),
    "ssm": (400, "application/x-amz-json-1.1", '{{"__type":"ThrottlingException","message":"Rate exceeded"}}'),
}
INTERNAL = {
    "ec2": (500, "text/xml", "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"),
    "iam": (500, "text/xml", "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>internal failure</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"),
    "sts": (500, "text/xml", "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>internal failure</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"),
    "s3": (500, "application/xml", "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>{rid}</RequestId></Error>"),
    "ssm": (500, "application/x-amz-json-1.1", '{{"__type":"InternalServerError","message":"internal failure"}}'),
}


class Faults:
    """Seeded fault injection: a fraction of requests throttled, a fraction
    failing with 500, and a fixed latency on each. A faulted request never
    reaches moto, as a throttled request never changes anything in AWS."""

    def __init__(self, throttle, error, latency_ms, seed):
        self.throttle = throttle
        self.error = error
        self.latency = latency_ms / 1000.0
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def set(self, throttle, error, seed):
        """Changes the rates while running (POST /gascale-test/faults)."""
        with self.lock:
            self.throttle, self.error = throttle, error
            self.random = random.Random(seed)

    def pick(self, service):
        if self.latency:
            time.sleep(self.latency)
        if service not in THROTTLE:
            return None
        with self.lock:
            roll = self.random.random()
        if roll < self.throttle:
            return THROTTLE[service]
        if roll < self.throttle + self.error:
            return INTERNAL[service]
        return None


def _fault(start_response, fault, counter=[0]):
    status, content_type, template = fault
    counter[0] += 1
    data = template if isinstance(template, bytes) else template.format(rid=f"gascale-fault-{counter[0]}").encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
              503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


def _json(start_response, value):
    data = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
    return [data]


class RequestLog:
    """Wraps the WSGI app; appends one JSON line per request to a file."""

    def __init__(self, app, path, faults, strict, eip_quota=None):
        self.app = app
        self.strict = strict
        self.eip_quota = eip_quota
        self.lock = threading.Lock()
        self.file = open(path, "a", buffering=1) if path else None
        self.ssm = SsmResults()
        self.parameters = threading.Lock()
        self.dlm = Dlm(DEFAULT_ACCOUNT_ID)
        self.faults = faults

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = _Replay(body)
        if environ.get("PATH_INFO") == "/gascale-test/faults" and environ.get("REQUEST_METHOD") == "POST":
            rates = json.loads(body or b"{}")
            self.faults.set(rates.get("throttle", 0.0), rates.get("error", 0.0), rates.get("seed", 1))
            return _json(start_response, {"ok": True})
        if environ.get("PATH_INFO") == "/gascale-test/iam" and environ.get("REQUEST_METHOD") == "POST":
            # IAM enforcement from now on: moto checks every request's
            # signing key against the IAM policies of its user (actions for
            # every service, bucket and object ARNs for S3; moto
            # core/authorization.py). Until then requests go unchecked, so a
            # test can create its users and keys first.
            from moto import settings
            from moto.core.authorization import ActionAuthenticatorMixin
            enforce = bool(json.loads(body or b"{}").get("enforce", True))
            settings.INITIAL_NO_AUTH_ACTION_COUNT = ActionAuthenticatorMixin.request_count if enforce else float("inf")
            return _json(start_response, {"ok": True})
        if environ.get("PATH_INFO") == "/gascale-test/strict" and environ.get("REQUEST_METHOD") == "POST":
            self.strict.enabled = bool(json.loads(body or b"{}").get("enabled", True))
            return _json(start_response, {"ok": True})
        if environ.get("PATH_INFO") == "/gascale-test/spot-capacity" and environ.get("REQUEST_METHOD") == "POST":
            moto_fixes.SPOT_CAPACITY["available"] = bool(json.loads(body or b"{}").get("available", True))
            return _json(start_response, {"ok": True})
        control = self.ssm.handle(environ, body, start_response)
        if control is not None:
            return control
        service = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
        arrived = time.time()
        fault = self.faults.pick(service)
        method = environ.get("REQUEST_METHOD", "GET")
        record = {
            "t": round(time.time(), 3),
            "arrived": round(arrived, 3),
            "op": Dlm.operation(method, environ.get("PATH_INFO", "")) if service == "dlm"
            else operation_name(environ, body),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "auth": service,
            "key": _access_key(environ.get("HTTP_AUTHORIZATION", "")),
            "fault": fault[0] if fault else None,
        }
        if fault:
            response = _fault(start_response, fault)
        elif service == "dlm":
            response = self.dlm.handle(environ, body, start_response, record["op"], _credential_region(environ))
        else:
            request = Request(environ, body, service, record["op"], _credential_region(environ), DEFAULT_ACCOUNT_ID)
            strict = self.strict.before(request)
            if strict:
                record["strict"] = strict[0]
                response = _fault(start_response, strict)
            else:
                shape = "query" if service in QUERY_SERVICES else "json" if service in JSON_SERVICES else None
                recorder = _Recorder(start_response, shape)
                response = [recorder.finish(_read_all(self.serve(environ, body, recorder, record["op"])))]
                self.strict.after(request, recorder.status, response[0])
        # Written before the answer leaves, so a client that has its answer
        # finds its request in the log; "done" is when the emulator finished.
        if self.file:
            record["done"] = round(time.time(), 3)
            with self.lock:
                self.file.write(json.dumps(record) + "\n")
        return response

    def account_attributes(self, environ, start_response):
        """moto's account attributes with the Elastic IP quota set to
        --eip-quota: a test account whose quota was raised, as busy
        accounts' are (moto answers the default, 5)."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = _read_all(self.app(environ, capture)).decode()
        pattern = r"(<attributeName>vpc-max-elastic-ips</attributeName>.*?<attributeValue>)\d+"
        body = re.sub(pattern, lambda m: m.group(1) + str(self.eip_quota), body, count=1, flags=re.S).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]

    def paginated(self, environ, body, start_response, set_name):
        """moto answers every item at once; AWS pages some describes by
        itself (MaxResults, else 1000 a page, and a NextToken): strict mode
        does too, so a caller that reads one page misses the rest."""
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        size = int(form.get("MaxResults", ["1000"])[0])
        start = int(form.get("NextToken", ["0"])[0] or 0)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        text = _read_all(self.app(environ, capture)).decode()
        opening, closing = f"<{set_name}>", f"</{set_name}>"
        if opening in text:
            head, rest = text.split(opening, 1)
            items, tail = rest.rsplit(closing, 1)
            parts = _top_level_items(items)
            page = parts[start:start + size]
            token = f"<nextToken>{start + size}</nextToken>" if start + size < len(parts) else ""
            text = head + opening + "".join(page) + closing + token + tail
        data = text.encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(data)))])
        return [data]

    def serve(self, environ, body, start_response, op):
        if op == "DescribeAccountAttributes" and self.eip_quota is not None:
            return self.account_attributes(environ, start_response)
        if op == "DescribeSpotInstanceRequests" and self.strict.enabled:
            return self.paginated(environ, body, start_response, "spotInstanceRequestSet")
        if op in ("PutParameter", "DeleteParameter"):
            # SSM creates a parameter without Overwrite atomically: of two
            # creations of one name, one answers ParameterAlreadyExists (SSM
            # API reference, PutParameter). moto checks, then inserts: under
            # its threaded server two creations could both succeed, so
            # parameter writes go one at a time (gascale's lock relies on it).
            with self.parameters:
                return [_read_all(self.app(environ, start_response))]
        if op == "SendCommand":
            self.ssm.record(body)
        elif op == "GetCommandInvocation" and self.ssm.has_result(body):
            # moto answers first, so its IAM enforcement still decides;
            # only an answer it let through is replaced by the test's result.
            captured = {}

            def capture(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers

            moto = _read_all(self.app(environ, capture))
            if not captured["status"].startswith("2"):
                start_response(captured["status"], captured["headers"])
                return [moto]
            return self.ssm.answer(body, start_response)
        return self.app(environ, start_response)


def _top_level_items(xml):
    """The `<item>…</item>` elements of a set, nested items kept inside."""
    items, depth, begin = [], 0, 0
    for m in re.finditer(r"</?item>", xml):
        if m.group(0) == "<item>":
            if depth == 0:
                begin = m.start()
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                items.append(xml[begin:m.end()])
    return items


# Services of the awsQuery protocol: their errors are
# <ErrorResponse><Error>…</Error><RequestId>…</RequestId></ErrorResponse>
# (Smithy awsQuery protocol, "Error responses"). moto answers an IAM
# enforcement denial (core/exceptions.py AccessDeniedError) with EC2's
# <Errors><Error> nesting, which the AWS SDKs for Rust cannot read.
QUERY_SERVICES = {"iam", "sts", "autoscaling"}
# Services of the awsJson protocols answer errors as JSON,
# {"__type": "AccessDeniedException", "message": …} (Smithy awsJson1_1,
# "Operation error serialization"; SSM API reference, "Common errors");
# moto answers an enforcement denial there in XML too.
JSON_SERVICES = {"ssm"}


class _Recorder:
    """A start_response that remembers the status it was given; for the
    awsQuery services it holds the answer back until `finish` mends an
    error's shape."""

    def __init__(self, start_response, shape=None):
        self.start_response = start_response
        self.status = 500
        self.shape = shape
        self.held = None

    def __call__(self, status, headers, exc_info=None):
        self.status = int(status.split(" ", 1)[0])
        if self.shape:
            self.held = (status, headers, exc_info)
            return lambda data: None
        return self.start_response(status, headers, exc_info)

    def finish(self, body):
        if self.held is None:
            return body
        status, headers, exc_info = self.held
        if self.status >= 400 and b"<Errors><Error>" in body:
            if self.shape == "query":
                body = re.sub(rb"<Errors>(<Error>.*?</Error>)</Errors>", rb"\1", body, count=1, flags=re.S)
            else:
                code = re.search(rb"<Code>(.*?)</Code>", body)
                message = re.search(rb"<Message>(.*?)</Message>", body, flags=re.S)
                code = code.group(1).decode() if code else "InternalFailure"
                kind = "AccessDeniedException" if code == "AccessDenied" else code
                body = json.dumps({"__type": kind, "message": message.group(1).decode() if message else ""}).encode()
                headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                headers.append(("Content-Type", "application/x-amz-json-1.1"))
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        self.start_response(status, headers + [("Content-Length", str(len(body)))], exc_info)
        return body


def _read_all(body_iter):
    """The whole body of a response (moto's are small)."""
    body = b"".join(body_iter)
    if hasattr(body_iter, "close"):
        body_iter.close()
    return body


def _access_key(auth):
    """The access key ID a request was signed with (tests sign their own
    arrangements as `setup`, gascale as `testing`)."""
    return auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None


def _credential_region(environ):
    """The region part of a SigV4 credential scope."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return "us-east-1"
    scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    return scope[2] if len(scope) > 2 else "us-east-1"


def _credential_scope(auth):
    """The service part of a SigV4 credential scope, e.g. "ec2"."""
    marker = "Credential="
    if marker not in auth:
        return None
    scope = auth.split(marker, 1)[1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else None


class _Replay:
    def __init__(self, data):
        import io

        self._io = io.BytesIO(data)

    def read(self, *args):
        return self._io.read(*args)

    def readline(self, *args):
        return self._io.readline(*args)

    def __iter__(self):
        return iter(self._io)


class QuietRequestHandler(MotoRequestHandler):
    """No access-log line per request: the request log has every call, and
    formatting a line for each costs the emulator time under its one
    interpreter lock that callers would see as latency."""

    def log_request(self, *args, **kwargs):
        pass


def parent_alive(pid):
    if pid <= 1:
        return True
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def set_vpc_quota(value):
    """Service Quotas' "VPCs per Region" (L-F678F1CE) as GetServiceQuota
    answers it: a test account whose quota was raised, as busy accounts'
    are (moto answers the default, 5, from its list of VPC quotas)."""
    from moto.servicequotas.resources.default_quotas.vpc import VPC_DEFAULT_QUOTAS

    for quota in VPC_DEFAULT_QUOTAS:
        if quota["QuotaCode"] == "L-F678F1CE":
            quota["Value"] = float(value)


def main():
    moto_fixes.apply()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", required=True, help="where to write the chosen port")
    parser.add_argument("--request-log", help="append a JSON line per request here")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    parser.add_argument("--throttle", type=float, default=0.0, help="fraction of requests throttled")
    parser.add_argument("--error", type=float, default=0.0, help="fraction of requests failing with 500")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every request")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault and strict-mode choices")
    parser.add_argument("--strict", action="store_true", help="AWS's eventual consistency and conflicts (strict.py)")
    parser.add_argument("--eip-quota", type=int, help="the account's Elastic IP quota (moto: 5)")
    parser.add_argument("--vpc-quota", type=int, help="the account's VPC quota, 'VPCs per Region' (moto: 5)")
    args = parser.parse_args()
    if args.vpc_quota is not None:
        set_vpc_quota(args.vpc_quota)

    faults = Faults(args.throttle, args.error, args.latency_ms, args.seed)
    strict = Strict(seed=args.seed, enabled=args.strict)
    app = RequestLog(DomainDispatcherApplication(create_backend_app), args.request_log, faults, strict, args.eip_quota)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=QuietRequestHandler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_port))
    os.replace(tmp, args.port_file)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    while not stop.wait(1.0):
        if not parent_alive(args.parent_pid):
            break
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
