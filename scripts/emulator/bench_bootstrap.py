"""The host's bootstrap at a scale of real durations (run by bench.py).

The rendered user-data of examples/minimal.yaml runs on the tests' stub host
(tests/stubs, tests/stub-lib/takes.sh), each stubbed program taking its real
duration times SCALE: once as the bootstrap runs it (its step graph), once
one step at a time in the old order (GASCALE_BOOTSTRAP_SERIAL). The critical
path is the longest chain of the step graph (NEEDS in the user-data) with
the durations the graph run measured.
"""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Real seconds each stubbed program takes on a fresh host, and why.
# "estimate": no published figure was found; the reasoning is given.
REAL_SECONDS = {
    "dnf": (30, "estimate: `dnf install docker` on AL2023 fetches Docker and containerd, ~100 MB from the "
                "regional AL2023 repository, then installs them"),
    "compose-download": (5, "estimate: the compose plugin release, ~70 MB from GitHub releases"),
    "mkfs": (3, "estimate: mkfs.xfs of an empty 100 GB gp3 volume writes only metadata"),
    "gitlab-pull": (90, "estimate: gitlab/gitlab-ee is well over a gigabyte compressed (issue 17), pulled "
                        "and extracted on a gp3 root disk"),
    "gitlab-start": (300, "GitLab's first reconfigure and start: 'a restart used to take around 5 minutes' "
                          "(gitlab-org/gitlab#432557); 'several minutes for each service to be ready' "
                          "(gitlab-org/gitlab-qa!921)"),
    "gitlab-migrated": (260, "estimate: Omnibus's reconfigure migrates the database before it configures "
                             "Puma (omnibus-gitlab 19.3 recipes/default.rb), and Puma then boots the Rails "
                             "application, 'about 40 seconds to load webservice-ee' (gitlab-org/build/CNG!1748): "
                             "the first start's 300 s less that boot, taking none of reconfigure's own work after "
                             "the migration into account"),
    "rails-runner": (40, "`gitlab-rails runner` boots the same Rails application before it runs the script: "
                         "'about 40 seconds to load webservice-ee' (gitlab-org/build/CNG!1748)"),
    "runner-build": (45, "estimate: `docker compose build --pull runner` pulls gitlab/gitlab-runner "
                         "(~150 MB) and adds docker-machine and the fleeting plugin"),
}


def render(binary, out):
    subprocess.run([binary, "-f", os.path.join(ROOT, "examples", "minimal.yaml"), "--region", "eu-west-1",
                    "render", "--offline", "--out", out], check=True, capture_output=True)
    with open(os.path.join(out, "user-data.sh")) as f:
        return f.read()


def run(user_data, scale, serial):
    """Runs the bootstrap once; returns (the process's wall seconds, the
    steps' wall seconds from the first start to the last end, {step: seconds})."""
    host = tempfile.mkdtemp(prefix="gascale-bootstrap-bench-")
    for d in ("root", "stub"):
        os.makedirs(os.path.join(host, d))
    open(os.path.join(host, "dev-sdf"), "w").close()
    plugin = "stub compose plugin\n"
    with open(os.path.join(host, "compose-download"), "w") as f:
        f.write(plugin)
    # The stub's plugin is not Docker's release: the script expects its checksum.
    digest = hashlib.sha256(plugin.encode()).hexdigest()
    script = re.sub(r"^COMPOSE_SHA256=.*$", f"COMPOSE_SHA256='{digest}'", user_data, count=1, flags=re.M)
    path = os.path.join(host, "user-data.sh")
    with open(path, "w") as f:
        f.write(script)
    env = {
        "PATH": f"{os.path.join(ROOT, 'tests', 'stubs')}:/usr/bin:/bin",
        "HOME": host,
        "GASCALE_ROOT": os.path.join(host, "root"),
        "GASCALE_DATA_DEVICE": os.path.join(host, "dev-sdf"),
        "STUB_DIR": os.path.join(host, "stub"),
        "STUB_READINESS": "ok",
        "STUB_COMPOSE_DOWNLOAD": os.path.join(host, "compose-download"),
        "STUB_SECONDS": ",".join(f"{k}={v * scale:.3f}" for k, (v, _) in REAL_SECONDS.items()),
        "STUB_SLEEP_SCALE": str(scale),
    }
    if serial:
        env["GASCALE_BOOTSTRAP_SERIAL"] = "1"
    started = time.perf_counter()
    proc = subprocess.run(["bash", path], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: the bootstrap failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    steps_dir = os.path.join(host, "root", "var", "lib", "gascale", "steps")
    steps, first, last = {}, float("inf"), 0.0
    for name in os.listdir(steps_dir):
        if name.endswith(".start"):
            step = name[:-len(".start")]
            with open(os.path.join(steps_dir, name)) as a, open(os.path.join(steps_dir, step + ".end")) as b:
                begin, end = float(a.read()), float(b.read())
            steps[step] = end - begin
            first, last = min(first, begin), max(last, end)
    shutil.rmtree(host)
    return wall, last - first, steps


def critical_path(user_data, seconds):
    """The longest chain through NEEDS with each step's duration."""
    needs = {m.group(1): m.group(2).split() for m in re.finditer(r'\[([a-z-]+)\]="([^"]*)"', user_data)}
    memo = {}

    def finish(step):
        if step not in memo:
            memo[step] = seconds.get(step, 0.0) + max((finish(n) for n in needs.get(step, [])), default=0.0)
        return memo[step]

    return max(finish(s) for s in needs)


def bench(binary, scale=0.01):
    out = tempfile.mkdtemp(prefix="gascale-bootstrap-render-")
    user_data = render(binary, out)
    shutil.rmtree(out)
    process_wall, graph_wall, graph_steps = run(user_data, scale, serial=False)
    serial_process_wall, serial_wall, _ = run(user_data, scale, serial=True)
    path = critical_path(user_data, graph_steps)
    return {
        "scale": scale,
        "wall_s": round(graph_wall, 3),
        "serial_wall_s": round(serial_wall, 3),
        "process_wall_s": round(process_wall, 3),
        "serial_process_wall_s": round(serial_process_wall, 3),
        "critical_path_s": round(path, 3),
        "wall_over_critical_path": round(graph_wall / path, 3),
        "saved_vs_serial": round(1 - graph_wall / serial_wall, 3),
        "steps_s": {k: round(v, 3) for k, v in sorted(graph_steps.items())},
        "real_seconds": {k: {"seconds": v, "source": why} for k, (v, why) in REAL_SECONDS.items()},
    }
