"""calendar_events: what the calendar shows for a range, on a real zone and real holidays.

Europe/Madrid, business 08:00-19:00 Monday to Friday, Spanish holidays plus a configured
2026-10-23 (the Friday before the DST change of 2026-10-25). Instants are compared through
timestamps: two datetimes in one ZoneInfo compare by wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.calendar import BusinessCalendar
from core.calendar_view import CalendarEvent, calendar_events
from core.clock import epoch
from core.config import Config
from core.costs import Rates
from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    RequestStatus,
    SlotState,
    WorkloadKind,
    WorkloadSnapshot,
)
from tests.builders import activation_record, shutdown_record

MADRID = ZoneInfo("Europe/Madrid")
RATES = Rates("EUR", Decimal("0.04"), Decimal("0.005"))
# 2 replicas x (0.5 cores, 1 GiB): 0.05 per hour at RATES.
WORKLOADS = [
    WorkloadSnapshot(
        kind=WorkloadKind.DEPLOYMENT, name="api", replicas=2, cpu_cores=0.5, memory_gib=1.0
    )
]


def make(dates: tuple[str, ...] = ("2026-10-23",)) -> BusinessCalendar:
    config = Config.model_validate(
        {
            "timezone": "Europe/Madrid",
            "business_hours": {"start": "08:00", "end": "19:00", "weekdays": [1, 2, 3, 4, 5]},
            "holidays": {"country": "ES", "dates": list(dates)},
        }
    )
    return BusinessCalendar.from_config(config)


CALENDAR = make()


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def events(
    start: datetime,
    end: datetime,
    records: list[ActivityRecord] | None = None,
    slots: list[ActivationSlot] | None = None,
    requests: list[ActivationRequest] | None = None,
    rates: Rates | None = None,
    calendar: BusinessCalendar = CALENDAR,
) -> list[CalendarEvent]:
    return calendar_events(start, end, calendar, records or [], slots or [], requests or [], rates)


def shown(found: list[CalendarEvent]) -> list[tuple[str, str, str]]:
    return [(e.title, e.start.isoformat(), e.end.isoformat()) for e in found]


def hours(event: CalendarEvent) -> float:
    return (event.end.timestamp() - event.start.timestamp()) / 3600


def request(request_id: str, **fields: Any) -> ActivationRequest:
    values: dict[str, Any] = {
        "request_id": request_id,
        "namespace": "payments",
        "cost_center": "CC-DATA",
        "requester": "alice",
        "reason": "release hotfix",
        "duration_minutes": 120,
        "created_at": epoch(local(2026, 10, 20, 20, 0)),
        "expires_at": epoch(local(2026, 10, 20, 20, 30)),
    }
    values.update(fields)
    return ActivationRequest(**values)


def of_kind(found: list[CalendarEvent], kind: str) -> list[CalendarEvent]:
    return [e for e in found if e.kind == kind]


# ---- sleep ----------------------------------------------------------------------------------


def test_dst_week_with_a_holiday_friday_nights_holiday_and_a_25_hour_sunday() -> None:
    found = events(local(2026, 10, 19), local(2026, 10, 27))
    assert shown(found) == [
        ("Asleep (weekend)", "2026-10-19T00:00:00+02:00", "2026-10-19T08:00:00+02:00"),
        ("Asleep (night)", "2026-10-19T19:00:00+02:00", "2026-10-20T08:00:00+02:00"),
        ("Asleep (night)", "2026-10-20T19:00:00+02:00", "2026-10-21T08:00:00+02:00"),
        ("Asleep (night)", "2026-10-21T19:00:00+02:00", "2026-10-22T08:00:00+02:00"),
        # Thursday's evening belongs to Friday's holiday; the weekend starts at midnight.
        ("Asleep (holiday)", "2026-10-22T19:00:00+02:00", "2026-10-24T00:00:00+02:00"),
        ("Asleep (weekend)", "2026-10-24T00:00:00+02:00", "2026-10-26T08:00:00+01:00"),
        ("Asleep (night)", "2026-10-26T19:00:00+01:00", "2026-10-27T00:00:00+01:00"),
    ]
    holiday, weekend = found[4], found[5]
    assert (holiday.reason, holiday.holiday) == ("holiday", "holiday (holidays.dates)")
    assert (weekend.reason, weekend.holiday) == ("weekend", None)
    assert hours(holiday) == 29
    assert hours(weekend) == 57  # Sunday has 25 hours
    assert all(e.kind == "sleep" and e.namespace is None for e in found)
    assert all(e.start.tzinfo is MADRID and e.end.tzinfo is MADRID for e in found)
    assert [e.id for e in found[1:]] == [f"sleep-{epoch(e.start)}" for e in found[1:]]
    # Sleep and business time tile the range: 5 business days minus the holiday, 11 h each.
    range_hours = (local(2026, 10, 27).timestamp() - local(2026, 10, 19).timestamp()) / 3600
    assert sum(hours(e) for e in found) == range_hours - 5 * 11


def test_christmas_week_names_the_holiday() -> None:
    found = events(local(2026, 12, 21), local(2026, 12, 28))
    name = CALENDAR.holiday_name(date(2026, 12, 25))
    assert name is not None
    christmas = [e for e in found if e.holiday is not None]
    assert shown(christmas) == [
        (f"Asleep (holiday: {name})", "2026-12-24T19:00:00+01:00", "2026-12-26T00:00:00+01:00")
    ]
    assert christmas[0].reason == "holiday"
    # The weekend after it, clipped at the range's end.
    assert shown(found)[-1] == (
        "Asleep (weekend)",
        "2026-12-26T00:00:00+01:00",
        "2026-12-28T00:00:00+01:00",
    )


def test_a_plain_weekend_is_one_event_from_friday_end_to_monday_start() -> None:
    found = events(local(2026, 11, 13, 12), local(2026, 11, 16, 12))
    assert shown(found) == [
        ("Asleep (weekend)", "2026-11-13T19:00:00+01:00", "2026-11-16T08:00:00+01:00")
    ]


def test_a_holiday_on_a_saturday_reads_as_the_holiday() -> None:
    calendar = make(("2026-11-07",))
    found = events(local(2026, 11, 6, 12), local(2026, 11, 9, 12), calendar=calendar)
    assert shown(found) == [
        ("Asleep (holiday)", "2026-11-06T19:00:00+01:00", "2026-11-08T00:00:00+01:00"),
        ("Asleep (weekend)", "2026-11-08T00:00:00+01:00", "2026-11-09T08:00:00+01:00"),
    ]


def test_sleep_is_clipped_to_the_range_and_keeps_its_id() -> None:
    week = events(local(2026, 12, 21), local(2026, 12, 28))
    night = next(e for e in week if e.start.timestamp() == local(2026, 12, 22, 19).timestamp())
    inside = events(local(2026, 12, 23, 3, 15), local(2026, 12, 23, 12))
    assert shown(inside) == [
        ("Asleep (night)", "2026-12-23T03:15:00+01:00", "2026-12-23T08:00:00+01:00")
    ]
    assert inside[0].id == night.id == f"sleep-{epoch(local(2026, 12, 22, 19))}"
    # A range inside business hours shows no sleep; one in the evening, just the evening.
    assert events(local(2026, 12, 22, 9), local(2026, 12, 22, 18)) == []
    evening = events(local(2026, 12, 22, 18), local(2026, 12, 22, 20))
    assert shown(evening) == [
        ("Asleep (night)", "2026-12-22T19:00:00+01:00", "2026-12-22T20:00:00+01:00")
    ]


def test_the_range_may_be_given_in_any_zone() -> None:
    in_utc = events(local(2026, 10, 19).astimezone(UTC), local(2026, 10, 27).astimezone(UTC))
    assert in_utc == events(local(2026, 10, 19), local(2026, 10, 27))


# ---- activations ----------------------------------------------------------------------------


def test_a_live_slot_and_its_open_record_are_one_event() -> None:
    start, ends = local(2026, 10, 20, 21), local(2026, 10, 20, 23)
    slot = ActivationSlot(
        namespace="payments",
        cost_center="CC-DATA",
        user_id="alice",
        request_id="r1",
        claimed_at=epoch(start),
        ends_at=epoch(ends),
        state=SlotState.LIVE,
        record_start=epoch(start),
    )
    records = [
        shutdown_record("payments", local(2026, 10, 20, 19), workloads=WORKLOADS),
        activation_record("payments", "CC-DATA", start, user="alice"),
    ]
    approved = request(
        "r1",
        reason="hotfix, release; v2",
        status=RequestStatus.APPROVED,
        started_at=epoch(start),
    )
    found = events(local(2026, 10, 20), local(2026, 10, 21), records, [slot], [approved], RATES)
    [live] = of_kind(found, "activation")
    assert live.model_dump(exclude={"start", "end"}) == {
        "kind": "activation",
        "id": f"activation-payments-{epoch(start)}",
        "title": "payments awake for alice (CC-DATA)",
        "namespace": "payments",
        "cost_center": "CC-DATA",
        "user": "alice",
        "reason": "hotfix, release; v2",
        "status": "live",
        "holiday": None,
        "request_id": "r1",
        "cost": 0.1,  # 2 h x 0.05 per hour, the whole scheduled window
    }
    assert (live.start.timestamp(), live.end.timestamp()) == (start.timestamp(), ends.timestamp())
    assert of_kind(found, "request") == of_kind(found, "booking") == []


def test_a_claimed_slot_not_yet_live_is_shown_live() -> None:
    start = local(2026, 10, 20, 21)
    slot = ActivationSlot(
        namespace="web",
        cost_center="CC-WEB",
        user_id="bob",
        claimed_at=epoch(start),
        ends_at=epoch(start + timedelta(hours=1)),
    )
    [window] = of_kind(events(local(2026, 10, 20), local(2026, 10, 21), slots=[slot]), "activation")
    assert (window.status, window.request_id, window.cost, window.reason) == (
        "live",
        None,
        None,
        None,
    )


def test_a_past_activation_from_a_closed_record_is_priced_at_its_night() -> None:
    start, end = local(2026, 10, 21, 21), local(2026, 10, 21, 22, 30)
    records = [
        shutdown_record("payments", local(2026, 10, 20, 19), local(2026, 10, 21, 8), WORKLOADS),
        shutdown_record("payments", local(2026, 10, 21, 19), workloads=WORKLOADS[:0]),
        shutdown_record("payments", local(2026, 10, 22, 19), workloads=WORKLOADS),
        activation_record("payments", "CC-DATA", start, end, user="bob"),
    ]
    [past] = of_kind(events(local(2026, 10, 21), local(2026, 10, 22), records), "activation")
    assert (past.status, past.user, past.title, past.cost, past.reason) == (
        "past",
        "bob",
        "payments awake for bob (CC-DATA)",
        None,  # no rates given
        None,
    )
    assert (past.start.timestamp(), past.end.timestamp()) == (start.timestamp(), end.timestamp())
    # Its night (21 Oct) ran nothing: it cost 0. With the 20 Oct night's snapshot: 0.075 -> 0.08.
    [priced] = of_kind(events(start, end, records, rates=RATES), "activation")
    assert priced.cost == 0.0
    records[1] = shutdown_record("payments", local(2026, 10, 21, 19), workloads=WORKLOADS)
    [priced] = of_kind(events(start, end, records, rates=RATES), "activation")
    assert priced.cost == 0.08
    # No night known for the namespace: the cost is unknown, not zero.
    [unknown] = of_kind(events(start, end, records[3:], rates=RATES), "activation")
    assert unknown.cost is None


def test_a_past_activation_carries_the_request_it_was_opened_for() -> None:
    start, end = local(2026, 10, 21, 21), local(2026, 10, 21, 22)
    booked = request(
        "b1",
        starts_at=epoch(start),
        status=RequestStatus.APPROVED,
        started_at=epoch(start),
        reason="load test",
    )
    records = [activation_record("payments", "CC-DATA", start, end, user="alice")]
    found = events(local(2026, 10, 21), local(2026, 10, 22), records, requests=[booked])
    [window] = of_kind(found, "activation")
    assert (window.request_id, window.reason) == ("b1", "load test")
    assert of_kind(found, "booking") == []  # the booking is now its window


def test_a_direct_activation_shows_the_reason_kept_on_its_record_and_slot() -> None:
    """A window opened without a request (the CLI, the REST API) keeps its reason on its
    `manual_activation` record and its slot; a request's reason still comes first."""
    start, end = local(2026, 10, 21, 21), local(2026, 10, 21, 22)
    day = (local(2026, 10, 21), local(2026, 10, 22))
    record = activation_record("payments", "CC-DATA", start, end, user="alice").model_copy(
        update={"reason": "incident 4711"}
    )
    [past] = of_kind(events(*day, [record]), "activation")
    assert (past.status, past.request_id, past.reason) == ("past", None, "incident 4711")
    booked = request(
        "b1", starts_at=epoch(start), status=RequestStatus.APPROVED, started_at=epoch(start)
    )
    [window] = of_kind(events(*day, [record], requests=[booked]), "activation")
    assert (window.request_id, window.reason) == ("b1", "release hotfix")
    claimed = ActivationSlot(
        namespace="payments",
        cost_center="CC-DATA",
        user_id="alice",
        claimed_at=epoch(start),
        ends_at=epoch(end),
        reason="incident 4711",
    )
    [live] = of_kind(events(*day, slots=[claimed]), "activation")  # its record not open yet
    assert (live.status, live.reason) == ("live", "incident 4711")


