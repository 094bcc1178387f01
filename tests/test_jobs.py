"""The in-process jobs: triggers in product time (`--now` offsets, DST weeks, holidays), the real
scheduler running real jobs, exceptions logged and survived."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.jobs import Intervals, Jobs, PassReport, ProductTime
from core.clock import Clock, epoch
from core.models import OperationType, OutcomeStatus, RecordStatus
from tests.builders import team_namespace
from tests.harness import MADRID, Harness, madrid, make_harness

# Wall clocks before and after every product instant used here: `--now` in the future and past.
WALLS = (datetime(2020, 1, 1, 3, 17, 41, tzinfo=UTC), datetime(2031, 6, 9, 11, 2, 5, tzinfo=UTC))


def harness(tmp_path: Path, at: datetime) -> Harness:
    objects = [*team_namespace("pay-api", {"api": 3}), *team_namespace("team-a", {"app": 2})]
    return make_harness(tmp_path, objects, at=at)


def jobs_at(h: Harness, product_now: datetime, wall: datetime, **kw: object) -> Jobs:
    return Jobs(h.ctl, h.config, h.clock, offset=product_now - wall, **kw)  # type: ignore[arg-type]


def fires(trigger: ProductTime, wall_now: datetime, count: int) -> list[datetime]:
    """The next `count` fire times in product time (Madrid), chained as the scheduler does."""
    out: list[datetime] = []
    previous = None
    now = wall_now
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        assert fire is not None
        out.append(trigger.product_time(fire).astimezone(MADRID))
        previous = now = fire
    return out


def replicas(h: Harness) -> dict[tuple[str, str, str], int]:
    """Every Deployment's and StatefulSet's replica count."""
    return {
        key: int(spec) for key, spec in h.specs().items() if key[0] in ("Deployment", "StatefulSet")
    }


def changed(report: PassReport) -> int:
    """How many workloads the pass changed."""
    assert report.result is not None
    return sum(
        1
        for ns in report.result.namespaces
        for o in ns.outcomes
        if o.status is not OutcomeStatus.UNCHANGED
    )


def weekdays_at(first: datetime, days: int, hour: int) -> list[datetime]:
    """`hour`:00 Madrid on each weekday of the `days` days from `first`'s date."""
    out = []
    for n in range(days):
        day = (first + timedelta(days=n)).date()
        if day.isoweekday() <= 5:
            out.append(datetime(day.year, day.month, day.day, hour, tzinfo=MADRID))
    return out


@pytest.mark.parametrize("wall", WALLS)
@pytest.mark.parametrize(
    "product_now",
    [
        madrid(2026, 3, 25, 12),  # DST starts Sunday 29 March 2026 (02:00 -> 03:00)
        madrid(2026, 10, 21, 12),  # DST ends Sunday 25 October 2026 (03:00 -> 02:00)
    ],
)
def test_edges_fire_at_local_business_hours_across_a_dst_change(
    tmp_path: Path, product_now: datetime, wall: datetime
) -> None:
    h = harness(tmp_path, product_now)
    jobs = jobs_at(h, product_now, wall)
    assert fires(jobs.trigger("business-end"), wall, 8) == weekdays_at(product_now, 12, 20)
    starts = fires(jobs.trigger("business-start"), wall, 8)
    assert starts == weekdays_at(product_now + timedelta(days=1), 12, 7)
    # The Friday end to the Monday start is 58 h across the spring change, 60 h in autumn.
    friday_end = next(t for t in fires(jobs.trigger("business-end"), wall, 8) if t.weekday() == 4)
    monday = next(t for t in starts if t > friday_end)
    hours = (monday.astimezone(UTC) - friday_end.astimezone(UTC)) / timedelta(hours=1)
    assert hours == (58 if product_now.month == 3 else 60)


@pytest.mark.parametrize("wall", WALLS)
def test_weekly_summary_and_bookings_run_in_product_time(tmp_path: Path, wall: datetime) -> None:
    now = madrid(2026, 12, 2, 21, 0)  # Wednesday evening
    jobs = jobs_at(harness(tmp_path, now), now, wall)
    assert fires(jobs.trigger("weekly-summary"), wall, 2) == [
        madrid(2026, 12, 7, 9),
        madrid(2026, 12, 14, 9),
    ]
    assert fires(jobs.trigger("bookings"), wall, 3) == [
        madrid(2026, 12, 2, 21, 0),
        madrid(2026, 12, 2, 21, 1),
        madrid(2026, 12, 2, 21, 2),
    ]
    # The reconcile runs at start (its first run is given to the scheduler), then every 5 min.
    reconcile = jobs.trigger("reconcile")
    first = reconcile.get_next_fire_time(None, wall)
    assert first is not None and reconcile.product_time(first) == now + timedelta(minutes=5)


def test_the_holiday_start_edge_wakes_nothing(tmp_path: Path) -> None:
    """Christmas 2026 is a Friday: the cron fires at 07:00 (it knows no holidays) and the
    level-triggered reconcile finds nothing to wake; Monday 07:00 wakes, stamped 07:00:00."""
    thursday_end = madrid(2026, 12, 24, 20)
    h = harness(tmp_path, thursday_end)
    awake = replicas(h)
    wall = WALLS[1]
    jobs = jobs_at(h, thursday_end - timedelta(minutes=1), wall)
    starts = fires(jobs.trigger("business-start"), wall, 2)
    assert starts == [madrid(2026, 12, 25, 7), madrid(2026, 12, 28, 7)]

    jobs.reconcile_pass("business end", thursday_end)
    holiday = jobs.reconcile_pass("business start", starts[0])
    assert holiday.result is not None and changed(holiday) == 0
    assert set(replicas(h).values()) == {0}
    monday = jobs.reconcile_pass("business start", starts[1])
    assert changed(monday) > 0 and replicas(h) == awake
    startups = [
        r
        for r in h.activation.namespaces.history()
        if r.operation_type is OperationType.AUTO_STARTUP
    ]
    assert {r.timestamp_start for r in startups} == {epoch(starts[1])}
    shutdowns = [
        r
        for r in h.activation.namespaces.history()
        if r.operation_type is OperationType.AUTO_SHUTDOWN
    ]
    assert {(r.timestamp_start, r.timestamp_end) for r in shutdowns} == {
        (epoch(thursday_end), epoch(starts[1]))
    }


