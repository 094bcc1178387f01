"""The weekly summary as data: hours asleep per namespace and after-hours activations per cost
center over one ISO week in the configured zone, from the activity records alone (no cluster).

Pure functions, money priced by `core.costs`. Intervals follow DESIGN.md: an `auto_shutdown`
record spans the night (open ones count up to `now`), `manual_activation` windows nest inside it,
are subtracted from the namespace's sleep and charged to their cost center.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, computed_field

from core.clock import epoch
from core.costs import (
    DEFAULT_RATES,
    SECONDS_PER_HOUR,
    Footprint,
    Rates,
    footprint,
    money,
    percent,
    sum_shown,
)
from core.models import ActivityRecord, OperationType, RecordStatus

_WEEK_RE = re.compile(r"^(?P<year>\d{4})-W(?P<week>\d{2})$")
Interval = tuple[int, int]
TOP_REQUESTERS = 5
UTC = ZoneInfo("UTC")


@dataclass(frozen=True)
class Week:
    """One ISO week: Monday 00:00 to the next Monday 00:00, local time, as epoch seconds."""

    label: str  # e.g. 2026-W49
    start: int
    end: int
    zone: ZoneInfo = UTC

    def days(self) -> list[tuple[str, int, int]]:
        """Its seven local days: (ISO date, start, end) as epoch seconds."""
        monday = datetime.fromtimestamp(self.start, self.zone).date()
        bounds = [
            epoch(datetime.combine(monday + timedelta(days=n), time(0), self.zone))
            for n in range(8)
        ]
        return [
            ((monday + timedelta(days=n)).isoformat(), bounds[n], bounds[n + 1]) for n in range(7)
        ]

    def previous(self) -> Week:
        monday = datetime.fromtimestamp(self.start, self.zone).date()
        return iso_week(
            datetime.combine(monday - timedelta(days=7), time(12), self.zone), self.zone
        )


def iso_week(at: datetime, zone: ZoneInfo) -> Week:
    """The ISO week (in `zone`) that contains the instant `at`."""
    year, week, _ = at.astimezone(zone).isocalendar()
    return _week(year, week, zone)


def parse_week(label: str, zone: ZoneInfo) -> Week:
    """`2026-W49` to its Week; ValueError naming the accepted form."""
    match = _WEEK_RE.match(label.strip())
    if match is None:
        raise ValueError(f"{label!r} is not an ISO week: use YYYY-Www, e.g. 2026-W49")
    try:
        return _week(int(match["year"]), int(match["week"]), zone)
    except ValueError:
        raise ValueError(f"{label!r} is not a week of that year") from None


def _week(year: int, week: int, zone: ZoneInfo) -> Week:
    monday = date.fromisocalendar(year, week, 1)
    start = datetime.combine(monday, time(0), zone)
    end = datetime.combine(monday + timedelta(days=7), time(0), zone)
    return Week(label=f"{year}-W{week:02d}", start=epoch(start), end=epoch(end), zone=zone)


class NamespaceSleep(BaseModel):
    namespace: str
    asleep_hours: float  # its nights inside the week, minus the hours awake by activation
    saved: float = 0.0  # asleep hours x its snapshot x rates, in cents
    hourly_cost: float = 0.0  # what an hour awake costs (its latest snapshot in the week)
    without_requests: list[str] = Field(default_factory=list)  # "Kind/name": pods, no requests


class CostCenterUse(BaseModel):
    cost_center: str
    activations: int  # windows overlapping the week
    hours: float  # their time awake inside the week
    cost: float = 0.0  # those hours x the namespace's snapshot x rates


class RequesterUse(BaseModel):
    user_id: str
    activations: int
    hours: float
    cost: float


class DayFigures(BaseModel):
    """One local day of the week (23 or 25 hours long on a DST change)."""

    date: str  # ISO date in the configured zone
    hours: float
    saved: float
    spent: float


class Failure(BaseModel):
    namespace: str
    operation: str
    at: int
    error: str


class WeekTotals(BaseModel):
    """The previous week's headline figures, for "change from last week"."""

    week: str
    asleep_hours: float
    total_saved: float
    total_activation_cost: float


