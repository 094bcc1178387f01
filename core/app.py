"""The one front of core: the CLI, the Slack listeners, the jobs, the metrics and the REST API call
a `NamespaceCtl` and nothing below it (no store, no cluster, no service internals).

Its named groups are the use cases by aggregate: `schedule` (status and the passes),
`activations` (windows open now), `approvals` (requests and bookings), `cost_centers`,
`reports` (history, weeks, estimate, calendar) and `health`. Each group is a thin, typed face over
the services; the rules stay in the services and in `core.policy`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.activation import ActivationService, Housekeeping, Opened
from core.calendar import BusinessCalendar
from core.calendar_view import CalendarEvent, calendar_events
from core.clock import Clock, epoch
from core.config import Config
from core.estimate import Estimate, estimate, normal_week
from core.events import post_events, readiness_events
from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    CostCenterPermission,
    DesiredState,
    HistoryQuery,
    IdempotentAnswer,
    OperationResult,
    OperationType,
    RequestStatus,
)
from core.notices import Outbox, readiness_notices, request_notice_id
from core.policy import Refusal, RefusalReason, lists_namespace
from core.readiness import NamespaceCheck, Settled
from core.report import Week, WeekSummary
from core.service import NamespaceDetail, StatusReport, workload_statuses
from core.worker import PassName, PassWorker

# The calendar reads records from this long before its start, so a window that began earlier
# and is still open (or closed within the range) is found: no window lasts longer.
LONGEST_WINDOW = 2 * 24 * 3600


@dataclass
class Schedule:
    """The sleep schedule and the passes that follow it."""

    _ctl: ActivationService
    # In `serve`, the passes run in a worker process (core.worker); None: in this one.
    _worker: PassWorker | None = None

    @property
    def calendar(self) -> BusinessCalendar:
        return self._ctl.namespaces.calendar

    def status(self, at: datetime) -> StatusReport:
        """Every namespace: state, what the schedule wants, its live window, its cost per hour."""
        return self._ctl.namespaces.status(at=at)

    def shutdown(
        self, namespaces: Sequence[str] = (), dry_run: bool = False, *, at: datetime
    ) -> OperationResult:
        return self._ctl.namespaces.shutdown(namespaces, dry_run=dry_run, at=at)

    def startup(
        self, namespaces: Sequence[str] = (), dry_run: bool = False, *, at: datetime
    ) -> OperationResult:
        result = self._ctl.namespaces.startup(namespaces, dry_run=dry_run, at=at)
        self._ctl.namespaces.wakes.register(result, self._ctl.config.wake.ready_timeout)
        return result

    def reconcile(
        self, dry_run: bool = False, *, at: datetime
    ) -> tuple[Housekeeping, OperationResult]:
        """Activations' chores (windows over, expiries, bookings due), then the schedule."""
        if self._worker is not None and not dry_run:
            answer: tuple[Housekeeping, OperationResult] = self._worker.run("reconcile", at)
        else:
            answer = self._ctl.reconcile(dry_run=dry_run, at=at)
        self._follow(*answer)
        return answer

    def housekeeping(self, at: datetime) -> tuple[Housekeeping, OperationResult | None]:
        """The bookings pass: the chores alone; when a window ended (or a half-opened one was
        repaired), the schedule followed at once so the namespace sleeps now."""
        if self._worker is not None:
            answer: tuple[Housekeeping, OperationResult | None] = self._worker.run(
                "housekeeping", at
            )
        else:
            answer = self.housekeeping_here(at)
        self._follow(*answer)
        return answer

    def housekeeping_here(self, at: datetime) -> tuple[Housekeeping, OperationResult | None]:
        """The bookings pass in this process (the worker's, or without one)."""
        chores = self._ctl.housekeeping(at)
        if chores.ended or chores.repaired or self._ctl.namespaces.in_pre_wake(at):
            return chores, self._ctl.namespaces.reconcile(at=at)
        return chores, None

    def _follow(self, chores: Housekeeping, result: OperationResult | None) -> None:
        """Follow what a pass woke until its pods are ready (in this process: a pass run in
        the worker woke them there, and status is answered here)."""
        timeout = self._ctl.config.wake.ready_timeout
        if result is not None:
            self._ctl.namespaces.wakes.register(result, timeout)
        for opened in chores.started:
            self._ctl.follow_opened(opened)

    def namespaces_not_ready(self) -> int:
        """Namespaces woken and still not ready past `wake.ready_timeout`."""
        return self._ctl.namespaces.wakes.not_ready_count()

    def follow_wakes(self, at: datetime) -> Settled | None:
        """One readiness check of the namespaces woken and not yet ready (cluster-wide lists,
        in the worker when there is one); notices for what it settled. None: nothing to follow."""
        service = self._ctl.namespaces
        waking = service.wakes.waking()
        if not waking:
            return None
        if self._worker is not None:
            checks: dict[str, NamespaceCheck] = self._worker.run("assess_wakes", at, waking)
        else:
            checks = service.assess_wakes(waking, at)
        settled = service.wakes.settle(checks, epoch(at))
        service.notify(readiness_notices(settled))
        for woken, seconds in settled.ready:
            if not woken.requester:  # a schedule's wake: its auto_startup record learns it
                service.store.set_ready_seconds(
                    woken.namespace, woken.woken_at, OperationType.AUTO_STARTUP, seconds
                )
        ready = [(w.namespace, settled.at, seconds) for w, seconds in settled.ready]
        not_ready = [
            (w.namespace, settled.at, [c.describe() for c in check.not_ready()])
            for w, check in settled.not_ready
        ]
        post_events(service.cluster, readiness_events(ready, not_ready), service.events)
        return settled

    def next_edges(self, at: datetime) -> dict[DesiredState, datetime]:
        """The next shutdown (ASLEEP) and the next startup (AWAKE) after `at`."""
        first, first_state = self.calendar.next_transition(at)
        second, second_state = self.calendar.next_transition(first)
        return {first_state: first, second_state: second}

    def namespace(self, name: str, at: datetime) -> NamespaceDetail:
        """One namespace's status and its workloads with the counts they run awake."""
        report, view = self._ctl.namespaces.status_with_view(name, at)
        rows = [n for n in report.namespaces if n.namespace == name]
        if not rows or view is None:
            raise Refusal(
                RefusalReason.NOT_FOUND,
                f"namespace {name!r} not found in the cluster (`namespace-ctl status` lists them)",
            )
        return NamespaceDetail(status=rows[0], workloads=workload_statuses(view))

    def managed_namespaces(self) -> frozenset[str]:
        """Names of the managed namespaces (in `serve`, from the last pass; else one namespace
        list, no workloads)."""
        return self._ctl.namespaces.managed_names()

    def serve_status_from_last_pass(self) -> None:
        """For the serving process: status, the REST API, the web page and the metrics answer
        from what the last pass read (kept current with our own patches) instead of listing
        the cluster at every request; the first one before any pass reads it."""
        self._ctl.namespaces.status_from_last_pass = True

    def use_worker(self, worker: PassWorker) -> None:
        """For the serving process: `reconcile`, `housekeeping` and the readiness checks run
        in `worker` (core.wiring.run_passes_in_worker builds it)."""
        self._worker = worker

    def handle(self, name: PassName, at: datetime, args: tuple[object, ...]) -> object:
        """A request the serving process sent this (worker) process: its passes as they run
        in-process, or a readiness check of what the serving process follows."""
        if name == "reconcile":
            return self._ctl.reconcile(at=at)
        if name == "housekeeping":
            return self.housekeeping_here(at)
        if name == "assess_wakes" and args and isinstance(args[0], list):
            return self._ctl.namespaces.assess_wakes(args[0], at)
        raise ValueError(f"the pass worker cannot run {name!r} with {len(args)} argument(s)")

    @property
    def worker(self) -> PassWorker | None:
        return self._worker

    def stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()

    def asleep_namespaces(self) -> frozenset[str]:
        """Namespaces whose night's `auto_shutdown` record is open (an index read)."""
        records = self._ctl.store.open_records(OperationType.AUTO_SHUTDOWN)
        return frozenset(r.namespace_name for r in records)


