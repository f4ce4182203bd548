"""gascale's benchmark; run through scripts/bench (see there)."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import boto3

import bench_bootstrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, "target", "release", "gascale")
OUT = os.path.join(ROOT, "target", "bench")
READ_PREFIXES = ("Describe", "Get", "List", "Head", "S3:GET", "S3:HEAD")
# The deployment's lock (and intents) in SSM: taken and released by every
# `up` and `destroy`, no-op or not; counted apart from the deployment's changes.
LOCK_OPS = ("PutParameter", "DeleteParameter")


def start_emulator(latency_ms):
    emu_dir = os.path.join(OUT, "emulator")
    subprocess.run([os.path.join(ROOT, "scripts", "aws-emulator"), "stop", "--dir", emu_dir], check=False)
    endpoint = subprocess.run(
        [os.path.join(ROOT, "scripts", "aws-emulator"), "start", "--dir", emu_dir,
         "--parent-pid", str(os.getpid()), "--latency-ms", str(latency_ms),
         # Several deployments live at once: an account with a raised quota.
         "--eip-quota", "1000", "--vpc-quota", "1000"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return endpoint, os.path.join(emu_dir, "requests.jsonl")


def requests(log):
    with open(log) as f:
        return [json.loads(line) for line in f if '"/moto-api/' not in line]


class Gascale:
    def __init__(self, endpoint, log, workdir):
        self.log = log
        self.workdir = workdir
        self.around = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GASCALE_"))}
        self.env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true",
                        AWS_ENDPOINT_URL=endpoint, AWS_CONFIG_FILE="/nonexistent", NO_COLOR="1")

    def run(self, args, config):
        """Runs gascale; returns wall seconds, peak RSS (KiB), stdout and the
        (read, mutating) calls it made."""
        before = len(requests(self.log))
        stats = os.path.join(self.workdir, "time.txt")
        started, since = time.perf_counter(), time.time()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", stats, BINARY, "-f", config, *args],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"bench: gascale {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        with open(stats) as f:
            rss = int(f.read().split()[-1])
        calls = requests(self.log)[before:]
        ops = [r["op"] for r in calls]
        changes = [r for r in calls if not r["op"].startswith(READ_PREFIXES) and r["op"] not in LOCK_OPS]
        mutating = len(changes)
        # Where the time outside the deployment's changes went: from the
        # start to the first change (lock, discovery, preflight) and from the
        # last change to the exit (intents, lock release).
        self.around = (changes[0]["arrived"] - since, since + wall - max(r["done"] for r in changes)) if changes else None
        return wall, rss, proc.stdout, (len(ops) - mutating, mutating)


def machine_name(name, i):
    """A worker's name as GitLab Runner and docker-machine make it (the same
    sources as tests/integration/runner.rs): "runner-" + the glrt token's
    characters 5..14 + "-" + MachineName (`gsc-<name>-%s` in the rendered
    config.toml) with %s = "<unix time>-<4 random bytes in hex>"."""
    return f"runner-benchtoken-gsc-{name}-{1733140000 + i}-{i:08x}"


def launch_workers(endpoint, name, outputs, count):
    ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="eu-west-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="eu-west-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")
    image = ssm.get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    for i in range(count):
        machine = machine_name(name, i)
        ec2.create_key_pair(KeyName=machine)
        tags = [{"Key": "gascale:deployment", "Value": name}, {"Key": "gascale:managed-by", "Value": "gascale"},
                {"Key": "gascale:role", "Value": "worker"}, {"Key": "Name", "Value": machine}]
        ec2.run_instances(ImageId=image, InstanceType="t3.small", MinCount=1, MaxCount=1, KeyName=machine,
                          SubnetId=outputs["private_subnet_ids"][0],
                          SecurityGroupIds=[outputs["worker_security_group_id"]],
                          InstanceMarketOptions={"MarketType": "spot"},
                          TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])


def bound(plan_json, latency):
    return plan_json["critical_path"]["calls"] * latency / 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rows = {k: [] for k in ("up fresh", "up no-op", "up no-op 50 workers", "destroy 0 workers", "destroy 50 workers")}
    peak, around = [], []
    for run in range(args.runs):
        # A fresh emulator per run, so every run meets the same conditions,
        # warmed up by a throwaway deployment: moto initialises much of
        # itself on first use, which is the emulator's cost, not gascale's.
        endpoint, log = start_emulator(args.latency_ms)
        work = tempfile.mkdtemp(prefix="gascale-bench-")
        g = Gascale(endpoint, log, work)
        warm = os.path.join(work, "warm.yaml")
        with open(warm, "w") as f:
            f.write(f"metadata: {{name: warm{run}, region: eu-west-1}}\n")
        g.run(["up", "--no-wait"], warm)
        g.run(["destroy", "--yes"], warm)
        name = f"bench{os.getpid() % 1000}r{run}"
        config = os.path.join(work, "gascale.yaml")
        with open(config, "w") as f:
            f.write(f"metadata: {{name: {name}, region: eu-west-1}}\n")
        _, _, out, _ = g.run(["plan", "--output", "json"], config)
        fresh_bound = bound(json.loads(out), args.latency_ms)
        wall, rss, out, calls = g.run(["up", "--no-wait", "--output", "json"], config)
        peak.append(rss)
        rows["up fresh"].append((wall, calls, fresh_bound))
        around.append(g.around)
        _, _, out_plan, _ = g.run(["plan", "--output", "json"], config)
        wall, rss, out, calls = g.run(["up", "--no-wait", "--output", "json"], config)
        rows["up no-op"].append((wall, calls, bound(json.loads(out_plan), args.latency_ms)))

        for workers, key in ((0, "destroy 0 workers"), (50, "destroy 50 workers")):
            if workers:
                _, _, out, _ = g.run(["up", "--no-wait", "--output", "json"], config)
                launch_workers(endpoint, name, json.loads(out), workers)
                # The runner's workers cost a no-op up nothing.
                wall, _, _, calls = g.run(["up", "--no-wait", "--output", "json"], config)
                rows["up no-op 50 workers"].append((wall, calls, bound(json.loads(out_plan), args.latency_ms)))
            _, _, plan, _ = g.run(["destroy", "--dry-run", "--output", "json"], config)
            wall, _, _, calls = g.run(["destroy", "--yes"], config)
            rows[key].append((wall, calls, bound(json.loads(plan), args.latency_ms)))

    def median(values):
        return statistics.median(values)

    report = {"latency_ms": args.latency_ms, "runs": args.runs, "commands": {}}
    print(f"{'command':<20} {'wall s':>8} {'reads':>6} {'writes':>7} {'bound s':>8} {'wall/bound':>10}")
    for key, samples in rows.items():
        wall = median([s[0] for s in samples])
        reads = median([s[1][0] for s in samples])
        writes = median([s[1][1] for s in samples])
        floor = median([s[2] for s in samples])
        ratio = wall / floor if floor else float("nan")
        report["commands"][key] = {"wall_s": round(wall, 3), "read_calls": reads, "mutating_calls": writes,
                                   "bound_s": round(floor, 3), "wall_over_bound": round(ratio, 2),
                                   "wall_s_each_run": [round(s[0], 3) for s in samples]}
        each = " ".join(f"{s[0]:.2f}" for s in samples)
        print(f"{key:<20} {wall:>8.2f} {reads:>6} {writes:>7} {floor:>8.2f} {ratio:>10.2f}   runs: {each}")
    before, after = median([a[0] for a in around]), median([a[1] for a in around])
    report["up_fresh_before_first_change_s"], report["up_fresh_after_last_change_s"] = round(before, 3), round(after, 3)
    print(f"up fresh: {before:.2f} s before its first change (lock, discovery, preflight), "
          f"{after:.2f} s after its last (lock release); the bound counts neither")
    starts = []
    for _ in range(30):
        t = time.perf_counter()
        subprocess.run([BINARY, "--version"], check=True, capture_output=True)
        starts.append(time.perf_counter() - t)
    report["binary_bytes"] = os.path.getsize(BINARY)
    report["version_ms"] = round(median(starts) * 1000, 2)
    report["up_peak_rss_kib"] = max(peak)
    print(f"release binary: {report['binary_bytes'] / 2**20:.1f} MiB; `gascale --version`: {report['version_ms']} ms (median of 30); "
          f"peak memory of up: {report['up_peak_rss_kib'] / 1024:.1f} MiB")
    c = report["commands"]
    targets = {
        "up fresh wall <= 1.3 x bound": c["up fresh"]["wall_over_bound"] <= 1.3,
        "up no-op: 0 mutating calls": c["up no-op"]["mutating_calls"] == 0,
        "up no-op: <= 30 read calls": c["up no-op"]["read_calls"] <= 30,
        "up no-op with 50 workers: 0 mutating, the same reads": c["up no-op 50 workers"]["mutating_calls"] == 0
        and c["up no-op 50 workers"]["read_calls"] == c["up no-op"]["read_calls"],
        "up no-op wall <= 1.5 s": c["up no-op"]["wall_s"] <= 1.5,
        # Each worker has its key pair (docker-machine's createKeyPair), and
        # EC2 deletes key pairs one a call (DeleteKeyPair takes one name):
        # 50 of those, and at most 10 calls more besides.
        "destroy 50 workers within +10 calls of 0, key pairs aside": (c["destroy 50 workers"]["read_calls"] + c["destroy 50 workers"]["mutating_calls"])
        <= (c["destroy 0 workers"]["read_calls"] + c["destroy 0 workers"]["mutating_calls"]) + 10 + 50,
        "peak memory of up <= 64 MiB": report["up_peak_rss_kib"] <= 64 * 1024,
        "gascale --version <= 15 ms": report["version_ms"] <= 15,
        "release binary <= 40 MiB": report["binary_bytes"] <= 40 * 2**20,
    }
    boot = bench_bootstrap.bench(BINARY)
    report["bootstrap"] = boot
    print(f"bootstrap at {boot['scale']} x real durations (sources: bench.json): step graph {boot['wall_s']:.2f} s, "
          f"one step at a time {boot['serial_wall_s']:.2f} s, critical path {boot['critical_path_s']:.2f} s")
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in boot["steps_s"].items()))
    targets["bootstrap wall <= 1.1 x its critical path"] = boot["wall_over_critical_path"] <= 1.1
    targets["bootstrap >= 25% faster than one step at a time"] = boot["saved_vs_serial"] >= 0.25
    report["targets"] = targets
    for name, ok in targets.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    with open(os.path.join(OUT, "bench.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"written {os.path.join(OUT, 'bench.json')}")
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
