"""BusinessCalendar: unit tests and Hypothesis properties on real zones.

Zones: America/Santiago (DST changes at local midnight, southern hemisphere), Europe/Madrid,
America/New_York and UTC; plus configurations whose start or end falls inside a DST gap or a
repeated (fall-back) hour.

Instants are compared and subtracted through timestamps / UTC only: two datetimes in the same
ZoneInfo compare and subtract by wall clock, ignoring fold, which is wrong across a DST change.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.calendar import SCAN_DAYS, BusinessCalendar
from core.clock import Clock, parse_instant
from core.config import BusinessHours, Config, Holidays
from core.errors import ConfigError
from core.models import DesiredState

AWAKE, ASLEEP = DesiredState.AWAKE, DesiredState.ASLEEP
SANTIAGO = ZoneInfo("America/Santiago")
MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
UTC_ZONE = ZoneInfo("UTC")
WORKWEEK = (1, 2, 3, 4, 5)
EVERY_DAY = (1, 2, 3, 4, 5, 6, 7)
ONE_US = timedelta(microseconds=1)
FIRST_DAY, LAST_DAY = date(2020, 1, 1), date(2030, 12, 31)
FIRST_TS = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
LAST_TS = int(datetime(2031, 1, 1, tzinfo=UTC).timestamp())

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make(
    timezone: str = "UTC",
    start: str = "07:00",
    end: str = "20:00",
    weekdays: tuple[int, ...] = WORKWEEK,
    **holiday_keys: Any,
) -> BusinessCalendar:
    config = Config.model_validate(
        {
            "timezone": timezone,
            "business_hours": {"start": start, "end": end, "weekdays": list(weekdays)},
            "holidays": holiday_keys,
        }
    )
    return BusinessCalendar.from_config(config)


def utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def shift(instant: datetime, **delta: float) -> datetime:
    """Real (elapsed) time arithmetic, done in UTC."""
    return utc(instant) + timedelta(**delta)


def hours_between(a: datetime, b: datetime) -> float:
    return (b.timestamp() - a.timestamp()) / 3600


def same_instant(a: datetime, b: datetime) -> bool:
    return a.timestamp() == b.timestamp()


def key(transitions: list[tuple[datetime, DesiredState]]) -> list[tuple[float, DesiredState]]:
    return [(instant.timestamp(), state) for instant, state in transitions]


# -- scenarios and the independent wall-clock rule ----------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    zone: ZoneInfo
    start: time = time(7)
    end: time = time(20)
    weekdays: tuple[int, ...] = WORKWEEK
    country: str | None = None
    subdivision: str | None = None
    dates: tuple[str, ...] = field(default=())

    @cached_property
    def calendar(self) -> BusinessCalendar:
        holiday_keys: dict[str, Any] = {"dates": list(self.dates)}
        if self.country:
            holiday_keys["country"] = self.country
        if self.subdivision:
            holiday_keys["subdivision"] = self.subdivision
        return make(
            self.zone.key,
            self.start.strftime("%H:%M"),
            self.end.strftime("%H:%M"),
            self.weekdays,
            **holiday_keys,
        )

    @cached_property
    def holiday_dates(self) -> set[date]:
        days = {date.fromisoformat(text) for text in self.dates}
        if self.country:
            found = holidays.country_holidays(
                self.country, subdiv=self.subdivision, years=range(2018, 2033)
            )
            days |= set(found)
        return days

    @cached_property
    def dst_changes(self) -> list[tuple[int, int]]:
        """(UTC second of the change, seconds the clock moves) for each DST change 2020-2030."""
        changes = []
        day = FIRST_DAY
        previous = datetime.combine(day, time(12), self.zone).utcoffset()
        while day <= LAST_DAY:
            day += timedelta(days=1)
            offset = datetime.combine(day, time(12), self.zone).utcoffset()
            if offset is not None and previous is not None and offset != previous:
                # Find the change minute by minute from noon the day before.
                probe = utc(datetime.combine(day - timedelta(days=1), time(12), self.zone))
                while probe.astimezone(self.zone).utcoffset() != offset:
                    probe += timedelta(minutes=1)
                moved = int((offset - previous).total_seconds())
                changes.append((int(probe.timestamp()), moved))
            previous = offset
        return changes

    def wall_clock_rule(self, instant: datetime) -> bool:
        """Awake iff a configured weekday, not a holiday, and start <= local wall time < end.

        While the clock repeats an hour (fold=1) the repeated readings do not move the schedule:
        the state is the one at the last reading of the first pass.
        """
        local = instant.astimezone(self.zone)
        wall = local.replace(tzinfo=None)
        if local.fold == 1:
            probe = utc(instant).replace(second=0, microsecond=0)
            while probe.astimezone(self.zone).fold == 1:
                probe -= timedelta(minutes=1)
            last_first_pass = probe.astimezone(self.zone).replace(tzinfo=None)
            wall = last_first_pass + timedelta(minutes=1) - ONE_US
        day = wall.date()
        return (
            day.isoweekday() in self.weekdays
            and day not in self.holiday_dates
            and self.start <= wall.time() < self.end
        )


SCENARIOS = [
    Scenario("santiago", SANTIAGO, country="CL"),
    Scenario("madrid", MADRID, country="ES"),
    Scenario("madrid-catalonia", MADRID, country="ES", subdivision="CT"),
    Scenario("new-york", NEW_YORK, country="US"),
    Scenario("utc", UTC_ZONE, dates=("2026-06-15", "2026-06-16", "2027-01-04")),
    # Start inside the spring-forward gap (last Sunday of March), ambiguous in October.
    Scenario("madrid-gap-start", MADRID, start=time(2, 30), weekdays=EVERY_DAY),
    # End ambiguous on the last Sunday of October, inside the gap in March.
    Scenario("madrid-ambiguous-end", MADRID, start=time(1), end=time(2, 30), weekdays=EVERY_DAY),
    # Chile changes at midnight: start in the September gap, end in the repeated April hour.
    Scenario("santiago-midnight", SANTIAGO, time(0, 30), time(23, 30), EVERY_DAY, "CL"),
    # Start ambiguous in November, end inside the March gap.
    Scenario("new-york-night", NEW_YORK, start=time(1, 30), end=time(2, 30), weekdays=EVERY_DAY),
]


@st.composite
def cases(draw: st.DrawFn) -> tuple[Scenario, datetime]:
    scenario = draw(st.sampled_from(SCENARIOS))
    kind = draw(st.sampled_from(["anywhere", "dst", "repeated", "edge"]))
    fall_backs = [(change, -moved) for change, moved in scenario.dst_changes if moved < 0]
    if kind == "dst" and scenario.dst_changes:
        change, _ = draw(st.sampled_from(scenario.dst_changes))
        seconds = change + draw(st.integers(-3 * 3600, 3 * 3600))
    elif kind == "repeated" and fall_backs:
        change, repeated = draw(st.sampled_from(fall_backs))
        seconds = change + draw(st.integers(0, repeated - 1))
    elif kind == "edge":
        day = draw(st.dates(FIRST_DAY, LAST_DAY))
        wall = datetime.combine(day, draw(st.sampled_from([scenario.start, scenario.end])))
        base = wall.replace(tzinfo=scenario.zone, fold=draw(st.integers(0, 1)))
        delta = draw(st.one_of(st.sampled_from([0, -1, 1]), st.integers(-5400, 5400)))
        seconds = int(base.timestamp()) + delta
    else:
        seconds = draw(st.integers(FIRST_TS, LAST_TS))
    micro = draw(st.sampled_from([0, 0, 0, 1, 999_999]))
    shown_in = draw(st.sampled_from([UTC, scenario.zone, TOKYO]))
    instant = datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)
    return scenario, instant.astimezone(shown_in)


def state_of(scenario: Scenario, instant: datetime) -> DesiredState:
    return scenario.calendar.desired_state("team-a", instant)


# -- properties -------------------------------------------------------------------------------


@PROPERTY
@given(cases())
def test_is_business_time_agrees_with_the_wall_clock_rule(case: tuple[Scenario, datetime]) -> None:
    scenario, instant = case
    expected = scenario.wall_clock_rule(instant)
    assert scenario.calendar.is_business_time(instant) is expected
    assert state_of(scenario, instant) is (AWAKE if expected else ASLEEP)


@PROPERTY
@given(cases())
def test_next_transition_is_the_first_change(case: tuple[Scenario, datetime]) -> None:
    scenario, instant = case
    before = state_of(scenario, instant)
    moment, after = scenario.calendar.next_transition(instant)
    assert moment.tzinfo is scenario.zone
    assert moment.timestamp() > instant.timestamp()
    assert after is not before
    assert state_of(scenario, moment) is after
    assert scenario.wall_clock_rule(moment) is (after is AWAKE)
    assert state_of(scenario, shift(moment, microseconds=-1)) is before
    assert scenario.wall_clock_rule(shift(moment, microseconds=-1)) is (before is AWAKE)
    one_second_before = shift(moment, seconds=-1)
    if one_second_before > utc(instant):
        assert state_of(scenario, one_second_before) is before
    probe = utc(instant)
    while probe < utc(moment):
        assert state_of(scenario, probe) is before
        probe += timedelta(minutes=30)
    # It happens at the configured wall time (first occurrence), or right after a DST gap that
    # swallowed it.
    wanted = scenario.start if after is AWAKE else scenario.end
    local = moment.astimezone(scenario.zone)
    if local.time() == wanted:
        assert local.fold == 0
    else:
        missing = datetime.combine(local.date(), wanted)
        just_before = shift(moment, microseconds=-1).astimezone(scenario.zone)
        assert just_before.replace(tzinfo=None) < missing < local.replace(tzinfo=None)


@PROPERTY
@given(cases())
def test_previous_transition_is_when_the_current_state_began(
    case: tuple[Scenario, datetime],
) -> None:
    scenario, instant = case
    current = state_of(scenario, instant)
    moment, state = scenario.calendar.previous_transition(instant)
    assert moment.tzinfo is scenario.zone
    assert moment.timestamp() <= instant.timestamp()
    assert state is current
    assert state_of(scenario, moment) is current
    assert state_of(scenario, shift(moment, microseconds=-1)) is not current
    probe = utc(moment)
    while probe <= utc(instant):
        assert state_of(scenario, probe) is current
        probe += timedelta(minutes=30)
    again, again_state = scenario.calendar.next_transition(shift(moment, microseconds=-1))
    assert same_instant(again, moment)
    assert again_state is current


@settings(max_examples=60, deadline=None)
@given(cases(), st.integers(1, 15 * 24))
def test_transitions_chain_next_transition(case: tuple[Scenario, datetime], hours: int) -> None:
    scenario, start = case
    end = shift(start, hours=hours)
    chained = []
    moment = start
    while True:
        moment, state = scenario.calendar.next_transition(moment)
        if utc(moment) > end:
            break
        chained.append((moment, state))
    listed = scenario.calendar.transitions(start, end)
    assert key(listed) == key(chained)
    assert all(instant.tzinfo is scenario.zone for instant, _ in listed)


# -- the default rule -------------------------------------------------------------------------


def test_the_seed_rule_is_the_default_config() -> None:
    config = Config()
    assert config.business_hours == BusinessHours(
        start=time(7), end=time(20), weekdays=[1, 2, 3, 4, 5]
    )
    calendar = BusinessCalendar.from_config(config)
    monday = datetime(2026, 6, 1, tzinfo=UTC)
    assert monday.isoweekday() == 1
    expectations = {
        time(0): False,
        time(6, 59, 59, 999_999): False,
        time(7): True,
        time(12): True,
        time(19, 59, 59, 999_999): True,
        time(20): False,
        time(23, 59): False,
    }
    for day in range(7):
        for wall, awake in expectations.items():
            instant = datetime.combine(monday.date() + timedelta(days=day), wall, UTC)
            assert calendar.is_business_time(instant) is (awake and day < 5), instant
    friday_night = datetime(2026, 6, 5, 20, tzinfo=UTC)
    moment, state = calendar.next_transition(friday_night)
    assert (moment, state) == (datetime(2026, 6, 8, 7, tzinfo=UTC), AWAKE)
    assert hours_between(friday_night, moment) == 59


def test_every_method_refuses_naive_datetimes() -> None:
    calendar = make()
    naive = datetime(2026, 6, 1, 12)
    aware = datetime(2026, 6, 1, 12, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.is_business_time(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.desired_state("ns", naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.next_transition(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.previous_transition(naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.transitions(naive, aware)
    with pytest.raises(ValueError, match="timezone-aware"):
        calendar.transitions(aware, naive)


def test_instants_in_any_zone_give_the_same_answers() -> None:
    calendar = make("Europe/Madrid")
    instant = datetime(2026, 6, 1, 6, 30, tzinfo=UTC)  # 08:30 in Madrid, Monday
    for shown in (instant, instant.astimezone(MADRID), instant.astimezone(TOKYO)):
        assert calendar.is_business_time(shown)
        moment, state = calendar.next_transition(shown)
        assert moment == datetime(2026, 6, 1, 20, tzinfo=MADRID)
        assert moment.tzinfo is MADRID
        assert state is ASLEEP
        began, _ = calendar.previous_transition(shown)
        assert began == datetime(2026, 6, 1, 7, tzinfo=MADRID)


def test_transitions_interval_is_open_at_start_and_closed_at_end() -> None:
    calendar = make()
    seven = datetime(2026, 6, 1, 7, tzinfo=UTC)
    eight_pm = datetime(2026, 6, 1, 20, tzinfo=UTC)
    assert key(calendar.transitions(seven, eight_pm)) == [(eight_pm.timestamp(), ASLEEP)]
    before = shift(seven, seconds=-1)
    assert key(calendar.transitions(before, seven)) == [(seven.timestamp(), AWAKE)]
    assert calendar.transitions(eight_pm, seven) == []
    assert calendar.transitions(seven, seven) == []


def test_business_day_edges() -> None:
    calendar = make("Europe/Madrid", country="ES")
    assert calendar.business_day_edges(date(2026, 6, 1)) == (
        datetime(2026, 6, 1, 7, tzinfo=MADRID),
        datetime(2026, 6, 1, 20, tzinfo=MADRID),
    )
    assert calendar.business_day_edges(date(2026, 6, 6)) is None  # Saturday
    assert calendar.business_day_edges(date(2026, 12, 8)) is None  # holiday


# -- DST changes of 2026 ----------------------------------------------------------------------

# (zone, local date of the change, hours the clock moves: +1 spring forward, -1 fall back)
CHANGES_2026 = [
    (SANTIAGO, date(2026, 4, 5), -1),  # 00:00 -03 -> Saturday 23:00 -04
    (SANTIAGO, date(2026, 9, 6), +1),  # 00:00 -04 -> 01:00 -03
    (MADRID, date(2026, 3, 29), +1),  # 02:00 CET -> 03:00 CEST
    (MADRID, date(2026, 10, 25), -1),  # 03:00 CEST -> 02:00 CET
    (NEW_YORK, date(2026, 3, 8), +1),  # 02:00 EST -> 03:00 EDT
    (NEW_YORK, date(2026, 11, 1), -1),  # 02:00 EDT -> 01:00 EST
]
CHANGE_IDS = [f"{zone.key}-{day}" for zone, day, _ in CHANGES_2026]


@pytest.mark.parametrize(("zone", "change", "moved"), CHANGES_2026, ids=CHANGE_IDS)
def test_tzdata_has_the_2026_changes(zone: ZoneInfo, change: date, moved: int) -> None:
    assert change.isoweekday() == 7
    noon_before = datetime.combine(change - timedelta(days=1), time(12), zone)
    noon_after = datetime.combine(change, time(12), zone)
    assert noon_after.utcoffset() - noon_before.utcoffset() == timedelta(hours=moved)  # type: ignore[operator]


@pytest.mark.parametrize(("zone", "change", "moved"), CHANGES_2026, ids=CHANGE_IDS)
def test_workweek_around_a_dst_change(zone: ZoneInfo, change: date, moved: int) -> None:
    calendar = make(zone.key)
    monday_before = change - timedelta(days=6)
    start = datetime.combine(monday_before, time(0), zone)
    end = datetime.combine(change + timedelta(days=6), time(0), zone)  # Saturday after
    found = calendar.transitions(start, end)
    assert len(found) == 20  # ten business days, one startup and one shutdown each
    for moment, state in found:
        local = moment.astimezone(zone)
        assert local.time() == (time(7) if state is AWAKE else time(20))
        assert local.isoweekday() <= 5
    states = [state for _, state in found]
    assert states == [AWAKE, ASLEEP] * 10
    nights = [(found[i][0], found[i + 1][0]) for i in range(1, len(found) - 1, 2)]
    lengths = [hours_between(a, b) for a, b in nights]
    assert lengths == [11, 11, 11, 11, 59 - moved, 11, 11, 11, 11]
    friday_shutdown, monday_startup = nights[4]
    assert friday_shutdown.astimezone(zone).date() == change - timedelta(days=2)
    assert monday_startup.astimezone(zone).date() == change + timedelta(days=1)
    offset_change = monday_startup.utcoffset() - friday_shutdown.utcoffset()  # type: ignore[operator]
    assert offset_change == timedelta(hours=moved)
    days = [hours_between(found[i][0], found[i + 1][0]) for i in range(0, len(found), 2)]
    assert days == [13] * 10


@pytest.mark.parametrize(("zone", "change", "moved"), CHANGES_2026, ids=CHANGE_IDS)
def test_every_day_schedule_night_across_a_dst_change(
    zone: ZoneInfo, change: date, moved: int
) -> None:
    calendar = make(zone.key, weekdays=EVERY_DAY)
    start = datetime.combine(change - timedelta(days=3), time(12), zone)
    end = datetime.combine(change + timedelta(days=3), time(12), zone)
    found = calendar.transitions(start, end)
    assert [state for _, state in found] == [ASLEEP, AWAKE] * 6
    lengths = [hours_between(found[i][0], found[i + 1][0]) for i in range(0, len(found), 2)]
    # The night that contains the change (Saturday 20:00 -> Sunday 07:00) is 10 h or 12 h.
    assert lengths == [11, 11, 11 - moved, 11, 11, 11]
    night_start, night_end = found[4][0], found[5][0]
    assert night_start.astimezone(zone).date() == change - timedelta(days=1)
    assert night_start.astimezone(zone).time() == time(20)
    assert night_end.astimezone(zone).date() == change
    assert night_end.astimezone(zone).time() == time(7)


@pytest.mark.parametrize("zone", [SANTIAGO, MADRID, NEW_YORK, UTC_ZONE], ids=lambda z: z.key)
def test_a_whole_year_of_nights(zone: ZoneInfo) -> None:
    calendar = make(zone.key)
    start = datetime(2026, 1, 1, tzinfo=zone)
    found = calendar.transitions(start, datetime(2027, 1, 1, tzinfo=zone))
    nights = [
        hours_between(found[i][0], found[i + 1][0])
        for i in range(len(found) - 1)
        if found[i][1] is ASLEEP
    ]
    weekends = sorted(length for length in nights if length > 13)
    assert {length for length in nights if length <= 13} == {11}
    if zone is UTC_ZONE:
        assert set(weekends) == {59}
    else:
        assert weekends[0] == 58 and weekends[-1] == 60 and set(weekends[1:-1]) == {59}
    for moment, state in found:
        assert moment.astimezone(zone).time() == (time(7) if state is AWAKE else time(20))


def test_start_inside_the_spring_forward_gap() -> None:
    calendar = make("Europe/Madrid", start="02:30", weekdays=EVERY_DAY)
    start, end = calendar.business_day_edges(date(2026, 3, 29)) or pytest.fail("no edges")
    # 02:30 does not exist that day: business time starts at the first instant after the gap.
    assert utc(start) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert start.astimezone(MADRID).time() == time(3)
    assert start.utcoffset() == timedelta(hours=2)
    assert utc(end) == datetime(2026, 3, 29, 18, tzinfo=UTC)  # 20:00 CEST
    saturday_night = datetime(2026, 3, 28, 20, tzinfo=MADRID)
    moment, state = calendar.next_transition(saturday_night)
    assert state is AWAKE and same_instant(moment, start)
    assert hours_between(saturday_night, moment) == 6  # a normal night here is 6.5 h
    friday_night = datetime(2026, 3, 27, 20, tzinfo=MADRID)
    normal, _ = calendar.next_transition(friday_night)
    assert hours_between(friday_night, normal) == 6.5
    assert not calendar.is_business_time(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))
    assert calendar.is_business_time(datetime(2026, 3, 29, 1, tzinfo=UTC))


def test_start_in_the_repeated_hour_wakes_once() -> None:
    calendar = make("Europe/Madrid", start="02:30", weekdays=EVERY_DAY)
    start, _ = calendar.business_day_edges(date(2026, 10, 25)) or pytest.fail("no edges")
    assert utc(start) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, first one
    assert start.fold == 0 and start.utcoffset() == timedelta(hours=2)
    second_pass = datetime(2026, 10, 25, 2, 15, fold=1, tzinfo=MADRID)  # 01:15 UTC, CET
    assert calendar.is_business_time(second_pass)
    found = calendar.transitions(
        datetime(2026, 10, 24, 12, tzinfo=MADRID), datetime(2026, 10, 25, 23, tzinfo=MADRID)
    )
    assert key(found) == [
        (datetime(2026, 10, 24, 18, tzinfo=UTC).timestamp(), ASLEEP),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp(), AWAKE),
        (datetime(2026, 10, 25, 19, tzinfo=UTC).timestamp(), ASLEEP),
    ]


def test_end_in_the_repeated_hour_sleeps_once() -> None:
    calendar = make("Europe/Madrid", start="01:00", end="02:30", weekdays=EVERY_DAY)
    start, end = calendar.business_day_edges(date(2026, 10, 25)) or pytest.fail("no edges")
    assert utc(start) == datetime(2026, 10, 24, 23, tzinfo=UTC)  # 01:00 CEST
    assert utc(end) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, first one
    assert end.fold == 0
    # The clock reads 02:00-02:30 again (CET): namespaces stay asleep.
    for minute in (0, 15, 29):
        repeated = datetime(2026, 10, 25, 2, minute, fold=1, tzinfo=MADRID)
        assert not calendar.is_business_time(repeated)
    found = calendar.transitions(
        datetime(2026, 10, 24, 12, tzinfo=MADRID), datetime(2026, 10, 25, 12, tzinfo=MADRID)
    )
    assert key(found) == [(start.timestamp(), AWAKE), (end.timestamp(), ASLEEP)]
    moment, state = calendar.next_transition(end)
    assert state is AWAKE
    assert utc(moment) == datetime(2026, 10, 26, 0, tzinfo=UTC)  # Monday 01:00 CET


def test_end_inside_the_spring_forward_gap() -> None:
    calendar = make("Europe/Madrid", start="01:00", end="02:30", weekdays=EVERY_DAY)
    start, end = calendar.business_day_edges(date(2026, 3, 29)) or pytest.fail("no edges")
    assert utc(start) == datetime(2026, 3, 29, 0, tzinfo=UTC)  # 01:00 CET
    assert utc(end) == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 03:00 CEST, after the gap
    assert hours_between(start, end) == 1


def test_santiago_changes_at_midnight() -> None:
    calendar = make("America/Santiago", start="00:30", end="23:30", weekdays=EVERY_DAY)
    start, _ = calendar.business_day_edges(date(2026, 9, 6)) or pytest.fail("no edges")
    assert start == datetime(2026, 9, 6, 1, tzinfo=SANTIAGO)  # 00:30 does not exist
    assert utc(start) == datetime(2026, 9, 6, 4, tzinfo=UTC)
    _, end = calendar.business_day_edges(date(2026, 4, 4)) or pytest.fail("no edges")
    assert utc(end) == datetime(2026, 4, 5, 2, 30, tzinfo=UTC)  # 23:30 -03, the first one
    second_pass = datetime(2026, 4, 4, 23, 15, fold=1, tzinfo=SANTIAGO)
    assert utc(second_pass) == datetime(2026, 4, 5, 3, 15, tzinfo=UTC)
    assert not calendar.is_business_time(second_pass)


# -- holidays ---------------------------------------------------------------------------------


def test_spanish_national_holidays_sleep_all_day() -> None:
    calendar = make("Europe/Madrid", country="ES")
    for holiday in (date(2026, 12, 8), date(2026, 12, 25)):
        assert calendar.is_holiday(holiday) and not calendar.is_business_day(holiday)
        assert calendar.business_day_edges(holiday) is None
        for wall in (time(0), time(7), time(12), time(19, 59)):
            assert not calendar.is_business_time(datetime.combine(holiday, wall, MADRID))
    assert calendar.holiday_name(date(2026, 12, 25)) == "Christmas Day"
    assert calendar.holiday_name(date(2026, 12, 24)) is None
    # Immaculate Conception is a Tuesday: Monday night lasts until Wednesday 07:00.
    moment, state = calendar.next_transition(datetime(2026, 12, 7, 20, tzinfo=MADRID))
    assert (moment, state) == (datetime(2026, 12, 9, 7, tzinfo=MADRID), AWAKE)
    # Christmas is a Friday: Thursday night lasts until Monday 07:00.
    thursday_night = datetime(2026, 12, 24, 20, tzinfo=MADRID)
    moment, state = calendar.next_transition(thursday_night)
    assert (moment, state) == (datetime(2026, 12, 28, 7, tzinfo=MADRID), AWAKE)
    assert hours_between(thursday_night, moment) == 83
    began, state = calendar.previous_transition(datetime(2026, 12, 27, 12, tzinfo=MADRID))
    assert (began, state) == (thursday_night, ASLEEP)


def test_chilean_independence_day_sleeps_all_day() -> None:
    calendar = make("America/Santiago", country="CL")
    holiday = date(2026, 9, 18)
    assert holiday.isoweekday() == 5
    assert calendar.business_day_edges(holiday) is None
    assert not calendar.is_business_time(datetime(2026, 9, 18, 12, tzinfo=SANTIAGO))
    moment, state = calendar.next_transition(datetime(2026, 9, 17, 20, tzinfo=SANTIAGO))
    assert (moment, state) == (datetime(2026, 9, 21, 7, tzinfo=SANTIAGO), AWAKE)


def test_subdivision_holidays() -> None:
    diada = datetime(2026, 9, 11, 12, tzinfo=MADRID)  # National Day of Catalonia, a Friday
    assert make("Europe/Madrid", country="ES").is_business_time(diada)
    assert not make("Europe/Madrid", country="ES", subdivision="CT").is_business_time(diada)


def test_codes_are_read_case_insensitively() -> None:
    calendar = make("Europe/Madrid", country="es", subdivision="ct")
    assert calendar.is_holiday(date(2026, 9, 11))


def test_extra_dates_sleep_all_day() -> None:
    calendar = make(dates=["2026-06-15"])  # a Monday
    assert calendar.holiday_name(date(2026, 6, 15)) is not None
    assert not calendar.is_business_time(datetime(2026, 6, 15, 12, tzinfo=UTC))
    moment, state = calendar.next_transition(datetime(2026, 6, 12, 20, tzinfo=UTC))
    assert (moment, state) == (datetime(2026, 6, 16, 7, tzinfo=UTC), AWAKE)
    with_country = make("Europe/Madrid", country="ES", dates=["2026-12-24"])
    moment, _ = with_country.next_transition(datetime(2026, 12, 23, 20, tzinfo=MADRID))
    assert moment == datetime(2026, 12, 28, 7, tzinfo=MADRID)


def test_any_year_works_and_years_load_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[Any] = []
    real = holidays.country_holidays

    def counting(*args: Any, **kwargs: Any) -> Any:
        loaded.append(kwargs.get("years"))
        return real(*args, **kwargs)

    monkeypatch.setattr(holidays, "country_holidays", counting)
    calendar = make("Europe/Madrid", country="ES")
    assert all(years == [] for years in loaded)  # validation only, no year loaded yet
    loaded.clear()
    assert not calendar.is_business_day(date(2099, 12, 25))
    assert sorted(loaded) == [2098, 2099, 2100]
    loaded.clear()
    for day in range(1, 29):
        calendar.is_business_time(datetime(2099, 2, day, 12, tzinfo=MADRID))
    assert loaded == []
    assert not calendar.is_business_day(date(2010, 1, 6))  # Epiphany


def test_unknown_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"holidays\.country.*ISO 3166.*ES"):
        make(country="XX")
    with pytest.raises(ConfigError, match=r"holidays\.country"):
        make(country="Spain")


def test_unknown_subdivision_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"holidays\.subdivision.*ES.*MD"):
        make(country="ES", subdivision="ZZ")
    with pytest.raises(ConfigError, match=r"holidays\.subdivision.*holidays\.country"):
        make(subdivision="MD")


def test_impossible_extra_date_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"holidays\.dates.*2026-02-30"):
        make(dates=["2026-02-30"])


def test_direct_construction() -> None:
    calendar = BusinessCalendar(
        MADRID, BusinessHours(start=time(9), end=time(17)), Holidays(country="ES")
    )
    assert calendar.zone is MADRID
    assert calendar.is_business_time(datetime(2026, 6, 1, 9, tzinfo=MADRID))
    assert not calendar.is_business_time(datetime(2026, 6, 1, 17, tzinfo=MADRID))


def test_long_holiday_run_is_scanned_quickly() -> None:
    first = date(2026, 1, 1)
    run = [(first + timedelta(days=i)).isoformat() for i in range(304)]  # through 2026-10-31
    calendar = make(dates=run)
    began = clock.perf_counter()
    moment, state = calendar.next_transition(datetime(2025, 12, 31, 20, tzinfo=UTC))
    assert (moment, state) == (datetime(2026, 11, 2, 7, tzinfo=UTC), AWAKE)
    began_at, _ = calendar.previous_transition(datetime(2026, 11, 1, 12, tzinfo=UTC))
    assert began_at == datetime(2025, 12, 31, 20, tzinfo=UTC)
    assert clock.perf_counter() - began < 1


def test_a_year_of_holidays_is_a_clear_error() -> None:
    first = date(2026, 1, 1)
    run = [(first + timedelta(days=i)).isoformat() for i in range(SCAN_DAYS + 30)]
    calendar = make(dates=run)
    with pytest.raises(ConfigError, match="no business time"):
        calendar.next_transition(datetime(2025, 12, 31, 21, tzinfo=UTC))
    with pytest.raises(ConfigError, match="no business time"):
        calendar.previous_transition(datetime(2027, 3, 1, 12, tzinfo=UTC))
    # Only the instants inside the run are affected.
    assert calendar.next_transition(datetime(2025, 12, 31, 12, tzinfo=UTC))[1] is ASLEEP


def test_queries_are_fast() -> None:
    calendar = make("Europe/Madrid", country="ES")
    step = (LAST_TS - FIRST_TS) // 3000
    instants = [datetime.fromtimestamp(FIRST_TS + i * step, UTC) for i in range(3000)]
    began = clock.perf_counter()
    for instant in instants:
        calendar.desired_state("ns", instant)
        calendar.next_transition(instant)
    assert clock.perf_counter() - began < 3


# ---- the product clock and --now across DST (issue 15) -------------------------------------------


def test_the_clock_adds_elapsed_time_as_real_time_across_a_dst_change() -> None:
    """01:30 CEST + 2 h of real time on 2026-10-25 is 02:30 CET (it read 03:30+01:00)."""
    zone = ZoneInfo("Europe/Madrid")
    elapsed = [0.0]
    clock = Clock(parse_instant("2026-10-25T01:30", zone), monotonic=lambda: elapsed[0])
    elapsed[0] = 7200.0
    now = clock.now()
    assert now.isoformat() == "2026-10-25T02:30:00+01:00"
    start = parse_instant("2026-10-25T01:30", zone)
    assert now.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=2)
    assert now.tzinfo == zone


def test_now_inside_a_dst_gap_is_the_transition_as_the_calendar_reads_it() -> None:
    zone = ZoneInfo("Europe/Madrid")
    assert parse_instant("2026-03-29T02:30", zone).isoformat() == "2026-03-29T03:00:00+02:00"
    # An ambiguous time is its first occurrence, as the calendar's edges.
    assert parse_instant("2026-10-25T02:30", zone).isoformat() == "2026-10-25T02:30:00+02:00"
    # An explicit offset is kept as given.
    assert parse_instant("2026-10-25T02:30+01:00", zone).utcoffset() == timedelta(hours=1)
