"""`estimate`: what a normal week under the current config would save, before anyone adopts the
tool. Read-only: one inventory read of the cluster (lists, never a write) and the open shutdown
records of the store.

A namespace's footprint is what its workloads request while awake (`core.costs.footprint` of each
workload's snapshot). A namespace asleep now is priced from its open `auto_shutdown` record's
snapshot instead: asleep, a DaemonSet schedules no pods and the cluster would say it costs nothing.

"A normal week" is one ISO week of the configured business hours without holidays and without a
DST change: measured with the business calendar's own rules, so it is 168 h minus the business
hours of the configured weekdays (07:00-20:00 Mon-Fri: 168 - 65 = 103 h asleep).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from core.calendar import BusinessCalendar
from core.clock import epoch
from core.cluster.base import Cluster
from core.config import BusinessHours, Holidays
from core.costs import DEFAULT_RATES, Footprint, Rates, footprint, money, percent, sum_shown
from core.inventory import Exclusions, NamespaceView, read_inventory
from core.models import ActivityRecord, OperationType, WorkloadSnapshot
from core.report import Week, iso_week
from core.store.base import Store

DEFAULT_RATES_SOURCE = "AWS Fargate on-demand us-east-1"
CONFIGURED_RATES_SOURCE = "configured"
WEEK_SECONDS = 7 * 86_400
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# A zone changes its offset at most a few times a year: a week without a change is near.
_WEEKS_SEARCHED = 53

Source = Literal["cluster", "shutdown record"]


class NormalWeek(BaseModel):
    """The week the estimate assumes: the configured business hours, no holidays, no DST change."""

    timezone: str
    weekdays: list[int]  # ISO weekdays, 1 = Monday
    start: str  # HH:MM local
    end: str
    reference_week: str  # the ISO week it was measured on (the first one without a DST change)
    awake_hours: float
    asleep_hours: float
    rule: str  # the rule in words, e.g. "Mon-Fri 07:00-20:00 Europe/Madrid, no holidays: ..."


class RatesUsed(BaseModel):
    currency: str
    cpu_core_hour: float
    memory_gib_hour: float
    source: str  # DEFAULT_RATES_SOURCE when the config keeps the defaults, else "configured"


class NamespaceEstimate(BaseModel):
    namespace: str
    source: Source  # where the footprint comes from: the cluster now, or its shutdown snapshot
    workloads: int
    pods: int  # pods it runs awake (CronJobs count none)
    cpu_cores: float
    memory_gib: float
    hourly_cost: float  # an hour awake, to 4 decimals
    always_on_cost: float  # a week awake (168 h), in cents
    asleep_hours: float  # the normal week's asleep hours
    saved: float  # the normal week's saving, in cents
    saved_percent: float
    without_requests: list[str] = Field(default_factory=list)  # "Kind/name": pods, no requests


class ExcludedNamespace(BaseModel):
    namespace: str
    reason: str


class Estimate(BaseModel):
    at: int
    currency: str
    rates: RatesUsed
    week: NormalWeek
    namespaces: list[NamespaceEstimate]  # managed namespaces, largest saving first
    excluded: list[ExcludedNamespace]  # never touched: no figures
    total_hourly_cost: float  # sums of the rows as shown
    total_always_on_cost: float
    total_saved: float
    saved_percent: float
    without_requests: int  # workloads flagged in every row together


# ---- the normal week ----------------------------------------------------------------------------


def normal_week(hours: BusinessHours, zone: ZoneInfo, at: datetime) -> NormalWeek:
    """The configured hours over the first ISO week from `at`'s without a DST change, measured
    with a holiday-free calendar of the same rules."""
    calendar = BusinessCalendar(zone, hours, Holidays())
    week = _week_without_dst_change(at, zone)
    awake_seconds = sum(_business_seconds(calendar, day) for day, _, _ in week.days())
    awake, asleep = awake_seconds / 3600, (WEEK_SECONDS - awake_seconds) / 3600
    weekdays = sorted(set(hours.weekdays))
    start, end = hours.start.strftime("%H:%M"), hours.end.strftime("%H:%M")
    per_day = awake / len(weekdays)
    rule = (
        f"{weekday_names(weekdays)} {start}-{end} {zone.key}, no holidays: "
        f"{len(weekdays)} x {per_day:g} h = {awake:g} h awake; "
        f"168 - {awake:g} = {asleep:g} h asleep"
    )
    return NormalWeek(
        timezone=zone.key,
        weekdays=weekdays,
        start=start,
        end=end,
        reference_week=week.label,
        awake_hours=awake,
        asleep_hours=asleep,
        rule=rule,
    )


def _week_without_dst_change(at: datetime, zone: ZoneInfo) -> Week:
    week = iso_week(at, zone)
    for _ in range(_WEEKS_SEARCHED):
        if week.end - week.start == WEEK_SECONDS:
            return week
        week = iso_week(datetime.fromtimestamp(week.end, zone) + timedelta(days=1), zone)
    raise ValueError(f"{zone.key}: no week of 168 hours within a year of {at.isoformat()}")


def _business_seconds(calendar: BusinessCalendar, day_iso: str) -> int:
    edges = calendar.business_day_edges(datetime.fromisoformat(day_iso).date())
    if edges is None:
        return 0
    return epoch(edges[1]) - epoch(edges[0])


def weekday_names(weekdays: Iterable[int]) -> str:
    """ISO weekdays in words: runs of three or more as ranges ("Mon-Fri", "Mon, Wed, Sat-Sun")."""
    runs: list[list[int]] = []
    for day in sorted(set(weekdays)):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        names = [WEEKDAY_NAMES[day - 1] for day in run]
        parts.append(f"{names[0]}-{names[-1]}" if len(run) > 1 else names[0])
    return ", ".join(parts)


# ---- the estimate ------------------------------------------------------------------------------


def rates_used(rates: Rates) -> RatesUsed:
    return RatesUsed(
        currency=rates.currency,
        cpu_core_hour=float(rates.cpu_core_hour),
        memory_gib_hour=float(rates.memory_gib_hour),
        source=DEFAULT_RATES_SOURCE if rates == DEFAULT_RATES else CONFIGURED_RATES_SOURCE,
    )


def estimate(
    cluster: Cluster,
    store: Store,
    exclusions: Exclusions,
    rates: Rates,
    week: NormalWeek,
    at: datetime,
    awake_by_activation: Collection[str] = (),
) -> Estimate:
    """Every managed namespace's week always on and its saving over `week` (no writes). A
    namespace asleep is priced from its shutdown snapshot; one awake by activation (its night's
    record still open) from the cluster, since it runs now."""
    inventory = read_inventory(cluster, exclusions)
    asleep = {
        r.namespace_name: r
        for r in store.open_records(OperationType.AUTO_SHUTDOWN)
        if r.namespace_name not in awake_by_activation
    }
    rows = [_namespace_estimate(v, asleep.get(v.name), rates, week) for v in inventory.managed()]
    rows.sort(key=lambda row: (-row.saved, row.namespace))
    excluded = [
        ExcludedNamespace(namespace=view.name, reason=view.excluded_reason)
        for view in inventory.namespaces.values()
        if view.excluded_reason is not None
    ]
    always_on = sum_shown(row.always_on_cost for row in rows)
    saved = sum_shown(row.saved for row in rows)
    return Estimate(
        at=epoch(at),
        currency=rates.currency,
        rates=rates_used(rates),
        week=week,
        namespaces=rows,
        excluded=excluded,
        total_hourly_cost=sum_shown(row.hourly_cost for row in rows),
        total_always_on_cost=always_on,
        total_saved=saved,
        saved_percent=percent(saved, always_on),
        without_requests=sum(len(row.without_requests) for row in rows),
    )


def _namespace_estimate(
    view: NamespaceView, shutdown: ActivityRecord | None, rates: Rates, week: NormalWeek
) -> NamespaceEstimate:
    snapshots: list[WorkloadSnapshot]
    if shutdown is not None and shutdown.workloads:
        source: Source = "shutdown record"
        snapshots = shutdown.workloads
    else:
        source = "cluster"
        snapshots = view.snapshots
    needs = footprint(snapshots)
    always_on, saved = _cost(needs, rates, 168), _cost(needs, rates, week.asleep_hours)
    return NamespaceEstimate(
        namespace=view.name,
        source=source,
        workloads=len(snapshots),
        pods=needs.pods,
        cpu_cores=float(needs.cpu_cores),
        memory_gib=float(needs.memory_gib),
        hourly_cost=float(round(needs.hourly_cost(rates), 4)),
        always_on_cost=money(always_on),
        asleep_hours=week.asleep_hours,
        saved=money(saved),
        saved_percent=percent(saved, always_on),
        without_requests=list(needs.without_requests),
    )


def _cost(needs: Footprint, rates: Rates, hours: float) -> Decimal:
    return needs.hourly_cost(rates) * Decimal(str(hours))