def test_an_open_record_without_its_slot_ends_at_the_next_business_start() -> None:
    start = local(2026, 10, 23, 21)  # Friday, a holiday follows the weekend: Monday 08:00 CET
    records = [activation_record("payments", "CC-DATA", start)]
    [window] = of_kind(events(local(2026, 10, 23), local(2026, 10, 24), records), "activation")
    assert window.status == "live"
    assert window.end.isoformat() == "2026-10-26T08:00:00+01:00"


def test_activations_keep_their_bounds_and_only_overlapping_ones_are_listed() -> None:
    records = [
        activation_record("a", "CC", local(2026, 10, 20, 22), local(2026, 10, 21, 2)),
        activation_record("b", "CC", local(2026, 10, 19, 21), local(2026, 10, 19, 22)),
    ]
    found = of_kind(events(local(2026, 10, 21), local(2026, 10, 22), records), "activation")
    assert shown(found) == [
        ("a awake for ana (CC)", "2026-10-20T22:00:00+02:00", "2026-10-21T02:00:00+02:00")
    ]


def test_a_window_across_the_repeated_hour_has_the_right_offsets() -> None:
    start = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    end = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, one hour later
    records = [activation_record("a", "CC", start, end)]
    [window] = of_kind(events(local(2026, 10, 25), local(2026, 10, 26), records), "activation")
    assert window.start.isoformat() == "2026-10-25T02:30:00+02:00"
    assert window.end.isoformat() == "2026-10-25T02:30:00+01:00"
    assert hours(window) == 1


