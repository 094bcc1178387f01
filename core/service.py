"""The use cases: shutdown, startup, reconcile, status, history.

Both the bot and the CLI call these and nothing below them. Every use case takes the instant it
acts at (`at`): a job passes its scheduled fire time, a command its start, so record timestamps
are exact and part of the idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from core.calendar import BusinessCalendar
from core.clock import Clock, epoch
from core.cluster.base import Cluster
from core.costs import DEFAULT_RATES, SECONDS_PER_HOUR, Rates, footprint, money
from core.errors import RefusedError
from core.events import EventLevel, pass_events, post_events
from core.inventory import (
    Exclusions,
    Inventory,
    LastRead,
    NamespaceView,
    SharedRead,
    SingleFlight,
    read_inventory,
)
from core.metrics import DRIFT_CORRECTED, records_pass, records_workloads
from core.models import (
    Action,
    ActivationSlot,
    ActivityRecord,
    DesiredState,
    HistoryQuery,
    NamespaceResult,
    OperationResult,
    OperationType,
    OutcomeStatus,
    RecordStatus,
    WorkloadKind,
    WorkloadOutcome,
)
from core.notices import (
    ESTIMATED_SAVING,
    Notice,
    NoticeKind,
    Outbox,
    operation_notices,
    weekly_summary,
)
from core.prewake import WakePlan
from core.readiness import NamespaceCheck, WakeFollower, Waking, assess
from core.report import Week, WeekSummary, WeekTotals, iso_week, summarize_week, week_totals
from core.scaling.converge import Item, converge
from core.scaling.registry import strategy_for
from core.store.base import Store

log = logging.getLogger("namespace_ctl.service")
MAX_ERROR_MESSAGE = 2000


class NamespaceStatus(BaseModel):
    namespace: str
    excluded: str | None
    desired: DesiredState
    state: str  # awake | asleep | partly asleep | no workloads
    workloads: int
    sleeping: int
    asleep_since: int | None
    # The activation window holding it awake (claimed or live), if any.
    window: ActivationSlot | None = None
    # What it costs an hour awake: from its night's snapshot while asleep, else what runs now.
    hourly_cost: float = 0.0
    # After a wake, until its pods are ready (`serve` follows them): "waking (3/5 ready)", or
    # "not ready (1/3 ready)" past `wake.ready_timeout`.
    readiness: str | None = None


class WorkloadStatus(BaseModel):
    kind: WorkloadKind
    name: str
    sleeping: bool
    replicas: int  # what it runs awake: the original count while asleep
    cpu_cores: float
    memory_gib: float


class NamespaceDetail(BaseModel):
    status: NamespaceStatus
    workloads: list[WorkloadStatus]


def workload_statuses(view: NamespaceView) -> list[WorkloadStatus]:
    rows = []
    for kind, obj in view.workloads:
        strategy = strategy_for(kind)
        snapshot = strategy.snapshot(obj)
        rows.append(
            WorkloadStatus(
                kind=kind,
                name=snapshot.name,
                sleeping=strategy.is_sleeping(obj),
                replicas=snapshot.replicas,
                cpu_cores=snapshot.cpu_cores,
                memory_gib=snapshot.memory_gib,
            )
        )
    return sorted(rows, key=lambda w: (w.kind.value, w.name))


class StatusReport(BaseModel):
    at: int
    # When the cluster was read: now for the CLI; in `serve`, the last pass (our own patches
    # since then included).
    read_at: int
    timezone: str
    business_time: bool
    next_transition: int
    next_state: DesiredState
    namespaces: list[NamespaceStatus]


# Older than this, what the last pass read is read again: the reconcile runs every 5 minutes,
# but a follower replica (leader election) runs no pass at all.
LAST_PASS_MAX_AGE = 6 * 60


@dataclass
class NamespaceService:
    cluster: Cluster
    store: Store
    calendar: BusinessCalendar
    exclusions: Exclusions
    clock: Clock
    rates: Rates = DEFAULT_RATES
    # Notices for the channel (delivered by the serving process): see core.notices.
    outbox: Outbox = field(init=False)
    # `cluster.events`: which Kubernetes Events to create (core.events).
    events: EventLevel = "all"
    # `wake.lead_time`: wake early enough to be ready at business start (core.prewake).
    wake_plan: WakePlan | None = None
    # Woken namespaces followed until their pods are ready (core.readiness; in `serve`).
    wakes: WakeFollower = field(init=False)
    # `serve` answers status from what the last pass read (`LastRead`); the CLI reads afresh.
    status_from_last_pass: bool = False
    # Reads for `status` only: the operations always read the cluster afresh.
    _status_read: SharedRead = field(init=False, repr=False)
    # Status at the same second, asked at once (a burst of commands, page loads): one report.
    _shared_reports: SingleFlight[int, StatusReport] = field(init=False, repr=False)
    _last_read: LastRead = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.store)
        self.wakes = WakeFollower()
        self._status_read = SharedRead(self._inventory)
        self._shared_reports = SingleFlight()
        self._last_read = LastRead()

    @property
    def last_read(self) -> LastRead:
        return self._last_read

    def forward_reads(self, reads: LastRead) -> None:
        """Where each pass's read and our patches go (a worker process sends them on)."""
        self._last_read = reads

    # ---- use cases -------------------------------------------------------------------------

    @records_pass
    def shutdown(
        self, namespaces: Sequence[str] = (), dry_run: bool = False, at: datetime | None = None
    ) -> OperationResult:
        """Put the managed namespaces (or the named ones) to sleep now."""
        at = at or self.clock.now()
        inventory = self._inventory()
        views = self._select(inventory, namespaces)
        result = OperationResult(operation="shutdown", at=epoch(at), dry_run=dry_run)
        self._sleep(views, at, dry_run, result)
        self.announce(result)
        return result

    @records_pass
    def startup(
        self, namespaces: Sequence[str] = (), dry_run: bool = False, at: datetime | None = None
    ) -> OperationResult:
        """Wake every sleeping managed namespace (or the named ones), restoring exactly."""
        at = at or self.clock.now()
        inventory = self._inventory()
        views = self._select(inventory, namespaces)
        result = OperationResult(operation="startup", at=epoch(at), dry_run=dry_run)
        self._wake(views, at, dry_run, result)
        self.announce(result)
        return result

    @records_pass
    def reconcile(self, dry_run: bool = False, at: datetime | None = None) -> OperationResult:
        """Drive every managed namespace to the schedule's state at `at` (level-triggered)."""
        at = at or self.clock.now()
        inventory = self._inventory()
        live = self._live_windows()
        asleep: list[NamespaceView] = []
        awake: list[NamespaceView] = []
        plan = self.wake_plan
        start = plan.business_start_ahead(at) if plan is not None else None
        window: list[NamespaceView] = []  # in their pre-wake window: woken in waves
        for view in inventory.managed():
            if view.name in live:
                continue  # an activation window owns it until the window ends
            if plan is not None and start is not None and plan.in_window(view.name, start, at):
                window.append(view)
                continue
            wanted = self.calendar.desired_state(view.name, at)
            (asleep if wanted is DesiredState.ASLEEP else awake).append(view)
        if plan is not None and start is not None and window:
            awake += plan.wave(window, start, at)
        result = OperationResult(operation="reconcile", at=epoch(at), dry_run=dry_run)
        nights = self._open_shutdowns()  # one read for the pass (the three steps below)
        if not dry_run:
            self._close_nights_of_deleted(inventory, nights, at)
        self._sleep(asleep, at, dry_run, result, nights=nights)
        self._wake(awake, at, dry_run, result, nights=nights)
        # An early wake before the business start is the plan, not a catch-up.
        self.announce(result, catch_up=not self._at_an_edge(at) and not window)
        return result

    def _close_nights_of_deleted(
        self, inventory: Inventory, nights: dict[str, ActivityRecord], at: datetime
    ) -> None:
        """A namespace deleted while asleep: its night ends when a pass finds it gone (reports
        stop counting it asleep), and a namespace of the same name created later gets its own.
        The nights closed here leave `nights`."""
        ts = epoch(at)
        for name, record in list(nights.items()):
            if name in inventory.namespaces or record.timestamp_start > ts:
                continue
            del nights[name]
            if self.store.close_record(name, record.timestamp_start, record.operation_type, ts):
                message = (
                    f"namespace deleted while asleep: found gone by the pass at {at.isoformat()}"
                )
                status = (
                    record.status
                    if record.status is RecordStatus.FAILED
                    else RecordStatus.COMPLETED
                )
                self.store.set_status(*record.key, status, message[:MAX_ERROR_MESSAGE])
                log.info("namespace %s is gone: its night's record is closed", name)

    def status(self, at: datetime | None = None) -> StatusReport:
        at = at or self.clock.now()

        def report() -> StatusReport:
            inventory, read_at = self._status_inventory()
            return self._report(inventory, read_at, at)

        return self._shared_reports(epoch(at), report)

    def status_with_view(
        self, name: str, at: datetime
    ) -> tuple[StatusReport, NamespaceView | None]:
        """The status and one namespace's view (its workloads), from one read."""
        inventory, read_at = self._status_inventory()
        return self._report(inventory, read_at, at), inventory.namespaces.get(name)

    def managed_names(self) -> frozenset[str]:
        """The managed namespaces: from the last pass in `serve`, else one namespace list."""
        latest = self._recent_last_read()
        if latest is not None:
            return frozenset(view.name for view in latest[0].managed())
        return frozenset(
            info.name
            for info in self.cluster.list_namespaces()
            if self.exclusions.reason(info) is None
        )

    def _report(self, inventory: Inventory, read_at: int, at: datetime) -> StatusReport:
        shutdowns = self._open_shutdowns()
        windows = {slot.namespace: slot for slot in self.store.list_slots()}
        waking = self.wakes.progress()
        transition, next_state = self.calendar.next_transition(at)
        return StatusReport(
            at=epoch(at),
            read_at=read_at,
            timezone=str(self.calendar.zone),
            business_time=self.calendar.is_business_time(at),
            next_transition=epoch(transition),
            next_state=next_state,
            namespaces=[
                _namespace_status(
                    view,
                    DesiredState.AWAKE
                    if view.name in windows
                    else self.calendar.desired_state(view.name, at),
                    shutdowns.get(view.name),
                    windows.get(view.name),
                    self.rates,
                    waking.get(view.name),
                )
                for view in inventory.namespaces.values()
            ],
        )

    def history(
        self, namespace: str | None = None, limit: int | None = None
    ) -> list[ActivityRecord]:
        return self.store.history(namespace, limit)

    def week_summary(self, week: Week, at: datetime | None = None) -> WeekSummary:
        """The week's sleep, savings and activation costs (up to `at` when the week is not
        over), with the previous week's totals to compare; reads only the records of those two
        weeks and their daily counters, never the cluster."""
        now = epoch(at or self.clock.now())
        before = self._summarize(week.previous(), now)
        return self._summarize(week, now, previous=week_totals(before))

    def _summarize(self, week: Week, now: int, previous: WeekTotals | None = None) -> WeekSummary:
        until = max(week.start, min(week.end, now))
        return summarize_week(
            self.store.records_overlapping(week.start, week.end),
            week,
            now,
            self.rates,
            drift_corrected=self._daily_total(DRIFT_CORRECTED, week, until),
            previous=previous,
        )

    def _daily_total(self, metric: str, week: Week, until: int) -> int:
        return int(
            sum(
                self.store.get_metric(metric, day) for day, begin, _ in week.days() if begin < until
            )
        )

    def post_weekly_summary(self, at: datetime) -> WeekSummary:
        """The summary of the ISO week that ended before `at` (the Monday job), to the outbox."""
        last_week = iso_week(at - timedelta(days=7), self.calendar.zone)
        summary = self.week_summary(last_week, at)
        self.notify([weekly_summary(summary, epoch(at))])
        return summary

    def announce(self, result: OperationResult, catch_up: bool = False) -> None:
        """Queue the operation's notices (none for a dry run or a pass that did nothing);
        `catch_up`: a reconcile pass away from the schedule's edges did it."""
        post_events(self.cluster, pass_events(result), self.events)
        notices = operation_notices(result, catch_up)
        for notice in notices:
            if notice.kind is NoticeKind.SHUTDOWN:
                notice.facts[ESTIMATED_SAVING] = self._estimated_saving(result)
        self.notify(notices)

    def _estimated_saving(self, result: OperationResult) -> dict[str, Any] | None:
        """What the namespaces put to sleep save until the schedule wakes them (at their
        shutdown snapshot; an activation in the night spends part of it)."""
        slept = [
            ns.hourly_cost
            for ns in result.namespaces
            if ns.action is Action.SLEEP and ns.hourly_cost is not None and ns.changed
        ]
        if not slept:
            return None
        at = datetime.fromtimestamp(result.at, self.calendar.zone)
        wake, _ = self.calendar.next_transition(at)
        hours = Decimal(epoch(wake) - result.at) / SECONDS_PER_HOUR
        amount = sum((Decimal(str(cost)) for cost in slept), Decimal(0)) * hours
        return {"amount": money(amount), "currency": self.rates.currency, "until": epoch(wake)}

    def in_pre_wake(self, at: datetime) -> bool:
        """Is `at` in the lead before a business start (the per-minute pass then reconciles)?"""
        return self.wake_plan is not None and self.wake_plan.business_start_ahead(at) is not None

    def assess_wakes(self, waking: Sequence[Waking], at: datetime) -> dict[str, NamespaceCheck]:
        """One readiness check of the namespaces being followed (cluster reads only)."""
        return assess(self.cluster, waking, epoch(at))

    def notify(self, notices: Iterable[Notice]) -> None:
        """Queue notices; a store failure here is logged, never undoes or fails the operation
        that already happened."""
        for notice in notices:
            try:
                self.outbox.post(notice)
            except Exception:
                log.exception("could not queue notice %s", notice.notice_id)

    # ---- for the activation use cases ------------------------------------------------------

    def namespace_view(self, name: str) -> NamespaceView | None:
        return self._inventory().namespaces.get(name)

    def wake_namespace(self, view: NamespaceView) -> list[WorkloadOutcome]:
        """Wake one namespace's sleeping workloads without touching its shutdown interval (an
        activation nests inside the night)."""
        return converge(
            self.cluster, view.sleeping_workloads(), Action.WAKE, patched=self._last_read.patched
        )

    @records_workloads
    def follow_schedule(self, view: NamespaceView, at: datetime) -> OperationResult:
        """Put one namespace where the schedule wants it now (after its window ended)."""
        result = OperationResult(operation="reconcile", at=epoch(at))
        if self.calendar.desired_state(view.name, at) is DesiredState.ASLEEP:
            self._sleep([view], at, False, result)
        else:
            self._wake([view], at, False, result)
        # The window's end is its own notice; only failures are worth one more.
        post_events(self.cluster, pass_events(result), self.events)
        self.notify(n for n in operation_notices(result) if n.kind is NoticeKind.FAILURE)
        return result

    # ---- sleep and wake --------------------------------------------------------------------

    def _sleep(
        self,
        views: Iterable[NamespaceView],
        at: datetime,
        dry_run: bool,
        result: OperationResult,
        *,
        nights: dict[str, ActivityRecord] | None = None,
    ) -> None:
        """`nights`: the open `auto_shutdown` records, when the caller has read them."""
        live = self._live_windows()
        open_records = self._open_shutdowns() if nights is None else nights
        batch: list[tuple[NamespaceResult, ActivityRecord | None, list[Item]]] = []
        new: list[tuple[int, ActivityRecord]] = []  # (index in batch, its night's record)
        views = list(views)
        if not dry_run:  # asleep again: nothing left to wait for
            self.wakes.forget(view.name for view in views if view.name not in live)
        for view in views:
            if not view.workloads:
                continue
            ns_result = NamespaceResult(namespace=view.name, action=Action.SLEEP)
            result.namespaces.append(ns_result)
            if view.name in live:
                ns_result.skipped_reason = "awake by activation"
                continue
            record = open_records.get(view.name)
            if record is not None:
                self._note_snapshot(ns_result, record)
            elif not dry_run:
                new.append((len(batch), _shutdown_record(view, epoch(at))))
            batch.append((ns_result, record, view.workloads))
        # Written before the first patch: a crash mid-run leaves one open interval that the
        # next pass finds and completes, never a second record. One write for them all.
        added = self.store.add_records([record for _, record in new])
        for (index, record), was_added in zip(new, added, strict=True):
            ns_result, _, workloads = batch[index]
            ns_result.record_added = was_added
            self._note_snapshot(ns_result, record)
            # Not added: that key was a night already closed.
            batch[index] = (ns_result, record if was_added else None, workloads)
        self._converge_batch(batch, Action.SLEEP, dry_run)
        if not dry_run:
            for ns_result, record, workloads in batch:
                if record is not None:
                    self._add_late_workloads(record, ns_result, workloads)
                    self._settle_shutdown_record(record, ns_result, at)

    def _note_snapshot(self, ns_result: NamespaceResult, record: ActivityRecord) -> None:
        ns_result.replicas = _replicas(record)
        ns_result.hourly_cost = float(footprint(record.workloads).hourly_cost(self.rates))

    def _wake(
        self,
        views: Iterable[NamespaceView],
        at: datetime,
        dry_run: bool,
        result: OperationResult,
        *,
        nights: dict[str, ActivityRecord] | None = None,
    ) -> None:
        open_records = self._open_shutdowns() if nights is None else nights
        batch: list[tuple[NamespaceResult, ActivityRecord | None, list[Item]]] = []
        for view in views:
            sleeping = view.sleeping_workloads()
            record = open_records.get(view.name)
            if not sleeping and record is None:
                continue
            ns_result = NamespaceResult(
                namespace=view.name,
                action=Action.WAKE,
                replicas=_replicas(record) if record is not None else None,
            )
            result.namespaces.append(ns_result)
            batch.append((ns_result, record, sleeping))
        self._converge_batch(batch, Action.WAKE, dry_run)
        if dry_run:
            return
        ts = epoch(at)
        new: list[NamespaceResult] = []
        for ns_result, record, _ in batch:
            if record is not None:
                self.store.close_record(
                    record.namespace_name, record.timestamp_start, record.operation_type, ts
                )
                new.append(ns_result)
            elif not self._same_failed_wake(ns_result, at):
                new.append(ns_result)
        added = self.store.add_records([_startup_record(ns, ts) for ns in new])
        for ns_result, was_added in zip(new, added, strict=True):
            ns_result.record_added = was_added

    def _same_failed_wake(self, ns_result: NamespaceResult, at: datetime) -> bool:
        """A wake retried after a failed one (its night already closed): one `auto_startup`
        record per failure episode, completed when a retry succeeds, not one per pass."""
        latest = self.store.history_page(
            HistoryQuery(namespace=ns_result.namespace, operation_type=OperationType.AUTO_STARTUP),
            limit=1,
        )
        if not latest or latest[0].status is not RecordStatus.FAILED:
            return False
        failed = latest[0]
        if ns_result.ok:
            message = f"completed at {at.isoformat()} after: {failed.error_message}"
            self.store.set_status(*failed.key, RecordStatus.COMPLETED, message[:MAX_ERROR_MESSAGE])
        return True

    def _converge_batch(
        self,
        batch: list[tuple[NamespaceResult, ActivityRecord | None, list[Item]]],
        action: Action,
        dry_run: bool,
    ) -> None:
        """One pool for every namespace of the pass: throughput is bounded by the cluster's
        concurrency, not by the number of workloads in the largest namespace."""
        items = [item for _, _, workloads in batch for item in workloads]
        patched = None if dry_run else self._last_read.patched
        outcomes = iter(converge(self.cluster, items, action, dry_run, patched))
        for ns_result, _, workloads in batch:
            ns_result.outcomes.extend(next(outcomes) for _ in workloads)

    def _add_late_workloads(
        self, record: ActivityRecord, ns_result: NamespaceResult, workloads: list[Item]
    ) -> None:
        """Workloads this pass put to sleep that the night's snapshot lacks (created while the
        namespace slept) join it, so costs and reports count them."""
        known = {(w.kind, w.name) for w in record.workloads}
        late = [
            strategy_for(kind).snapshot(obj)
            for (kind, obj), outcome in zip(workloads, ns_result.outcomes, strict=True)
            if outcome.status is OutcomeStatus.CHANGED and (kind, outcome.ref.name) not in known
        ]
        if late and self.store.add_snapshots(*record.key, late):
            record.workloads.extend(late)
            self._note_snapshot(ns_result, record)

    def _settle_shutdown_record(
        self, record: ActivityRecord, ns_result: NamespaceResult, at: datetime
    ) -> None:
        """Mark the open interval failed, or active again once a retry completed it."""
        if not ns_result.ok:
            status, message = RecordStatus.FAILED, _error_summary(ns_result)
        elif record.status is RecordStatus.FAILED:
            status = RecordStatus.ACTIVE
            message = f"completed at {at.isoformat()} after: {record.error_message}"
        else:
            return
        self.store.set_status(*record.key, status, message[:MAX_ERROR_MESSAGE])

    # ---- reads -----------------------------------------------------------------------------

    def _inventory(self) -> Inventory:
        read_at = epoch(self.clock.now())
        inventory = read_inventory(self.cluster, self.exclusions)
        self._last_read.remember(inventory, read_at)
        return inventory

    def _status_inventory(self) -> tuple[Inventory, int]:
        """The cluster as status shows it, and when it was read."""
        now = epoch(self.clock.now())
        return self._recent_last_read() or (self._status_read(), now)

    def _recent_last_read(self) -> tuple[Inventory, int] | None:
        """In `serve`, what the last pass read, unless it is older than LAST_PASS_MAX_AGE."""
        latest = self._last_read.latest() if self.status_from_last_pass else None
        if latest is None or epoch(self.clock.now()) - latest[1] > LAST_PASS_MAX_AGE:
            return None
        return latest

    def _open_shutdowns(self) -> dict[str, ActivityRecord]:
        return {r.namespace_name: r for r in self.store.open_records(OperationType.AUTO_SHUTDOWN)}

    def _at_an_edge(self, at: datetime) -> bool:
        """Is `at` a business-hours edge (the 20:00 or 07:00 job), not a later catch-up?"""
        return self.calendar.next_transition(at - timedelta(seconds=1))[0] == at

    def _live_windows(self) -> set[str]:
        """Namespaces held awake by an activation (claimed or live): never put to sleep."""
        return {slot.namespace for slot in self.store.list_slots()}

    def _select(self, inventory: Inventory, names: Sequence[str]) -> list[NamespaceView]:
        """The managed namespaces, or exactly the named ones (all checked before any change)."""
        if not names:
            return inventory.managed()
        views = []
        for name in names:
            view = inventory.namespaces.get(name)
            if view is None:
                raise RefusedError(
                    f"namespace {name!r} not found in the cluster "
                    "(`namespace-ctl status` lists them)"
                )
            if not view.managed:
                raise RefusedError(f"namespace {name!r} is excluded ({view.excluded_reason})")
            views.append(view)
        return views


