"""Metrics: the `system_metrics` daily counters the use cases write (local dates, dry runs,
store failures), and Prometheus `/metrics` served over HTTP, in-process and by `serve`."""

from __future__ import annotations

import logging
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from bot.jobs import Jobs
from bot.metrics import ServeMetrics, add_metrics
from bot.serve import HttpServer
from core import metrics
from core.clock import FrozenClock, epoch, parse_instant
from core.config import load_config
from core.models import OperationType, WorkloadKind, WorkloadRef
from core.policy import Refusal
from core.report import iso_week
from core.store.sqlite import SqliteStore
from core.wiring import build_service
from tests.builders import deployment, namespace, team_namespace
from tests.harness import MADRID, Harness, madrid, make_harness
from tests.test_serve import CLI, NIGHT, clean_env, serving, wait_ready

TUESDAY_END = madrid(2026, 12, 1, 20)
AFTER_MIDNIGHT = madrid(2026, 12, 2, 0, 30)  # 2026-12-01 23:30 UTC
API = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="pay-api", name="api")
FAMILIES = (
    "namespace_ctl_namespaces_asleep",
    "namespace_ctl_namespaces_awake",
    "namespace_ctl_activations_active",
    "namespace_ctl_operations",
    "namespace_ctl_last_successful_run_timestamp_seconds",
    "namespace_ctl_scaling_duration_seconds",
    "namespace_ctl_estimated_savings",
    "python_gc_collections",  # full collections pause the acks: worth watching
    "process_resident_memory_bytes",
)


def harness(tmp_path: Path, **kw: object) -> Harness:
    objects = [*team_namespace("pay-api", {"api": 3}), *team_namespace("team-a", {"app": 2})]
    objects += [namespace("monitoring"), deployment("monitoring", "prometheus", 1)]  # excluded
    return make_harness(tmp_path, objects, at=TUESDAY_END, **kw)  # type: ignore[arg-type]


def day_counters(h: Harness, day: str) -> dict[str, float]:
    return metrics.daily_metrics(h.store, day)


# ---- system_metrics -----------------------------------------------------------------------------


