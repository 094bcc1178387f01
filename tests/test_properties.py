"""The seed's correctness properties 1, 2, 5, 6, 7 and 8 as Hypothesis tests.

Adapted to DESIGN.md: an `auto_shutdown` record is an interval opened at shutdown and closed by
the wake-up (the seed's Property 5 expected it closed at once); "process_timestamp" is what the
scheduled jobs and the reconcile pass do at that instant.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.calendar import BusinessCalendar
from core.cluster.base import Cluster, WorkloadObject
from core.config import Config
from core.models import OperationType, RecordStatus, WorkloadKind, WorkloadRef
from core.store.sqlite import SqliteStore
from tests.builders import cronjob, daemonset, deployment, namespace, statefulset
from tests.harness import MADRID, TEST_CONFIG, Harness, make_harness, make_service

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CALENDAR = BusinessCalendar.from_config(Config.model_validate(TEST_CONFIG))

names = st.sampled_from(["alpha", "beta", "gamma", "delta", "team-x", "payments"])
selectors = st.dictionaries(
    st.sampled_from(["kubernetes.io/os", "pool", "zone"]),
    st.sampled_from(["linux", "a", "b"]),
    max_size=2,
)


@st.composite
def team_namespaces(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1-4 namespaces with random workloads of every kind (some already at 0 or suspended)."""
    objects: list[dict[str, Any]] = []
    for ns in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        objects.append(namespace(ns))
        for i in range(draw(st.integers(0, 3))):
            objects.append(deployment(ns, f"dep{i}", draw(st.integers(0, 6))))
        for i in range(draw(st.integers(0, 2))):
            objects.append(statefulset(ns, f"sts{i}", draw(st.integers(0, 3))))
        if draw(st.booleans()):
            objects.append(daemonset(ns, "agent", draw(st.one_of(st.none(), selectors))))
        for i in range(draw(st.integers(0, 2))):
            objects.append(cronjob(ns, f"cron{i}", draw(st.booleans())))
    return objects


@st.composite
def business_days(draw: st.DrawFn) -> date:
    day = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)))
    assume(CALENDAR.is_business_time(datetime.combine(day, time(12), MADRID)))
    return day


def _fresh(objects: list[dict[str, Any]]) -> tuple[Harness, tempfile.TemporaryDirectory[str]]:
    tmp = tempfile.TemporaryDirectory()
    return make_harness(Path(tmp.name), objects), tmp


def _is_asleep_state(h: Harness, originals: dict[Any, Any]) -> bool:
    for key, (spec, ours) in h.state().items():
        kind, original = key[0], originals[key]
        if kind in ("Deployment", "StatefulSet") and (spec != 0 or (original and not ours)):
            return False
        if kind == "DaemonSet" and spec.get("namespace-ctl.io/sleeping") != "true":
            return False
        if kind == "CronJob" and spec is not True:
            return False
    return True


def _namespaces_with_workloads(objects: list[dict[str, Any]]) -> set[str]:
    return {o["metadata"]["namespace"] for o in objects if o["kind"] != "Namespace"}


# ---- Property 1: timely automatic shutdown --------------------------------------------------


@PROPERTY_SETTINGS
@given(objects=team_namespaces(), day=business_days())
def test_property_1_every_user_namespace_sleeps_at_8pm(
    objects: list[dict[str, Any]], day: date
) -> None:
    h, tmp = _fresh(objects)
    with tmp:
        originals = h.specs()
        at = datetime.combine(day, time(20), MADRID)
        assert h.service.reconcile(at=at).ok
        assert _is_asleep_state(h, originals)
        shutdowns = {
            r.namespace_name
            for r in h.store.history()
            if r.operation_type is OperationType.AUTO_SHUTDOWN
        }
        assert shutdowns == _namespaces_with_workloads(objects)
        assert all(r.timestamp_start == int(at.timestamp()) for r in h.store.history())


# ---- Property 2: timely automatic startup ---------------------------------------------------


@PROPERTY_SETTINGS
@given(objects=team_namespaces(), day=business_days())
def test_property_2_everything_shut_down_wakes_at_7am(
    objects: list[dict[str, Any]], day: date
) -> None:
    h, tmp = _fresh(objects)
    with tmp:
        originals = h.specs()
        morning = datetime.combine(day, time(7), MADRID)
        night = CALENDAR.previous_transition(morning - timedelta(seconds=1))[0]
        h.service.shutdown(at=night)
        assert h.service.reconcile(at=morning).ok
        assert h.specs() == originals
        for record in h.store.history():
            if record.operation_type is OperationType.AUTO_SHUTDOWN:
                assert record.status is RecordStatus.COMPLETED
                assert record.timestamp_end == int(morning.timestamp())


# ---- Properties 5 and 6: complete records, exact durations ----------------------------------


