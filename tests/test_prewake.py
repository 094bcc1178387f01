"""Ready by opening time (issue 15, item 2): `wake.lead_time` wakes namespaces before business
start, in waves by `namespace-ctl.io/wake-priority` and `wake.max_concurrent_namespaces`;
`auto` learns each namespace's lead from its last wakes' seconds to ready. Against the fake
API server (its pods held back with `hold_ready`), with the product's clock set by hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.models import OperationType
from core.prewake import WAKE_PRIORITY, percentile
from tests.fake_kube import FakeKube, workload
from tests.harness import Harness, kube_harness, madrid

MONDAY_NIGHT = madrid(2026, 12, 14, 20)
TUESDAY = madrid(2026, 12, 15, 7)
WEDNESDAY = madrid(2026, 12, 16, 7)


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        for team, priority in (("team-a", "5"), ("team-b", None), ("team-c", "10")):
            server.add_namespace(team, annotations={WAKE_PRIORITY: priority} if priority else None)
            server.add(workload("Deployment", team, "web", replicas=2))
        yield server


@pytest.fixture
def harnesses(fake: FakeKube, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """`harnesses(lead_time=...)`: a harness with those `wake` keys (its client closed after)."""
    with ExitStack() as stack:
        yield lambda **wake: stack.enter_context(
            kube_harness(fake, tmp_path, MONDAY_NIGHT, wake=wake)
        )


def _woken_at(h: Harness, namespace: str) -> list[datetime]:
    """When each of its wakes happened (its auto_startup records), oldest first."""
    records = [
        r for r in h.store.history(namespace) if r.operation_type is OperationType.AUTO_STARTUP
    ]
    return sorted(datetime.fromtimestamp(r.timestamp_start, TUESDAY.tzinfo) for r in records)


def _minute(h: Harness, at: datetime) -> None:
    """The per-minute pass (the bookings job) at `at`."""
    h.clock.set(at)
    h.ctl.schedule.housekeeping(at)


def test_auto_wakes_a_slow_namespace_early_enough_to_be_ready_at_opening(
    fake: FakeKube, harnesses: Callable[..., Harness]
) -> None:
    h = harnesses(lead_time="auto")
    h.ctl.schedule.reconcile(at=MONDAY_NIGHT)
    # Tuesday: everything wakes at 07:00; team-b's pods take 12 minutes.
    fake.hold_ready("Deployment", "team-b", "web", 0)
    h.ctl.schedule.reconcile(at=TUESDAY)
    h.ctl.schedule.follow_wakes(TUESDAY + timedelta(seconds=15))
    fake.release_ready("Deployment", "team-b", "web")
    h.ctl.schedule.follow_wakes(TUESDAY + timedelta(minutes=12))
    h.ctl.schedule.reconcile(at=TUESDAY + timedelta(hours=13))  # 20:00

    # Wednesday: team-b's window opens 12 minutes before 07:00, team-a's 15 s before.
    _minute(h, WEDNESDAY - timedelta(minutes=13))
    _minute(h, WEDNESDAY - timedelta(minutes=12))
    h.ctl.schedule.reconcile(at=WEDNESDAY - timedelta(minutes=10))  # the 5-minute reconcile
    _minute(h, WEDNESDAY - timedelta(minutes=1))

    assert _woken_at(h, "team-b")[-1] == WEDNESDAY - timedelta(minutes=12)
    assert fake.get("Deployment", "team-b", "web")["spec"]["replicas"] == 2  # type: ignore[index]
    assert fake.get("Deployment", "team-a", "web")["spec"]["replicas"] == 0  # type: ignore[index]
    # Its night ends at the actual wake: reports and costs follow it.
    nights = [
        r for r in h.store.history("team-b") if r.operation_type is OperationType.AUTO_SHUTDOWN
    ]
    assert nights[0].timestamp_end == int((WEDNESDAY - timedelta(minutes=12)).timestamp())

    h.ctl.schedule.reconcile(at=WEDNESDAY)  # the business start wakes the rest
    settled = h.ctl.schedule.follow_wakes(WEDNESDAY)

    assert settled is not None
    assert {w.namespace for w, _ in settled.ready} == {"team-a", "team-b", "team-c"}
    assert _woken_at(h, "team-a")[-1] == WEDNESDAY
    by_namespace = {w.namespace: s for w, s in settled.ready}
    assert by_namespace["team-b"] == 12 * 60  # ready at 07:00
    startups = [
        r for r in h.store.history("team-b") if r.operation_type is OperationType.AUTO_STARTUP
    ]
    assert [r.ready_seconds for r in startups] == [720, 720]


def test_waves_by_priority_within_the_concurrency_limit(
    fake: FakeKube, harnesses: Callable[..., Harness]
) -> None:
    h = harnesses(lead_time="30m", max_concurrent_namespaces=1)
    h.ctl.schedule.reconcile(at=MONDAY_NIGHT)
    fake.hold_ready("Deployment", "team-c", "web", 0)

    _minute(h, TUESDAY - timedelta(minutes=31))  # before the window: nothing
    _minute(h, TUESDAY - timedelta(minutes=30))  # team-c (priority 10) first, alone
    _minute(h, TUESDAY - timedelta(minutes=29))  # team-c not ready: no room
    fake.release_ready("Deployment", "team-c", "web")
    _minute(h, TUESDAY - timedelta(minutes=28))  # team-a (priority 5)
    _minute(h, TUESDAY - timedelta(minutes=27))  # team-b (no priority)

    assert _woken_at(h, "team-c") == [TUESDAY - timedelta(minutes=30)]
    assert _woken_at(h, "team-a") == [TUESDAY - timedelta(minutes=28)]
    assert _woken_at(h, "team-b") == [TUESDAY - timedelta(minutes=27)]
    h.ctl.schedule.reconcile(at=TUESDAY)
    assert len(_woken_at(h, "team-b")) == 1  # nothing left for the business start


@pytest.mark.parametrize(
    ("slept", "early", "opening"),
    [
        # Friday night: Saturday 06:30 is no business start; Monday's is.
        (madrid(2026, 12, 18, 20), madrid(2026, 12, 19, 6, 30), madrid(2026, 12, 21, 7)),
        # Christmas (a holiday in ES, a Friday): nothing that morning.
        (madrid(2026, 12, 24, 20), madrid(2026, 12, 25, 6, 30), madrid(2026, 12, 28, 7)),
    ],
)
def test_an_early_pass_never_wakes_a_night_that_is_not_ending(
    fake: FakeKube,
    harnesses: Callable[..., Harness],
    slept: datetime,
    early: datetime,
    opening: datetime,
) -> None:
    h = harnesses(lead_time="30m")
    h.ctl.schedule.reconcile(at=slept)

    _minute(h, early)
    h.ctl.schedule.reconcile(at=early + timedelta(minutes=5))

    assert all(not _woken_at(h, ns) for ns in ("team-a", "team-b", "team-c"))
    _minute(h, opening - timedelta(minutes=30))
    assert {ns: _woken_at(h, ns) for ns in ("team-a", "team-b")} == {
        "team-a": [opening - timedelta(minutes=30)],
        "team-b": [opening - timedelta(minutes=30)],
    }


def test_without_a_lead_nothing_changes(fake: FakeKube, harnesses: Callable[..., Harness]) -> None:
    h = harnesses()
    h.ctl.schedule.reconcile(at=MONDAY_NIGHT)
    fake.reset_counters()

    _minute(h, TUESDAY - timedelta(minutes=10))

    assert fake.total_requests == 0  # no reconcile in the per-minute pass
    assert not _woken_at(h, "team-a")


def test_a_high_percentile_of_few_is_their_top() -> None:
    assert percentile([300, 720, 280, 310, 290], 0.9) == 720
    assert percentile([300], 0.9) == 300
    assert percentile(list(range(1, 11)), 0.9) == 9
