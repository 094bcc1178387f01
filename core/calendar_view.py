"""What a calendar shows for a time range: sleep, activation windows, bookings and requests.

One pure function over explicit inputs (the business calendar, activity records, activation
slots, activation requests), no store and no cluster, behind `GET /api/v1/calendar` and the
iCalendar feed (`core.ics`).

Decided:
- Sleep: one event per night, weekend or holiday. An after-hours span (a business end to the next
  business start) with no whole day off in it is a night. One with days off is split at local
  midnight where the reason changes (a holiday next to a weekend: two events), and its evening
  before and morning after belong to the first and last day off: a plain weekend is one event
  from Friday's end to Monday's start. A holiday on a weekend day is shown as the holiday.
  Sleep events are clipped to the range; their id is the unclipped start, so it is the same
  whatever range is asked for.
- Activations, bookings and requests keep their own start and end (clients place them by them);
  they are listed when they overlap the range. A live slot and its open `manual_activation`
  record are one event (same namespace and start), with the id the window keeps once it is past.
- Cost: an activation's window (a live one: as scheduled) priced like the weekly report, at the
  workloads snapshot on its record, else on the namespace's latest `auto_shutdown` record at or
  before its start; None when no snapshot is known or no rates were given.
- Instants are compared as epoch seconds (two datetimes in one ZoneInfo compare by wall clock).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from core.calendar import CONFIGURED_HOLIDAY, BusinessCalendar
from core.clock import epoch
from core.costs import Rates, footprint, money
from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    DesiredState,
    OperationType,
    RequestStatus,
)

MAX_RANGE = timedelta(days=92)
EventKind = Literal["sleep", "activation", "booking", "request"]
SleepReason = Literal["night", "weekend", "holiday"]
_ONE_DAY = timedelta(days=1)
Span = tuple[datetime, datetime]  # UTC


class CalendarEvent(BaseModel):
    """One thing on the calendar. `start` and `end` are aware, in the configured zone.

    `id` is stable across calls: `sleep-<start>`, `activation-<namespace>-<start>` (epoch
    seconds of the unclipped start), `booking-<request_id>`, `request-<request_id>`.

    `status`: an activation's "past" or "live", a booking's or request's request status.
    `reason`: why (the request's reason, or the one kept on a direct activation's record); for
    sleep, "night", "weekend" or "holiday".
    `cost`: an activation's cost at the configured rates, None when unknown (see the module).
    """

    model_config = ConfigDict(frozen=True)

    kind: EventKind
    id: str
    start: datetime
    end: datetime
    title: str
    namespace: str | None = None
    cost_center: str | None = None
    user: str | None = None
    reason: str | None = None
    status: str | None = None
    holiday: str | None = None
    request_id: str | None = None
    cost: float | None = None


def calendar_events(
    start: datetime,
    end: datetime,
    calendar: BusinessCalendar,
    records: Iterable[ActivityRecord],
    slots: Iterable[ActivationSlot],
    requests: Iterable[ActivationRequest],
    rates: Rates | None = None,
) -> list[CalendarEvent]:
    """Every event overlapping [start, end), sorted by (start, kind, id).

    ValueError when an instant is naive, `end` is not after `start`, or the range is longer
    than 92 days (local calendar days: a whole quarter fits).
    """
    first, last = _check_range(start, end, calendar.zone)
    facts = _Facts.gather(calendar, list(records), list(requests), rates)
    activations = _activation_events(facts, list(slots))
    linked = {e.request_id for e in activations if e.request_id is not None}
    events = [
        *_sleep_events(first, last, calendar),
        *activations,
        *_request_events(facts, linked),
    ]
    lo, hi = first.timestamp(), last.timestamp()
    shown = [e for e in events if e.start.timestamp() < hi and e.end.timestamp() > lo]
    return sorted(shown, key=lambda e: (e.start.timestamp(), e.kind, e.id))


def _check_range(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name} must be a timezone-aware time (got {value.isoformat()}): "
                "give an offset, e.g. 2026-12-21T00:00+01:00"
            )
    first, last = start.astimezone(UTC), end.astimezone(UTC)
    if last <= first:
        raise ValueError(
            f"end ({end.isoformat()}) must be after start ({start.isoformat()}): "
            "swap them or widen the range"
        )
    # Days on the local calendar: a quarter across a DST change is 92 days, not 92 days + 1 h.
    if last.timestamp() > (first.astimezone(zone) + MAX_RANGE).timestamp():
        raise ValueError(
            f"the range {start.isoformat()} .. {end.isoformat()} is longer than "
            f"{MAX_RANGE.days} days: ask for at most {MAX_RANGE.days} days at a time"
        )
    return first, last


# ---- sleep ----------------------------------------------------------------------------------


def _sleep_events(
    first: datetime, last: datetime, calendar: BusinessCalendar
) -> list[CalendarEvent]:
    events = []
    for span_start, span_end in _asleep_spans(first, last, calendar):
        for begin, finish, reason, holiday in _split_by_reason(span_start, span_end, calendar):
            clipped_start, clipped_end = max(begin, first), min(finish, last)
            if clipped_start >= clipped_end:
                continue
            events.append(
                CalendarEvent(
                    kind="sleep",
                    id=f"sleep-{epoch(begin)}",
                    start=clipped_start.astimezone(calendar.zone),
                    end=clipped_end.astimezone(calendar.zone),
                    title=_sleep_title(reason, holiday),
                    reason=reason,
                    holiday=holiday,
                )
            )
    return events


def _asleep_spans(first: datetime, last: datetime, calendar: BusinessCalendar) -> list[Span]:
    """The whole after-hours spans (UTC, unclipped) that overlap [first, last)."""
    spans: list[Span] = []
    opened: datetime | None = None
    if not calendar.is_business_time(first):
        opened = calendar.previous_transition(first)[0].astimezone(UTC)
    for instant, state in calendar.transitions(first, last):
        if state is DesiredState.ASLEEP:
            opened = instant.astimezone(UTC)
        elif opened is not None:
            spans.append((opened, instant.astimezone(UTC)))
            opened = None
    if opened is not None and opened < last:
        spans.append((opened, calendar.next_transition(opened)[0].astimezone(UTC)))
    return spans


def _split_by_reason(
    begin: datetime, finish: datetime, calendar: BusinessCalendar
) -> list[tuple[datetime, datetime, SleepReason, str | None]]:
    """One after-hours span as (start, end, reason, holiday name) pieces, split at midnight
    where the reason changes; the evening before and the morning after go to the days off."""
    zone = calendar.zone
    runs: list[tuple[date, SleepReason, str | None]] = []
    day = begin.astimezone(zone).date() + _ONE_DAY
    last_day = finish.astimezone(zone).date()
    while day < last_day:
        reason, holiday = _day_off(day, calendar)
        if not runs or runs[-1][1:] != (reason, holiday):
            runs.append((day, reason, holiday))
        day += _ONE_DAY
    if not runs:
        return [(begin, finish, "night", None)]
    bounds = [begin, *(_midnight(d, calendar) for d, _, _ in runs[1:]), finish]
    return [
        (bounds[index], bounds[index + 1], reason, holiday)
        for index, (_, reason, holiday) in enumerate(runs)
    ]


def _day_off(day: date, calendar: BusinessCalendar) -> tuple[SleepReason, str | None]:
    """Why a whole local day has no business time."""
    holiday = calendar.holiday_name(day)
    if holiday is not None:
        return "holiday", holiday
    if not calendar.is_business_day(day):
        return "weekend", None
    return "night", None  # a business day whose hours fall in a DST gap (exotic zones)


def _midnight(day: date, calendar: BusinessCalendar) -> datetime:
    """The first instant of a local day (after the gap, where midnight does not exist)."""
    return datetime.combine(day, time(0), calendar.zone).astimezone(UTC)


def _sleep_title(reason: SleepReason, holiday: str | None) -> str:
    if reason != "holiday" or holiday is None:
        return f"Asleep ({reason})"
    if holiday == CONFIGURED_HOLIDAY:
        return "Asleep (holiday)"
    return f"Asleep (holiday: {holiday})"


# ---- activations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Facts:
    calendar: BusinessCalendar
    rates: Rates | None
    activations: list[ActivityRecord]
    nights: dict[str, list[ActivityRecord]]  # auto_shutdown records by namespace, by start
    requests: list[ActivationRequest]
    by_id: dict[str, ActivationRequest]
    by_start: dict[tuple[str, int], ActivationRequest]  # (namespace, started_at)

    @classmethod
    def gather(
        cls,
        calendar: BusinessCalendar,
        records: list[ActivityRecord],
        requests: list[ActivationRequest],
        rates: Rates | None,
    ) -> _Facts:
        nights: dict[str, list[ActivityRecord]] = {}
        for record in records:
            if record.operation_type is OperationType.AUTO_SHUTDOWN:
                nights.setdefault(record.namespace_name, []).append(record)
        for night in nights.values():
            night.sort(key=lambda r: r.timestamp_start)
        return cls(
            calendar=calendar,
            rates=rates,
            activations=[r for r in records if r.operation_type is OperationType.MANUAL_ACTIVATION],
            nights=nights,
            requests=requests,
            by_id={r.request_id: r for r in requests},
            # A window opens at its request's `started_at` (approval, or a booking's start).
            by_start={(r.namespace, r.started_at): r for r in requests if r.started_at is not None},
        )

    def request_of(
        self, namespace: str, start: int, request_id: str = ""
    ) -> ActivationRequest | None:
        """The request a window was opened for: by the slot's id, else by its start."""
        found = self.by_id.get(request_id) if request_id else None
        return found or self.by_start.get((namespace, start))

    def cost(
        self, namespace: str, start: int, seconds: int, record: ActivityRecord | None
    ) -> float | None:
        if self.rates is None:
            return None
        if record is not None and record.workloads:
            workloads = record.workloads
        else:
            before = [n for n in self.nights.get(namespace, []) if n.timestamp_start <= start]
            if not before:
                return None
            workloads = before[-1].workloads
        return money(footprint(workloads).cost(max(seconds, 0), self.rates))


