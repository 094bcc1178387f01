"""The in-process jobs (APScheduler 3.11, `BackgroundScheduler`), all in the product's time.

Jobs (times in the configured zone, in product time):
- `business-start`, `business-end`: at the business-hours edges on business weekdays, the
  level-triggered reconcile at the edge's exact time (on a holiday the 07:00 finds nothing to wake).
- `reconcile`: at start, then every 5 minutes: ends windows, expires requests, starts bookings,
  catches up anything missed.
- `bookings`: every minute on the minute, housekeeping only (store reads): a booking starts on
  time, a window that ended sends its namespace back to sleep within a minute.
- `weekly-summary`: Monday 09:00, the `weekly_summary` callable.
- `drain-notices`: every 30 s, the `drain` callable (the notifier's outbox).
- `wake-readiness`: every 15 s, one readiness check of what the passes and activations woke
  (core.readiness: cluster-wide lists, only while something is being followed).

`--now` shifts the product's clock, never the process's wall clock, while APScheduler computes
fire times from the wall clock: `ProductTime` asks the inner trigger in product time and answers in
wall time, and `ProductTimeExecutor` hands each job the product time of its scheduled fire, so
records carry the exact edge time (20:00:00, not the moment the thread woke).

Bookings run on a per-minute job rather than one job per booking at its `starts_at`: bookings are
made by any process (the CLI `book`, another replica, the Slack app) and cancelled or refused the
same way, so a job per booking would need every writer to tell this scheduler; the per-minute pass
reads the store and sees them all. Bookings are minute-granular (`HH:MM`), so the on-the-minute
pass starts them at their exact `starts_at`.

With leader election (`core.leader`), every replica runs this scheduler but only the leader's jobs
do anything: each job, and each pass again once it holds the cluster lock, asks `is_leader()` and
a follower skips (`NotLeading`, not counted as a run). A replica that starts leading runs
`catch_up` at once: an edge that fired within the last `lease_duration + 2 x retry_period`
(while the old leader was dying) is run at the edge's own time, then a reconcile at now (which
also undoes anything the edge pass could not know of, e.g. a window opened since the edge).

Every job has `max_instances=1` and `coalesce=True`; an exception is logged by APScheduler's
`run_job` and the next run happens. Jobs that touch the cluster share one lock: at 20:00 the edge
job, the reconcile and the bookings pass do not race each other (the second finds nothing to do).
A `JobObserver` (`bot.metrics`, behind `/metrics`) hears of every pass over the cluster, with its
wall time, and of every job that ran to its end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.activation import Housekeeping
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config
from core.leader import AlwaysLeader, Leadership
from core.models import OperationResult, OutcomeStatus
from core.readiness import Settled

log = logging.getLogger("namespace_ctl.jobs")

ISO_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ProductJob = Callable[[datetime], object]
RUN_AT_START = ("reconcile",)
EDGE_JOBS = {"business-start": "business start", "business-end": "business end"}


class NotLeading(Exception):
    """This replica does not lead (leader election): the job is the leader's to run."""


class JobIncomplete(Exception):
    """A job ran to its end without doing its work (e.g. every notice delivery failed: Slack is
    down): logged as a warning, not a success (its last successful run does not advance)."""


@dataclass(frozen=True)
class PassReport:
    """What one pass over the cluster did (for the notifier: shutdown/startup summaries)."""

    job: str
    at: datetime
    chores: Housekeeping
    result: OperationResult | None  # None: the bookings pass had nothing the schedule owns
    seconds: float = 0.0  # wall time of the pass (holding the cluster lock)


def no_summary(at: datetime) -> None:
    """No weekly summary wired (a Jobs built without the bot, as in tests)."""


def no_drain(at: datetime) -> int:
    """No notifier wired: nothing to send."""
    return 0


def no_report(report: PassReport) -> None:
    """No notifier wired: passes are only logged."""


class JobObserver(Protocol):
    def pass_done(self, report: PassReport) -> None:
        """A pass over the cluster ended (every reconcile; a bookings pass that did work)."""
        ...

    def pass_failed(self, job: str, at: datetime, seconds: float) -> None: ...

    def job_succeeded(self, job_id: str, finished: datetime) -> None:
        """A scheduled job (its id in `Jobs.plan`) ran to its end, at `finished` (product time)."""
        ...

    def wakes_followed(self, settled: Settled, not_ready: int) -> None:
        """A readiness check settled these; `not_ready` namespaces are past their deadline."""
        ...


