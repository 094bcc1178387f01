"""Failover of two `serve` replicas with the default election timings (lease 15 s, renew
deadline 10 s, retry 2 s), and the Lease requests the election adds per minute.

    .venv/bin/python -m bench.failover [--runs 5]

Each run: the leader is stopped (SIGTERM: it releases the Lease; SIGKILL: the Lease must run out)
and the time until the Lease names the other replica is measured; a fresh replica (a new pod
name, as a new pod has) is then started as the next follower. Runs alternate SIGKILL and SIGTERM.
The same fake API server, moto DynamoDB and fake Slack as `tests/test_leader_election.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.replicas import (
    Replica,
    World,
    get_json,
    replica_world,
    start_replica,
    wait_until,
)

NOW = "2026-12-01T12:00"  # business hours: no pass but the reconciles
DEFAULT_TIMING = ("15s", "10s", "2s")
STEADY_SECONDS = 30.0
RETRY_SECONDS = 2.0


def lease_requests(world: World) -> int:
    stats = world.fake.stats()["requests"]
    return sum(n for key, n in stats.items() if key.endswith(" Lease"))


def follower_ready(replica: Replica) -> bool:
    status, body = get_json(replica.url + "/readyz")
    return status == 200 and body.get("leader", {}).get("this_replica") is False


def measure(runs: int, tmp: Path) -> dict[str, Any]:
    took: dict[str, list[float]] = {"SIGKILL": [], "SIGTERM": []}
    with replica_world(tmp, DEFAULT_TIMING) as world:
        serial = iter(range(1, 1000))
        alive = [start_replica(world, f"replica-{next(serial)}", NOW)]
        wait_until(lambda: world.holder() == alive[0].name, 30, "the first leader")
        alive.append(start_replica(world, f"replica-{next(serial)}", NOW))
        wait_until(lambda: follower_ready(alive[1]), 30, "the follower ready")
        before, started = lease_requests(world), time.monotonic()
        time.sleep(STEADY_SECONDS)
        per_minute = (lease_requests(world) - before) * 60 / (time.monotonic() - started)
        try:
            for run in range(runs * 2):
                how = "SIGKILL" if run % 2 == 0 else "SIGTERM"
                # A random phase against the follower's polls (else every run is the worst case).
                time.sleep(random.uniform(0, RETRY_SECONDS))
                leader = next(r for r in alive if r.name == world.holder())
                other = next(r for r in alive if r is not leader)
                if how == "SIGKILL":
                    leader.proc.kill()
                else:
                    leader.proc.terminate()
                took[how].append(
                    wait_until(lambda o=other: world.holder() == o.name, 60, f"{how} failover")
                )
                leader.proc.wait(30)
                print(f"{how}: {other.name} leads after {took[how][-1]:.2f} s", flush=True)
                alive = [other, start_replica(world, f"replica-{next(serial)}", NOW)]
                wait_until(lambda n=alive[1]: follower_ready(n), 30, "the new follower ready")
        finally:
            for replica in alive:
                replica.proc.kill()
                replica.proc.wait(10)
    return {
        "timing": dict(
            zip(("lease_duration", "renew_deadline", "retry_period"), DEFAULT_TIMING, strict=True)
        ),
        "runs": runs,
        "sigkill_seconds": took["SIGKILL"],
        "sigterm_seconds": took["SIGTERM"],
        "sigkill_median": statistics.median(took["SIGKILL"]) if took["SIGKILL"] else None,
        "sigterm_median": statistics.median(took["SIGTERM"]) if took["SIGTERM"] else None,
        "lease_requests_per_minute_two_replicas": round(per_minute, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="SIGKILL and SIGTERM runs each")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nsctl-failover-") as tmp:
        results = measure(args.runs, Path(tmp))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "failover.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(
        f"failover (lease 15s, renew 10s, retry 2s), median of {args.runs}: "
        f"SIGKILL {results['sigkill_median']:.2f} s, SIGTERM {results['sigterm_median']:.2f} s; "
        f"Lease requests per minute, two replicas: "
        f"{results['lease_requests_per_minute_two_replicas']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