def test_a_shutdown_and_a_drift_after_midnight_count_on_their_local_days(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.service.shutdown(at=TUESDAY_END)
    # Per team namespace: Deployment, StatefulSet, DaemonSet and one CronJob put to sleep (the
    # other CronJob was already suspended).
    shutdown_day = day_counters(h, "2026-12-01")
    seconds = shutdown_day.pop(metrics.SCALING_SECONDS)
    assert shutdown_day == {
        "workloads_slept": 8,
        "namespaces_slept": 2,
        "operations.shutdown.ok": 1,
    }
    assert 0 < seconds < 30

    h.cluster.set_replicas(API, 5)  # type: ignore[attr-defined]
    h.service.reconcile(at=AFTER_MIDNIGHT)
    drift_day = day_counters(h, "2026-12-02")
    drift_day.pop(metrics.SCALING_SECONDS)
    assert drift_day == {"drift_corrected": 1, "operations.reconcile.ok": 1}
    # UTC's date of that pass is still the 1st: nothing more landed there.
    assert h.store.get_metric(metrics.DRIFT_CORRECTED, "2026-12-01") == 0
    assert day_counters(h, "2026-12-01").keys() == {*shutdown_day, metrics.SCALING_SECONDS}

    # A pass that changes nothing is no operation; the morning wakes and counts on its day.
    h.service.reconcile(at=AFTER_MIDNIGHT + timedelta(minutes=5))
    assert h.store.get_metric("operations.reconcile.ok", "2026-12-02") == 1
    h.service.startup(at=madrid(2026, 12, 2, 7))
    morning = day_counters(h, "2026-12-02")
    assert morning["workloads_woken"] == 8 and morning["namespaces_woken"] == 2
    assert morning["operations.startup.ok"] == 1


def test_the_weekly_report_counts_the_drift_the_passes_corrected(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.service.shutdown(at=TUESDAY_END)
    h.cluster.set_replicas(API, 5)  # type: ignore[attr-defined]
    h.service.reconcile(at=AFTER_MIDNIGHT)
    h.cluster.set_replicas(API, 4)  # type: ignore[attr-defined]
    h.service.reconcile(at=AFTER_MIDNIGHT + timedelta(hours=1))
    week = iso_week(TUESDAY_END, MADRID)
    summary = h.service.week_summary(week, madrid(2026, 12, 2, 6))
    assert summary.drift_corrected == 2
    assert h.service.week_summary(week.previous(), madrid(2026, 12, 2, 6)).drift_corrected == 0


def test_dry_runs_write_no_counters(tmp_path: Path) -> None:
    h = harness(tmp_path)
    h.service.shutdown(dry_run=True, at=TUESDAY_END)
    assert day_counters(h, "2026-12-01") == {}
    assert h.specs()[("Deployment", "pay-api", "api")] == 3  # nothing was put to sleep either
    h.service.shutdown(at=TUESDAY_END)
    h.cluster.set_replicas(API, 5)  # type: ignore[attr-defined]
    h.service.reconcile(dry_run=True, at=AFTER_MIDNIGHT)
    h.activation.reconcile(dry_run=True, at=AFTER_MIDNIGHT)
    h.service.startup(dry_run=True, at=madrid(2026, 12, 2, 7))
    assert day_counters(h, "2026-12-02") == {}
    assert h.specs()[("Deployment", "pay-api", "api")] == 5  # the drift is left for a real pass


class CountingFails(SqliteStore):
    def increment_metric(self, metric_name: str, period: str, amount: float, at: int) -> None:
        raise OSError("metrics table gone")


def test_a_store_failing_to_count_fails_no_operation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness(tmp_path, store=CountingFails(str(tmp_path / "audit.db")))
    with caplog.at_level(logging.ERROR, logger="namespace_ctl.metrics"):
        result = h.service.shutdown(at=TUESDAY_END)
        h.clock.set(madrid(2026, 12, 1, 22))
        opened = h.activation.activate(
            "pay-api", "CC-PAY", "ana", timedelta(hours=1), "incident", h.clock.now()
        )
        with pytest.raises(Refusal, match="unauthorized"):  # the refusal, not the store error
            h.activation.activate("team-a", "CC-OFF", "ana", None, "x", h.clock.now())
    assert result.ok and [ns.record_added for ns in result.namespaces] == [True, True]
    assert opened.slot.namespace == "pay-api" and not opened.failed
    assert h.specs()[("Deployment", "team-a", "app")] == 0
    assert h.specs()[("Deployment", "pay-api", "api")] == 3
    assert len([r for r in caplog.records if "metrics table gone" in (r.exc_text or "")]) >= 4


def test_activations_count_starts_operations_and_hours_split_at_local_midnight(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path)
    h.service.shutdown(at=TUESDAY_END)
    start = madrid(2026, 12, 1, 23)
    h.clock.set(start)
    h.activation.activate("pay-api", "CC-PAY", "ana", timedelta(hours=2), "incident", start)
    evening = day_counters(h, "2026-12-01")
    assert evening["activations_started"] == 1 and evening["operations.activate.ok"] == 1
    assert evening["workloads_woken"] == 4  # api, db, log-agent, report
    # The window ends by itself at 01:00: one hour on each local day.
    h.activation.reconcile(at=madrid(2026, 12, 2, 1))
    assert h.store.get_metric("activation_hours", "2026-12-01") == 1.0
    assert h.store.get_metric("activation_hours", "2026-12-02") == 1.0
    # Refusals keep their own counters and are no operation.
    h.clock.set(madrid(2026, 12, 2, 1, 5))
    with pytest.raises(Refusal, match="unauthorized"):
        h.activation.activate("pay-api", "CC-OFF", "ana", None, "x", h.clock.now())
    night = day_counters(h, "2026-12-02")
    assert night["refused.unauthorized"] == 1
    assert "operations.activate.failed" not in night and "operations.activate.ok" not in night


# ---- Prometheus /metrics ------------------------------------------------------------------------

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, Samples, set[str]]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        text = response.read().decode()
    families = list(text_string_to_metric_families(text))
    samples = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    return content_type, samples, {f.name for f in families}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@contextmanager
def http(flask_app: Flask) -> Iterator[str]:
    server = HttpServer(flask_app, "127.0.0.1", 0)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_metrics_after_passes_activations_and_a_failed_pass(tmp_path: Path) -> None:
    monday_end = madrid(2026, 11, 30, 20)
    h = harness(tmp_path)
    h.clock.set(monday_end)
    tick = [0.0]
    served = ServeMetrics(h.ctl, monotonic=lambda: tick[0])
    jobs = Jobs(h.ctl, h.config, h.clock, observer=served, offset=timedelta(0))
    with http(add_metrics(Flask("m"), served)) as url:
        _, before, families = scrape(url)
        # Before any pass the namespace counts are unknown, not zero.
        assert ("namespace_ctl_namespaces_asleep", frozenset()) not in before
        assert value(before, "namespace_ctl_activations_active") == 0

        jobs.reconcile_pass("business end", monday_end)
        content_type, samples, families = scrape(url)
        assert content_type.startswith("text/plain; version=0.0.4")
        assert set(FAMILIES) - {"namespace_ctl_last_successful_run_timestamp_seconds"} <= families
        assert value(samples, "namespace_ctl_namespaces_asleep") == 2
        assert value(samples, "namespace_ctl_namespaces_awake") == 0
        ops = "namespace_ctl_operations_total"
        assert value(samples, ops, operation="business-end", status="ok") == 1
        histogram = "namespace_ctl_scaling_duration_seconds"
        assert value(samples, f"{histogram}_count", operation="business-end") == 1
        assert 0 < value(samples, f"{histogram}_sum", operation="business-end") < 30
        currency = h.config.costs.currency
        assert value(samples, "namespace_ctl_estimated_savings", currency=currency) == 0

        # Within 5 minutes the savings are not recomputed; after, they are the week's so far.
        tuesday_early = madrid(2026, 12, 1, 6)
        jobs.reconcile_pass("reconcile", tuesday_early)
        assert value(scrape(url)[1], "namespace_ctl_estimated_savings", currency=currency) == 0
        tick[0] = 300.0
        jobs.reconcile_pass("reconcile", tuesday_early)
        saved = h.service.week_summary(iso_week(tuesday_early, MADRID), tuesday_early).total_saved
        assert saved > 0
        samples = scrape(url)[1]
        assert value(samples, "namespace_ctl_estimated_savings", currency=currency) == saved
        assert value(samples, ops, operation="reconcile", status="ok") == 2

        # An activation shows at the next scrape, without a pass.
        h.clock.set(tuesday_early)
        h.activation.activate("pay-api", "CC-PAY", "ana", None, "incident", tuesday_early)
        samples = scrape(url)[1]
        assert value(samples, "namespace_ctl_activations_active") == 1
        assert value(samples, "namespace_ctl_namespaces_asleep") == 1
        assert value(samples, "namespace_ctl_namespaces_awake") == 1

        real = h.service.cluster

        class Down:
            def __getattr__(self, name: str) -> object:
                raise ConnectionError("cluster unreachable")

        h.service.cluster = Down()  # type: ignore[assignment]
        with pytest.raises(ConnectionError):
            jobs.reconcile_pass("reconcile", tuesday_early + timedelta(minutes=5))
        h.service.cluster = real
        samples = scrape(url)[1]
        assert value(samples, ops, operation="reconcile", status="failed") == 1
        assert value(samples, f"{histogram}_count", operation="reconcile") == 3
        assert value(samples, "namespace_ctl_namespaces_asleep") == 1  # the last good pass's


def test_two_servers_in_one_process_keep_their_own_registries(tmp_path: Path) -> None:
    ctl = harness(tmp_path).ctl
    first, second = ServeMetrics(ctl), ServeMetrics(ctl)  # no "duplicated timeseries" error
    first.job_succeeded("reconcile", TUESDAY_END)
    assert first.registry.get_sample_value(
        "namespace_ctl_last_successful_run_timestamp_seconds", {"job": "reconcile"}
    ) == epoch(TUESDAY_END)
    assert (
        second.registry.get_sample_value(
            "namespace_ctl_last_successful_run_timestamp_seconds", {"job": "reconcile"}
        )
        is None
    )


def test_serve_answers_metrics_after_its_first_reconcile(example_workdir: Path) -> None:
    """The night before was put to sleep at Monday 20:00; `serve` starts Tuesday 22:00 (the
    morning was missed: everything stays asleep) and its first pass fills /metrics."""
    monday = "2026-11-30T20:00"
    put_to_sleep = subprocess.run(
        [*CLI, "--now", monday, "shutdown"], capture_output=True, text=True, env=clean_env()
    )
    assert put_to_sleep.returncode == 0, put_to_sleep.stderr
    with serving(clean_env(), "--no-console") as (_, url):
        wait_ready(url)
        deadline = time.monotonic() + 10
        while True:
            content_type, samples, families = scrape(url)
            last = ("namespace_ctl_last_successful_run_timestamp_seconds", {"job": "reconcile"})
            if (last[0], frozenset(last[1].items())) in samples:
                break
            assert time.monotonic() < deadline, samples
            time.sleep(0.05)
    config = load_config("examples/config.yaml")
    night = parse_instant(NIGHT, config.zone)
    assert content_type.startswith("text/plain")
    assert set(FAMILIES) <= families
    store = SqliteStore(config.store.path)
    try:
        asleep = {r.namespace_name for r in store.open_records(OperationType.AUTO_SHUTDOWN)}
    finally:
        store.close()
    assert len(asleep) == 8
    assert value(samples, "namespace_ctl_namespaces_asleep") == 8
    assert value(samples, "namespace_ctl_namespaces_awake") == 0
    assert value(samples, "namespace_ctl_activations_active") == 0
    assert value(samples, "namespace_ctl_operations_total", operation="reconcile", status="ok") >= 1
    count = "namespace_ctl_scaling_duration_seconds_count"
    assert value(samples, count, operation="reconcile") >= 1
    assert abs(value(samples, *last[:1], **last[1]) - epoch(night)) < 60
    service = build_service(config, FrozenClock(night))
    try:
        saved = service.week_summary(iso_week(night, config.zone), night).total_saved
    finally:
        service.store.close()
    assert saved > 0  # 26 hours asleep so far this week
    savings = value(samples, "namespace_ctl_estimated_savings", currency=config.costs.currency)
    assert savings == pytest.approx(saved, abs=0.05)
