"""`SharedRead`: concurrent `status` calls share one cluster read, never an old one."""

from __future__ import annotations

import gc
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core.cluster.base import NamespaceInfo
from core.inventory import Inventory, LastRead, NamespaceView, SharedRead, SingleFlight
from core.models import WorkloadKind
from core.service import workload_statuses
from tests.builders import cronjob, daemonset, deployment, statefulset, team_namespace
from tests.harness import madrid, make_harness


class GatedRead:
    """An inventory read that blocks until released, counting how often it ran."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self) -> Inventory:
        self.calls += 1
        self.started.set()
        assert self.release.wait(10)
        if self.fail:
            raise ConnectionError("the API server went away")
        return Inventory(namespaces={})


def _join_while_in_flight(shared: SharedRead, read: GatedRead, callers: int) -> list[object]:
    with ThreadPoolExecutor(callers) as pool:
        first = pool.submit(shared)
        assert read.started.wait(10)
        others = [pool.submit(shared) for _ in range(callers - 1)]
        read.release.set()
        outcomes: list[object] = []
        for future in [first, *others]:
            try:
                outcomes.append(future.result(10))
            except ConnectionError as exc:
                outcomes.append(exc)
        return outcomes


def test_callers_during_a_read_share_it_and_a_later_call_reads_again() -> None:
    read = GatedRead()
    shared = SharedRead(read)
    outcomes = _join_while_in_flight(shared, read, callers=8)
    # Callers that arrived after the first completed may have started a read of their own,
    # but never more reads than callers, and all got the very object of a read.
    assert 1 <= read.calls < 8
    assert all(isinstance(o, Inventory) for o in outcomes)
    assert outcomes.count(outcomes[0]) >= 2  # at least one caller shared the first read
    calls = read.calls
    assert isinstance(shared(), Inventory)
    assert read.calls == calls + 1  # nothing is cached once a read completed


def test_a_failed_read_fails_every_caller_that_shared_it() -> None:
    read = GatedRead(fail=True)
    outcomes = _join_while_in_flight(SharedRead(read), read, callers=4)
    assert isinstance(outcomes[0], ConnectionError)
    shared_failures = [o for o in outcomes if o is outcomes[0]]
    assert len(shared_failures) >= 2


def test_concurrent_status_reports_are_correct(tmp_path: Path) -> None:
    h = make_harness(tmp_path, team_namespace("team-a"), at=madrid(2026, 12, 1, 20))
    h.service.shutdown()
    with ThreadPoolExecutor(8) as pool:
        reports = list(pool.map(lambda _: h.service.status(), range(16)))
    states = {(n.namespace, n.state) for r in reports for n in r.namespaces}
    assert states == {("team-a", "asleep")}


@pytest.mark.parametrize("callers", [2, 16])
def test_shared_read_never_deadlocks(callers: int) -> None:
    read = GatedRead()
    read.release.set()
    shared = SharedRead(read)
    with ThreadPoolExecutor(callers) as pool:
        assert all(isinstance(r, Inventory) for r in pool.map(lambda _: shared(), range(50)))


def test_single_flight_shares_a_call_per_key_and_keeps_nothing_after() -> None:
    flight: SingleFlight[int, str] = SingleFlight()
    gate, started = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(key: int) -> str:
        calls.append(key)
        started.set()
        assert gate.wait(10)
        return f"report at {key}"

    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(flight, 100, lambda: slow(100))
        assert started.wait(10)
        same = [pool.submit(flight, 100, lambda: slow(100)) for _ in range(4)]
        deadline = time.monotonic() + 10
        while flight.joined < 4 and time.monotonic() < deadline:
            time.sleep(0.001)
        other = pool.submit(flight, 101, lambda: "report at 101")  # another second: its own
        assert other.result(10) == "report at 101"
        gate.set()
        answers = {f.result(10) for f in [first, *same]}

    assert answers == {"report at 100"} and calls == [100]
    assert flight(100, lambda: "afresh") == "afresh"  # the shared answer was not kept


# ---- packed views: what `serve` keeps of the pass worker's read ---------------------------------


def _view(name: str, replicas: int = 2) -> NamespaceView:
    workloads = [
        (WorkloadKind.DEPLOYMENT, deployment(name, "web", replicas=replicas)),
        (WorkloadKind.STATEFULSET, statefulset(name, "db")),
        (WorkloadKind.DAEMONSET, daemonset(name, "agent")),
        (WorkloadKind.CRONJOB, cronjob(name, "nightly")),
    ]
    return NamespaceView(NamespaceInfo(name=name), None, workloads)


def test_a_packed_view_shows_what_the_whole_one_shows() -> None:
    whole = _view("team-a")
    packed = pickle.loads(pickle.dumps(whole.packed()))

    assert packed.is_packed and packed.facts_known and not whole.is_packed
    assert packed.facts == whole.facts and packed.facts.footprint.pods > 0
    assert packed.workloads == whole.workloads and packed.workload_count == 4
    assert packed.snapshots == whole.snapshots
    assert workload_statuses(packed) == workload_statuses(whole)
    assert packed.packed() is packed and packed.own_copy() is packed


def test_a_packed_read_leaves_the_collector_a_few_objects_per_namespace() -> None:
    """Why views are packed: the serving process's full collections walk every object the
    collector tracks (a whole read was about 12 per workload)."""
    whole = {f"team-{i}": _view(f"team-{i}") for i in range(200)}
    blobs = {
        "whole": pickle.dumps(whole),
        "packed": pickle.dumps({name: view.packed() for name, view in whole.items()}),
    }
    tracked = {}
    for form, blob in blobs.items():
        gc.collect()
        before = len(gc.get_objects())
        kept = pickle.loads(blob)
        gc.collect()  # what the collector would untrack (dicts of atoms), it has
        tracked[form] = (len(gc.get_objects()) - before) / len(kept)
        del kept

    assert tracked["packed"] <= 8, tracked  # the view, its info, its facts
    assert tracked["whole"] >= 4 * 8, tracked


def test_our_patch_on_a_packed_view_makes_a_new_packed_view_and_keeps_the_old() -> None:
    reads = LastRead()
    reads.remember(Inventory(namespaces={"team-a": _view("team-a").packed()}), read_at=1)
    old = _latest_view(reads, "team-a")
    patched = deployment("team-a", "web", replicas=0)

    reads.patched(WorkloadKind.DEPLOYMENT, patched)

    new = _latest_view(reads, "team-a")
    assert new is not old and new.is_packed
    assert dict(new.workloads)[WorkloadKind.DEPLOYMENT] == patched
    assert new.facts.running == old.facts.running - 1
    assert dict(old.workloads)[WorkloadKind.DEPLOYMENT]["spec"]["replicas"] == 2


def _latest_view(reads: LastRead, name: str) -> NamespaceView:
    latest = reads.latest()
    assert latest is not None
    return latest[0].namespaces[name]
