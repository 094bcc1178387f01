"""The weekly summary as data: hours asleep per namespace and after-hours activations per cost
center over one ISO week in the configured zone, from the activity records alone (no cluster).

Pure functions; the costs issue extends `WeekSummary` with money. Intervals follow DESIGN.md: an
`auto_shutdown` record spans the night (open ones count up to `now`), `manual_activation` windows
nest inside it and are subtracted from the namespace's sleep.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from core.clock import epoch
from core.models import ActivityRecord, OperationType

_WEEK_RE = re.compile(r"^(?P<year>\d{4})-W(?P<week>\d{2})$")
Interval = tuple[int, int]


@dataclass(frozen=True)
class Week:
    """One ISO week: Monday 00:00 to the next Monday 00:00, local time, as epoch seconds."""

    label: str  # e.g. 2026-W49
    start: int
    end: int


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
    return Week(label=f"{year}-W{week:02d}", start=epoch(start), end=epoch(end))


class NamespaceSleep(BaseModel):
    namespace: str
    asleep_hours: float


class CostCenterUse(BaseModel):
    cost_center: str
    activations: int  # windows overlapping the week
    hours: float  # their time awake inside the week


class WeekSummary(BaseModel):
    week: str
    start: int
    end: int
    until: int  # the summary covers [start, until): the week so far, or all of it
    namespaces: list[NamespaceSleep]
    cost_centers: list[CostCenterUse]

    @property
    def total_asleep_hours(self) -> float:
        return sum(n.asleep_hours for n in self.namespaces)

    @property
    def total_activation_hours(self) -> float:
        return sum(c.hours for c in self.cost_centers)


def summarize_week(records: Iterable[ActivityRecord], week: Week, now: int) -> WeekSummary:
    """The week's summary up to `now` (records still open are counted up to `now`)."""
    until = max(week.start, min(week.end, now))
    sleeps: dict[str, list[Interval]] = defaultdict(list)
    windows: dict[str, list[Interval]] = defaultdict(list)
    uses: dict[str, list[Interval]] = defaultdict(list)
    for record in records:
        span = _clip(record, week.start, until, now)
        if span is None:
            continue
        if record.operation_type is OperationType.AUTO_SHUTDOWN:
            sleeps[record.namespace_name].append(span)
        elif record.operation_type is OperationType.MANUAL_ACTIVATION:
            windows[record.namespace_name].append(span)
            uses[record.cost_center].append(span)
    namespaces = [
        NamespaceSleep(
            namespace=name,
            asleep_hours=_hours(_subtract(_union(spans), _union(windows.get(name, [])))),
        )
        for name, spans in sorted(sleeps.items())
    ]
    cost_centers = [
        CostCenterUse(cost_center=name, activations=len(spans), hours=_hours(spans))
        for name, spans in sorted(uses.items())
    ]
    return WeekSummary(
        week=week.label,
        start=week.start,
        end=week.end,
        until=until,
        namespaces=namespaces,
        cost_centers=cost_centers,
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


def _hours(spans: Iterable[Interval]) -> float:
    return sum(end - begin for begin, end in spans) / 3600
