"""After-hours activation through the real use cases (simulated cluster, SQLite file)."""

from __future__ import annotations

import tempfile
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import OperationType, RecordStatus, RequestStatus, SlotState
from core.policy import Refusal
from tests.builders import deployment, namespace, team_namespace
from tests.harness import MADRID, Harness, madrid, make_harness

NIGHT = madrid(2026, 12, 1, 20)  # Tuesday
LATE = madrid(2026, 12, 1, 22)
TEAMS = [f"team-{i}" for i in range(8)]
H = timedelta(hours=1)


def _objects() -> list[dict[str, Any]]:
    objects = [*team_namespace("pay-api", {"api": 3, "worker": 2}), *team_namespace("pay-web")]
    objects += [namespace("pay-batch"), deployment("pay-batch", "batch", 1)]
    objects += [namespace("monitoring"), deployment("monitoring", "prometheus", 1)]
    for team in TEAMS:
        objects += [namespace(team), deployment(team, "app", 2)]
    return objects


def _harness(tmp_path: Path) -> Harness:
    h = make_harness(tmp_path, _objects())
    h.service.shutdown(at=NIGHT)
    return h


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return _harness(tmp_path)


def _replicas(h: Harness, ns: str, name: str) -> int:
    return int(h.state()[("Deployment", ns, name)][0])


def _records(h: Harness, ns: str, op: OperationType) -> list[Any]:
    return [r for r in h.store.history(ns) if r.operation_type is op]


# ---- windows --------------------------------------------------------------------------------


def test_activation_wakes_the_namespace_inside_the_night(h: Harness) -> None:
    opened = h.activation.activate("pay-api", "CC-PAY", "ana", 2 * H, "prod incident", LATE)
    assert not opened.failed
    assert _replicas(h, "pay-api", "api") == 3 and _replicas(h, "pay-api", "worker") == 2
    [record] = _records(h, "pay-api", OperationType.MANUAL_ACTIVATION)
    assert record.is_open and record.status is RecordStatus.ACTIVE
    assert (record.cost_center, record.user_id) == ("CC-PAY", "ana")
    assert record.timestamp_start == int(LATE.timestamp())
    assert _records(h, "pay-api", OperationType.AUTO_SHUTDOWN)[0].is_open  # the night goes on
    h.activation.reconcile(at=LATE + 30 * timedelta(minutes=1))
    assert _replicas(h, "pay-api", "api") == 3  # the reconcile pass leaves the window alone


def test_a_window_ends_by_itself_at_its_scheduled_end(h: Harness) -> None:
    h.activation.activate("pay-api", "CC-PAY", "ana", 2 * H, "late deploy", LATE)
    count = len(h.store.history())
    chores, _ = h.activation.reconcile(at=LATE + 2 * H + timedelta(minutes=4))
    assert [s.namespace for s in chores.ended] == ["pay-api"]
    [record] = _records(h, "pay-api", OperationType.MANUAL_ACTIVATION)
    assert (
        record.timestamp_end == int((LATE + 2 * H).timestamp()) and record.duration_minutes == 120
    )
    assert record.status is RecordStatus.COMPLETED
    assert len(h.store.history()) == count  # no other record
    assert _replicas(h, "pay-api", "api") == 0
    assert h.store.list_slots() == []


def test_deactivate_adds_its_record_and_sleeps_again(h: Harness) -> None:
    h.activation.activate("pay-api", "CC-PAY", "ana", 2 * H, "hotfix", LATE)
    h.activation.deactivate("pay-api", "ana", LATE + timedelta(minutes=47, seconds=59))
    [record] = _records(h, "pay-api", OperationType.MANUAL_ACTIVATION)
    assert record.duration_minutes == 47
    [deactivation] = _records(h, "pay-api", OperationType.MANUAL_DEACTIVATION)
    assert deactivation.user_id == "ana" and deactivation.cost_center == "CC-PAY"
    assert _replicas(h, "pay-api", "api") == 0
    assert h.store.list_slots() == []
    with pytest.raises(Refusal, match="not found"):
        h.activation.deactivate("pay-api", "ana", LATE + H)