def _shutdown_record(view: NamespaceView, ts: int) -> ActivityRecord:
    return ActivityRecord(
        namespace_name=view.name,
        timestamp_start=ts,
        operation_type=OperationType.AUTO_SHUTDOWN,
        status=RecordStatus.ACTIVE,
        user_id="namespace-ctl",
        workloads=view.snapshots,
    )


def _replicas(record: ActivityRecord) -> int:
    return sum(w.replicas for w in record.workloads)


def _startup_record(ns_result: NamespaceResult, ts: int) -> ActivityRecord:
    return ActivityRecord(
        namespace_name=ns_result.namespace,
        timestamp_start=ts,
        timestamp_end=ts,
        duration_minutes=0,
        operation_type=OperationType.AUTO_STARTUP,
        status=RecordStatus.COMPLETED if ns_result.ok else RecordStatus.FAILED,
        user_id="namespace-ctl",
        error_message=_error_summary(ns_result)[:MAX_ERROR_MESSAGE],
    )


def _error_summary(ns_result: NamespaceResult) -> str:
    return "; ".join(f"{o.ref.kind.value}/{o.ref.name}: {o.error}" for o in ns_result.failed)


def _namespace_status(
    view: NamespaceView,
    desired: DesiredState,
    shutdown: ActivityRecord | None,
    window: ActivationSlot | None,
    rates: Rates,
    waking: Waking | None = None,
) -> NamespaceStatus:
    facts = view.facts
    sleeping, running = facts.sleeping, facts.running
    return NamespaceStatus(
        namespace=view.name,
        excluded=view.excluded_reason,
        desired=desired,
        state=_state_word(facts.workloads, sleeping, running),
        workloads=facts.workloads,
        sleeping=sleeping,
        asleep_since=shutdown.timestamp_start if shutdown and window is None else None,
        window=window,
        hourly_cost=_hourly_cost(view, shutdown, window, rates),
        readiness=None if waking is None else _readiness_word(waking),
    )


def _readiness_word(waking: Waking) -> str:
    word = "not ready" if waking.told_not_ready else "waking"
    return f"{word} ({waking.ready}/{waking.total} ready)"


def _hourly_cost(
    view: NamespaceView,
    shutdown: ActivityRecord | None,
    window: ActivationSlot | None,
    rates: Rates,
) -> float:
    if shutdown is not None and shutdown.workloads and window is None:
        needs = footprint(shutdown.workloads)
    else:
        needs = view.facts.footprint
    return float(round(needs.hourly_cost(rates), 4))


def _state_word(total: int, sleeping: int, running: int) -> str:
    if total == 0:
        return "no workloads"
    if running == 0:
        return "asleep" if sleeping else "idle"
    return "partly asleep" if sleeping else "awake"
