"""`serve` runs its passes in a worker process (issue 14): the serving process gets back the
pass's read, our patches, the notices and the result; a worker that dies mid-pass is a failed
pass the next one finishes; only a replica that runs passes (the leader) starts a worker."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.jobs import Jobs, NotLeading
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config, load_config
from core.errors import ClusterUnavailableError, ConfigError
from core.inventory import compact
from core.models import OperationType, RecordStatus, WorkloadKind
from core.notices import Notice
from core.scaling.base import ORIGINAL_NODE_SELECTOR, ORIGINAL_REPLICAS, ORIGINAL_SUSPEND
from core.scaling.registry import strategy_for
from core.wiring import build_app, run_passes_in_worker
from core.worker import WORKER_NICENESS, WorkerDied
from tests.fake_kube import FakeKube, workload
from tests.harness import TEST_CONFIG, madrid

NIGHT = madrid(2026, 12, 1, 20)
TEAMS = ("team-a", "team-b", "team-c")

# ---- compact: what a read sends to the serving process ---------------------------------------

BULK_CONTAINER = {
    "image": "registry.example/app:1.2.3",
    "env": [{"name": f"VAR_{i}", "value": "x" * 40} for i in range(20)],
    "ports": [{"containerPort": 8080}],
    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
}


def _bulky(obj: dict[str, Any], annotations: dict[str, str], cpu: str | None) -> dict[str, Any]:
    """`obj` as a real API server returns it: managedFields, kubectl's last-applied copy, env,
    volumes, probes, a sidecar; our annotations and requests as drawn."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta["resourceVersion"] = "123"
    meta["managedFields"] = [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}] * 5
    meta["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 2000 + "}",
        **annotations,
    }
    pod = (
        obj["spec"]["jobTemplate"]["spec"]["template"]
        if "jobTemplate" in obj["spec"]
        else (obj["spec"]["template"])
    )
    resources = {"requests": {"cpu": cpu, "memory": "128Mi"}} if cpu else {}
    pod["spec"]["containers"] = [{"name": "app", "resources": resources, **BULK_CONTAINER}]
    pod["spec"]["initContainers"] = [
        {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}}
    ]
    pod["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    pod["spec"]["nodeSelector"] = {"pool": "general"}
    obj["status"] = {"desiredNumberScheduled": 3, "replicas": 2}
    return obj


@settings(max_examples=120, deadline=None)
@given(
    kind=st.sampled_from(list(WorkloadKind)),
    replicas=st.integers(min_value=0, max_value=5),
    asleep=st.sampled_from([None, "3", "0", "garbage"]),
    cpu=st.sampled_from([None, "250m", "1", "bad"]),
)
def test_a_compacted_object_plans_and_costs_like_the_whole_one(
    kind: WorkloadKind, replicas: int, asleep: str | None, cpu: str | None
) -> None:
    ours = {
        WorkloadKind.DAEMONSET: ORIGINAL_NODE_SELECTOR,
        WorkloadKind.CRONJOB: ORIGINAL_SUSPEND,
    }.get(kind, ORIGINAL_REPLICAS)
    annotations = {} if asleep is None else {ours: asleep}
    whole = _bulky(workload(kind.value, "team-a", "app", replicas=replicas), annotations, cpu)
    small = compact(whole)
    strategy = strategy_for(kind)

    assert strategy.snapshot(small) == strategy.snapshot(whole)
    assert strategy.is_sleeping(small) == strategy.is_sleeping(whole)
    assert strategy.plan_sleep(small) == strategy.plan_sleep(whole)
    assert strategy.plan_wake(small) == strategy.plan_wake(whole)
    assert len(repr(small)) < len(repr(whole)) / 3
    fresh = workload(kind.value, "team-a", "app", replicas=replicas)
    assert whole == _bulky(fresh, annotations, cpu)  # compact copies, never changes


# ---- the worker over the fake API server -----------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        for team in TEAMS:
            server.add(workload("Deployment", team, "web", replicas=2))
            server.add(workload("StatefulSet", team, "db", replicas=1))
        yield server


def _config(fake: FakeKube, tmp_path: Path, **cluster: Any) -> Config:
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    return Config.model_validate(
        TEST_CONFIG
        | {
            "store": {"backend": "sqlite", "path": str(tmp_path / "audit.db")},
            "cluster": {"kubeconfig": str(kubeconfig), "retries": 0, **cluster},
        }
    )


@pytest.fixture
def serving(fake: FakeKube, tmp_path: Path) -> Iterator[NamespaceCtl]:
    """A serving process's front (its clock at 20:00 on a Tuesday) with its passes in a worker."""
    config = _config(fake, tmp_path)
    ctl = build_app(config, Clock(NIGHT))
    ctl.schedule.serve_status_from_last_pass()
    run_passes_in_worker(ctl, config)
    yield ctl
    ctl.schedule.stop_worker()
    ctl.close()


def _replicas(fake: FakeKube) -> dict[str, int]:
    return {
        f"{kind}/{obj['metadata']['namespace']}": obj["spec"]["replicas"]
        for kind in ("Deployment", "StatefulSet")
        for obj in fake.objects(kind)
    }


def _open_nights(ctl: NamespaceCtl) -> list[str]:
    records = ctl.services.store.open_records(OperationType.AUTO_SHUTDOWN)
    return sorted(r.namespace_name for r in records)


def test_a_pass_in_the_worker_sleeps_records_notifies_and_feeds_status(
    fake: FakeKube, serving: NamespaceCtl
) -> None:
    posted: list[Notice] = []
    serving.services.namespaces.outbox.on_post(posted.append)

    chores, result = serving.schedule.reconcile(at=NIGHT)

    worker = serving.schedule.worker
    assert worker is not None and worker.started == 1
    assert worker.pid is not None and worker.pid != os.getpid()
    # Background work: the serving process's acks go first when the cores are busy.
    assert psutil.Process(worker.pid).nice() == min(19, psutil.Process().nice() + WORKER_NICENESS)
    assert result.ok and not chores.ended
    assert set(_replicas(fake).values()) == {0}
    assert _open_nights(serving) == list(TEAMS)
    # The shutdown summary, posted in the worker, woke this process's listeners.
    assert [n.kind.value for n in posted] == ["shutdown"]
    # Each view came packed, with its facts worked out in the worker (none to work out here).
    latest = serving.services.namespaces.last_read.latest()
    assert latest is not None
    views = latest[0].namespaces.values()
    assert all(view.is_packed and view.facts_known for view in views)
    # Status is what the worker read, with the objects its patches stored: no request here.
    fake.reset_counters()
    report = serving.schedule.status(NIGHT)
    detail = serving.schedule.namespace("team-b", NIGHT)
    assert fake.total_requests == 0
    assert {n.namespace: n.state for n in report.namespaces} == dict.fromkeys(TEAMS, "asleep")
    assert {w.name: (w.sleeping, w.replicas) for w in detail.workloads} == {
        "web": (True, 2),
        "db": (True, 1),
    }


def test_a_read_that_patches_nothing_comes_with_its_facts(
    fake: FakeKube, serving: NamespaceCtl
) -> None:
    _, result = serving.schedule.reconcile(at=NIGHT - timedelta(hours=8))  # noon: all awake

    assert result.ok and not result.namespaces
    latest = serving.services.namespaces.last_read.latest()
    assert latest is not None and set(latest[0].namespaces) == set(TEAMS)
    assert all(view.is_packed and view.facts_known for view in latest[0].namespaces.values())
    fake.reset_counters()
    states = {n.namespace: n.state for n in serving.schedule.status(NIGHT).namespaces}
    assert states == dict.fromkeys(TEAMS, "awake") and fake.total_requests == 0


def test_the_worker_is_kept_for_the_next_pass(fake: FakeKube, serving: NamespaceCtl) -> None:
    serving.schedule.reconcile(at=NIGHT)
    worker = serving.schedule.worker
    assert worker is not None
    first = worker.pid

    chores, result = serving.schedule.housekeeping(NIGHT.replace(minute=1))

    assert result is None and not chores.started
    assert (worker.pid, worker.started) == (first, 1)


def test_a_worker_killed_mid_pass_fails_that_pass_and_the_next_one_finishes(
    fake: FakeKube, serving: NamespaceCtl
) -> None:
    for index in range(40):
        fake.add(workload("Deployment", f"team-{index:02d}", "web", replicas=3))
    fake.latency = 0.05  # 86 patches at ~32 in flight: about 0.2 s of patching
    before = _replicas(fake)
    failure: list[BaseException] = []

    def night() -> None:
        try:
            serving.schedule.reconcile(at=NIGHT)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=night)
    thread.start()
    deadline = time.monotonic() + 30
    while fake.writes < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    worker = serving.schedule.worker
    assert worker is not None and worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)
    thread.join(30)

    assert len(failure) == 1 and isinstance(failure[0], WorkerDied)
    assert "exited with code -9" in str(failure[0])
    assert 0 in _replicas(fake).values() and set(_replicas(fake).values()) != {0}

    fake.latency = 0.0
    _, result = serving.schedule.reconcile(at=NIGHT.replace(minute=5))

    assert worker.started == 2 and result.ok
    assert set(_replicas(fake).values()) == {0}
    # One night per namespace, whichever worker opened it, with what each ran awake.
    assert _open_nights(serving) == sorted(k.split("/")[1] for k in before if "Deployment" in k)
    for record in serving.services.store.open_records(OperationType.AUTO_SHUTDOWN):
        assert record.status is RecordStatus.ACTIVE
        for snapshot in record.workloads:
            assert snapshot.replicas == before[f"{snapshot.kind.value}/{record.namespace_name}"]