class NoObserver:
    def pass_done(self, report: PassReport) -> None:
        pass

    def pass_failed(self, job: str, at: datetime, seconds: float) -> None:
        pass

    def job_succeeded(self, job_id: str, finished: datetime) -> None:
        pass

    def wakes_followed(self, settled: Settled, not_ready: int) -> None:
        pass


@dataclass(frozen=True)
class Intervals:
    reconcile: timedelta = timedelta(minutes=5)
    drain: timedelta = timedelta(seconds=30)
    readiness: timedelta = timedelta(seconds=15)


def product_offset(clock: Clock) -> timedelta:
    """How far the product's clock is from the wall clock (0 without `--now`). Taken once: the
    product clock runs at the wall clock's rate, and a constant offset keeps every conversion
    exact (an edge at 20:00:00 in product time stays 20:00:00 after the round trip)."""
    return clock.now() - datetime.now(UTC)


class ProductTime(BaseTrigger):  # type: ignore[misc]
    """Wraps a trigger that speaks product time into one APScheduler can use (wall time)."""

    def __init__(self, inner: BaseTrigger, offset: timedelta) -> None:
        self.inner = inner
        self.offset = offset

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Aware datetimes in a zone add timedeltas on their wall fields: convert to UTC first.
        previous = None
        if previous_fire_time is not None:
            previous = previous_fire_time.astimezone(UTC) + self.offset
        fire: datetime | None = self.inner.get_next_fire_time(
            previous, now.astimezone(UTC) + self.offset
        )
        return None if fire is None else fire.astimezone(UTC) - self.offset

    def product_time(self, wall: datetime) -> datetime:
        return wall.astimezone(UTC) + self.offset

    def __str__(self) -> str:
        return f"{self.inner} (product time, offset {self.offset})"


_scheduled = threading.local()


class ProductTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """A thread pool that tells the running job its scheduled run time (APScheduler's `run_job`
    keeps it to itself); each run time goes through `run_job`, which logs exceptions and misses."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def callback(future: Any) -> None:
            error = future.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(self._run, job, run_times)
        future.add_done_callback(callback)

    def _run(self, job: Any, run_times: list[datetime]) -> list[Any]:
        events: list[Any] = []
        for run_time in run_times:
            _scheduled.run_time = run_time
            try:
                events += run_job(job, job._jobstore_alias, [run_time], self._logger.name)
            finally:
                _scheduled.run_time = None
        return events


def scheduled_run_time() -> datetime:
    """The wall time the running job was scheduled for (inside a job only)."""
    run_time: datetime | None = getattr(_scheduled, "run_time", None)
    if run_time is None:
        raise RuntimeError("not inside a scheduled job")
    return run_time


@dataclass
class PassHealth:
    """Readiness: has a pass over the cluster completed since the process started?"""

    completed_at: datetime | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_pass: threading.Event = field(default_factory=threading.Event)

    def succeeded(self, at: datetime) -> None:
        with self.lock:
            self.completed_at, self.error = at, None
        self.first_pass.set()

    def failed(self, error: BaseException) -> None:
        with self.lock:
            self.error = f"{type(error).__name__}: {error}"
        self.first_pass.set()

    def wait_first_pass(self, timeout: float) -> bool:
        """Block until the first pass ended (well or not); False on timeout."""
        return self.first_pass.wait(timeout)


class Jobs:
    """The scheduler and its jobs over the use cases. `start()` runs the first reconcile at once
    (in the scheduler's pool); `stop()` waits for running jobs."""

    def __init__(
        self,
        ctl: NamespaceCtl,
        config: Config,
        clock: Clock,
        *,
        drain: Callable[[datetime], int] = no_drain,
        weekly_summary: Callable[[datetime], None] = no_summary,
        on_pass: Callable[[PassReport], None] = no_report,
        observer: JobObserver | None = None,
        intervals: Intervals = Intervals(),
        offset: timedelta | None = None,
        leadership: Leadership | None = None,
        catch_up_window: timedelta = timedelta(0),
    ) -> None:
        self.ctl, self.config, self.clock = ctl, config, clock
        self.drain, self.weekly_summary, self.on_pass = drain, weekly_summary, on_pass
        self.observer: JobObserver = observer or NoObserver()
        self.intervals = intervals
        self.offset = product_offset(clock) if offset is None else offset
        self.health = PassHealth()
        self.leadership: Leadership = leadership or AlwaysLeader()
        self.catch_up_window = catch_up_window
        self._cluster_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=config.zone,
            executors={"default": ProductTimeExecutor(max_workers=8)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            daemon=True,
        )
        for job_id, trigger, run, grace in self.plan():
            self.scheduler.add_job(
                self._in_product_time(job_id, run),
                ProductTime(trigger, self.offset),
                id=job_id,
                name=job_id,
                misfire_grace_time=grace,
                **({"next_run_time": datetime.now(UTC)} if job_id in RUN_AT_START else {}),
            )

    # ---- the plan ---------------------------------------------------------------------------

    def plan(self) -> list[tuple[str, BaseTrigger, ProductJob, int]]:
        """(id, trigger in product time, job, misfire grace in seconds), for every job."""
        zone, hours = self.config.zone, self.config.business_hours
        days = ",".join(ISO_DAY_NAMES[d - 1] for d in sorted(set(hours.weekdays)))
        now = self.clock.now()
        every = self.intervals

        def edge(name: str) -> ProductJob:
            return lambda at: self.reconcile_pass(name, at)

        return [
            (
                "business-start",
                CronTrigger(
                    day_of_week=days,
                    hour=hours.start.hour,
                    minute=hours.start.minute,
                    timezone=zone,
                ),
                edge("business start"),
                300,
            ),
            (
                "business-end",
                CronTrigger(
                    day_of_week=days, hour=hours.end.hour, minute=hours.end.minute, timezone=zone
                ),
                edge("business end"),
                300,
            ),
            # Also at start: `RUN_AT_START`.
            (
                "reconcile",
                IntervalTrigger(
                    seconds=every.reconcile.total_seconds(), start_date=now + every.reconcile
                ),
                edge("reconcile"),
                int(every.reconcile.total_seconds()),
            ),
            ("bookings", CronTrigger(minute="*", timezone=zone), self.bookings_pass, 60),
            (
                "weekly-summary",
                CronTrigger(day_of_week="mon", hour=9, minute=0, timezone=zone),
                self.weekly_summary,
                3600,
            ),
            (
                "wake-readiness",
                IntervalTrigger(
                    seconds=every.readiness.total_seconds(), start_date=now + every.readiness
                ),
                self.readiness_pass,
                max(1, int(every.readiness.total_seconds())),
            ),
            (
                "drain-notices",
                IntervalTrigger(seconds=every.drain.total_seconds(), start_date=now + every.drain),
                self.drain,
                max(1, int(every.drain.total_seconds())),
            ),
        ]

    def _in_product_time(self, job_id: str, run: ProductJob) -> Callable[[], None]:
        def job() -> None:
            at = (scheduled_run_time().astimezone(UTC) + self.offset).astimezone(self.config.zone)
            try:
                self._must_lead()
                run(at)
            except NotLeading:
                log.debug("%s at %s skipped: not the leader", job_id, at.isoformat())
                return
            except JobIncomplete as exc:
                log.warning("%s at %s did not succeed: %s", job_id, at.isoformat(), exc)
                return
            self._observe(lambda o: o.job_succeeded(job_id, self.clock.now()))

        return job

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.scheduler.start()

    def stop(self, wait: bool = True) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def wait_idle(self) -> None:
        """Return once no pass over the cluster is running (the cluster lock is free)."""
        with self._cluster_lock:
            pass

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def trigger(self, job_id: str) -> ProductTime:
        trigger: ProductTime = self.scheduler.get_job(job_id).trigger
        return trigger

    # ---- leadership -------------------------------------------------------------------------

    def _must_lead(self) -> None:
        if not self.leadership.is_leader():
            raise NotLeading

    def missed_edge(self, at: datetime) -> tuple[str, datetime] | None:
        """The latest business-hours edge in (`at` - catch_up_window, `at`], if any."""
        since = at - self.catch_up_window
        found: tuple[str, datetime] | None = None
        for job_id, name in EDGE_JOBS.items():
            job = self.scheduler.get_job(job_id)
            if job is None or self.catch_up_window <= timedelta(0):
                continue
            fire = job.trigger.inner.get_next_fire_time(None, since)
            if fire is not None and since < fire <= at and (found is None or fire > found[1]):
                found = (name, fire)
        return found

    def catch_up(self, at: datetime | None = None) -> None:
        """Just started leading: the edge the old leader may have missed, then a reconcile."""
        at = (at or self.clock.now()).astimezone(self.config.zone)
        try:
            edge = self.missed_edge(at)
            if edge is not None:
                log.info("new leader: running the %s edge of %s", edge[0], edge[1].isoformat())
                self.reconcile_pass(edge[0], edge[1])
            self.reconcile_pass("reconcile", at)
        except NotLeading:
            log.info("catch-up skipped: leadership lost again")
        except Exception:
            log.exception("the new leader's catch-up pass failed (the next reconcile retries)")

    def start_catch_up(self) -> None:
        """`catch_up` in its own thread (called from the election's thread)."""
        threading.Thread(target=self.catch_up, name="leader-catch-up", daemon=True).start()

    # ---- the jobs ---------------------------------------------------------------------------

    def reconcile_pass(self, job: str, at: datetime) -> PassReport:
        """The level-triggered pass at `at` (an edge's exact time, or the reconcile's)."""
        with self._cluster_lock:
            self._must_lead()
            started = time.monotonic()
            try:
                chores, result = self.ctl.schedule.reconcile(at=at)
            except Exception as exc:
                self.health.failed(exc)
                self._observe(lambda o: o.pass_failed(job, at, time.monotonic() - started))
                raise
            seconds = time.monotonic() - started
        self.health.succeeded(at)
        report = PassReport(job, at, chores, result, seconds)
        log.info("%s at %s: %s", job, at.isoformat(), _summary(report))
        self._observe(lambda o: o.pass_done(report))
        self._report(report)
        return report

    def bookings_pass(self, at: datetime) -> PassReport:
        """Start due bookings, end windows that are over, expire requests; when a window ended
        (or a half-opened one was repaired), follow the schedule at once so the namespace goes
        back to sleep now rather than at the next reconcile."""
        with self._cluster_lock:
            self._must_lead()
            started = time.monotonic()
            try:
                chores, result = self.ctl.schedule.housekeeping(at)
            except Exception:
                self._observe(lambda o: o.pass_failed("bookings", at, time.monotonic() - started))
                raise
            seconds = time.monotonic() - started
        report = PassReport("bookings", at, chores, result, seconds)
        if _did_something(report):
            log.info("bookings at %s: %s", at.isoformat(), _summary(report))
            self._observe(lambda o: o.pass_done(report))
            self._report(report)
        return report

    def readiness_pass(self, at: datetime) -> Settled | None:
        """Follow what the passes and activations woke (no lock: reads only; the worker, if
        any, takes one request at a time)."""
        self._must_lead()
        settled = self.ctl.schedule.follow_wakes(at)
        if settled is not None:
            not_ready = self.ctl.schedule.namespaces_not_ready()
            self._observe(lambda o: o.wakes_followed(settled, not_ready))
            if settled.ready:
                log.info("%d woken namespaces ready", len(settled.ready))
            for waking, check in settled.not_ready:
                why = "; ".join(w.describe() for w in check.not_ready())
                log.warning("%s not ready by its deadline: %s", waking.namespace, why)
        return settled

    def _report(self, report: PassReport) -> None:
        try:
            self.on_pass(report)
        except Exception:
            log.exception("reporting the %s pass failed", report.job)

    def _observe(self, tell: Callable[[JobObserver], None]) -> None:
        """Metrics never fail a job."""
        try:
            tell(self.observer)
        except Exception:
            log.exception("recording job metrics failed")


def _did_something(report: PassReport) -> bool:
    chores = report.chores
    return bool(
        chores.ended
        or chores.expired
        or chores.started
        or chores.refused_bookings
        or chores.repaired
        or _changed(report.result)
    )


def _changed(result: OperationResult | None) -> int:
    """Workloads the pass changed (a reconcile lists every namespace, most unchanged)."""
    if result is None:
        return 0
    return sum(
        1
        for ns in result.namespaces
        for o in ns.outcomes
        if o.status is not OutcomeStatus.UNCHANGED
    )


def _summary(report: PassReport) -> str:
    chores, result = report.chores, report.result
    parts = [
        f"{len(chores.ended)} windows ended",
        f"{len(chores.expired)} requests expired",
        f"{len(chores.started)} bookings started",
        f"{len(chores.refused_bookings)} bookings refused",
    ]
    if result is not None:
        parts.append(f"{_changed(result)} workloads changed")
        parts.append(f"{len(result.failed_workloads())} workloads failed")
    return ", ".join(parts)
