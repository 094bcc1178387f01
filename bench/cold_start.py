"""Cold start of the CLI beside kubectl: `python -m bench.cold_start [--runs 10]`.

The fake API server (`tests/fake_kube.py`, no latency, no token: kubectl sends no bearer token
over plain HTTP) holds 400 namespaces x 5 Deployments. Each round runs, one after another,
`namespace-ctl status` (reading the whole cluster, then its SQLite file), `kubectl get
deploy,sts,ds,cronjob -A` on the same server (its discovery cache warmed by an uncounted first
run, as a kubectl user's is), and `namespace-ctl --help`; every command is a fresh process,
timed from its start to its exit. Prints the medians and the median of the per-round ratios,
and writes `bench/results/cold_start.json`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import fake
from bench.report import table

OUT = fake.ROOT / "bench" / "results" / "cold_start.json"
CLI = [sys.executable, "-m", "bot.cli"]


def _timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def _commands(tmp: Path, url: str) -> dict[str, list[str]]:
    kubeconfig = fake.write_kubeconfig(tmp / "kubeconfig", url)
    config = tmp / "config.yaml"
    config.write_text(
        f"cluster:\n  kubeconfig: {kubeconfig}\nstore:\n  path: {tmp / 'audit.db'}\n",
        encoding="utf-8",
    )
    commands = {
        "namespace-ctl status": [*CLI, "--config", str(config), "status"],
        "namespace-ctl --help": [*CLI, "--help"],
    }
    kubectl = shutil.which("kubectl")
    if kubectl:
        kinds = "deploy,sts,ds,cronjob"
        commands["kubectl get -A"] = [kubectl, "--kubeconfig", str(kubeconfig), "get", kinds, "-A"]
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=400)
    args = parser.parse_args(argv)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="nsctl-cold-") as tmp_name:
        tmp = Path(tmp_name)
        with fake.FakeProcess(0.0, OUT.parent / "fake-kube-cold.log", token="") as server:
            fake.load_scenario(server.url, args.namespaces, 5)
            commands = _commands(tmp, server.url)
            for command in commands.values():  # warm-up: caches, .pyc files, kubectl discovery
                _timed(command, fake.ROOT)
            for _ in range(args.runs):
                for name, command in commands.items():
                    times.setdefault(name, []).append(_timed(command, fake.ROOT))
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    result: dict[str, object] = {
        "runs": args.runs,
        "namespaces": args.namespaces,
        "medians_s": medians,
        "samples_s": times,
    }
    rows = [
        [name, f"{medians[name]:.3f}", f"{min(s):.3f}", f"{max(s):.3f}"]
        for name, s in times.items()
    ]
    print(
        f"\nCold start, {args.namespaces} x 5 Deployments on a fake API server on 127.0.0.1, "
        f"{args.runs} rounds (fresh processes)"
    )
    print(table(["command", "median s", "min s", "max s"], rows))
    if "kubectl get -A" in times:
        ratios = [
            a / b
            for a, b in zip(times["namespace-ctl status"], times["kubectl get -A"], strict=True)
        ]
        result["status_over_kubectl"] = statistics.median(ratios)
        print(
            f"namespace-ctl status / kubectl get -A: median of the per-round ratios "
            f"{statistics.median(ratios):.2f}x"
        )
    else:
        print("kubectl is not installed: no side-by-side ratio")
    OUT.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
