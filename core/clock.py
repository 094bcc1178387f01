"""The product's clock: real time, optionally shifted so that it starts at a chosen instant.

`--now` shifts the clock the product reasons with (schedule, validation, records), never the
process's wall clock: the clock keeps running from the pretended start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class Clock:
    def __init__(
        self, start: datetime | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        self._origin = self._monotonic()
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        # Elapsed time is added in UTC: an aware datetime in a zone adds a timedelta to its wall
        # fields, which is an hour off across a DST change.
        self._zone = start.tzinfo
        self._start_utc = start.astimezone(UTC)

    def now(self) -> datetime:
        elapsed = timedelta(seconds=self._monotonic() - self._origin)
        return (self._start_utc + elapsed).astimezone(self._zone)


class FrozenClock(Clock):
    """A clock that only moves when told to (tests and the simulated demo)."""

    def __init__(self, at: datetime) -> None:
        super().__init__(at, monotonic=lambda: 0.0)
        self._at = at

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """ISO-8601 to an aware datetime; a naive value is read in the configured zone by the
    calendar's rule (`resolve_wall`)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 time: use e.g. 2026-12-01T21:30 or 2026-12-01T21:30+01:00"
        ) from None
    if value.tzinfo:
        return value
    return resolve_wall(value, zone).astimezone(zone)


def resolve_wall(naive: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time in `zone`.

    Ambiguous (fall-back): the first occurrence. Nonexistent (spring-forward gap): the first
    instant after the gap, i.e. the transition itself (02:30 on the last Sunday of March in
    Europe/Madrid is 03:00 CEST).
    """
    instant = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == naive:
        return instant
    # In a gap, fold=0 reads the time with the offset from before the transition (an instant
    # after the gap) and fold=1 with the one after it (an instant before the gap). Tz
    # transitions happen at whole seconds: bisect between the two for the first instant whose
    # local reading is past `naive`.
    other = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low = int(min(instant, other).timestamp()) - 1
    high = int(max(instant, other).timestamp()) + 1
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > naive:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, UTC)


def epoch(at: datetime) -> int:
    """Record timestamps are integer epoch seconds."""
    return int(at.timestamp())
