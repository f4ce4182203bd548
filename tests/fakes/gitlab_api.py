#!/usr/bin/env python3
"""A fake of the GitLab REST API calls `gascale verify`'s host script makes,
answering as GitLab 19.3 does (docs.gitlab.com/api: runners, projects,
commits, pipelines, jobs, personal_access_tokens), for one scenario:

  gitlab_api.py PORT_FILE CALLS_FILE TOKEN RUNNER_DESCRIPTION SCENARIO

ok, unregistered, offline, down, pending, no-worker, unreachable, no-docker,
cache-denied, job-failed. Every call is appended to CALLS_FILE as
"METHOD PATH"; a call without the PRIVATE-TOKEN header TOKEN gets 401 as from
GitLab. The job logs are shaped like GitLab Runner 19.3's, each message taken
from its source (file named next to it).
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

PROJECT, PIPELINE, WRITE, READ = 41, 410, 4101, 4102

# The start of every job log: gitlab-runner shells/abstract.go and
# executors/docker/docker.go, as a docker-autoscaler job prints them.
PREPARE = """Running with gitlab-runner 19.3.0 (98f3339d)
  on gascale-demo StubToke, system ID: s_0123456789ab
Preparing the "docker-autoscaler" executor
Using Docker executor with image alpine:3.22 ...
Dialing instance i-0aaaabbbbccccdddd...
"""
CONNECTED = """Instance i-0aaaabbbbccccdddd connected
Connected to docker daemon (client version: 1.45, server version: 28.3.3, api version: 1.45, kernel: 6.1.147-172.266.amzn2023.x86_64, os: linux/amd64)
Preparing environment
Getting source from Git repository
"""
# executors/internal/autoscaler/executor.go: the acquisition timeout.
NO_WORKER = PREPARE.replace("Dialing instance i-0aaaabbbbccccdddd...\n", "") + (
    "ERROR: Preparation failed: unable to acquire instance within the configured timeout of 15m0s: "
    "context deadline exceeded\nERROR: Job failed (system failure): unable to acquire instance\n")
# executors/internal/autoscaler/acquisition.go: dialing that never connects.
UNREACHABLE = PREPARE + (
    "ERROR: Preparation failed: dial tcp 10.0.130.17:22: i/o timeout\n"
    "ERROR: Job failed (system failure): preparing environment: dial tcp 10.0.130.17:22: i/o timeout\n")
# The instance answers, its Docker does not (executors/docker/docker.go).
NO_DOCKER = PREPARE + "Instance i-0aaaabbbbccccdddd connected\n" + (
    "ERROR: Failed to remove network for build\n"
    "ERROR: Preparation failed: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
    "Is the docker daemon running?\n")
# shells/abstract.go: a cache the runner could not store is a warning only.
WRITE_NO_CACHE = PREPARE + CONNECTED + (
    "Creating cache gascale-verify-410-protected...\n"
    "verify-cache/: found 1 matching artifact files and directories\n"
    "Uploading cache.zip to https://gascale-demo-123456789012-eu-west-1.s3.dualstack.eu-west-1.amazonaws.com/runner/...\n"
    "WARNING: Retrying...                                  error=received: 403 Forbidden\n"
    "WARNING: Failed to create cache\n"
    "Job succeeded\n")
READ_NO_CACHE = PREPARE + CONNECTED + (
    "Restoring cache\n"
    "Checking cache for gascale-verify-410-protected...\n"
    "WARNING: file does not exist\n"
    "WARNING: Failed to extract cache\n"
    "$ test \"$(cat verify-cache/marker 2>/dev/null)\" = \"$CI_PIPELINE_ID\" || { echo \"gascale-verify: cache missing\"; exit 1; }\n"
    "gascale-verify: cache missing\n"
    "ERROR: Job failed: exit code 1\n")
JOB_FAILED = PREPARE + CONNECTED + "$ mkdir -p verify-cache\nmkdir: can't create directory 'verify-cache': Read-only file system\nERROR: Job failed: exit code 1\n"

# scenario -> (runners, jobs of the pipeline, job logs)
def scenario(name, description):
    runner = {"id": 7, "description": description, "runner_type": "instance_type", "paused": False,
              "is_shared": True, "name": "gitlab-runner", "online": True, "status": "online"}
    done = lambda status_w, status_r: [  # noqa: E731
        {"id": WRITE, "name": "write", "stage": "write", "status": status_w},
        {"id": READ, "name": "read", "stage": "read", "status": status_r}]
    ok_log = PREPARE + CONNECTED + "Job succeeded\n"
    table = {
        "ok": ([runner], done("success", "success"), {WRITE: ok_log, READ: ok_log}),
        "unregistered": ([dict(runner, description="someone else's runner")], [], {}),
        "offline": ([dict(runner, online=False, status="never_contacted")], [], {}),
        "pending": ([runner], done("pending", "created"), {}),
        "no-worker": ([runner], done("failed", "skipped"), {WRITE: NO_WORKER}),
        "unreachable": ([runner], done("failed", "skipped"), {WRITE: UNREACHABLE}),
        "no-docker": ([runner], done("failed", "skipped"), {WRITE: NO_DOCKER}),
        "cache-denied": ([runner], done("success", "failed"), {WRITE: WRITE_NO_CACHE, READ: READ_NO_CACHE}),
        "job-failed": ([runner], done("failed", "skipped"), {WRITE: JOB_FAILED}),
        "down": (None, [], {}),
    }
    return table[name]


def main():
    port_file, calls_file, token, description, name = sys.argv[1:6]
    runners, jobs, logs = scenario(name, description)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self, method):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = urlparse(self.path).path
            with open(calls_file, "a") as f:
                f.write(f"{method} {self.path}\n")
                if body:
                    f.write(f"  body {body.decode()}\n")
            if self.headers.get("PRIVATE-TOKEN") != token:
                return self.answer(401, {"message": "401 Unauthorized"})
            if runners is None:  # GitLab's nginx while Puma is down
                return self.answer(502, "<html><body>502 Whoops, GitLab is taking too much time to respond.</body></html>")
            p = f"/api/v4/projects/{PROJECT}"
            routes = {
                ("GET", "/api/v4/runners/all"): (200, runners),
                ("POST", "/api/v4/projects"): (201, {"id": PROJECT, "path_with_namespace": "root/gascale-verify"}),
                ("POST", f"{p}/repository/commits"): (201, {"id": "0" * 40, "title": "gascale verify"}),
                ("GET", f"{p}/pipelines"): (200, [{"id": PIPELINE, "ref": "main", "status": "running"}]),
                ("GET", f"{p}/pipelines/{PIPELINE}/jobs"): (200, jobs),
                ("DELETE", p): (202, {"message": "202 Accepted"}),
                ("DELETE", "/api/v4/personal_access_tokens/self"): (204, ""),
            }
            for job, log in logs.items():
                routes[("GET", f"{p}/jobs/{job}/trace")] = (200, log)
            status, answer = routes.get((method, path), (404, {"message": "404 Not Found"}))
            return self.answer(status, answer)

        def do_GET(self):
            self.handle_any("GET")

        def do_POST(self):
            self.handle_any("POST")

        def do_DELETE(self):
            self.handle_any("DELETE")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
