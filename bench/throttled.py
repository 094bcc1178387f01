"""A mass sleep against an API server that throttles: `python -m bench.throttled`.

The fake API server (`tests/fake_kube.py --max-in-flight 8`, 25 ms per request) answers 429
`Retry-After: 1` to any request above 8 in flight, as API Priority and Fairness does to a client
whose flow has more requests than seats. `shutdown` of 400 namespaces x 5 Deployments runs with
the default `cluster.concurrency` (32), each run in a fresh process (`bench.scenario`), and
every Deployment is read back. The ceiling is what the server can give: 8 / 25 ms = 320
requests per second; throughput is the requests it served (not the 429s) per second of the
pass, and per second of the patching alone. Prints a table and writes
`bench/results/throttled.json`; exit 1 if a workload was left awake.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import fake
from bench.report import table
from bench.run import Bench

OUT = fake.ROOT / "bench" / "results" / "throttled.json"


def _figures(run: dict[str, Any], ceiling: float) -> dict[str, Any]:
    served = run["requests"] - run["throttled"]
    patches = run["requests_by_kind"].get("PATCH Deployment", 0)
    return {
        "wall_s": round(run["wall_s"], 2),
        "requests_served": served,
        "throttled_429": run["throttled"],
        "failed_workloads": run["workloads"] - run["changed"],
        "verified": run["verified"],
        "served_per_s": round(served / run["wall_s"], 1),
        "share_of_ceiling": round(served / run["wall_s"] / ceiling, 3),
        "patches_per_s": round(patches / run["converge_s"], 1),
        "patch_share_of_ceiling": round(patches / run["converge_s"] / ceiling, 3),
        "limit_lowest": round(run["limit_lowest"], 2),
        "limit_decreases": run["limit_decreases"],
        "cpu_s": round(run["cpu_s"], 2),
        "problems": run["problems"][:3],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throttled", description=__doc__)
    parser.add_argument("--namespaces", type=int, default=400)
    parser.add_argument("--max-in-flight", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    ceiling = args.max_in_flight / args.latency
    OUT.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="nsctl-throttled-") as tmp_name:
        tmp = Path(tmp_name)
        log = OUT.parent / "fake-kube-throttled.log"
        with fake.FakeProcess(args.latency, log, max_in_flight=args.max_in_flight) as server:
            kubeconfig = fake.write_kubeconfig(tmp / "kubeconfig", server.url)
            bench = Bench(server, kubeconfig, tmp)
            # The reference: as many threads as seats, so the server (almost) never says 429.
            reference = _figures(
                bench.scenario(
                    f"{args.namespaces} x 5, {args.max_in_flight} threads (reference)",
                    args.namespaces,
                    args.max_in_flight,
                ),
                ceiling,
            )
            for _ in range(args.repeat):
                run = bench.scenario(
                    f"{args.namespaces} x 5, 429 above {args.max_in_flight}",
                    args.namespaces,
                    args.concurrency,
                )
                runs.append(_figures(run, ceiling))
    summary = {
        "ceiling_per_s": ceiling,
        "median_share_of_ceiling": statistics.median(r["share_of_ceiling"] for r in runs),
        "median_patch_share_of_ceiling": statistics.median(
            r["patch_share_of_ceiling"] for r in runs
        ),
        "failed_workloads": sum(r["failed_workloads"] for r in runs),
        "reference": reference,
        "median_share_of_reference": statistics.median(
            r["served_per_s"] / reference["served_per_s"] for r in runs
        ),
    }
    OUT.write_text(json.dumps({"args": vars(args), "runs": runs, **summary}, indent=2))
    print(
        f"\nThrottled by the server: 429 above {args.max_in_flight} in flight, "
        f"{args.latency * 1000:.0f} ms each (ceiling {ceiling:.0f} requests/s)"
    )
    columns = [
        "wall_s",
        "requests_served",
        "throttled_429",
        "failed_workloads",
        "served_per_s",
        "share_of_ceiling",
        "patches_per_s",
        "patch_share_of_ceiling",
        "limit_lowest",
        "limit_decreases",
        "cpu_s",
    ]
    rows = [[f"C={args.max_in_flight} (reference)", *[reference[c] for c in columns]]]
    rows += [[f"C={args.concurrency}", *[r[c] for c in columns]] for r in runs]
    print(table(["run", *columns], rows))
    print(
        f"median share of the ceiling: {summary['median_share_of_ceiling']:.0%} over the pass, "
        f"{summary['median_patch_share_of_ceiling']:.0%} while patching, "
        f"{summary['median_share_of_reference']:.0%} of the reference's; "
        f"failed workloads: {summary['failed_workloads']}"
    )
    return 0 if summary["failed_workloads"] == 0 and all(r["verified"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
