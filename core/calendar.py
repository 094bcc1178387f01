"""The business calendar: when namespaces should be awake.

Business hours are local wall-clock times in the team's time zone, on configured ISO weekdays,
except holidays (the `holidays` package by country and subdivision, plus configured dates).
Everything else is night: namespaces sleep.

DST rules, decided:
- A business start or end that does not exist on a day (spring-forward gap) happens at the first
  instant after the gap: 02:30 on the last Sunday of March in Europe/Madrid is 03:00 CEST.
- One that exists twice (fall-back) happens at its first occurrence (fold=0). The schedule then
  follows instants, not clock readings: when the clock repeats an hour, the repeated readings do
  not trigger a second start or a second end. With an end of 02:30 on the last Sunday of October in
  Europe/Madrid, namespaces sleep at 02:30 CEST and stay asleep through the second 02:00-02:30
  (CET). Outside a repeated hour this is exactly the wall-clock rule
  `weekday and not holiday and start <= local time < end`.
- Instants are computed from the zone for each day, never by adding 24 h to another instant, and
  compared in UTC: two aware datetimes in the same ZoneInfo compare and subtract by wall clock
  (fold ignored), which is wrong across a DST change. Callers measuring real durations between
  returned instants should do the same (`b.timestamp() - a.timestamp()`).

Pure and fast: no I/O, holiday lookups and day edges are cached.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holidays_pkg

from core.clock import resolve_wall
from core.config import BusinessHours, Config, Holidays
from core.errors import ConfigError
from core.models import DesiredState

# How far next_transition / previous_transition look before giving up: more than a year, so a
# holiday run can never hide the next business day unless it covers a whole year.
SCAN_DAYS = 400
# Day edges cached at most (about 27 years of days); the cache is simply emptied past it.
_EDGE_CACHE_LIMIT = 10_000
_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
CONFIGURED_HOLIDAY = "holiday (holidays.dates)"

Transition = tuple[datetime, DesiredState]


def _as_utc(at: datetime, name: str = "at") -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(
            f"{name} must be a timezone-aware datetime (got naive {at.isoformat()}): "
            "attach a zone, e.g. datetime(..., tzinfo=ZoneInfo('Europe/Madrid'))"
        )
    return at.astimezone(UTC)


def _country_and_subdivision(country: str, subdivision: str | None) -> tuple[str, str | None]:
    """Validate the configured country and subdivision against the `holidays` package.

    Returns the codes as the package spells them; raises ConfigError naming the key.
    """
    supported: dict[str, list[str]] = holidays_pkg.list_supported_countries()
    code = country.strip()
    if code not in supported and code.upper() in supported:
        code = code.upper()
    if code not in supported:
        raise ConfigError(
            f"holidays.country: unknown country {country!r}: use an ISO 3166-1 alpha-2 code "
            "supported by the holidays package, e.g. ES, CL or US (or remove the key)"
        )
    if subdivision is None:
        holidays_pkg.country_holidays(code, years=[])
        return code, None
    known = [str(s) for s in supported[code]]
    wanted = subdivision.strip()
    candidates = [wanted] + [s for s in known if s.casefold() == wanted.casefold() and s != wanted]
    for candidate in candidates:
        try:
            holidays_pkg.country_holidays(code, subdiv=candidate, years=[])
        except NotImplementedError:
            continue
        return code, candidate
    choices = ", ".join(known) if known else "none: remove holidays.subdivision"
    raise ConfigError(
        f"holidays.subdivision: {subdivision!r} is not a subdivision of {code}: "
        f"use one of {choices}"
    )


def _configured_dates(texts: list[str]) -> frozenset[date]:
    days = set()
    for text in texts:
        try:
            days.add(date.fromisoformat(text))
        except ValueError:
            raise ConfigError(
                f"holidays.dates: {text!r} is not a calendar date: use YYYY-MM-DD, e.g. 2026-12-24"
            ) from None
    return frozenset(days)


class BusinessCalendar:
    """Business days and hours in one time zone, and the desired state of namespaces over time."""

    def __init__(self, zone: ZoneInfo, hours: BusinessHours, holidays: Holidays) -> None:
        self._zone = zone
        # Wall-clock times of day; an offset on a configured time would be meaningless here.
        self._start: time = hours.start.replace(tzinfo=None, fold=0)
        self._end: time = hours.end.replace(tzinfo=None, fold=0)
        self._weekdays = frozenset(hours.weekdays)
        if not self._weekdays:
            raise ConfigError(
                "business_hours.weekdays: list at least one ISO weekday (1=Monday .. 7=Sunday)"
            )
        if self._start >= self._end:
            raise ConfigError("business_hours.start: must be before business_hours.end")
        self._country: str | None = None
        self._subdivision: str | None = None
        if holidays.country is not None:
            self._country, self._subdivision = _country_and_subdivision(
                holidays.country, holidays.subdivision
            )
        elif holidays.subdivision is not None:
            raise ConfigError(
                "holidays.subdivision: needs holidays.country too (e.g. country: ES, "
                "subdivision: MD)"
            )
        self._extra_dates = _configured_dates(list(holidays.dates))
        self._loaded_years: set[int] = set()
        self._country_holidays: dict[date, str] = {}
        self._edges: dict[date, tuple[datetime, datetime] | None] = {}

    @classmethod
    def from_config(cls, config: Config) -> BusinessCalendar:
        return cls(config.zone, config.business_hours, config.holidays)

    # -- days ---------------------------------------------------------------------------------

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def holiday_name(self, day: date) -> str | None:
        """The holiday's name on that local date, or None when it is not a holiday."""
        if self._country is not None:
            for year in (day.year - 1, day.year, day.year + 1):
                self._load_year(year)
            name = self._country_holidays.get(day)
            if name is not None:
                return name
        return CONFIGURED_HOLIDAY if day in self._extra_dates else None

    def is_holiday(self, day: date) -> bool:
        return self.holiday_name(day) is not None

    def is_business_day(self, day: date) -> bool:
        """A configured weekday that is not a holiday (its hours may still vanish in a DST gap)."""
        return day.isoweekday() in self._weekdays and not self.is_holiday(day)

    def business_day_edges(self, day: date) -> tuple[datetime, datetime] | None:
        """The instants business time starts and ends on that local date, in the zone.

        None when the day has no business time: not a business day, or (only in exotic zones)
        both start and end fall into the same DST gap.
        """
        edges = self._edges_utc(day)
        if edges is None:
            return None
        return edges[0].astimezone(self._zone), edges[1].astimezone(self._zone)

    # -- instants -----------------------------------------------------------------------------

    def is_business_time(self, at: datetime) -> bool:
        """True when `at` (timezone-aware) is inside business hours of a business day."""
        return self._awake(_as_utc(at))

    def desired_state(self, namespace: str, at: datetime) -> DesiredState:
        """AWAKE during business time, ASLEEP otherwise.

        `namespace` is accepted for per-namespace schedules; every namespace shares one today.
        """
        del namespace
        return self._state(_as_utc(at))

    def next_transition(self, at: datetime) -> Transition:
        """The first instant strictly after `at` where the desired state changes, and that state.

        Raises ConfigError when holidays leave no business time for over a year.
        """
        at_utc = _as_utc(at)
        current = self._state(at_utc)
        first = self._local_date(at_utc)
        for offset in range(SCAN_DAYS + 1):
            edges = self._edges_utc(first + offset * _ONE_DAY)
            if edges is None:
                continue
            for edge in edges:
                if edge > at_utc:
                    state = self._state(edge)
                    if state is not current:
                        return edge.astimezone(self._zone), state
        raise self._no_business_time(first, first + SCAN_DAYS * _ONE_DAY)

    def previous_transition(self, at: datetime) -> Transition:
        """The last instant at or before `at` where the current desired state began, and it.

        Useful to know when the current night (or business day) started. Raises ConfigError
        when holidays leave no business time for over a year.
        """
        at_utc = _as_utc(at)
        current = self._state(at_utc)
        last = self._local_date(at_utc)
        for offset in range(SCAN_DAYS + 1):
            edges = self._edges_utc(last - offset * _ONE_DAY)
            if edges is None:
                continue
            for edge in reversed(edges):
                if edge <= at_utc and self._state(edge - _ONE_MICROSECOND) is not current:
                    return edge.astimezone(self._zone), current
        raise self._no_business_time(last - SCAN_DAYS * _ONE_DAY, last)

    def transitions(self, start: datetime, end: datetime) -> list[Transition]:
        """Every (instant, new state) with start < instant <= end, in order."""
        start_utc = _as_utc(start, "start")
        end_utc = _as_utc(end, "end")
        result: list[Transition] = []
        if end_utc <= start_utc:
            return result
        state = self._state(start_utc)
        day = self._local_date(start_utc)
        last = self._local_date(end_utc)
        while day <= last:
            edges = self._edges_utc(day)
            day += _ONE_DAY
            if edges is None:
                continue
            for edge in edges:
                if start_utc < edge <= end_utc:
                    new_state = self._state(edge)
                    if new_state is not state:
                        result.append((edge.astimezone(self._zone), new_state))
                        state = new_state
        return result

    # -- internals ----------------------------------------------------------------------------

    def _local_date(self, at_utc: datetime) -> date:
        return at_utc.astimezone(self._zone).date()

    def _awake(self, at_utc: datetime) -> bool:
        # A day's business time lies within its own local date (see _resolve), so only the
        # instant's own local date can contain it.
        edges = self._edges_utc(self._local_date(at_utc))
        return edges is not None and edges[0] <= at_utc < edges[1]

    def _state(self, at_utc: datetime) -> DesiredState:
        return DesiredState.AWAKE if self._awake(at_utc) else DesiredState.ASLEEP

    def _edges_utc(self, day: date) -> tuple[datetime, datetime] | None:
        try:
            return self._edges[day]
        except KeyError:
            pass
        edges: tuple[datetime, datetime] | None = None
        if self.is_business_day(day):
            start = self._resolve(day, self._start)
            end = self._resolve(day, self._end)
            if start < end:
                edges = (start, end)
        if len(self._edges) >= _EDGE_CACHE_LIMIT:
            self._edges.clear()
        self._edges[day] = edges
        return edges

    def _resolve(self, day: date, wall: time) -> datetime:
        """The UTC instant of a local wall-clock time on a day.

        Ambiguous (fall-back): the first occurrence. Nonexistent (spring-forward gap): the first
        instant after the gap, i.e. the transition itself.
        """
        return resolve_wall(datetime.combine(day, wall), self._zone)

    def _load_year(self, year: int) -> None:
        if year in self._loaded_years or self._country is None:
            return
        self._loaded_years.add(year)
        if not 1 <= year <= 9999:
            return
        found = holidays_pkg.country_holidays(self._country, subdiv=self._subdivision, years=year)
        for day, name in found.items():
            self._country_holidays.setdefault(day, str(name))

    def _no_business_time(self, first: date, last: date) -> ConfigError:
        source = "holidays.dates"
        if self._country is not None:
            source += f" and the {self._country} holidays"
        return ConfigError(
            f"no business time between {first} and {last}: {source} cover every business day "
            f"of business_hours.weekdays {sorted(self._weekdays)}; namespaces would never wake. "
            "Shorten holidays.dates or add weekdays"
        )
