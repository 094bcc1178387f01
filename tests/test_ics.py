"""to_ics: our own RFC 5545 writer, read back with the real `icalendar` parser.

Every event's UID, instants (as UTC), SUMMARY, DESCRIPTION, CATEGORIES and STATUS must come back
as written; lines end in CRLF and are at most 75 octets, folded between characters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.calendar import BusinessCalendar
from core.calendar_view import CalendarEvent, calendar_events
from core.clock import epoch
from core.config import Config
from core.costs import Rates
from core.ics import ics_text, to_ics
from core.models import (
    ActivationRequest,
    ActivationSlot,
    RequestStatus,
    SlotState,
    WorkloadKind,
    WorkloadSnapshot,
)
from tests.builders import activation_record, shutdown_record

MADRID = ZoneInfo("Europe/Madrid")
NOW = datetime(2026, 12, 21, 10, 30, tzinfo=MADRID)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRICKY = 'Ñandú, café; C:\\temp\\new\nsecond line\r\nthird\rfourth 🚀 "quoted" — día'


def calendar() -> BusinessCalendar:
    config = Config.model_validate(
        {
            "timezone": "Europe/Madrid",
            "business_hours": {"start": "08:00", "end": "19:00", "weekdays": [1, 2, 3, 4, 5]},
            "holidays": {"country": "ES", "dates": ["2026-10-23"]},
        }
    )
    return BusinessCalendar.from_config(config)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def sample_events() -> list[CalendarEvent]:
    """A DST week with a holiday, and Christmas week, with every kind of event."""
    cal = calendar()
    snapshot = WorkloadSnapshot(
        kind=WorkloadKind.DEPLOYMENT, name="api", replicas=2, cpu_cores=0.5, memory_gib=1.0
    )
    start = local(2026, 10, 20, 21)
    slot = ActivationSlot(
        namespace="payments",
        cost_center="CC-DATA",
        user_id="alice",
        request_id="r1",
        claimed_at=epoch(start),
        ends_at=epoch(start + timedelta(hours=2)),
        state=SlotState.LIVE,
        record_start=epoch(start),
    )
    base: dict[str, Any] = {
        "namespace": "payments",
        "cost_center": "CC-DATA",
        "requester": "bob",
        "duration_minutes": 90,
        "created_at": epoch(local(2026, 10, 21, 20)),
        "expires_at": epoch(local(2026, 10, 21, 20, 30)),
    }
    requests = [
        ActivationRequest(
            request_id="r1",
            reason=TRICKY,
            status=RequestStatus.APPROVED,
            started_at=epoch(start),
            **{**base, "requester": "alice"},
        ),
        ActivationRequest(request_id="p1", reason="pending, please", **base),
        ActivationRequest(
            request_id="b1",
            reason="load test",
            starts_at=epoch(local(2026, 10, 22, 21)),
            **base,
        ),
        ActivationRequest(
            request_id="b2",
            reason="no longer needed",
            starts_at=epoch(local(2026, 10, 22, 22)),
            status=RequestStatus.CANCELLED,
            **base,
        ),
    ]
    records = [
        shutdown_record("payments", local(2026, 10, 20, 19), workloads=[snapshot]),
        activation_record("payments", "CC-DATA", start, user="alice"),
        # Across the repeated hour of 2026-10-25: 02:30 CEST to 02:30 CET.
        activation_record(
            "web",
            "CC-WEB",
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            user="Zoë",
        ),
    ]
    rates = Rates("EUR", Decimal("0.04"), Decimal("0.005"))
    october = calendar_events(
        local(2026, 10, 19), local(2026, 10, 27), cal, records, [slot], requests, rates
    )
    december = calendar_events(local(2026, 12, 21), local(2026, 12, 28), cal, [], [], [])
    return october + december


def parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def vevents(parsed: icalendar.Calendar) -> list[Any]:
    return list(parsed.walk("VEVENT"))


def instant(value: Any) -> datetime:
    moment = value.dt
    assert isinstance(moment, datetime)
    assert moment.utcoffset() == timedelta(0)
    return moment


def summary_of(title: str) -> str:
    text = to_ics([event(title=title)], "t", NOW)
    [parsed] = vevents(parse(text))
    return str(parsed["SUMMARY"])


def event(**fields: Any) -> CalendarEvent:
    values: dict[str, Any] = {
        "kind": "activation",
        "id": "activation-payments-1792533600",
        "start": local(2026, 10, 20, 21),
        "end": local(2026, 10, 20, 23),
        "title": "payments awake for alice (CC-DATA)",
        "status": "live",
    }
    values.update(fields)
    return CalendarEvent(**values)


# ---- the feed -------------------------------------------------------------------------------


def test_every_event_comes_back_from_the_real_parser() -> None:
    events = sample_events()
    assert {e.kind for e in events} == {"sleep", "activation", "booking", "request"}
    parsed = parse(to_ics(events, "Platform team, dev; namespaces", NOW))
    found = vevents(parsed)
    assert len(found) == len(events)
    for written, read in zip(events, found, strict=True):
        assert str(read["UID"]) == f"{written.id}@namespace-ctl"
        assert instant(read["DTSTART"]) == written.start.astimezone(UTC)
        assert instant(read["DTEND"]) == written.end.astimezone(UTC)
        assert instant(read["DTSTAMP"]) == NOW.astimezone(UTC)
        assert str(read["SUMMARY"]) == written.title
        assert read.categories == [written.kind]
        assert str(read["TRANSP"]) == "TRANSPARENT"
    assert len({str(e["UID"]) for e in found}) == len(found)


def test_the_calendar_headers() -> None:
    parsed = parse(to_ics(sample_events(), "Platform team, dev; namespaces", NOW))
    assert str(parsed["VERSION"]) == "2.0"
    assert str(parsed["PRODID"]) == "-//namespace-ctl//calendar//EN"
    assert str(parsed["CALSCALE"]) == "GREGORIAN"
    assert str(parsed["METHOD"]) == "PUBLISH"
    # NAME (RFC 7986) and X-WR-CALNAME are TEXT, escaped like the others; icalendar reads both
    # as unknown properties and keeps their values raw.
    for name in ("NAME", "X-WR-CALNAME"):
        assert str(parsed[name]) == "Platform team\\, dev\\; namespaces"
    assert str(parsed["X-WR-TIMEZONE"]) == "Europe/Madrid"
    # No VTIMEZONE: every time is UTC.
    assert list(parsed.walk("VTIMEZONE")) == []


def test_an_empty_calendar_names_the_zone_of_now() -> None:
    parsed = parse(to_ics([], "empty", NOW))
    assert vevents(parsed) == []
    assert str(parsed["X-WR-TIMEZONE"]) == "Europe/Madrid"
    assert str(parse(to_ics([], "empty", NOW.astimezone(UTC)))["X-WR-TIMEZONE"]) == "UTC"


def test_times_are_utc_and_exact_across_the_dst_change() -> None:
    text = to_ics(sample_events(), "t", NOW)
    lines = text.split("\r\n")
    web = next(i for i, line in enumerate(lines) if line.startswith("UID:activation-web-"))
    assert lines[web + 2 : web + 4] == ["DTSTART:20261025T003000Z", "DTEND:20261025T013000Z"]
    assert all(
        re.fullmatch(r"\d{8}T\d{6}Z", line.split(":", 1)[1])
        for line in lines
        if line.startswith(("DTSTART", "DTEND", "DTSTAMP"))
    )


def test_crlf_everywhere_and_lines_at_most_75_octets() -> None:
    long_title = "Ñ" * 50 + " 🚀" * 30 + ", ; \\ " + "x" * 200
    text = to_ics([*sample_events(), event(title=long_title, reason=TRICKY * 3)], "t", NOW)
    assert text.endswith("\r\n")
    physical = text.split("\r\n")[:-1]
    assert "\n" not in "".join(physical) and "\r" not in "".join(physical)
    assert all(len(line.encode()) <= 75 for line in physical)
    assert any(line.startswith(" ") for line in physical)  # something was folded
    # Each folded piece is valid UTF-8 on its own: no character was split.
    for line in text.encode().split(b"\r\n"):
        line.decode("utf-8")
    [read] = [e for e in vevents(parse(text)) if str(e["SUMMARY"]).startswith("Ñ")]
    assert str(read["SUMMARY"]) == long_title


def test_folding_fills_lines_to_exactly_75_octets() -> None:
    text = to_ics([event(title="a" * 300)], "t", NOW)
    physical = [line for line in text.split("\r\n") if line.startswith(("SUMMARY", " "))]
    assert [len(line) for line in physical] == [
        75,
        75,
        75,
        75,
        12,
    ]  # 8 + 300 octets: 75, then 74 after each space


def test_text_with_commas_semicolons_newlines_and_non_ascii_round_trips() -> None:
    title = "payments, web; api\\v2\nsecond line ñ 日本 🚀"
    assert summary_of(title) == title
    text = to_ics([event(title=title)], "t", NOW)
    assert "SUMMARY:payments\\, web\\; api\\\\v2\\nsecond line ñ 日本 🚀\r\n" in text
    # Line breaks of every kind come back as \n.
    assert summary_of("a\r\nb\rc\nd") == "a\nb\nc\nd"


def test_the_description_says_who_why_cost_center_cost_and_status() -> None:
    events = sample_events()
    by_uid = {str(e["UID"]): e for e in vevents(parse(to_ics(events, "t", NOW)))}
    live = next(e for e in events if e.kind == "activation" and e.status == "live")
    description = str(by_uid[f"{live.id}@namespace-ctl"]["DESCRIPTION"])
    assert description.split("\n")[:2] == ["Namespace: payments", "Who: alice"]
    assert f"Why: {ics_text(TRICKY)}" in description
    assert "Cost center: CC-DATA" in description
    assert "Cost: 0.10" in description
    assert "Status: live" in description
    assert "Request: r1" in description
    christmas = next(e for e in events if e.holiday and "Christmas" in e.holiday)
    holiday = str(by_uid[f"{christmas.id}@namespace-ctl"]["DESCRIPTION"])
    assert holiday == f"Why: holiday\nHoliday: {christmas.holiday}"


def test_status_follows_the_request() -> None:
    events = sample_events()
    by_uid = {str(e["UID"]): str(e["STATUS"]) for e in vevents(parse(to_ics(events, "t", NOW)))}
    assert by_uid["request-p1@namespace-ctl"] == "TENTATIVE"
    assert by_uid["booking-b1@namespace-ctl"] == "TENTATIVE"
    assert by_uid["booking-b2@namespace-ctl"] == "CANCELLED"
    for status in ("denied", "expired"):
        [read] = vevents(parse(to_ics([event(kind="booking", status=status)], "t", NOW)))
        assert str(read["STATUS"]) == "CANCELLED"
    others = {uid: s for uid, s in by_uid.items() if uid.startswith(("sleep-", "activation-"))}
    assert others and set(others.values()) == {"CONFIRMED"}


def test_a_zero_length_event_has_no_dtend() -> None:
    at = local(2026, 10, 20, 21)
    text = to_ics([event(start=at, end=at)], "t", NOW)
    assert "DTEND" not in text
    [read] = vevents(parse(text))
    assert instant(read["DTSTART"]) == at.astimezone(UTC)


def test_control_characters_are_dropped() -> None:
    assert summary_of("bell\x07 tab\t nul\x00 del\x7f end") == "bell tab\t nul del end"


# ---- any text -------------------------------------------------------------------------------


def expected_text(text: str) -> str:
    """What a calendar reads back (independent of core.ics): line breaks as \\n, RFC 5545
    CONTROL characters other than HTAB dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c for c in text if c in "\t\n" or not (ord(c) < 0x20 or ord(c) == 0x7F))


@PROPERTY
@given(title=st.text(), reason=st.text())
@example(title=" leading and trailing ", reason="\\n is not a line break")
@example(title="\\;\\,\\\\", reason=":;,\\N")
@example(title="\u2028\u0085\x0c", reason="\t")
def test_any_title_and_reason_round_trip(title: str, reason: str) -> None:
    written = event(title=title, reason=reason, start=local(2026, 10, 25, 2, 30))
    text = to_ics([written], "t", NOW)
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    [read] = vevents(parse(text))
    assert str(read["SUMMARY"]) == expected_text(title)
    description = str(read["DESCRIPTION"])
    if expected_text(reason):
        assert f"\nWhy: {expected_text(reason)}\nStatus: live" in f"\n{description}"
    else:
        assert "Why:" not in description
    assert instant(read["DTSTART"]) == written.start.astimezone(UTC)
