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
        self._start = start or datetime.now(UTC)
        if self._start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._monotonic() - self._origin)


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
    """ISO-8601 to an aware datetime; a naive value is read in the configured zone."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 time: use e.g. 2026-12-01T21:30 or 2026-12-01T21:30+01:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def epoch(at: datetime) -> int:
    """Record timestamps are integer epoch seconds."""
    return int(at.timestamp())
