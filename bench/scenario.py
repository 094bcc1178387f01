"""One benchmark scenario in its own process: `python -m bench.scenario --url ... --out ...`.

Loads the scenario into the fake (reset first), assembles the real `NamespaceService` (as
tests/harness.make_service does) over `KubeCluster` and a `SqliteStore` in a temporary
directory, runs one `shutdown` at a weekday 20:00 in Madrid, and writes its figures as JSON.
Everything measured (wall, CPU, requests, peak RSS) is this process's own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import fake

# The loading happens before the heavy imports: its transient memory is reused by the run.


def _timed_proxy(target: Any, names: set[str], totals: dict[str, list[float]]) -> Any:
    """`target` with the named methods timed (wall seconds, calls); everything else forwarded."""

    class Proxy:
        def __getattr__(self, name: str) -> Any:
            attr = getattr(target, name)
            if name not in names:
                return attr

            def timed(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return attr(*args, **kwargs)
                finally:
                    entry = totals[name]
                    entry[0] += time.perf_counter() - start
                    entry[1] += 1

            return timed

    return Proxy()


def run(args: argparse.Namespace) -> dict[str, Any]:
    loaded = fake.load_scenario(args.url, args.namespaces, args.per_namespace)
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    import core.service
    from core.cluster.kube import KubeCluster
    from core.config import ClusterSettings, Config
    from core.models import OperationType, OutcomeStatus
    from core.store.sqlite import SqliteStore
    from tests.harness import TEST_CONFIG, madrid, make_service

    at = madrid(2026, 12, 1, 20)  # Tuesday 1 December 2026, 20:00 Europe/Madrid
    settings = ClusterSettings(kubeconfig=args.kubeconfig, concurrency=args.concurrency)
    cluster = KubeCluster(settings)
    tmp = tempfile.TemporaryDirectory(prefix="nsctl-bench-")
    store = SqliteStore(Path(tmp.name) / "audit.db")
    config = Config.model_validate(TEST_CONFIG)

    # Phase timing: wall seconds in the inventory lists, the store, and converge (the patches).
    phases: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    timed_cluster = _timed_proxy(cluster, {"list_namespaces", "list_workloads"}, phases)
    store_methods = {
        "add_record",
        "add_records",
        "get_record",
        "open_records",
        "set_status",
        "close_record",
    }
    timed_store = _timed_proxy(store, store_methods, phases)
    service = make_service(timed_cluster, timed_store, clock_at(at), config)
    real_converge: Callable[..., Any] = core.service.converge
    converge_marks: dict[str, float] = {}

    def timed_converge(*a: Any, **kw: Any) -> Any:
        converge_marks["start"] = time.perf_counter()
        cpu0 = time.process_time()
        try:
            return real_converge(*a, **kw)
        finally:
            converge_marks["cpu"] = time.process_time() - cpu0
            converge_marks["end"] = time.perf_counter()

    core.service.converge = timed_converge  # type: ignore[assignment]

    calibration: dict[str, float] = {}
    if args.profile:
        from bench.profiling import AllThreads, calibrate

        calibration = calibrate()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    before = fake.stats(args.url)
    fake_cpu0 = fake.cpu_seconds(args.fake_pid)
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    if args.profile:
        with AllThreads() as profiler:
            result = service.shutdown(at=at)
    else:
        result = service.shutdown(at=at)
    wall1 = time.perf_counter()
    wall = wall1 - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    fake_cpu = fake.cpu_seconds(args.fake_pid) - fake_cpu0
    after = fake.stats(args.url)
    peak_rss_kib = usage1.ru_maxrss
    threads_profiled = profiler.dump(Path(args.profile)) if args.profile else 0
    core.service.converge = real_converge  # type: ignore[assignment]

    # Verification, on our side (the parent also reads every Deployment back from the fake).
    workloads = args.namespaces * args.per_namespace
    outcomes = [o for ns in result.namespaces for o in ns.outcomes]
    changed = sum(1 for o in outcomes if o.status is OutcomeStatus.CHANGED)
    open_records = len(store.open_records(OperationType.AUTO_SHUTDOWN))
    problems = []
    if not result.ok:
        failed = result.failed_workloads()
        problems.append(f"{len(failed)} failed workloads, e.g. {failed[:3]}; {result.errors[:3]}")
    if changed != workloads:
        problems.append(f"{changed} workloads changed, not {workloads}")
    if open_records != args.namespaces:
        problems.append(f"{open_records} open auto_shutdown records, not {args.namespaces}")
    refresh_us = 0.0 if args.profile else _refresh_hook_us(cluster)
    store.close()
    cluster.close()
    tmp.cleanup()

    requests = after["total"] - before["total"]
    cpu_user = usage1.ru_utime - usage0.ru_utime
    cpu_sys = usage1.ru_stime - usage0.ru_stime
    return {
        "namespaces": args.namespaces,
        "per_namespace": args.per_namespace,
        "workloads": workloads,
        "concurrency": args.concurrency,
        "profiled": bool(args.profile),
        "threads_profiled": threads_profiled,
        "profile_calibration": calibration,
        "wall_s": wall,
        "workloads_per_s": workloads / wall,
        "requests": requests,
        "requests_by_kind": {
            key: n - before["requests"].get(key, 0)
            for key, n in after["requests"].items()
            if n - before["requests"].get(key, 0)
        },
        "requests_per_workload": requests / workloads,
        "throttled": after.get("throttled", 0) - before.get("throttled", 0),
        "client_throttled": cluster.throttle.throttled,
        "limit_lowest": cluster.throttle.seats.lowest,
        "limit_decreases": cluster.throttle.seats.decreases,
        "rate_waited_s": cluster.throttle.rate.waited,
        "writes": after["writes"] - before["writes"],
        "cpu_s": cpu_user + cpu_sys,
        "cpu_user_s": cpu_user,
        "cpu_sys_s": cpu_sys,
        "cpu_s_per_1k": (cpu_user + cpu_sys) / workloads * 1000,
        "cpu_utilisation": (cpu_user + cpu_sys) / wall,
        "fake_cpu_s": fake_cpu,
        "peak_rss_mib": peak_rss_kib / 1024,
        "rss_before_run_mib": rss_before / 1024,
        "rss_after_load_mib": rss_after_load / 1024,
        "threads_at_end": threading.active_count(),
        "phases": {
            name: {"wall_s": seconds, "calls": int(calls)}
            for name, (seconds, calls) in sorted(phases.items())
        },
        "to_first_patch_s": converge_marks["start"] - wall0,
        "converge_s": converge_marks["end"] - converge_marks["start"],
        "converge_cpu_s": converge_marks["cpu"],
        "after_last_patch_s": wall1 - converge_marks["end"],
        "refresh_hook_us": refresh_us,
        "environ_vars": len(os.environ),
        "loaded": loaded["objects"],
        "changed": changed,
        "open_records": open_records,
        "problems": problems,
    }


def _refresh_hook_us(cluster: Any, calls: int = 2000) -> float:
    """CPU microseconds the client spends per request getting the bearer token: with a token
    kubeconfig, `load_kube_config` installs a `refresh_api_key_hook` that re-applies the whole
    kubeconfig to the Configuration on every request (the `host` setter calls
    `urllib.request.getproxies()`, a scan of os.environ). Measured here, outside the profiler."""
    configuration = cluster._api_client.configuration
    start = time.process_time()
    for _ in range(calls):
        configuration.get_api_key_with_prefix("BearerToken")
    return (time.process_time() - start) / calls * 1e6


def clock_at(at: Any) -> Any:
    from core.clock import FrozenClock

    return FrozenClock(at)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scenario")
    parser.add_argument("--url", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--fake-pid", type=int, required=True)
    parser.add_argument("--namespaces", type=int, required=True)
    parser.add_argument("--per-namespace", type=int, default=5)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--profile", help="write merged cProfile stats (all threads) here")
    parser.add_argument("--out", required=True, help="write the figures here (JSON)")
    args = parser.parse_args(argv)
    figures = run(args)
    Path(args.out).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
