"""Lifecycle edge cases found by independent checks (issue 15, item 4), each reproduced against
the fake API server through the real client, then fixed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.models import ActivityRecord, OperationType, RecordStatus
from core.report import parse_week
from tests.fake_kube import FakeKube, workload
from tests.harness import MADRID, Harness, kube_harness, madrid

NIGHT = madrid(2026, 12, 14, 20)  # Monday of 2026-W51
MORNING = madrid(2026, 12, 15, 7)


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        for team in ("team-a", "team-b"):
            server.add(workload("Deployment", team, "web", replicas=2))
        yield server


@pytest.fixture
def harness(fake: FakeKube, tmp_path: Path) -> Iterator[Harness]:
    with kube_harness(fake, tmp_path, NIGHT) as h:
        yield h


def _records(h: Harness, namespace: str, kind: OperationType) -> list[ActivityRecord]:
    return [r for r in h.store.history(namespace) if r.operation_type is kind]


# ---- a namespace deleted while asleep ------------------------------------------------------


def test_a_namespace_deleted_while_asleep_closes_its_night_at_the_pass_that_finds_it_gone(
    fake: FakeKube, harness: Harness
) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.delete_namespace("team-b")
    found_gone = NIGHT + timedelta(minutes=5)

    harness.service.reconcile(at=found_gone)

    (night,) = _records(harness, "team-b", OperationType.AUTO_SHUTDOWN)
    assert night.timestamp_end == int(found_gone.timestamp())
    assert night.duration_minutes == 5
    assert night.status is RecordStatus.COMPLETED
    assert night.error_message.startswith("namespace deleted while asleep: found gone by the pass")
    # team-a's night is untouched; the weekly report counts team-b asleep for 5 minutes only.
    assert [r.timestamp_end for r in _records(harness, "team-a", OperationType.AUTO_SHUTDOWN)] == [
        None
    ]
    week = harness.ctl.reports.week(parse_week("2026-W51", MADRID), at=MORNING + timedelta(days=7))
    asleep = {ns.namespace: ns.asleep_hours for ns in week.namespaces}
    assert asleep["team-b"] == pytest.approx(5 / 60, abs=0.01)


def test_a_namespace_recreated_after_deletion_gets_its_own_night(
    fake: FakeKube, harness: Harness
) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.delete_namespace("team-b")
    harness.service.reconcile(at=NIGHT + timedelta(minutes=5))
    fake.add(workload("Deployment", "team-b", "web", replicas=3))  # re-created, same name

    later = NIGHT + timedelta(minutes=10)
    harness.service.reconcile(at=later)

    nights = _records(harness, "team-b", OperationType.AUTO_SHUTDOWN)
    assert [r.timestamp_start for r in nights] == [int(later.timestamp()), int(NIGHT.timestamp())]
    assert nights[0].timestamp_end is None
    assert [(w.name, w.replicas) for w in nights[0].workloads] == [("web", 3)]


def test_a_dry_run_closes_nothing(fake: FakeKube, harness: Harness) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.delete_namespace("team-b")

    harness.service.reconcile(dry_run=True, at=NIGHT + timedelta(minutes=5))

    (night,) = _records(harness, "team-b", OperationType.AUTO_SHUTDOWN)
    assert night.timestamp_end is None


# ---- a wake that keeps failing -------------------------------------------------------------


def test_a_wake_that_keeps_failing_is_one_failed_record_completed_by_the_retry(
    fake: FakeKube, harness: Harness
) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.forbid_namespace("team-b")
    passes = [MORNING + timedelta(minutes=5 * i) for i in range(3)]

    results = [harness.service.reconcile(at=at) for at in passes]

    assert all(not r.ok for r in results)
    (startup,) = _records(harness, "team-b", OperationType.AUTO_STARTUP)
    assert startup.status is RecordStatus.FAILED
    assert startup.timestamp_start == int(MORNING.timestamp())
    # Still visible: the namespace is asleep in status, each pass counts its failure, one alert.
    states = {n.namespace: n.state for n in harness.ctl.schedule.status(passes[-1]).namespaces}
    assert states == {"team-a": "awake", "team-b": "asleep"}
    failures = [n for n in harness.store.due_notices(10**10, 100) if n.kind.value == "failure"]
    assert len(failures) == 1

    fake.forbid_namespace("team-b", False)
    retried = passes[-1] + timedelta(minutes=5)
    assert harness.service.reconcile(at=retried).ok

    (startup,) = _records(harness, "team-b", OperationType.AUTO_STARTUP)
    assert startup.status is RecordStatus.COMPLETED
    assert startup.error_message.startswith(f"completed at {retried.isoformat()} after: ")
    assert fake.get("Deployment", "team-b", "web")["spec"]["replicas"] == 2


def test_the_next_mornings_failure_is_a_new_episode(fake: FakeKube, harness: Harness) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.forbid_namespace("team-b")
    harness.service.reconcile(at=MORNING)
    fake.forbid_namespace("team-b", False)
    harness.service.reconcile(at=MORNING + timedelta(minutes=5))
    harness.service.reconcile(at=NIGHT + timedelta(days=1))
    fake.forbid_namespace("team-b")

    harness.service.reconcile(at=MORNING + timedelta(days=1))

    statuses = [r.status for r in _records(harness, "team-b", OperationType.AUTO_STARTUP)]
    assert statuses == [RecordStatus.FAILED, RecordStatus.COMPLETED]


# ---- a workload created while its namespace sleeps -----------------------------------------


def test_a_workload_created_while_asleep_joins_the_nights_snapshot(
    fake: FakeKube, harness: Harness
) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.add(workload("Deployment", "team-b", "worker", replicas=4))  # deployed at 21:00

    result = harness.service.reconcile(at=NIGHT + timedelta(hours=1))

    assert fake.get("Deployment", "team-b", "worker")["spec"]["replicas"] == 0
    (night,) = _records(harness, "team-b", OperationType.AUTO_SHUTDOWN)
    assert sorted((w.name, w.replicas) for w in night.workloads) == [("web", 2), ("worker", 4)]
    (ns,) = [n for n in result.namespaces if n.namespace == "team-b"]
    assert ns.replicas == 6  # what the morning restores, counted as the night's
    # The morning restores both, and the costs count both from the snapshot.
    harness.service.reconcile(at=MORNING)
    assert fake.get("Deployment", "team-b", "worker")["spec"]["replicas"] == 4
    week = harness.ctl.reports.week(parse_week("2026-W51", MADRID), at=MORNING)
    saved = {n.namespace: n.saved for n in week.namespaces}
    assert saved["team-b"] == pytest.approx(3 * saved["team-a"], rel=0.01)
