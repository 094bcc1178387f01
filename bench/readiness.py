"""What following a morning's wake costs: `python -m bench.readiness [--rounds 5]`.

The fake API server (its own process, 25 ms per request) holds 2,000 namespaces x 5 Deployments,
all woken; `core.readiness.assess` checks all 2,000 namespaces (10,000 workloads), as the
`wake-readiness` job does every 15 s until they are ready. Each round is timed (wall, this
process's CPU, the fake's requests). Then the same with 20 namespaces past their deadline and
not ready, whose pods are read to say why. Prints the medians and writes
bench/results/readiness.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import fake
from bench.report import table

OUT = fake.ROOT / "bench" / "results" / "readiness.json"
NAMESPACES, PER_NAMESPACE = 2000, 5
LATENCY = 0.025
NOT_READY = 20


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _waking(deadline: int) -> list[Any]:
    from core.models import WorkloadKind, WorkloadRef
    from core.readiness import Waking

    return [
        Waking(
            namespace=fake.namespace_name(i),
            wake="bench",
            woken_at=0,
            deadline=deadline,
            workloads=tuple(
                WorkloadRef(
                    kind=WorkloadKind.DEPLOYMENT, namespace=fake.namespace_name(i), name=f"app-{j}"
                )
                for j in range(PER_NAMESPACE)
            ),
        )
        for i in range(NAMESPACES)
    ]


def _round(cluster: Any, url: str, waking: list[Any], at: int) -> dict[str, float]:
    from core.readiness import assess

    fake.reset_counters(url)
    cpu, started = _cpu(), time.perf_counter()
    checks = assess(cluster, waking, at)
    wall = time.perf_counter() - started
    stats = fake.stats(url)
    return {
        "wall_s": wall,
        "cpu_s": _cpu() - cpu,
        "requests": stats["total"],
        "not_ready": sum(1 for c in checks.values() if not c.done),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.readiness", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from core.cluster.kube import KubeCluster
    from core.config import ClusterSettings

    results: dict[str, Any] = {"namespaces": NAMESPACES, "per_namespace": PER_NAMESPACE}
    with tempfile.TemporaryDirectory() as tmp:
        server = fake.FakeProcess(LATENCY, Path(tmp) / "fake.log")
        server.start()
        try:
            fake.load_scenario(server.url, NAMESPACES, PER_NAMESPACE)
            kubeconfig = fake.write_kubeconfig(Path(tmp) / "kubeconfig", server.url)
            cluster = KubeCluster(ClusterSettings(kubeconfig=str(kubeconfig)))
            # Every Deployment of the scenario runs 2 replicas, all ready: the check's reads.
            results["all_ready"] = [
                _round(cluster, server.url, _waking(10**10), 0) for _ in range(args.rounds)
            ]
            # Past the deadline, 20 namespaces not ready (replicas held back by the fake):
            # their pods are read too.
            for i in range(NOT_READY):
                for j in range(PER_NAMESPACE):
                    body = {
                        "kind": "Deployment",
                        "namespace": fake.namespace_name(i),
                        "name": f"app-{j}",
                        "ready": 0,
                    }
                    fake._call(server.url, "POST", "/_admin/hold_ready", body)
            results["some_not_ready"] = [
                _round(cluster, server.url, _waking(0), 1) for _ in range(args.rounds)
            ]
            cluster.close()
        finally:
            server.stop()
    rows = []
    for name in ("all_ready", "some_not_ready"):
        runs = results[name]
        rows.append(
            [
                name.replace("_", " "),
                f"{statistics.median(r['wall_s'] for r in runs):.2f}",
                f"{statistics.median(r['cpu_s'] for r in runs):.2f}",
                f"{statistics.median(r['requests'] for r in runs):.0f}",
                f"{statistics.median(r['not_ready'] for r in runs):.0f}",
            ]
        )
    print(
        f"One readiness check of {NAMESPACES:,} woken namespaces x {PER_NAMESPACE} Deployments "
        f"({LATENCY * 1000:.0f} ms per request), median of {args.rounds}:"
    )
    print(table(["check", "wall s", "CPU s", "requests", "not ready"], rows))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"written {OUT.relative_to(fake.ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