class WeekSummary(BaseModel):
    week: str
    start: int
    end: int
    until: int  # the summary covers [start, until): the week so far, or all of it
    namespaces: list[NamespaceSleep]
    cost_centers: list[CostCenterUse]
    currency: str = "USD"
    total_saved: float = 0.0
    total_activation_cost: float = 0.0
    always_on_cost: float = 0.0  # the same namespaces awake all of [start, until)
    top_requesters: list[RequesterUse] = Field(default_factory=list)
    days: list[DayFigures] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    drift_corrected: int = 0  # workloads put back to sleep (system_metrics `drift_corrected`)
    previous: WeekTotals | None = None

    @property
    def total_asleep_hours(self) -> float:
        return sum(n.asleep_hours for n in self.namespaces)

    @property
    def total_activation_hours(self) -> float:
        return sum(c.hours for c in self.cost_centers)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def saved_percent(self) -> float:
        """Saved as a share of the always-on cost, in percent (0 when nothing was running)."""
        return percent(self.total_saved, self.always_on_cost)


def summarize_week(
    records: Iterable[ActivityRecord],
    week: Week,
    now: int,
    rates: Rates = DEFAULT_RATES,
    *,
    drift_corrected: int = 0,
    previous: WeekTotals | None = None,
) -> WeekSummary:
    """The week's summary up to `now` (records still open are counted up to `now`).

    Money: each night saves its asleep seconds x its own shutdown snapshot x `rates`; a window
    costs its seconds x the snapshot of the night it opened in. Rows are rounded to cents and the
    totals are the sums of the rounded rows, so they add up on paper.
    """
    until = max(week.start, min(week.end, now))
    nights: dict[str, list[tuple[ActivityRecord, Interval]]] = defaultdict(list)
    windows: dict[str, list[tuple[ActivityRecord, Interval]]] = defaultdict(list)
    failures: list[Failure] = []
    for record in records:
        if record.status is RecordStatus.FAILED and week.start <= record.timestamp_start < until:
            failures.append(_failure(record))
        span = _clip(record, week.start, until, now)
        if span is None:
            continue
        if record.operation_type is OperationType.AUTO_SHUTDOWN:
            nights[record.namespace_name].append((record, span))
        elif record.operation_type is OperationType.MANUAL_ACTIVATION:
            windows[record.namespace_name].append((record, span))
    days = _DayLedger(week, until)
    namespaces, always_on = _namespace_rows(nights, windows, rates, days, until - week.start)
    charges = _charges(nights, windows, rates, days)
    cost_centers = [
        CostCenterUse(cost_center=name, activations=n, hours=_hours(seconds), cost=money(cost))
        for name, (n, seconds, cost) in sorted(_group(charges, "cost_center").items())
    ]
    requesters = [
        RequesterUse(user_id=name, activations=n, hours=_hours(seconds), cost=money(cost))
        for name, (n, seconds, cost) in _group(charges, "user_id").items()
    ]
    requesters.sort(key=lambda r: (-r.cost, -r.hours, r.user_id))
    return WeekSummary(
        week=week.label,
        start=week.start,
        end=week.end,
        until=until,
        namespaces=namespaces,
        cost_centers=cost_centers,
        currency=rates.currency,
        total_saved=sum_shown(n.saved for n in namespaces),
        total_activation_cost=sum_shown(c.cost for c in cost_centers),
        always_on_cost=money(always_on),
        top_requesters=requesters[:TOP_REQUESTERS],
        days=days.figures(),
        failures=sorted(failures, key=lambda f: (f.at, f.namespace, f.operation)),
        drift_corrected=drift_corrected,
        previous=previous,
    )


def week_totals(summary: WeekSummary) -> WeekTotals:
    return WeekTotals(
        week=summary.week,
        asleep_hours=round(summary.total_asleep_hours, 2),
        total_saved=summary.total_saved,
        total_activation_cost=summary.total_activation_cost,
    )


class _DayLedger:
    """Saved and spent money per local day of the week (a DST day has 23 or 25 hours)."""

    def __init__(self, week: Week, until: int) -> None:
        self.days = week.days()
        self.until = until
        self.saved = [Decimal(0)] * len(self.days)
        self.spent = [Decimal(0)] * len(self.days)

    def add(self, column: list[Decimal], span: Interval, hourly: Decimal) -> None:
        for index, (_, begin, end) in enumerate(self.days):
            seconds = min(end, span[1]) - max(begin, span[0])
            if seconds > 0:
                column[index] += hourly * seconds / SECONDS_PER_HOUR

    def figures(self) -> list[DayFigures]:
        return [
            DayFigures(
                date=label,
                hours=(end - begin) / 3600,
                saved=money(self.saved[index]),
                spent=money(self.spent[index]),
            )
            for index, (label, begin, end) in enumerate(self.days)
        ]


