"""`system_metrics`: daily counters written by the use cases, per local day.

Each counter is one row per (name, period), period = the local date (`YYYY-MM-DD`, configured
zone) of the operation's `at`, so a pass at 00:30 in Madrid counts on Madrid's day, not UTC's.
Recording never fails an operation: a store error here is logged and the counters of that run are
lost (the activity records, written first, stay the truth). Dry runs record nothing.

Counters (see README "Metrics"):
- `workloads_slept`, `workloads_woken`: workloads patched to sleep / awake (activations included);
  `drift_corrected`: workloads scaled up while asleep and put back to sleep (not in
  `workloads_slept`); `workload_failures`: workloads a patch failed on.
- `namespaces_slept`, `namespaces_woken`: `auto_shutdown` / `auto_startup` records added.
- `operations.<operation>.<ok|failed>`: one per run that did something (`shutdown`, `startup`,
  `reconcile`, and the activation use cases by name); `failed` when a workload failed.
- `scaling_seconds`: wall time of those passes.
- `activations_started`, `activation_hours` (split over the local days the window spanned).
- `refused.<reason>`: refused requests (written by `core.activation`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from datetime import time as clock_time
from typing import Concatenate, ParamSpec, Protocol, TypeVar
from zoneinfo import ZoneInfo

from core.calendar import BusinessCalendar
from core.clock import epoch
from core.models import Action, OperationResult, OutcomeStatus, WorkloadOutcome
from core.policy import RefusalReason
from core.store.base import Store

log = logging.getLogger("namespace_ctl.metrics")
P = ParamSpec("P")

DRIFT_CORRECTED = "drift_corrected"
WORKLOADS_SLEPT = "workloads_slept"
WORKLOADS_WOKEN = "workloads_woken"
WORKLOAD_FAILURES = "workload_failures"
NAMESPACES_SLEPT = "namespaces_slept"
NAMESPACES_WOKEN = "namespaces_woken"
SCALING_SECONDS = "scaling_seconds"
ACTIVATIONS_STARTED = "activations_started"
ACTIVATION_HOURS = "activation_hours"
COUNTERS = (
    WORKLOADS_SLEPT,
    WORKLOADS_WOKEN,
    DRIFT_CORRECTED,
    WORKLOAD_FAILURES,
    NAMESPACES_SLEPT,
    NAMESPACES_WOKEN,
    SCALING_SECONDS,
    ACTIVATIONS_STARTED,
    ACTIVATION_HOURS,
)
PASS_OPERATIONS = ("shutdown", "startup", "reconcile")
ACTIVATION_USE_CASES = (
    "activate",
    "deactivate",
    "extend",
    "request",
    "approve",
    "deny",
    "cancel",
    "book",
)
# Decorated like the use cases but change nothing: not an operation.
READ_ONLY_USE_CASES = frozenset({"check_may_decide"})
# Outcomes that are no change at all.
_NO_CHANGE = (OutcomeStatus.UNCHANGED, OutcomeStatus.GONE, OutcomeStatus.PLANNED)


def operation_metric(operation: str, ok: bool) -> str:
    return f"operations.{operation}.{'ok' if ok else 'failed'}"


def local_day(ts: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).date().isoformat()


def add_daily(store: Store, zone: ZoneInfo, ts: int, counts: Mapping[str, float]) -> None:
    """Add `counts` to the counters of `ts`'s local day (zero counts are not written); a store
    failure is logged (once: the rest of these counts are dropped), never raised."""
    day = local_day(ts, zone)
    try:
        for name, amount in counts.items():
            if amount:
                store.increment_metric(name, day, amount, ts)
    except Exception:
        log.exception("could not count %s for %s in system_metrics", dict(counts), day)


def daily_metrics(store: Store, day: str, names: Iterable[str] | None = None) -> dict[str, float]:
    """The counters of one local day (every known name, or `names`), without the zeros."""
    wanted = list(names) if names is not None else known_names()
    values = {name: store.get_metric(name, day) for name in wanted}
    return {name: value for name, value in values.items() if value}


def known_names() -> list[str]:
    operations = [*PASS_OPERATIONS, *ACTIVATION_USE_CASES]
    return [
        *COUNTERS,
        *(operation_metric(op, ok) for op in operations for ok in (True, False)),
        *(f"refused.{reason.value}" for reason in RefusalReason),
    ]


# ---- passes over the cluster ----------------------------------------------------------------


def outcome_counts(outcomes: Iterable[WorkloadOutcome]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.status is OutcomeStatus.FAILED:
            counts[WORKLOAD_FAILURES] += 1
        elif outcome.status is OutcomeStatus.DRIFT:
            counts[DRIFT_CORRECTED] += 1
        elif outcome.status is OutcomeStatus.CHANGED:
            counts[WORKLOADS_SLEPT if outcome.action is Action.SLEEP else WORKLOADS_WOKEN] += 1
    return counts


def pass_counts(result: OperationResult, seconds: float, count_operation: bool) -> dict[str, float]:
    """The day's increments for one pass (empty when it did nothing)."""
    counts = outcome_counts(o for ns in result.namespaces for o in ns.outcomes)
    for ns in result.namespaces:
        if ns.record_added:
            counts[NAMESPACES_SLEPT if ns.action is Action.SLEEP else NAMESPACES_WOKEN] += 1
    increments: dict[str, float] = dict(counts)
    if count_operation and (counts or result.errors):
        increments[operation_metric(result.operation, result.ok)] = 1
        increments[SCALING_SECONDS] = round(seconds, 3)
    return increments


