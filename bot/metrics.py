"""Prometheus `/metrics` for `serve`, on its own `CollectorRegistry` (several servers per process
in tests), with the client library's process and garbage-collector families (`process_*`,
`python_gc_*`: a full collection pauses every thread, acks included).

A scrape never touches the cluster: what needs the cluster or a week of records is computed by
the jobs after their passes (`ServeMetrics` is their `JobObserver`) and kept here; the scrape only
reads the activation slots (a table of at most the global cap of rows) and formats.

- `namespace_ctl_namespaces_asleep`: managed namespaces with an open `auto_shutdown` record and
  no activation window; `namespace_ctl_namespaces_awake`: the other managed namespaces. Both from
  the last pass (the namespace list and the open records it left), less the live windows now.
- `namespace_ctl_activations_active`: activation slots in the store (claimed or live).
- `namespace_ctl_operations_total{operation,status}`: passes over the cluster run by this process
  (`operation` = the job: business-start, business-end, reconcile, bookings; `status` ok|failed).
- `namespace_ctl_scaling_duration_seconds{operation}`: histogram of those passes' wall time.
- `namespace_ctl_last_successful_run_timestamp_seconds{job}`: when each job last ran to its end
  (epoch seconds of the product's clock).
- `namespace_ctl_leader`: 1 on the replica that leads (leader election), else 0; 1 without it.
- `namespace_ctl_estimated_savings{currency}`: this ISO week's `total_saved` so far (the weekly
  report's figure), refreshed by the reconcile passes at most every 5 minutes.
- `namespace_ctl_wake_ready_seconds`: histogram, from a wake to the namespace's pods all ready;
  `namespace_ctl_namespaces_not_ready`: namespaces woken and not ready past `wake.ready_timeout`
  (both from the `wake-readiness` job, core.readiness).
- The notices' and Slack's: `namespace_ctl_notices_pending`,
  `namespace_ctl_notice_delivery_failures_total{reason}`, `namespace_ctl_notices_expired_total`,
  `namespace_ctl_slack_api_up` (`bot.notice_metrics`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, Response, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from bot.jobs import PassReport
from bot.notice_metrics import NoticeMetrics
from bot.slack.health import SlackApiHealth
from core.app import NamespaceCtl
from core.leader import AlwaysLeader, Leadership
from core.readiness import Settled
from core.report import iso_week

log = logging.getLogger("namespace_ctl.metrics")
PREFIX = "namespace_ctl_"
METRICS_PATH = "/metrics"
# Seconds: a no-op pass over a small cluster takes ~0.1 s, a night's shutdown of a large one
# minutes (DESIGN: throttling past ~600 workloads).
SCALING_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Seconds: pods pulled and started in well under a minute, up to nodes added by an autoscaler.
WAKE_READY_BUCKETS = (5, 15, 30, 60, 120, 180, 300, 450, 600, 900, 1800, 2700)
SAVINGS_REFRESH_SECONDS = 300.0
BOOKINGS_JOB = "bookings"


@dataclass(frozen=True)
class NamespaceState:
    """What the last pass left: the managed namespaces and those with an open shutdown record."""

    managed: frozenset[str]
    asleep: frozenset[str]

    def counts(self, held_awake: set[str]) -> tuple[int, int]:
        """(asleep, awake), a namespace in an activation window counting as awake."""
        asleep = len((self.asleep & self.managed) - held_awake)
        return asleep, len(self.managed) - asleep


@dataclass
class ServeMetrics:
    """The process's metrics; the jobs' observer (`bot.jobs.JobObserver`)."""

    ctl: NamespaceCtl
    refresh_every: float = SAVINGS_REFRESH_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    leadership: Leadership = field(default_factory=AlwaysLeader)
    # What the Bolt app's notifier and auth learnt of Slack (`bot.slack.app.slack_health_of`).
    slack: SlackApiHealth = field(default_factory=SlackApiHealth)

    def __post_init__(self) -> None:
        registry = self.registry
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        leader = Gauge(
            f"{PREFIX}leader",
            "1 on the replica that leads (runs the jobs, delivers notices); 1 without election",
            registry=registry,
        )
        leader.set_function(lambda: 1.0 if self.leadership.is_leader() else 0.0)
        self.operations = Counter(
            f"{PREFIX}operations",
            "Passes over the cluster run by this process, by job and outcome",
            ["operation", "status"],
            registry=registry,
        )
        self.scaling = Histogram(
            f"{PREFIX}scaling_duration_seconds",
            "Wall time of each pass over the cluster",
            ["operation"],
            buckets=SCALING_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            f"{PREFIX}last_successful_run_timestamp_seconds",
            "When each scheduled job last ran to its end (epoch seconds)",
            ["job"],
            registry=registry,
        )
        self.savings = Gauge(
            f"{PREFIX}estimated_savings",
            "This ISO week's estimated savings so far (the weekly report's total_saved)",
            ["currency"],
            registry=registry,
        )
        self.wake_ready = Histogram(
            f"{PREFIX}wake_ready_seconds",
            "From a wake to the namespace's pods all ready (verified wake-ups)",
            buckets=WAKE_READY_BUCKETS,
            registry=registry,
        )
        self.not_ready = Gauge(
            f"{PREFIX}namespaces_not_ready",
            "Namespaces woken and not ready past wake.ready_timeout",
            registry=registry,
        )
        self._lock = threading.Lock()
        self._state: NamespaceState | None = None
        self._savings_refreshed: float | None = None
        registry.register(StoreGauges(self))
        registry.register(NoticeMetrics(self.ctl.health.outbox, self.slack))

    # ---- the jobs' observer -------------------------------------------------------------------

    def pass_done(self, report: PassReport) -> None:
        operation = job_label(report.job)
        ok = report.result is None or report.result.ok
        self.operations.labels(operation, "ok" if ok else "failed").inc()
        self.scaling.labels(operation).observe(report.seconds)
        try:
            self._refresh_state()
        except Exception:
            log.exception("refreshing the namespace counts for /metrics failed")
        if report.job != BOOKINGS_JOB:
            self._refresh_savings(report.at)

    def pass_failed(self, job: str, at: datetime, seconds: float) -> None:
        self.operations.labels(job_label(job), "failed").inc()
        self.scaling.labels(job_label(job)).observe(seconds)

    def job_succeeded(self, job_id: str, finished: datetime) -> None:
        self.last_success.labels(job_id).set(finished.timestamp())

    def wakes_followed(self, settled: Settled, not_ready: int) -> None:
        for _, seconds in settled.ready:
            self.wake_ready.observe(seconds)
        self.not_ready.set(not_ready)

    # ---- after a pass (never on a scrape) -----------------------------------------------------

    def _refresh_state(self) -> None:
        """One namespace list (no workloads) and the open shutdown records (an index)."""
        managed = self.ctl.schedule.managed_namespaces()
        asleep = self.ctl.schedule.asleep_namespaces()
        with self._lock:
            self._state = NamespaceState(managed, asleep)

    def _refresh_savings(self, at: datetime) -> None:
        now = self.monotonic()
        last = self._savings_refreshed
        if last is not None and now - last < self.refresh_every:
            return
        summary = self.ctl.reports.week(iso_week(at, self.ctl.config.zone), at)
        self.savings.clear()
        self.savings.labels(summary.currency).set(summary.total_saved)
        self._savings_refreshed = now

    def state(self) -> NamespaceState | None:
        with self._lock:
            return self._state

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The scrape's body and content type (text format, or OpenMetrics when asked)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class StoreGauges(Collector):
    """The gauges read at scrape time: activation slots from the store (cheap), namespace
    counts from the last pass."""

    def __init__(self, metrics: ServeMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        # Without this the registry would call `collect` (a store read) at registration.
        return list(_gauge_families())

    def collect(self) -> Iterator[Metric]:
        asleep, awake, active = _gauge_families()
        try:
            held_awake = {slot.namespace for slot in self.metrics.ctl.activations.live()}
        except Exception:
            log.exception("reading the activation slots for /metrics failed")
            return
        active.add_metric([], len(held_awake))
        yield active
        state = self.metrics.state()
        if state is None:  # no pass yet: unknown, not zero
            return
        asleep_count, awake_count = state.counts(held_awake)
        asleep.add_metric([], asleep_count)
        awake.add_metric([], awake_count)
        yield asleep
        yield awake


def _gauge_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(f"{PREFIX}namespaces_asleep", "Managed namespaces asleep"),
        GaugeMetricFamily(f"{PREFIX}namespaces_awake", "Managed namespaces awake"),
        GaugeMetricFamily(f"{PREFIX}activations_active", "Activation windows open"),
    )


def job_label(job: str) -> str:
    """Pass names ("business end") as the scheduler's job ids ("business-end")."""
    return job.replace(" ", "-")


def add_metrics(flask_app: Flask, metrics: ServeMetrics) -> Flask:
    @flask_app.get(METRICS_PATH)
    def metrics_page() -> Response:
        body, content_type = metrics.exposition(request.headers.get("Accept", ""))
        return Response(body, status=200, content_type=content_type)

    return flask_app
