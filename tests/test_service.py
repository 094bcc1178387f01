"""The use cases end to end on the simulated cluster and a real SQLite file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import RefusedError
from core.models import OperationType, OutcomeStatus, RecordStatus, WorkloadKind, WorkloadRef
from tests.builders import deployment, namespace, team_namespace
from tests.harness import Harness, madrid, make_harness

TUESDAY_NIGHT = madrid(2026, 12, 1, 20)
WEDNESDAY_MORNING = madrid(2026, 12, 2, 7)


def _cluster_objects() -> list[dict]:
    return [
        *team_namespace("payments", {"api": 3, "worker": 2}),
        *team_namespace("search", {"web": 1}),
        namespace("idle-team"),
        deployment("idle-team", "paused", 0),
        namespace("monitoring"),
        deployment("monitoring", "prometheus", 2),
        namespace("shared", {"namespace-ctl.io/exclude": "true"}),
        deployment("shared", "gateway", 2),
        deployment("kube-system", "coredns", 2),
    ]


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return make_harness(tmp_path, _cluster_objects())


def _asleep(h: Harness, ns: str) -> bool:
    specs = {k: v for k, v in h.state().items() if k[1] == ns}
    for (kind, _, _name), (spec, _annotations) in specs.items():
        if kind in ("Deployment", "StatefulSet") and spec != 0:
            return False
        if kind == "DaemonSet" and spec.get("namespace-ctl.io/sleeping") != "true":
            return False
        if kind == "CronJob" and spec is not True:
            return False
    return True


def test_shutdown_sleeps_managed_namespaces_and_opens_one_record_each(h: Harness) -> None:
    before = h.specs()
    result = h.service.shutdown(at=TUESDAY_NIGHT)

    assert result.ok
    assert _asleep(h, "payments") and _asleep(h, "search")
    for untouched in ("monitoring", "shared", "kube-system"):
        assert {k: v for k, v in h.specs().items() if k[1] == untouched} == {
            k: v for k, v in before.items() if k[1] == untouched
        }
    records = h.store.history()
    assert sorted(r.namespace_name for r in records) == ["idle-team", "payments", "search"]
    for record in records:
        assert record.operation_type is OperationType.AUTO_SHUTDOWN
        assert record.timestamp_start == int(TUESDAY_NIGHT.timestamp())
        assert record.status is RecordStatus.ACTIVE and record.is_open
    payments = h.store.get_record(
        "payments", int(TUESDAY_NIGHT.timestamp()), OperationType.AUTO_SHUTDOWN
    )
    assert payments is not None
    assert {(w.kind.value, w.name): w.replicas for w in payments.workloads}[
        ("Deployment", "api")
    ] == 3


def test_already_at_zero_and_user_suspended_are_left_alone(h: Harness) -> None:
    result = h.service.shutdown(at=TUESDAY_NIGHT)
    by_ref = {str(o.ref): o for ns in result.namespaces for o in ns.outcomes}
    assert by_ref["Deployment/idle-team/paused"].status is OutcomeStatus.UNCHANGED
    assert by_ref["CronJob/payments/cleanup"].status is OutcomeStatus.UNCHANGED
    state = h.state()
    assert state[("Deployment", "idle-team", "paused")] == (0, {})
    assert state[("CronJob", "payments", "cleanup")] == (True, {})


def test_startup_restores_exactly_and_closes_the_interval(h: Harness) -> None:
    before = h.specs()
    h.service.shutdown(at=TUESDAY_NIGHT)
    result = h.service.startup(at=WEDNESDAY_MORNING)

    assert result.ok
    assert h.specs() == before
    assert all(not annotations for _, annotations in h.state().values())
    shutdown = h.store.get_record(
        "payments", int(TUESDAY_NIGHT.timestamp()), OperationType.AUTO_SHUTDOWN
    )
    assert shutdown is not None
    assert shutdown.status is RecordStatus.COMPLETED
    assert shutdown.timestamp_end == int(WEDNESDAY_MORNING.timestamp())
    assert shutdown.duration_minutes == 11 * 60
    startups = [
        r for r in h.store.history("payments") if r.operation_type is OperationType.AUTO_STARTUP
    ]
    assert [r.timestamp_start for r in startups] == [int(WEDNESDAY_MORNING.timestamp())]


def test_repeating_operations_adds_nothing(h: Harness) -> None:
    h.service.shutdown(at=TUESDAY_NIGHT)
    second = h.service.shutdown(at=TUESDAY_NIGHT + timedelta(minutes=5))
    assert all(o.status is OutcomeStatus.UNCHANGED for ns in second.namespaces for o in ns.outcomes)
    assert len(h.store.history()) == 3
    h.service.startup(at=WEDNESDAY_MORNING)
    count = len(h.store.history())
    again = h.service.startup(at=WEDNESDAY_MORNING + timedelta(minutes=5))
    assert again.namespaces == []
    assert len(h.store.history()) == count


def test_reconcile_catches_up_a_missed_morning(h: Harness) -> None:
    before = h.specs()
    h.service.reconcile(at=TUESDAY_NIGHT + timedelta(minutes=3))
    assert _asleep(h, "payments")
    late = WEDNESDAY_MORNING + timedelta(hours=2, minutes=10)
    h.service.reconcile(at=late)
    assert h.specs() == before
    record = h.store.history("payments")[-1]
    assert record.operation_type is OperationType.AUTO_SHUTDOWN
    assert record.duration_minutes == (int(late.timestamp()) - record.timestamp_start) // 60


def test_reconcile_puts_a_hand_scaled_workload_back_and_keeps_the_new_count(h: Harness) -> None:
    h.service.shutdown(at=TUESDAY_NIGHT)
    ref = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="payments", name="api")
    h.cluster.set_replicas(ref, 6)  # type: ignore[attr-defined]
    result = h.service.reconcile(at=TUESDAY_NIGHT + timedelta(hours=1))
    drift = [o for ns in result.namespaces for o in ns.outcomes if o.status is OutcomeStatus.DRIFT]
    assert [str(o.ref) for o in drift] == ["Deployment/payments/api"]
    assert h.state()[("Deployment", "payments", "api")][0] == 0
    assert len(h.store.history("payments")) == 1  # still the same night
    h.service.reconcile(at=WEDNESDAY_MORNING)
    assert h.state()[("Deployment", "payments", "api")][0] == 6


def test_named_namespaces_are_checked_before_anything_changes(h: Harness) -> None:
    before = h.state()
    with pytest.raises(RefusedError, match="not found"):
        h.service.shutdown(["payments", "no-such-team"], at=TUESDAY_NIGHT)
    with pytest.raises(RefusedError, match="excluded"):
        h.service.shutdown(["payments", "monitoring"], at=TUESDAY_NIGHT)
    assert h.state() == before
    assert h.store.history() == []
    h.service.shutdown(["search"], at=TUESDAY_NIGHT)
    assert _asleep(h, "search") and not _asleep(h, "payments")


def test_dry_run_plans_and_changes_nothing(h: Harness) -> None:
    before = h.state()
    result = h.service.shutdown(dry_run=True, at=TUESDAY_NIGHT)
    planned = [
        o for ns in result.namespaces for o in ns.outcomes if o.status is OutcomeStatus.PLANNED
    ]
    assert len(planned) == 9  # payments: 2 deps, db, ds, 1 cron; search: 1 dep, db, ds, 1 cron
    assert h.state() == before
    assert h.store.history() == []


def test_a_garbage_annotation_fails_that_workload_only(h: Harness) -> None:
    h.service.shutdown(at=TUESDAY_NIGHT)
    ref = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="payments", name="api")
    h.cluster.patch_workload(
        ref, {"metadata": {"annotations": {"namespace-ctl.io/original-replicas": "lots"}}}
    )
    result = h.service.startup(at=WEDNESDAY_MORNING)
    assert not result.ok
    assert [str(o.ref) for o in result.failed_workloads()] == ["Deployment/payments/api"]
    assert "lots" in result.failed_workloads()[0].error
    assert h.state()[("Deployment", "payments", "worker")][0] == 2
    assert h.state()[("Deployment", "payments", "api")][0] == 0  # never an invented count
    startup = h.store.get_record(
        "payments", int(WEDNESDAY_MORNING.timestamp()), OperationType.AUTO_STARTUP
    )
    assert startup is not None and startup.status is RecordStatus.FAILED
    assert "Deployment/api" in startup.error_message


def test_a_namespace_deleted_mid_run_is_reported_gone_and_the_rest_is_done(tmp_path: Path) -> None:
    h = make_harness(tmp_path, _cluster_objects())
    real_patch = h.cluster.patch_workload
    deleted = []

    def patch_then_delete(ref, body, dry_run=False):  # type: ignore[no-untyped-def]
        if ref.namespace == "search" and not deleted:
            h.cluster.delete_namespace("search")  # type: ignore[attr-defined]
            deleted.append(ref)
        return real_patch(ref, body, dry_run)

    h.cluster.patch_workload = patch_then_delete  # type: ignore[method-assign]
    result = h.service.shutdown(at=TUESDAY_NIGHT)
    gone = [o for ns in result.namespaces for o in ns.outcomes if o.status is OutcomeStatus.GONE]
    assert gone and all(o.ref.namespace == "search" for o in gone)
    assert result.ok
    assert _asleep(h, "payments")


def test_status_reports_state_and_next_transition(h: Harness) -> None:
    report = h.service.status(at=TUESDAY_NIGHT + timedelta(minutes=1))
    assert not report.business_time
    assert report.next_transition == int(WEDNESDAY_MORNING.timestamp())
    by_ns = {ns.namespace: ns for ns in report.namespaces}
    assert by_ns["payments"].state == "awake" and by_ns["payments"].desired.value == "asleep"
    assert by_ns["monitoring"].excluded
    assert by_ns["idle-team"].state == "idle"
    h.service.shutdown(at=TUESDAY_NIGHT)
    by_ns = {ns.namespace: ns for ns in h.service.status(at=TUESDAY_NIGHT).namespaces}
    assert by_ns["payments"].state == "asleep"
    assert by_ns["payments"].asleep_since == int(TUESDAY_NIGHT.timestamp())