def test_a_window_that_crosses_7am_ends_at_business_start(h: Harness) -> None:
    early = madrid(2026, 12, 2, 5, 30)
    h.activation.activate("pay-api", "CC-PAY", "ana", 4 * H, "batch rerun", early)
    assert h.store.get_slot("pay-api").ends_at == int(madrid(2026, 12, 2, 7).timestamp())  # type: ignore[union-attr]
    h.activation.reconcile(at=madrid(2026, 12, 2, 7))
    [record] = _records(h, "pay-api", OperationType.MANUAL_ACTIVATION)
    assert record.duration_minutes == 90
    shutdown = _records(h, "pay-api", OperationType.AUTO_SHUTDOWN)[0]
    assert shutdown.timestamp_end == int(madrid(2026, 12, 2, 7).timestamp())
    assert _replicas(h, "pay-api", "api") == 3


def test_extend_within_the_maximum(h: Harness) -> None:
    h.activation.activate("pay-api", "CC-PAY", "ana", 2 * H, "migration", LATE)
    slot = h.activation.extend("pay-api", 3 * H, "ana", LATE + H)
    assert slot.ends_at == int((LATE + 5 * H).timestamp())
    with pytest.raises(Refusal, match="max_duration"):
        h.activation.extend("pay-api", 8 * H, "ana", LATE + H)
    with pytest.raises(Refusal, match="unauthorized"):
        h.activation.extend("pay-api", H, "mallory", LATE + H)


# ---- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (("no-such-ns", "CC-ALL", 2 * H, "x"), "not found"),
        (("monitoring", "CC-ALL", 2 * H, "x"), "excluded"),
        (("pay-api", "CC-NOPE", 2 * H, "x"), "unauthorized"),
        (("pay-api", "CC-OFF", 2 * H, "x"), "unauthorized"),
        (("team-1", "CC-PAY", 2 * H, "x"), "unauthorized"),
        (("pay-api", "CC-PAY", 999 * H, "x"), "invalid"),
        (("pay-api", "CC-PAY", -H, "x"), "invalid"),
        (("pay-api", "CC-PAY", 2 * H, "   "), "invalid"),
    ],
)
def test_refusals_change_nothing(h: Harness, args: tuple[Any, ...], word: str) -> None:
    before, records = h.state(), len(h.store.history())
    with pytest.raises(Refusal) as refusal:
        h.activation.activate(*args[:2], "ana", args[2], args[3], LATE)
    assert word in str(refusal.value).lower()
    assert h.state() == before and len(h.store.history()) == records
    assert h.store.list_slots() == []


def test_business_hours_are_refused(h: Harness) -> None:
    with pytest.raises(Refusal, match="business hours"):
        h.activation.activate("pay-api", "CC-PAY", "ana", H, "x", madrid(2026, 12, 2, 10))


# ---- seed properties 3, 4, 6 and 7 ----------------------------------------------------------

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
after_hours = st.sampled_from(
    [NIGHT + timedelta(minutes=1), madrid(2026, 12, 1, 23, 59), madrid(2026, 12, 5, 13)]
)