def _activation_events(facts: _Facts, slots: list[ActivationSlot]) -> list[CalendarEvent]:
    records = {(r.namespace_name, r.timestamp_start): r for r in facts.activations}
    events, live = [], set()
    for slot in slots:
        start = slot.record_start if slot.record_start is not None else slot.claimed_at
        live.add((slot.namespace, start))
        record = records.get((slot.namespace, start))
        request = facts.request_of(slot.namespace, start, slot.request_id)
        events.append(
            _activation(
                facts,
                slot.namespace,
                start,
                slot.ends_at,
                "live",
                cost_center=slot.cost_center,
                user=slot.user_id,
                reason=_reason(request, record, slot),
                request_id=slot.request_id or (request.request_id if request else ""),
                record=record,
            )
        )
    for key, record in records.items():
        if key in live:
            continue
        start = record.timestamp_start
        if record.timestamp_end is None:
            # Open with no slot (a crash between closing and releasing): it ends at the
            # latest at the next business start.
            end, status = _window_end(facts.calendar, start, None), "live"
        else:
            end, status = record.timestamp_end, "past"
        request = facts.request_of(record.namespace_name, start)
        events.append(
            _activation(
                facts,
                record.namespace_name,
                start,
                end,
                status,
                cost_center=record.cost_center,
                user=record.user_id,
                reason=_reason(request, record),
                request_id=request.request_id if request else "",
                record=record,
            )
        )
    return events


