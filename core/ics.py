"""The calendar as an iCalendar (RFC 5545) feed a team subscribes to.

Written by our own code, no runtime dependency. Times are UTC (`...Z`): no VTIMEZONE is needed
and instants across a DST change are exact. Lines end in CRLF and are folded at 75 octets,
never inside a UTF-8 character. TEXT values escape `\\ ; ,` and line breaks; a text's other
control characters (which RFC 5545 does not allow in TEXT) are dropped, and `\\r\\n` or a lone
`\\r` become a line break, as `ics_text` says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.calendar_view import CalendarEvent

PRODID = "-//namespace-ctl//calendar//EN"
UID_DOMAIN = "namespace-ctl"
LINE_OCTETS = 75
CANCELLED_STATUSES = frozenset({"denied", "cancelled", "expired"})
_CRLF = "\r\n"
# RFC 5545 CONTROL (%x00-08 / %x0A-1F / %x7F) less the line feed (a line break), and lone
# surrogates (no UTF-8 for them).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?")


def to_ics(events: list[CalendarEvent], calendar_name: str, now: datetime) -> str:
    """The events as one VCALENDAR (METHOD:PUBLISH); `now` (aware) is every DTSTAMP.

    X-WR-TIMEZONE names the events' zone (that of `now` when there are none, else UTC).
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{_escape(calendar_name)}",  # RFC 7986; X-WR-CALNAME for older clients
        f"X-WR-CALNAME:{_escape(calendar_name)}",
        f"X-WR-TIMEZONE:{_escape(_zone_name(events, now))}",
    ]
    stamp = _utc(now, "now")
    for event in events:
        lines.extend(_vevent(event, stamp))
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + _CRLF for line in lines)


def ics_text(text: str) -> str:
    """The text as a calendar reads it back: line breaks as `\\n`, other control characters
    dropped."""
    return _CONTROL.sub("", _LINE_BREAK.sub("\n", text))


def _vevent(event: CalendarEvent, stamp: str) -> list[str]:
    start, end = _utc(event.start, "start"), _utc(event.end, "end")
    lines = [
        "BEGIN:VEVENT",
        f"UID:{_escape(f'{event.id}@{UID_DOMAIN}')}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{start}",
    ]
    # DTEND must be after DTSTART; without it an event ends when it starts (RFC 5545 3.6.1).
    if end > start:
        lines.append(f"DTEND:{end}")
    lines.append(f"SUMMARY:{_escape(event.title)}")
    description = _description(event)
    if description:
        lines.append(f"DESCRIPTION:{_escape(description)}")
    lines += [
        f"CATEGORIES:{_escape(event.kind)}",
        f"STATUS:{_status(event)}",
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
    ]
    return lines


def _description(event: CalendarEvent) -> str:
    facts: list[tuple[str, str | None]] = [
        ("Namespace", event.namespace),
        ("Who", event.user),
        ("Why", event.reason),
        ("Cost center", event.cost_center),
        ("Cost", f"{event.cost:.2f}" if event.cost is not None else None),
        ("Status", event.status),
        ("Holiday", event.holiday),
        ("Request", event.request_id),
    ]
    shown = [(label, ics_text(str(value))) for label, value in facts if value is not None]
    return "\n".join(f"{label}: {text}" for label, text in shown if text)


def _status(event: CalendarEvent) -> str:
    if event.status == "pending":
        return "TENTATIVE"
    if event.kind in ("booking", "request") and event.status in CANCELLED_STATUSES:
        return "CANCELLED"
    return "CONFIRMED"


def _zone_name(events: Iterable[CalendarEvent], now: datetime) -> str:
    for at in [*(e.start for e in events), now]:
        if isinstance(at.tzinfo, ZoneInfo):
            return at.tzinfo.key
    return "UTC"


def _utc(at: datetime, name: str) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware time (got {at.isoformat()})")
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    """RFC 5545 TEXT: backslash, semicolon, comma and line breaks escaped."""
    return (
        ics_text(text)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """A content line folded at 75 octets (a continuation: a space and at most 74 octets),
    splitting only between characters, so no UTF-8 sequence is cut."""
    if len(line.encode()) <= LINE_OCTETS:
        return line
    pieces: list[str] = []
    current: list[str] = []
    size, limit = 0, LINE_OCTETS
    for char in line:
        octets = len(char.encode())
        if size + octets > limit:
            pieces.append("".join(current))
            current, size, limit = [], 0, LINE_OCTETS - 1
        current.append(char)
        size += octets
    pieces.append("".join(current))
    return (_CRLF + " ").join(pieces)