@PROPERTY_SETTINGS
@given(
    objects=team_namespaces(),
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)),
    seconds=st.integers(min_value=0, max_value=4 * 24 * 3600),
)
def test_properties_5_and_6_one_complete_record_per_operation_and_exact_duration(
    objects: list[dict[str, Any]], start: datetime, seconds: int
) -> None:
    h, tmp = _fresh(objects)
    with tmp:
        t1 = start.replace(tzinfo=MADRID)
        t2 = t1 + timedelta(seconds=seconds)
        acted = _namespaces_with_workloads(objects)
        h.service.shutdown(at=t1)
        assert len(h.store.history()) == len(acted)
        h.service.startup(at=t2)
        records = h.store.history()
        assert len(records) == 2 * len(acted)  # one shutdown interval + one startup each
        for record in records:
            assert record.namespace_name in acted
            assert record.timestamp_start > 0
            assert (
                record.timestamp_end is not None and record.timestamp_end >= record.timestamp_start
            )
            if record.operation_type is OperationType.AUTO_SHUTDOWN:
                assert record.timestamp_start == int(t1.timestamp())
                assert record.timestamp_end == int(t2.timestamp())
                assert record.duration_minutes == (int(t2.timestamp()) - int(t1.timestamp())) // 60


# ---- Property 7: idempotency -----------------------------------------------------------------

operations = st.lists(
    st.tuples(st.sampled_from(["shutdown", "startup", "reconcile"]), st.integers(0, 72 * 60)),
    min_size=1,
    max_size=5,
)


@PROPERTY_SETTINGS
@given(objects=team_namespaces(), ops=operations)
def test_property_7_repeating_an_operation_changes_nothing(
    objects: list[dict[str, Any]], ops: list[tuple[str, int]]
) -> None:
    h, tmp = _fresh(objects)
    with tmp:
        base = datetime(2026, 12, 4, 18, tzinfo=MADRID)  # a Friday evening
        for name, minutes in sorted(ops, key=lambda op: op[1]):
            run = getattr(h.service, name)
            at = base + timedelta(minutes=minutes)
            first = run(at=at)
            state, count = h.state(), len(h.store.history())
            second = run(at=at)
            assert h.state() == state
            assert len(h.store.history()) == count
            assert first.ok == second.ok
        records = h.store.history()
        assert len(records) == len({r.key for r in records})


# ---- Property 8: recovery after a crash mid-shutdown -----------------------------------------


class ProcessKilled(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the product catches it."""


class DyingCluster:
    """Lets `patches_before_death` patches through, then every call dies."""

    def __init__(self, inner: Cluster, patches_before_death: int) -> None:
        self.inner = inner
        self.remaining = patches_before_death

    @property
    def concurrency(self) -> int:
        return self.inner.concurrency

    def list_namespaces(self) -> Any:
        return self.inner.list_namespaces()

    def list_workloads(self, kind: WorkloadKind) -> list[WorkloadObject]:
        return self.inner.list_workloads(kind)

    def get_workload(self, ref: WorkloadRef) -> WorkloadObject:
        return self.inner.get_workload(ref)

    def patch_workload(
        self, ref: WorkloadRef, body: dict[str, Any], dry_run: bool = False
    ) -> WorkloadObject:
        if self.remaining <= 0:
            raise ProcessKilled
        self.remaining -= 1
        return self.inner.patch_workload(ref, body, dry_run)


@PROPERTY_SETTINGS
@given(objects=team_namespaces(), kill_after=st.integers(0, 25), minutes_later=st.integers(1, 600))
def test_property_8_a_crash_mid_shutdown_loses_nothing(
    objects: list[dict[str, Any]], kill_after: int, minutes_later: int
) -> None:
    h, tmp = _fresh(objects)
    with tmp:
        originals = h.specs()
        night = datetime(2026, 12, 2, 20, tzinfo=MADRID)
        dying = make_service(DyingCluster(h.cluster, kill_after), h.store, h.clock, h.config)
        with contextlib.suppress(ProcessKilled):
            dying.shutdown(at=night)
        h.store.close()

        # A new process: a new store on the same file, the same cluster.
        store = SqliteStore(str(Path(tmp.name) / "audit.db"))
        fresh = make_service(h.cluster, store, h.clock, h.config)
        assert fresh.reconcile(at=night + timedelta(minutes=minutes_later)).ok
        assert _is_asleep_state(h, originals)
        records = store.history()
        assert Counter(r.namespace_name for r in records) == Counter(
            _namespaces_with_workloads(objects)
        )
        assert len(records) == len({r.key for r in records})

        assert fresh.reconcile(at=datetime(2026, 12, 3, 7, tzinfo=MADRID)).ok
        assert h.specs() == originals
        store.close()