def _fresh() -> tuple[Harness, tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory()
    return _harness(Path(tmp.name)), tmp


@SETTINGS
@given(at=after_hours, teams=st.lists(st.sampled_from(TEAMS), min_size=6, max_size=8, unique=True))
def test_property_3_at_most_five_namespaces_awake(at: datetime, teams: list[str]) -> None:
    h, tmp = _fresh()
    with tmp:
        for i, team in enumerate(teams):
            try:
                h.activation.activate(team, "CC-ALL", f"user{i}", H, "on call", at)
                assert i < 5
            except Refusal as refusal:
                assert i >= 5 and "limit exceeded" in str(refusal).lower()
            assert len(h.store.list_slots()) <= 5
        awake = [t for t in TEAMS if _replicas(h, t, "app") > 0]
        assert sorted(awake) == sorted(teams[:5])


@SETTINGS
@given(
    cost_center=st.sampled_from(["CC-PAY", "CC-ALL", "CC-OFF", "CC-GHOST"]),
    ns=st.sampled_from(["pay-api", "pay-web", "team-3", "team-5"]),
)
def test_property_4_only_authorized_cost_centers_activate(cost_center: str, ns: str) -> None:
    h, tmp = _fresh()
    with tmp:
        authorized = cost_center == "CC-ALL" or (cost_center == "CC-PAY" and ns.startswith("pay"))
        try:
            h.activation.activate(ns, cost_center, "ana", H, "debugging", LATE)
            succeeded = True
        except Refusal as refusal:
            succeeded = False
            assert authorized != ("unauthorized" in str(refusal).lower())
        assert succeeded == authorized


@SETTINGS
@given(minutes=st.integers(1, 12 * 60 - 1), seconds=st.integers(0, 59), start=after_hours)
def test_property_6_exact_duration(minutes: int, seconds: int, start: datetime) -> None:
    h, tmp = _fresh()
    with tmp:
        h.activation.activate("team-0", "CC-ALL", "ana", 12 * H, "long job", start)
        end = start + timedelta(minutes=minutes, seconds=seconds)
        slot = h.store.get_slot("team-0")
        assert slot is not None
        if int(end.timestamp()) < slot.ends_at:
            h.activation.deactivate("team-0", "ana", end)
        else:  # the window was cut at business start: it closes there by itself
            h.activation.reconcile(at=end)
            end = datetime.fromtimestamp(slot.ends_at, MADRID)
        [record] = _records(h, "team-0", OperationType.MANUAL_ACTIVATION)
        assert record.duration_minutes == (int(end.timestamp()) - int(start.timestamp())) // 60


@SETTINGS
@given(at=after_hours, ns=st.sampled_from(["pay-api", "team-2"]))
def test_property_7_activating_twice_changes_nothing(at: datetime, ns: str) -> None:
    h, tmp = _fresh()
    with tmp:
        cost_center = "CC-PAY" if ns.startswith("pay") else "CC-ALL"
        h.activation.activate(ns, cost_center, "ana", H, "deploy", at)
        state, records = h.state(), h.store.history()
        with pytest.raises(Refusal, match="already active"):
            h.activation.activate(ns, cost_center, "ana", H, "deploy", at)
        assert h.state() == state and h.store.history() == records
        assert len(records) == len({r.key for r in records})


# ---- requests and approvals -----------------------------------------------------------------


def test_request_approval_flow_and_the_second_click(h: Harness) -> None:
    request = h.activation.request("pay-api", "CC-PAY", "ana", 2 * H, "incident 42", LATE)
    assert request.status is RequestStatus.PENDING
    with pytest.raises(Refusal, match="unauthorized"):
        h.activation.approve(request.request_id, "ana", LATE)  # never the requester
    with pytest.raises(Refusal, match="unauthorized"):
        h.activation.approve(request.request_id, "boss", LATE)  # approves CC-ALL, not CC-PAY
    decided, opened = h.activation.approve(request.request_id, "lead", LATE + timedelta(minutes=3))
    assert decided.status is RequestStatus.APPROVED and decided.decided_by == "lead"
    assert opened is not None and _replicas(h, "pay-api", "api") == 3
    [record] = _records(h, "pay-api", OperationType.MANUAL_ACTIVATION)
    assert record.user_id == "ana" and record.cost_center == "CC-PAY"
    with pytest.raises(Refusal, match="already decided: approved by lead"):
        h.activation.approve(request.request_id, "admin", LATE + timedelta(minutes=4))
    with pytest.raises(Refusal, match="already decided"):
        h.activation.deny(request.request_id, "admin", "too late", LATE + timedelta(minutes=4))


def test_racing_approvals_open_one_window(h: Harness) -> None:
    request = h.activation.request("pay-api", "CC-PAY", "ana", 2 * H, "incident", LATE)
    results: list[str] = []

    def click(user: str) -> None:
        try:
            h.activation.approve(request.request_id, user, LATE)
            results.append("ok")
        except Refusal as refusal:
            results.append(str(refusal))

    threads = [threading.Thread(target=click, args=(u,)) for u in ["lead", "admin"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("ok") == 1
    assert all("already decided: approved" in r for r in results if r != "ok")
    assert len(h.store.list_slots()) == 1
    assert len(_records(h, "pay-api", OperationType.MANUAL_ACTIVATION)) == 1


def test_requests_expire(h: Harness) -> None:
    request = h.activation.request("pay-api", "CC-PAY", "ana", H, "incident", LATE)
    late = LATE + timedelta(minutes=31)
    with pytest.raises(Refusal, match="expired"):
        h.activation.approve(request.request_id, "lead", late)
    assert h.store.get_request(request.request_id).status is RequestStatus.EXPIRED  # type: ignore[union-attr]
    other = h.activation.request("pay-web", "CC-PAY", "ana", H, "incident", LATE)
    chores, _ = h.activation.reconcile(at=late)
    assert [r.request_id for r in chores.expired] == [other.request_id]
    assert h.store.list_slots() == []


def test_deny_needs_a_reason_and_an_approver(h: Harness) -> None:
    request = h.activation.request("pay-api", "CC-PAY", "ana", H, "incident", LATE)
    with pytest.raises(Refusal, match="reason"):
        h.activation.deny(request.request_id, "lead", " ", LATE)
    denied = h.activation.deny(request.request_id, "lead", "use staging", LATE)
    assert denied.status is RequestStatus.DENIED and denied.decision_reason == "use staging"
    with pytest.raises(Refusal, match="not found"):
        h.activation.approve("r-nope", "lead", LATE)


def test_caps_are_checked_again_at_approval(h: Harness) -> None:
    first = h.activation.request("pay-api", "CC-PAY", "ana", H, "a", LATE)
    second = h.activation.request("pay-web", "CC-PAY", "bob", H, "b", LATE)
    third = h.activation.request("pay-batch", "CC-PAY", "eve", H, "c", LATE)
    for request in (first, second):
        h.activation.approve(request.request_id, "lead", LATE)
    with pytest.raises(Refusal, match="limit exceeded"):
        h.activation.approve(third.request_id, "lead", LATE)
    assert h.store.get_request(third.request_id).status is RequestStatus.PENDING  # type: ignore[union-attr]


# ---- bookings -------------------------------------------------------------------------------


def test_a_booking_starts_and_ends_by_itself(h: Harness) -> None:
    start = madrid(2026, 12, 2, 21)
    booking = h.activation.book("team-1", "CC-ALL", "ana", start, 2 * H, "release", LATE)
    assert [b.request_id for b in h.activation.bookings()] == [booking.request_id]
    h.activation.reconcile(at=madrid(2026, 12, 2, 20, 30))
    assert _replicas(h, "team-1", "app") == 0
    chores, _ = h.activation.reconcile(at=start)
    assert [o.slot.namespace for o in chores.started] == ["team-1"]
    assert _replicas(h, "team-1", "app") == 2
    assert h.activation.bookings() == []
    h.activation.reconcile(at=start + 2 * H)
    assert _replicas(h, "team-1", "app") == 0
    [record] = _records(h, "team-1", OperationType.MANUAL_ACTIVATION)
    assert record.duration_minutes == 120


def test_booking_caps_and_cancel(h: Harness) -> None:
    start = madrid(2026, 12, 3, 22)
    bookings = [
        h.activation.book(t, "CC-ALL", "ana", start, H, "load test", LATE) for t in TEAMS[:5]
    ]
    with pytest.raises(Refusal, match="limit exceeded"):
        h.activation.book(TEAMS[5], "CC-ALL", "ana", start + timedelta(minutes=30), H, "x", LATE)
    with pytest.raises(Refusal, match="unauthorized"):
        h.activation.cancel(bookings[0].request_id, "mallory", LATE)
    h.activation.cancel(bookings[0].request_id, "ana", LATE)
    h.activation.book(TEAMS[5], "CC-ALL", "ana", start + timedelta(minutes=30), H, "x", LATE)
    with pytest.raises(Refusal, match="business hours"):
        h.activation.book("team-7", "CC-ALL", "ana", madrid(2026, 12, 3, 11), H, "x", LATE)


# ---- a crash between claim and wake ---------------------------------------------------------


def test_a_claim_left_by_a_dead_process_is_repaired(h: Harness) -> None:
    slot = h.activation._claim("team-2", "CC-ALL", "ana", 2 * H, "deploy", LATE, "")
    assert slot.state is SlotState.CLAIMED and _replicas(h, "team-2", "app") == 0
    h.activation.reconcile(at=LATE + timedelta(minutes=1))  # within the grace period: left alone
    assert h.store.get_slot("team-2").state is SlotState.CLAIMED  # type: ignore[union-attr]
    chores, _ = h.activation.reconcile(at=LATE + timedelta(minutes=5))
    assert [s.namespace for s in chores.repaired] == ["team-2"]
    assert _replicas(h, "team-2", "app") == 2
    assert h.store.get_slot("team-2").state is SlotState.LIVE  # type: ignore[union-attr]
    [record] = _records(h, "team-2", OperationType.MANUAL_ACTIVATION)
    assert record.timestamp_start == int(LATE.timestamp())
    h.activation.reconcile(at=LATE + 2 * H)
    assert h.store.list_slots() == [] and _replicas(h, "team-2", "app") == 0


def test_a_claim_whose_window_passed_is_released(h: Harness) -> None:
    h.activation._claim("team-3", "CC-ALL", "ana", H, "deploy", LATE, "")
    h.activation.reconcile(at=LATE + 3 * H)
    assert h.store.list_slots() == []
    assert _replicas(h, "team-3", "app") == 0


# ---- cost centers ---------------------------------------------------------------------------


def test_cost_center_administration(h: Harness) -> None:
    h.activation.set_cost_center("CC-ALL", LATE, authorized=False)
    with pytest.raises(Refusal, match="unauthorized"):
        h.activation.activate("team-1", "CC-ALL", "ana", H, "x", LATE)
    h.activation.set_cost_center("CC-PAY", LATE, add_namespaces=["team-1"], max_concurrent=3)
    h.activation.activate("team-1", "CC-PAY", "ana", H, "x", LATE)
    assert h.activation.seed_cost_centers(LATE) == 0  # the config never overwrites an admin
    assert not h.activation.cost_center("CC-ALL").is_authorized
    with pytest.raises(Refusal, match="not found"):
        h.activation.set_cost_center("CC-PAY", LATE, remove_namespaces=["nope-*"])


# ---- the same flow on DynamoDB (moto, serialized) -------------------------------------------


def test_the_night_with_an_activation_on_dynamodb(tmp_path: Path, dynamo_store: Any) -> None:
    h = make_harness(tmp_path, _objects(), store=dynamo_store)
    h.service.shutdown(at=NIGHT)
    request = h.activation.request("pay-api", "CC-PAY", "ana", 2 * H, "incident", LATE)
    h.activation.approve(request.request_id, "lead", LATE)
    with pytest.raises(Refusal, match="already decided"):
        h.activation.approve(request.request_id, "admin", LATE)
    assert _replicas(h, "pay-api", "api") == 3
    h.activation.reconcile(at=LATE + 2 * H)
    assert _replicas(h, "pay-api", "api") == 0 and h.store.list_slots() == []
    h.activation.reconcile(at=madrid(2026, 12, 2, 7))
    assert _replicas(h, "pay-api", "api") == 3
    [activation] = _records(h, "pay-api", OperationType.MANUAL_ACTIVATION)
    assert activation.duration_minutes == 120 and activation.cost_center == "CC-PAY"
    [shutdown] = _records(h, "pay-api", OperationType.AUTO_SHUTDOWN)
    assert shutdown.duration_minutes == 11 * 60


def test_refusals_are_counted_in_system_metrics_not_recorded(h: Harness) -> None:
    records = len(h.store.history())
    for _ in range(2):
        with pytest.raises(Refusal):
            h.activation.activate("pay-api", "CC-OFF", "ana", H, "x", LATE)
    with pytest.raises(Refusal):
        h.activation.request("pay-api", "CC-PAY", "ana", 999 * H, "x", LATE)
    day = h.clock.now().date().isoformat()
    assert h.store.get_metric("refused.unauthorized", day) == 2
    assert h.store.get_metric("refused.invalid", day) == 1
    assert len(h.store.history()) == records


def test_status_shows_an_activated_namespace_as_wanted_awake(h: Harness) -> None:
    h.activation.activate("pay-api", "CC-PAY", "ana", H, "incident", LATE)
    by_ns = {ns.namespace: ns for ns in h.service.status(at=LATE).namespaces}
    assert by_ns["pay-api"].desired.value == "awake" and by_ns["pay-api"].state == "awake"
    assert by_ns["pay-web"].desired.value == "asleep" and by_ns["pay-web"].state == "asleep"


def test_a_booking_that_cannot_start_is_cancelled_with_its_reason(h: Harness) -> None:
    start = madrid(2026, 12, 2, 21)
    booking = h.activation.book("team-6", "CC-ALL", "ana", start, H, "load test", LATE)
    for i, team in enumerate(TEAMS[:5]):  # five windows fill the global cap first
        h.activation.activate(
            team, "CC-ALL", f"u{i}", 2 * H, "on call", start - timedelta(minutes=5)
        )
    chores, _ = h.activation.reconcile(at=start)
    assert [b.request_id for b, _ in chores.refused_bookings] == [booking.request_id]
    stored = h.store.get_request(booking.request_id)
    assert stored is not None and stored.status is RequestStatus.CANCELLED
    assert "limit exceeded" in stored.decision_reason and stored.decided_by == "namespace-ctl"
    assert _replicas(h, "team-6", "app") == 0
    day = start.date().isoformat()
    assert h.store.get_metric("refused.limit exceeded", day) == 1