# ---- bookings and requests ------------------------------------------------------------------


def test_bookings_with_their_status_and_pending_requests() -> None:
    requests = [
        request("b-ok", starts_at=epoch(local(2026, 10, 21, 20)), status=RequestStatus.APPROVED),
        request("b-wait", starts_at=epoch(local(2026, 10, 21, 21)), duration_minutes=60),
        request("b-no", starts_at=epoch(local(2026, 10, 21, 22)), status=RequestStatus.DENIED),
        # 4 h from 06:00 end at the business start, as the window would.
        request(
            "b-early",
            starts_at=epoch(local(2026, 10, 22, 6)),
            duration_minutes=240,
            status=RequestStatus.APPROVED,
        ),
        request("now", created_at=epoch(local(2026, 10, 21, 23)), duration_minutes=30),
        request("gone", status=RequestStatus.EXPIRED, created_at=epoch(local(2026, 10, 21, 23))),
        request("no", status=RequestStatus.DENIED, created_at=epoch(local(2026, 10, 21, 23))),
    ]
    found = events(local(2026, 10, 21, 19), local(2026, 10, 22, 8), requests=requests)
    assert [
        (e.kind, e.id, e.title, e.status, e.start.isoformat(), e.end.isoformat())
        for e in found
        if e.kind != "sleep"
    ] == [
        (
            "booking",
            "booking-b-ok",
            "payments booked for alice (CC-DATA)",
            "approved",
            "2026-10-21T20:00:00+02:00",
            "2026-10-21T22:00:00+02:00",
        ),
        (
            "booking",
            "booking-b-wait",
            "payments booked for alice (CC-DATA), pending",
            "pending",
            "2026-10-21T21:00:00+02:00",
            "2026-10-21T22:00:00+02:00",
        ),
        (
            "booking",
            "booking-b-no",
            "payments booked for alice (CC-DATA), denied",
            "denied",
            "2026-10-21T22:00:00+02:00",
            "2026-10-22T00:00:00+02:00",
        ),
        (
            "request",
            "request-now",
            "payments requested by alice (CC-DATA), pending",
            "pending",
            "2026-10-21T23:00:00+02:00",
            "2026-10-21T23:30:00+02:00",
        ),
        (
            "booking",
            "booking-b-early",
            "payments booked for alice (CC-DATA)",
            "approved",
            "2026-10-22T06:00:00+02:00",
            "2026-10-22T08:00:00+02:00",
        ),
    ]
    booking = next(e for e in found if e.id == "booking-b-ok")
    assert (booking.user, booking.reason, booking.request_id, booking.cost) == (
        "alice",
        "release hotfix",
        "b-ok",
        None,
    )


