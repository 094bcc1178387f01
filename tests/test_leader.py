"""The election's rules (`core.leader`) on an in-memory Lease with resourceVersion conflicts and
a hand-driven monotonic clock; the jobs' leadership gate and catch-up (`bot.jobs`)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.jobs import Jobs, NotLeading
from core.config import LeaderElectionSettings
from core.leader import LeaseConflict, LeaseElection, LeaseRecord
from core.models import OperationType
from tests.builders import team_namespace
from tests.harness import madrid, make_harness

SETTINGS = LeaderElectionSettings(lease_duration="15s", renew_deadline="10s", retry_period="2s")


class MemoryLease:
    """One Lease, as the API server keeps it: every write bumps resourceVersion; a write at an
    older version is a conflict."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.versions = itertools.count(1)
        self.failing = False

    def describe(self) -> str:
        return "test/lease"

    def get(self) -> LeaseRecord | None:
        if self.failing:
            raise ConnectionError("API server unreachable")
        return self.record

    def create(self, record: LeaseRecord) -> LeaseRecord:
        if self.record is not None:
            raise LeaseConflict("exists")
        return self._store(record)

    def update(self, record: LeaseRecord) -> LeaseRecord:
        if self.failing:
            raise ConnectionError("API server unreachable")
        assert self.record is not None
        if record.resource_version != self.record.resource_version:
            raise LeaseConflict("changed")
        return self._store(record)

    def _store(self, record: LeaseRecord) -> LeaseRecord:
        self.record = replace(record, resource_version=str(next(self.versions)))
        return self.record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(lease: MemoryLease, name: str, clock: Clock) -> LeaseElection:
    return LeaseElection(lease, name, SETTINGS, monotonic=clock)


def test_the_first_candidate_creates_the_lease_and_the_second_follows() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, "a", clock), elector(lease, "b", clock)
    assert a.try_acquire_or_renew() is True
    assert b.try_acquire_or_renew() is False
    assert (a.is_leader(), b.is_leader(), b.holder()) == (True, False, "a")
    assert lease.record is not None and lease.record.holder == "a"


def test_a_follower_takes_over_only_after_the_record_stood_still_for_the_lease_duration() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, "a", clock), elector(lease, "b", clock)
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()  # b first sees a's record now
    clock.now += 14.9
    assert b.try_acquire_or_renew() is False
    assert a.is_leader() is False  # a stopped at its renew deadline (10 s), well before
    clock.now += 0.2
    assert b.try_acquire_or_renew() is True
    assert lease.record is not None
    assert (lease.record.holder, lease.record.transitions) == ("b", 1)


def test_renewals_keep_a_leader_and_reset_the_followers_observation() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, "a", clock), elector(lease, "b", clock)
    a.try_acquire_or_renew()
    for _ in range(20):
        clock.now += 2
        assert a.try_acquire_or_renew() is True
        assert b.try_acquire_or_renew() is False
    assert a.is_leader()


def test_a_leader_that_cannot_renew_stops_at_the_deadline_before_anyone_may_start() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, "a", clock), elector(lease, "b", clock)
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    lease.failing = True
    clock.now += 9.9
    with pytest.raises(ConnectionError):
        a.try_acquire_or_renew()
    assert a.is_leader() is True
    clock.now += 0.2
    assert a.is_leader() is False  # 10 s after the last renewal, with no request answered
    lease.failing = False
    assert b.try_acquire_or_renew() is False  # 10.1 s < 15 s: b may not start yet
    clock.now += 5
    assert b.try_acquire_or_renew() is True


def test_racing_takeovers_conflict_and_only_one_wins() -> None:
    lease, clock = MemoryLease(), Clock()
    elector(lease, "a", clock).try_acquire_or_renew()
    b = elector(lease, "b", clock)

    class Interleaved(MemoryLease):
        """c's view of the same Lease: b writes between c's read and c's update."""

        def get(self) -> LeaseRecord | None:
            return lease.get()

        def update(self, record: LeaseRecord) -> LeaseRecord:
            assert b.try_acquire_or_renew() is True
            return lease.update(record)

    c = LeaseElection(Interleaved(), "c", SETTINGS, monotonic=clock)
    b.try_acquire_or_renew()
    c.try_acquire_or_renew()
    clock.now += 16
    assert c.try_acquire_or_renew() is False  # its write carried the version b replaced
    assert (b.is_leader(), c.is_leader()) == (True, False)
    assert lease.record is not None and lease.record.holder == "b"


def test_release_clears_the_holder_so_a_follower_takes_over_at_once() -> None:
    lease, clock = MemoryLease(), Clock()
    a, b = elector(lease, "a", clock), elector(lease, "b", clock)
    a.try_acquire_or_renew()
    b.try_acquire_or_renew()
    assert a.release() is True
    assert a.is_leader() is False
    assert lease.record is not None and lease.record.holder == ""
    assert b.try_acquire_or_renew() is True  # no waiting for the lease duration


def test_a_lease_written_after_a_slow_request_counts_from_before_the_request() -> None:
    lease, clock = MemoryLease(), Clock()
    original = lease.create

    def slow_create(record: LeaseRecord) -> LeaseRecord:
        clock.now += 4  # the answer took 4 s
        return original(record)

    lease.create = slow_create  # type: ignore[method-assign]
    a = elector(lease, "a", clock)
    a.try_acquire_or_renew()
    clock.now += 6.1
    assert a.is_leader() is False  # 10.1 s after the request was sent


# ---- the jobs' gate ---------------------------------------------------------------------------


class Switch:
    def __init__(self, leading: bool) -> None:
        self.leading = leading

    def is_leader(self) -> bool:
        return self.leading

    def holder(self) -> str | None:
        return "me" if self.leading else "other"


def test_a_follower_runs_no_pass_and_a_new_leader_runs_the_edge_it_missed_at_its_time(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path, team_namespace("pay-api", {"api": 3}), at=madrid(2026, 12, 1, 20))
    switch = Switch(leading=False)
    jobs = Jobs(
        h.ctl,
        h.config,
        h.clock,
        offset=timedelta(0),
        leadership=switch,
        catch_up_window=timedelta(seconds=19),
    )
    edge = datetime(2026, 12, 1, 19, 0, tzinfo=UTC)  # 20:00 in Madrid, a Tuesday
    with pytest.raises(NotLeading):
        jobs.reconcile_pass("business end", edge)
    assert not [r for r in h.store.history() if r.operation_type is OperationType.AUTO_SHUTDOWN]
    switch.leading = True
    assert jobs.missed_edge(edge + timedelta(seconds=30)) is None  # outside the window
    name, at = jobs.missed_edge(edge + timedelta(seconds=12)) or ("", edge)
    assert (name, at.astimezone(UTC)) == ("business end", edge)
    jobs.catch_up(edge + timedelta(seconds=12))
    shutdowns = [r for r in h.store.history() if r.operation_type is OperationType.AUTO_SHUTDOWN]
    assert shutdowns and {r.timestamp_start for r in shutdowns} == {int(edge.timestamp())}