@dataclass(frozen=True)
class Activations:
    """Windows open now: every rule and cap applies (DESIGN.md)."""

    _ctl: ActivationService

    def activate(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        duration: timedelta | None,
        reason: str,
        at: datetime,
    ) -> Opened:
        return self._ctl.activate(namespace, cost_center, user, duration, reason, at)

    def deactivate(self, namespace: str, user: str, at: datetime) -> ActivationSlot:
        return self._ctl.deactivate(namespace, user, at)

    def extend(
        self, namespace: str, duration: timedelta, user: str, at: datetime
    ) -> ActivationSlot:
        return self._ctl.extend(namespace, duration, user, at)

    def live(self) -> list[ActivationSlot]:
        """Every window held (claimed or live), one per namespace."""
        return self._ctl.slots()


@dataclass(frozen=True)
class Approvals:
    """Requests a colleague approves, and bookings of future windows."""

    _ctl: ActivationService

    def request(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        duration: timedelta | None,
        reason: str,
        at: datetime,
        starts_at: datetime | None = None,
    ) -> ActivationRequest:
        return self._ctl.request(
            namespace, cost_center, user, duration, reason, at, starts_at=starts_at
        )

    def book(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        starts_at: datetime,
        duration: timedelta | None,
        reason: str,
        at: datetime,
    ) -> ActivationRequest:
        return self._ctl.book(namespace, cost_center, user, starts_at, duration, reason, at)

    def approve(
        self, request_id: str, approver: str, at: datetime
    ) -> tuple[ActivationRequest, Opened | None]:
        return self._ctl.approve(request_id, approver, at)

    def check_may_decide(self, request_id: str, user: str, at: datetime) -> ActivationRequest:
        return self._ctl.check_may_decide(request_id, user, at)

    def deny(self, request_id: str, approver: str, reason: str, at: datetime) -> ActivationRequest:
        return self._ctl.deny(request_id, approver, reason, at)

    def cancel(self, request_id: str, user: str, at: datetime) -> ActivationRequest:
        return self._ctl.cancel(request_id, user, at)

    def find(self, request_id: str) -> ActivationRequest | None:
        return self._ctl.store.get_request(request_id)

    def get(self, request_id: str) -> ActivationRequest:
        """The request, or a `not found` refusal."""
        request = self.find(request_id)
        if request is None:
            raise Refusal(
                RefusalReason.NOT_FOUND,
                f"request {request_id!r} not found (`namespace-ctl requests --all` lists them)",
            )
        return request

    def requests(
        self, statuses: Collection[RequestStatus] | None = None
    ) -> list[ActivationRequest]:
        return self._ctl.requests(statuses)

    def pending(self) -> list[ActivationRequest]:
        """Immediate requests awaiting a decision (bookings are in `bookings`)."""
        return [r for r in self._ctl.requests([RequestStatus.PENDING]) if not r.is_booking]

    def bookings(self) -> list[ActivationRequest]:
        return self._ctl.bookings()

    def is_announced(self, request_id: str) -> bool:
        """Has the request's message reached the approvals channel?"""
        return self._ctl.namespaces.outbox.is_delivered(request_notice_id(request_id))


