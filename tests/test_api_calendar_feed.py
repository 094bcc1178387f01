"""The calendar over real HTTP for a week with a holiday and a DST change.

2027-W12 in Madrid: Good Friday (a national holiday in Spain) on 26 March and the
change to summer time in the night of Saturday 27 to Sunday 28 March (02:00 CET -> 03:00 CEST).
The `.ics` feed is parsed back by the real `icalendar` parser; every instant must be the exact
UTC instant, so the weekend is 47 hours long, not 48.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import icalendar

from tests.api_fixtures import Api, served_api
from tests.harness import madrid

MONDAY_NIGHT = madrid(2027, 3, 22, 22)
WEEK = "start=2027-03-22T00:00&end=2027-03-29T00:00"


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# What the schedule alone puts on that week's calendar (UTC): before the change Madrid is
# UTC+1, so 20:00 is 19:00Z and 07:00 is 06:00Z; the range ends at Monday 00:00 CEST (22:00Z).
SLEEP = [
    (utc(2027, 3, 21, 23), utc(2027, 3, 22, 6), "weekend", None),  # clipped at Monday 00:00
    (utc(2027, 3, 22, 19), utc(2027, 3, 23, 6), "night", None),
    (utc(2027, 3, 23, 19), utc(2027, 3, 24, 6), "night", None),
    (utc(2027, 3, 24, 19), utc(2027, 3, 25, 6), "night", None),
    # Thursday evening to Saturday 00:00 CET: the holiday takes the evening before it.
    (utc(2027, 3, 25, 19), utc(2027, 3, 26, 23), "holiday", "Good Friday"),
    # Saturday 00:00 CET (23:00Z) to Monday 00:00 CEST (22:00Z): 47 hours.
    (utc(2027, 3, 26, 23), utc(2027, 3, 28, 22), "weekend", None),
]


def _book_across_the_change(api: Api) -> dict[str, Any]:
    """Saturday 23:30 CET for 3 hours: it ends at 03:30 CEST, 01:30Z."""
    answer = api.post(
        "/bookings",
        {
            "namespace": "team-a",
            "cost_center": "CC-ALL",
            "reason": "migration over the clock change",
            "starts_at": "2027-03-27T23:30",
            "duration": "3h",
        },
        role="operator",
    )
    assert answer.status == 201, answer.text
    return answer.json


def _activate_now(api: Api) -> None:
    answer = api.post(
        "/namespaces/pay-api/activate",
        {"cost_center": "CC-PAY", "reason": "incident 9", "duration": "1h"},
        role="operator",
    )
    assert answer.status == 201, answer.text


def _parsed_feed(api: Api) -> list[Any]:
    answer = api.get(f"/calendar.ics?{WEEK}", role="viewer")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/calendar")
    calendar = icalendar.Calendar.from_ical(answer.text)
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Madrid"
    return list(calendar.walk("VEVENT"))


def _instant(prop: Any) -> datetime:
    value: datetime = prop.dt
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    return value


def test_the_feed_of_a_week_with_a_holiday_and_a_dst_change(tmp_path: Path) -> None:
    with served_api(tmp_path, at=MONDAY_NIGHT) as api:
        booking = _book_across_the_change(api)
        _activate_now(api)
        events = _parsed_feed(api)
    by_kind: dict[str, list[Any]] = {}
    for event in events:
        by_kind.setdefault(str(event["CATEGORIES"].cats[0]), []).append(event)
    sleep = [
        (_instant(e["DTSTART"]), _instant(e["DTEND"]), str(e["SUMMARY"])) for e in by_kind["sleep"]
    ]
    assert [(start, end) for start, end, _ in sleep] == [(s, e) for s, e, _, _ in SLEEP]
    assert sleep[4][2] == "Asleep (holiday: Good Friday)"
    assert sleep[5][2] == "Asleep (weekend)" and sleep[5][1] - sleep[5][0] == timedelta(hours=47)

    (booked,) = by_kind["booking"]
    assert str(booked["UID"]) == f"booking-{booking['request_id']}@namespace-ctl"
    assert _instant(booked["DTSTART"]) == utc(2027, 3, 27, 22, 30)
    assert _instant(booked["DTEND"]) == utc(2027, 3, 28, 1, 30)
    assert "migration over the clock change" in str(booked["DESCRIPTION"])

    (live,) = by_kind["activation"]
    assert _instant(live["DTSTART"]) == utc(2027, 3, 22, 21)
    assert _instant(live["DTEND"]) == utc(2027, 3, 22, 22)
    assert "CC-PAY" in str(live["SUMMARY"])


def test_the_json_calendar_says_the_same_in_local_time(tmp_path: Path) -> None:
    with served_api(tmp_path, at=MONDAY_NIGHT) as api:
        _book_across_the_change(api)
        answer = api.get(f"/calendar?{WEEK}", role="viewer")
        feed = _parsed_feed(api)
    assert answer.status == 200 and answer.json["timezone"] == "Europe/Madrid"
    events = answer.json["events"]
    sleep = [e for e in events if e["kind"] == "sleep"]
    assert [(e["reason"], e["holiday"]) for e in sleep] == [(r, h) for _, _, r, h in SLEEP]
    # Local offsets on either side of the change: +01:00 before, +02:00 after.
    assert sleep[5]["start"] == "2027-03-27T00:00:00+01:00"
    assert sleep[5]["end"] == "2027-03-29T00:00:00+02:00"
    (booked,) = [e for e in events if e["kind"] == "booking"]
    assert (booked["start"], booked["end"]) == (
        "2027-03-27T23:30:00+01:00",
        "2027-03-28T03:30:00+02:00",
    )
    # The feed and the JSON name the same events, instant for instant.
    as_json = {
        (e["id"], datetime.fromisoformat(e["start"]), datetime.fromisoformat(e["end"]))
        for e in events
    }
    as_ics = {
        (str(e["UID"]).removesuffix("@namespace-ctl"), _instant(e["DTSTART"]), _instant(e["DTEND"]))
        for e in feed
    }
    assert as_json == as_ics
