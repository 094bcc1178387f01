"""`GET /api/v1/namespaces` with 2,000 namespaces: latency idle and during a mass sleep.

`.venv/bin/python -m bench.api_namespaces` (about a minute; `--namespaces 200` for a quick run).

The REST API served for real (waitress on 127.0.0.1) over the simulated cluster (2,000 team
namespaces, a Deployment and a StatefulSet each) and a SQLite file. Measures `--requests` GETs
one after another while idle, then the same while another thread runs the 20:00 shutdown of
every namespace (the answer's size too). As `serve` answers: from what the last pass read (a
reconcile an hour before), kept current with the shutdown's own patches; `--fresh` reads the
cluster at every GET, as before issue 14. Prints a table and writes
`bench/results/api_namespaces.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from bench.report import table
from bot.api import install_api
from bot.serve import HttpServer
from tests.api_fixtures import Api, api_tokens
from tests.builders import team_namespace
from tests.harness import madrid, make_harness

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "api_namespaces.json"
EVENING = madrid(2026, 12, 1, 20)


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _timed_gets(api: Api, count: int, stop: threading.Event | None = None) -> list[float]:
    samples = []
    for _ in range(count):
        if stop is not None and stop.is_set():
            break
        begin = time.perf_counter()
        answer = api.get("/namespaces", role="viewer")
        samples.append(time.perf_counter() - begin)
        assert answer.status == 200, answer.text
    return samples


def run(namespaces: int, requests: int, fresh: bool = False) -> dict[str, Any]:
    objects = [o for i in range(namespaces) for o in team_namespace(f"team-{i:05d}")]
    with tempfile.TemporaryDirectory() as tmp:
        h = make_harness(Path(tmp), objects, at=EVENING, api={"tokens": api_tokens()})
        if not fresh:  # as `serve` does: answers from what the last pass read
            h.ctl.schedule.serve_status_from_last_pass()
            h.service.reconcile(at=h.clock.now() - timedelta(hours=1))  # the day's last pass
        server = HttpServer(install_api(Flask("bench"), h.ctl), "127.0.0.1", 0)
        server.start()
        try:
            api = Api(h, server.port)
            size = len(api.get("/namespaces", role="viewer").text)
            idle = _timed_gets(api, requests)
            done = threading.Event()
            took: list[float] = []

            def mass_sleep() -> None:
                begin = time.perf_counter()
                h.service.shutdown(at=EVENING)
                took.append(time.perf_counter() - begin)
                done.set()

            sleeper = threading.Thread(target=mass_sleep)
            sleeper.start()
            during = _timed_gets(api, requests, stop=done)
            sleeper.join()
        finally:
            server.stop()
            h.store.close()
    return {
        "reads": "the cluster at every GET (the CLI's way)" if fresh else "the last pass",
        "namespaces": namespaces,
        "answer_bytes": size,
        "idle": _percentiles(idle),
        "during_mass_sleep": _percentiles(during),
        "mass_sleep_seconds": round(took[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument(
        "--fresh", action="store_true", help="read the cluster at every GET (before issue 14)"
    )
    args = parser.parse_args()
    result = run(args.namespaces, args.requests, args.fresh)
    rows = [
        [phase, *(result[phase][k] for k in ("requests", "p50_ms", "p95_ms", "max_ms"))]
        for phase in ("idle", "during_mass_sleep")
    ]
    print(
        f"GET /api/v1/namespaces from {result['reads']}, {result['namespaces']} namespaces, "
        f"{result['answer_bytes']} bytes; mass sleep {result['mass_sleep_seconds']} s"
    )
    print(table(["phase", "requests", "p50 ms", "p95 ms", "max ms"], rows))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