def test_a_booking_starts_on_its_minute_and_its_window_ends_by_itself(tmp_path: Path) -> None:
    night = madrid(2026, 12, 1, 20)
    h = harness(tmp_path, night)
    h.service.shutdown(at=night)
    jobs = jobs_at(h, night, WALLS[1])
    starts = madrid(2026, 12, 1, 21, 30)
    booking = h.activation.book(
        "pay-api", "CC-PAY", "U0ANA", starts, timedelta(hours=1), "reindex", night
    )
    assert jobs.bookings_pass(starts - timedelta(minutes=1)).chores.started == []
    started = jobs.bookings_pass(starts).chores.started
    assert [o.slot.request_id for o in started] == [booking.request_id]
    assert h.specs()[("Deployment", "pay-api", "api")] == 3
    windows = [
        r
        for r in h.activation.namespaces.history("pay-api")
        if r.operation_type is OperationType.MANUAL_ACTIVATION
    ]
    assert [r.timestamp_start for r in windows] == [epoch(starts)]

    ended = jobs.bookings_pass(starts + timedelta(hours=1))
    assert [s.namespace for s in ended.chores.ended] == ["pay-api"]
    assert h.specs()[("Deployment", "pay-api", "api")] == 0  # asleep again at once
    [window] = [
        r
        for r in h.activation.namespaces.history("pay-api")
        if r.operation_type is OperationType.MANUAL_ACTIVATION
    ]
    assert window.timestamp_end == epoch(starts + timedelta(hours=1))
    assert window.status is RecordStatus.COMPLETED


def wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_edge_job_fires_at_the_edge_under_a_now_offset(tmp_path: Path) -> None:
    """The real scheduler with `--now` 0.6 s before Friday 20:00 (the week DST starts): the
    reconcile runs at start (business time: nothing to do), then the edge job puts everything
    to sleep with records stamped exactly 20:00:00."""
    edge = madrid(2026, 3, 27, 20)
    h = harness(tmp_path, edge)
    reports: list[PassReport] = []
    jobs = Jobs(h.ctl, h.config, Clock(edge - timedelta(seconds=0.6)), on_pass=reports.append)
    jobs.start()
    try:
        wait_until(lambda: any(r.job == "business end" for r in reports))
    finally:
        jobs.stop()
    at_start, at_edge = reports[0], next(r for r in reports if r.job == "business end")
    assert at_start.job == "reconcile" and at_start.result is not None
    assert changed(at_start) == 0
    assert at_edge.at == edge and at_edge.at.tzinfo is not None
    assert set(replicas(h).values()) == {0}
    shutdowns = [
        r
        for r in h.activation.namespaces.history()
        if r.operation_type is OperationType.AUTO_SHUTDOWN
    ]
    assert {r.timestamp_start for r in shutdowns} == {epoch(edge)}
    assert len(shutdowns) == 2
    assert jobs.health.completed_at == edge and not jobs.running


def test_a_job_that_raises_is_logged_and_runs_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = madrid(2026, 12, 1, 12)
    calls: list[datetime] = []
    done = threading.Event()

    def drain(at: datetime) -> int:
        calls.append(at)
        if len(calls) == 1:
            raise RuntimeError("slack is down")
        done.set()
        return 0

    h = harness(tmp_path, now)
    jobs = Jobs(
        h.ctl,
        h.config,
        Clock(now),
        drain=drain,
        intervals=Intervals(drain=timedelta(seconds=0.05)),
    )
    with caplog.at_level(logging.ERROR):
        jobs.start()
        try:
            assert done.wait(5)
        finally:
            jobs.stop()
    assert [r for r in caplog.records if "raised an exception" in r.getMessage()]
    assert any("slack is down" in r.exc_text for r in caplog.records if r.exc_text)
    # Each call gets its scheduled product time: exactly one interval apart.
    assert calls[1] - calls[0] == timedelta(seconds=0.05)
    assert abs(calls[0] - (now + timedelta(seconds=0.05))) < timedelta(seconds=1)


def test_a_failed_pass_marks_health_and_the_next_pass_clears_it(tmp_path: Path) -> None:
    now = madrid(2026, 12, 1, 22)
    h = harness(tmp_path, now)
    jobs = jobs_at(h, now, WALLS[1])
    real = h.activation.namespaces.cluster

    class Down:
        def __getattr__(self, name: str) -> object:
            raise ConnectionError("cluster unreachable")

    h.activation.namespaces.cluster = Down()  # type: ignore[assignment]
    with pytest.raises(ConnectionError):
        jobs.reconcile_pass("reconcile", now)
    assert jobs.health.completed_at is None and "unreachable" in (jobs.health.error or "")
    h.activation.namespaces.cluster = real
    jobs.reconcile_pass("reconcile", now + timedelta(minutes=5))
    assert jobs.health.completed_at == now + timedelta(minutes=5) and jobs.health.error is None