def test_a_failure_in_the_worker_reaches_the_caller_as_itself(
    fake: FakeKube, serving: NamespaceCtl
) -> None:
    fake.inject("GET", r"/apis/apps/v1/deployments", 503, times=10)

    with pytest.raises(ClusterUnavailableError, match="503"):
        serving.schedule.reconcile(at=NIGHT)

    assert set(_replicas(fake).values()) == {2, 1}  # nothing patched from a partial read


def test_a_dry_run_stays_in_this_process(fake: FakeKube, serving: NamespaceCtl) -> None:
    _, result = serving.schedule.reconcile(dry_run=True, at=NIGHT)

    assert result.dry_run and result.namespaces
    worker = serving.schedule.worker
    assert worker is not None and worker.started == 0


class Follower:
    def is_leader(self) -> bool:
        return False


def test_a_follower_never_starts_a_worker(
    fake: FakeKube, serving: NamespaceCtl, tmp_path: Path
) -> None:
    jobs = Jobs(serving, serving.config, serving.clock, leadership=Follower())

    with pytest.raises(NotLeading):
        jobs.reconcile_pass("business end", NIGHT)

    worker = serving.schedule.worker
    assert worker is not None and worker.started == 0
    assert set(_replicas(fake).values()) == {2, 1}


def test_passes_in_a_worker_need_a_cluster_it_can_see(fake: FakeKube, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"cluster\.passes: worker needs cluster\.simulated_state"
    ):
        path = tmp_path / "config.yaml"
        path.write_text(
            "cluster:\n  simulated: examples/cluster.yaml\n  passes: worker\n", encoding="utf-8"
        )
        load_config(path, environ={})
    memory_only = Config.model_validate({"cluster": {"simulated": "examples/cluster.yaml"}})
    shared = Config.model_validate(
        {"cluster": {"simulated": "examples/cluster.yaml", "simulated_state": "s.json"}}
    )
    assert not memory_only.cluster.passes_in_worker
    assert shared.cluster.passes_in_worker
    assert _config(fake, tmp_path).cluster.passes_in_worker
    assert not _config(fake, tmp_path, passes="in-process").cluster.passes_in_worker