def _namespace_rows(
    nights: dict[str, list[tuple[ActivityRecord, Interval]]],
    windows: dict[str, list[tuple[ActivityRecord, Interval]]],
    rates: Rates,
    days: _DayLedger,
    covered_seconds: int,
) -> tuple[list[NamespaceSleep], Decimal]:
    """One row per namespace that slept, and what the same namespaces cost always on."""
    rows, always_on = [], Decimal(0)
    for name, spans in sorted(nights.items()):
        holes = _union(span for _, span in windows.get(name, []))
        counted: list[Interval] = []
        saved = Decimal(0)
        for record, span in sorted(spans, key=lambda item: item[1]):
            hourly = footprint(record.workloads).hourly_cost(rates)
            asleep = _subtract(_subtract([span], holes), counted)
            counted = _union([*counted, *asleep])
            for piece in asleep:
                days.add(days.saved, piece, hourly)
                saved += hourly * (piece[1] - piece[0]) / SECONDS_PER_HOUR
        latest = footprint(max(spans, key=lambda item: item[0].timestamp_start)[0].workloads)
        always_on += latest.hourly_cost(rates) * covered_seconds / SECONDS_PER_HOUR
        rows.append(
            NamespaceSleep(
                namespace=name,
                asleep_hours=_hours(sum(end - begin for begin, end in counted)),
                saved=money(saved),
                hourly_cost=float(round(latest.hourly_cost(rates), 4)),
                without_requests=list(latest.without_requests),
            )
        )
    return rows, always_on


@dataclass(frozen=True)
class _Charge:
    cost_center: str
    user_id: str
    seconds: int
    cost: Decimal


def _charges(
    nights: dict[str, list[tuple[ActivityRecord, Interval]]],
    windows: dict[str, list[tuple[ActivityRecord, Interval]]],
    rates: Rates,
    days: _DayLedger,
) -> list[_Charge]:
    """Each window's cost at the snapshot of the night it opened in."""
    charges = []
    for name, spans in windows.items():
        for record, span in spans:
            hourly = _night_of(record, nights.get(name, [])).hourly_cost(rates)
            days.add(days.spent, span, hourly)
            seconds = span[1] - span[0]
            cost = hourly * seconds / SECONDS_PER_HOUR
            charges.append(_Charge(record.cost_center, record.user_id, seconds, cost))
    return charges


def _night_of(window: ActivityRecord, nights: list[tuple[ActivityRecord, Interval]]) -> Footprint:
    """The footprint of the night the window opened in (else the latest night before it)."""
    before = [r for r, _ in nights if r.timestamp_start <= window.timestamp_start]
    if not before:
        return Footprint()
    return footprint(max(before, key=lambda r: r.timestamp_start).workloads)


def _group(charges: list[_Charge], attribute: str) -> dict[str, tuple[int, int, Decimal]]:
    groups: dict[str, tuple[int, int, Decimal]] = {}
    for charge in charges:
        count, seconds, cost = groups.get(getattr(charge, attribute), (0, 0, Decimal(0)))
        groups[getattr(charge, attribute)] = (
            count + 1,
            seconds + charge.seconds,
            cost + charge.cost,
        )
    return groups


def _failure(record: ActivityRecord) -> Failure:
    return Failure(
        namespace=record.namespace_name,
        operation=record.operation_type.value,
        at=record.timestamp_start,
        error=record.error_message,
    )


def _clip(record: ActivityRecord, start: int, until: int, now: int) -> Interval | None:
    """The record's interval inside [start, until), None when they do not overlap."""
    end = record.timestamp_end if record.timestamp_end is not None else now
    begin, finish = max(record.timestamp_start, start), min(end, until)
    return (begin, finish) if begin < finish else None


def _union(spans: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _subtract(spans: list[Interval], holes: list[Interval]) -> list[Interval]:
    """`spans` minus `holes` (both sorted and disjoint, as `_union` returns them)."""
    result: list[Interval] = []
    for begin, end in spans:
        cursor = begin
        for hole_begin, hole_end in holes:
            if hole_end <= cursor or hole_begin >= end:
                continue
            if hole_begin > cursor:
                result.append((cursor, hole_begin))
            cursor = max(cursor, hole_end)
        if cursor < end:
            result.append((cursor, end))
    return result


def _hours(seconds: int) -> float:
    return round(seconds / 3600, 2)
