"""Amazon Data Lifecycle Manager, which moto does not emulate: the five calls
gascale makes, in memory, over DLM's REST-JSON protocol, with the checks the
API reference documents (DLM API reference, CreateLifecyclePolicy,
UpdateLifecyclePolicy, GetLifecyclePolicies, GetLifecyclePolicy,
DeleteLifecyclePolicy, TagResource; data types PolicyDetails, CreateRule,
RetainRule): required members, CreateRule's Interval in 1, 2, 3, 4, 6, 8,
12, 24 HOURS or a CronExpression (not both), RetainRule's Count in 1–1000,
and ResourceNotFoundException for an unknown policy. It takes no snapshots.
"""

import json
import secrets
import threading
import urllib.parse

INTERVALS = {1, 2, 3, 4, 6, 8, 12, 24}


class Dlm:
    def __init__(self, account):
        self.account = account
        self.lock = threading.Lock()
        self.policies = {}

    @staticmethod
    def operation(method, path):
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["tags"]:
            return {"POST": "TagResource", "DELETE": "UntagResource", "GET": "ListTagsForResource"}.get(method, "")
        if parts == ["policies"]:
            return {"POST": "CreateLifecyclePolicy", "GET": "GetLifecyclePolicies"}.get(method, "")
        if len(parts) == 2 and parts[0] == "policies":
            return {"GET": "GetLifecyclePolicy", "PATCH": "UpdateLifecyclePolicy",
                    "DELETE": "DeleteLifecyclePolicy"}.get(method, "")
        return ""

    def handle(self, environ, body, start_response, op, region):
        path = environ.get("PATH_INFO", "")
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        request = json.loads(body or b"{}") if body else {}
        with self.lock:
            try:
                answer = getattr(self, op)(parts, request, environ, region)
            except DlmError as e:
                return _answer(start_response, e.status, {"Message": e.message, "Code": e.code}, e.code)
            except AttributeError:
                return _answer(start_response, 400, {"Message": f"unknown operation {path}"}, "InvalidRequestException")
        return _answer(start_response, 200, answer)

    def CreateLifecyclePolicy(self, parts, r, environ, region):
        for member in ("ExecutionRoleArn", "Description", "State", "PolicyDetails"):
            if member not in r:
                raise DlmError(400, "InvalidRequestException", f"{member} is required")
        _check_details(r["PolicyDetails"])
        policy_id = "policy-" + secrets.token_hex(9)[:17]
        self.policies[policy_id] = {
            "PolicyId": policy_id,
            "PolicyArn": f"arn:aws:dlm:{region}:{self.account}:policy/{policy_id}",
            "Description": r["Description"],
            "State": r["State"],
            "ExecutionRoleArn": r["ExecutionRoleArn"],
            "PolicyDetails": r["PolicyDetails"],
            "Tags": dict(r.get("Tags") or {}),
        }
        return {"PolicyId": policy_id}

    def _policy(self, policy_id):
        if policy_id not in self.policies:
            raise DlmError(404, "ResourceNotFoundException", f"policy {policy_id} not found")
        return self.policies[policy_id]

    def GetLifecyclePolicy(self, parts, r, environ, region):
        return {"Policy": self._policy(parts[1])}

    def UpdateLifecyclePolicy(self, parts, r, environ, region):
        policy = self._policy(parts[1])
        if "PolicyDetails" in r:
            _check_details(r["PolicyDetails"])
        for member in ("ExecutionRoleArn", "Description", "State", "PolicyDetails"):
            if member in r:
                policy[member] = r[member]
        return {}

    def DeleteLifecyclePolicy(self, parts, r, environ, region):
        self._policy(parts[1])
        del self.policies[parts[1]]
        return {}

    def TagResource(self, parts, r, environ, region):
        arn = "/".join(parts[1:])
        match = [p for p in self.policies.values() if p["PolicyArn"] == arn]
        if not match:
            raise DlmError(404, "ResourceNotFoundException", f"{arn} not found")
        match[0]["Tags"].update(r.get("Tags") or {})
        return {}

    def GetLifecyclePolicies(self, parts, r, environ, region):
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        wanted = set(query.get("targetTags", []))
        found = []
        for p in self.policies.values():
            targets = {f"{t['Key']}={t['Value']}" for t in p["PolicyDetails"].get("TargetTags", [])}
            if wanted and not wanted & targets:
                continue
            found.append({k: p[k] for k in ("PolicyId", "Description", "State", "Tags")}
                         | {"PolicyType": p["PolicyDetails"].get("PolicyType", "EBS_SNAPSHOT_MANAGEMENT")})
        return {"Policies": found}


class DlmError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _check_details(details):
    for schedule in details.get("Schedules", []):
        create = schedule.get("CreateRule", {})
        if ("Interval" in create) == ("CronExpression" in create):
            raise DlmError(400, "InvalidRequestException", "CreateRule needs an Interval or a CronExpression")
        if "Interval" in create and (create["Interval"] not in INTERVALS or create.get("IntervalUnit") != "HOURS"):
            raise DlmError(400, "InvalidRequestException", f"CreateRule Interval {create['Interval']} is not allowed")
        retain = schedule.get("RetainRule", {})
        if "Count" in retain and not 1 <= retain["Count"] <= 1000:
            raise DlmError(400, "InvalidRequestException", f"RetainRule Count {retain['Count']} is not in 1-1000")


def _answer(start_response, status, value, error=None):
    data = json.dumps(value).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    if error:
        headers.append(("x-amzn-ErrorType", error))
    start_response(f"{status} {reason}", headers)
    return [data]