@dataclass(frozen=True)
class CostCenters:
    """Which cost centers may pay for activations, for which namespaces (admin)."""

    _ctl: ActivationService

    def all(self) -> list[CostCenterPermission]:
        return self._ctl.cost_centers()

    def authorized(self) -> list[CostCenterPermission]:
        return [p for p in self._ctl.cost_centers() if p.is_authorized]

    def get(self, name: str) -> CostCenterPermission:
        return self._ctl.cost_center(name)

    def set(
        self,
        name: str,
        at: datetime,
        *,
        authorized: bool | None = None,
        max_concurrent: int | None = None,
        clear_max: bool = False,
        add_namespaces: Collection[str] = (),
        remove_namespaces: Collection[str] = (),
        create: bool = False,
    ) -> CostCenterPermission:
        return self._ctl.set_cost_center(
            name,
            at,
            authorized=authorized,
            max_concurrent=max_concurrent,
            clear_max=clear_max,
            add_namespaces=add_namespaces,
            remove_namespaces=remove_namespaces,
            create=create,
        )

    def activatable_namespaces(self, cost_centers: list[CostCenterPermission]) -> list[str]:
        """Managed namespaces that one of `cost_centers` lists (one namespace list call)."""
        service = self._ctl.namespaces
        return sorted(
            info.name
            for info in service.cluster.list_namespaces()
            if service.exclusions.reason(info) is None
            and any(lists_namespace(p, info.name) for p in cost_centers)
        )