def record_pass(
    store: Store,
    zone: ZoneInfo,
    result: OperationResult,
    seconds: float,
    count_operation: bool = True,
) -> None:
    if result.dry_run:
        return
    add_daily(store, zone, result.at, pass_counts(result, seconds, count_operation))


class MetricsHost(Protocol):
    """What the recording decorators need of the service they wrap."""

    store: Store
    calendar: BusinessCalendar


H = TypeVar("H", bound=MetricsHost)
PassMethod = Callable[Concatenate[H, P], OperationResult]


def records_pass(method: PassMethod[H, P]) -> PassMethod[H, P]:
    """A use case over the cluster: its pass counts as an operation in the day's counters."""
    return _recorded(method, count_operation=True)


def records_workloads(method: PassMethod[H, P]) -> PassMethod[H, P]:
    """A step of another use case (which is the operation): only its workloads are counted."""
    return _recorded(method, count_operation=False)


def _recorded(method: PassMethod[H, P], count_operation: bool) -> PassMethod[H, P]:
    def wrapper(self: H, /, *args: P.args, **kwargs: P.kwargs) -> OperationResult:
        started = time.monotonic()
        result = method(self, *args, **kwargs)
        elapsed = time.monotonic() - started
        record_pass(self.store, self.calendar.zone, result, elapsed, count_operation)
        return result

    functools.update_wrapper(wrapper, method)
    return wrapper


# ---- activations ----------------------------------------------------------------------------


def record_use_case(store: Store, zone: ZoneInfo, at: datetime, name: str, result: object) -> None:
    """An activation use case that succeeded: `operations.<name>.<ok|failed>` (failed when the
    window it opened failed on a workload)."""
    if name in READ_ONLY_USE_CASES:
        return
    add_daily(store, zone, epoch(at), {operation_metric(name, not _has_failures(result)): 1})


def _has_failures(result: object) -> bool:
    if isinstance(result, tuple):
        return any(_has_failures(part) for part in result)
    return bool(getattr(result, "failed", None))


def record_activation_opened(
    store: Store, zone: ZoneInfo, ts: int, outcomes: Iterable[WorkloadOutcome]
) -> None:
    counts = outcome_counts(outcomes)
    counts[ACTIVATIONS_STARTED] += 1
    add_daily(store, zone, ts, counts)


def record_activation_closed(store: Store, zone: ZoneInfo, start: int, end: int) -> None:
    """The window's hours, on each local day it spanned."""
    for day_start, day_end in split_by_local_day(start, end, zone):
        add_daily(store, zone, day_start, {ACTIVATION_HOURS: (day_end - day_start) / 3600})


def split_by_local_day(start: int, end: int, zone: ZoneInfo) -> list[tuple[int, int]]:
    pieces = []
    cursor = start
    while cursor < end:
        day = datetime.fromtimestamp(cursor, zone).date()
        midnight = epoch(datetime.combine(day + timedelta(days=1), clock_time(0), zone))
        pieces.append((cursor, min(end, midnight)))
        cursor = min(end, midnight)
    return pieces