def _activation(
    facts: _Facts,
    namespace: str,
    start: int,
    end: int,
    status: str,
    *,
    cost_center: str,
    user: str,
    reason: str,
    request_id: str,
    record: ActivityRecord | None,
) -> CalendarEvent:
    zone = facts.calendar.zone
    return CalendarEvent(
        kind="activation",
        id=f"activation-{namespace}-{start}",
        start=datetime.fromtimestamp(start, zone),
        end=datetime.fromtimestamp(max(start, end), zone),
        title=_title(namespace, "awake for", user, cost_center),
        namespace=namespace,
        cost_center=cost_center or None,
        user=user or None,
        reason=reason or None,
        status=status,
        request_id=request_id or None,
        cost=facts.cost(namespace, start, end - start, record),
    )


def _reason(
    request: ActivationRequest | None,
    record: ActivityRecord | None,
    slot: ActivationSlot | None = None,
) -> str:
    """The request's reason, else the one kept on the `manual_activation` record (a direct
    activation has no request), else the slot's (claimed, its record not open yet)."""
    if request is not None and request.reason:
        return request.reason
    if record is not None and record.reason:
        return record.reason
    return slot.reason if slot is not None else ""


# ---- bookings and requests ------------------------------------------------------------------


def _request_events(facts: _Facts, linked: set[str]) -> list[CalendarEvent]:
    """Bookings whose window has not become an activation, and pending immediate requests."""
    events = []
    zone = facts.calendar.zone
    for request in facts.requests:
        if request.request_id in linked:
            continue
        if request.starts_at is not None:
            kind: EventKind = "booking"
            start, verb = request.starts_at, "booked for"
        elif request.status is RequestStatus.PENDING:
            kind, start, verb = "request", request.created_at, "requested by"
        else:
            continue
        title = _title(request.namespace, verb, request.requester, request.cost_center)
        if request.status is not RequestStatus.APPROVED:
            title += f", {request.status.value}"
        end = _window_end(facts.calendar, start, request.duration_minutes * 60)
        events.append(
            CalendarEvent(
                kind=kind,
                id=f"{kind}-{request.request_id}",
                start=datetime.fromtimestamp(start, zone),
                end=datetime.fromtimestamp(end, zone),
                title=title,
                namespace=request.namespace,
                cost_center=request.cost_center or None,
                user=request.requester or None,
                reason=request.reason or None,
                status=request.status.value,
                request_id=request.request_id,
            )
        )
    return events


def _window_end(calendar: BusinessCalendar, start: int, seconds: int | None) -> int:
    """A window from `start` ends after `seconds`, and at the latest at the next business
    start (as `ActivationService` opens them); `seconds` None: at that business start."""
    at = datetime.fromtimestamp(start, UTC)
    if calendar.is_business_time(at):
        return start + (seconds or 0)
    business_start = epoch(calendar.next_transition(at)[0])
    return business_start if seconds is None else min(start + seconds, business_start)


def _title(namespace: str, verb: str, user: str, cost_center: str) -> str:
    title = f"{namespace} {verb} {user or 'someone'}"
    return f"{title} ({cost_center})" if cost_center else title