# ---- order and range ------------------------------------------------------------------------


def test_sorted_by_start_then_kind_then_id() -> None:
    night = local(2026, 10, 20, 19)
    records = [
        activation_record("b", "CC", night, night + timedelta(hours=1)),
        activation_record("a", "CC", night, night + timedelta(hours=1)),
    ]
    requests = [request("x", starts_at=epoch(night), status=RequestStatus.APPROVED)]
    found = events(local(2026, 10, 20), local(2026, 10, 21), records, requests=requests)
    at_night = [(e.kind, e.id) for e in found if e.start.timestamp() == night.timestamp()]
    assert at_night == [
        ("activation", f"activation-a-{epoch(night)}"),
        ("activation", f"activation-b-{epoch(night)}"),
        ("booking", "booking-x"),
        ("sleep", f"sleep-{epoch(night)}"),
    ]
    keys = [(e.start.timestamp(), e.kind, e.id) for e in found]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (local(2026, 10, 20), local(2026, 10, 20), "must be after start"),
        (local(2026, 10, 21), local(2026, 10, 20), "must be after start"),
        (local(2026, 10, 1), local(2026, 10, 1) + timedelta(days=92, seconds=1), "92 days"),
        (datetime(2026, 10, 1), local(2026, 10, 2), "timezone-aware"),
    ],
)
def test_bad_ranges_are_refused(start: datetime, end: datetime, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        events(start, end)


def test_92_days_is_the_longest_range() -> None:
    found = events(local(2026, 10, 1), local(2026, 10, 1) + timedelta(days=92))
    assert found
    assert all(e.kind == "sleep" for e in found)