@dataclass(frozen=True)
class Reports:
    """What was done and what it saved: the audit log, the weeks, the estimate."""

    _ctl: ActivationService

    def history(
        self, namespace: str | None = None, limit: int | None = None
    ) -> list[ActivityRecord]:
        return self._ctl.namespaces.history(namespace, limit)

    def history_page(
        self, query: HistoryQuery, limit: int, after: tuple[int, str, str] | None = None
    ) -> list[ActivityRecord]:
        """One page of the filtered audit log, newest first (see `Store.history_page`)."""
        return self._ctl.store.history_page(query, limit, after)

    def calendar(self, start: datetime, end: datetime) -> list[CalendarEvent]:
        """What a calendar shows for [start, end): sleep, windows past and live, bookings and
        requests (ValueError for a range that is empty or longer than 92 days)."""
        service = self._ctl.namespaces
        return calendar_events(
            start,
            end,
            service.calendar,
            service.store.records_overlapping(epoch(start) - LONGEST_WINDOW, epoch(end)),
            self._ctl.slots(),
            self._ctl.requests(),
            service.rates,
        )

    def week(self, week: Week, at: datetime) -> WeekSummary:
        return self._ctl.namespaces.week_summary(week, at)

    def post_weekly_summary(self, at: datetime) -> WeekSummary:
        """The summary of the week that ended before `at`, to the channel's outbox."""
        return self._ctl.namespaces.post_weekly_summary(at)

    def estimate(self, at: datetime) -> Estimate:
        """A normal week under the current config, read from the cluster (never changed)."""
        service, config = self._ctl.namespaces, self._ctl.config
        return estimate(
            service.cluster,
            service.store,
            service.exclusions,
            service.rates,
            normal_week(config.business_hours, config.zone, at),
            at,
            awake_by_activation={s.namespace for s in self._ctl.slots()},
        )


@dataclass(frozen=True)
class Health:
    """What readiness and the notifier need: the store answering, the channel's outbox."""

    _ctl: ActivationService

    def check_store(self) -> None:
        """Raise when the store does not answer a cheap read."""
        self._ctl.store.get_cost_center("__readyz__")

    @property
    def outbox(self) -> Outbox:
        return self._ctl.namespaces.outbox

    # An API request's `Idempotency-Key`: its first answer, kept a day (see `Store`).
    def claim_idempotency(
        self, key: str, fingerprint: str, at: int, ttl_seconds: int
    ) -> IdempotentAnswer | None:
        return self._ctl.store.claim_idempotency(key, fingerprint, at, ttl_seconds)

    def finish_idempotency(self, key: str, status: int, body: str) -> None:
        self._ctl.store.finish_idempotency(key, status, body)

    def release_idempotency(self, key: str) -> None:
        self._ctl.store.release_idempotency(key)

    def close(self) -> None:
        self._ctl.store.close()


@dataclass(frozen=True)
class NamespaceCtl:
    """The front: one per process, built by `core.wiring.build_app`. `services` is for core
    (wiring, the elector): an adapter calls the groups only."""

    services: ActivationService = field(repr=False)
    schedule: Schedule = field(init=False)
    activations: Activations = field(init=False)
    approvals: Approvals = field(init=False)
    cost_centers: CostCenters = field(init=False)
    reports: Reports = field(init=False)
    health: Health = field(init=False)

    def __post_init__(self) -> None:
        for name, group in (
            ("schedule", Schedule),
            ("activations", Activations),
            ("approvals", Approvals),
            ("cost_centers", CostCenters),
            ("reports", Reports),
            ("health", Health),
        ):
            object.__setattr__(self, name, group(self.services))

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def clock(self) -> Clock:
        return self.services.namespaces.clock

    def now(self) -> datetime:
        return self.clock.now()

    def close(self) -> None:
        self.health.close()
