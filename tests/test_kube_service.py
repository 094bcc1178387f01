"""The use cases over the real `kubernetes` client and the stateful fake API server (HTTP)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from core.cluster.kube import KubeCluster
from core.config import ClusterSettings
from core.errors import ClusterUnavailableError
from core.models import OperationType, RecordStatus
from tests.builders import team_namespace
from tests.fake_kube import FakeKube
from tests.harness import Harness, cluster_state, madrid, make_harness

NIGHT = madrid(2026, 12, 1, 20)
MORNING = madrid(2026, 12, 2, 7)
TEAMS = ["alpha", "beta", "delta", "gamma"]


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        for team in TEAMS:
            for obj in team_namespace(team, {"api": 3, "web": 2, "worker": 1}):
                if obj["kind"] == "Namespace":
                    server.add_namespace(obj["metadata"]["name"])
                else:
                    server.add(obj)
        yield server


def _kube(fake: FakeKube, tmp_path: Path, **settings: object) -> KubeCluster:
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    options = {"kubeconfig": str(kubeconfig), "request_timeout": 0.5, "retries": 6} | settings
    return KubeCluster(ClusterSettings.model_validate(options), backoff_base=0.01)


def _harness(fake: FakeKube, tmp_path: Path, **settings: object) -> Harness:
    return make_harness(tmp_path, [], cluster=_kube(fake, tmp_path, **settings))


def test_every_workload_converges_through_injected_faults(fake: FakeKube, tmp_path: Path) -> None:
    h = _harness(fake, tmp_path, concurrency=8)
    originals = cluster_state(h.cluster)
    workloads = len(originals)
    rng = random.Random(7)
    faults = [(429, 0.05, None), (500, None, None), (503, 0.02, None), (504, None, None)]
    for _ in range(12):
        status, retry_after, _ = rng.choice(faults)
        fake.inject("PATCH", r"/namespaces/", status, retry_after=retry_after)
    fake.inject("PATCH", r"/namespaces/alpha/", 200, delay=1.0)  # a read timeout (0.5 s)
    fake.inject("PATCH", r"/namespaces/beta/", 409, times=2)  # a concurrent edit
    fake.inject("GET", r"/apis/apps/v1/deployments", 503, retry_after=0.01)  # the list too

    result = h.service.shutdown(at=NIGHT)

    assert result.ok, result.failed_workloads()
    assert fake.pending_faults() == 0
    for (kind, _, name), (spec, ours) in cluster_state(h.cluster).items():
        if kind in ("Deployment", "StatefulSet"):
            assert spec == 0 and ours
        elif kind == "DaemonSet":
            assert spec["namespace-ctl.io/sleeping"] == "true" and ours
        else:
            assert spec is True and bool(ours) == (name != "cleanup")
    assert len(h.store.history()) == len(TEAMS)
    fake.reset_counters()
    assert h.service.startup(at=MORNING).ok
    assert cluster_state(h.cluster) == originals
    # Sleeping then waking: one PATCH per workload that had something to change, no more.
    changeable = workloads - len(TEAMS)  # each team's suspended cleanup CronJob is left alone
    assert (
        fake.count("PATCH", "Deployment")
        + fake.count("PATCH", "StatefulSet")
        + fake.count("PATCH", "DaemonSet")
        + fake.count("PATCH", "CronJob")
        == changeable
    )


def test_one_forbidden_namespace_fails_alone_and_is_retried(fake: FakeKube, tmp_path: Path) -> None:
    h = _harness(fake, tmp_path)
    fake.forbid_namespace("gamma")
    result = h.service.shutdown(at=NIGHT)
    assert not result.ok
    failed = {o.ref.namespace for o in result.failed_workloads()}
    assert failed == {"gamma"}
    assert (
        "403" in result.failed_workloads()[0].error
        or "orbidden" in result.failed_workloads()[0].error
    )
    record = h.store.get_record("gamma", int(NIGHT.timestamp()), OperationType.AUTO_SHUTDOWN)
    assert record is not None and record.status is RecordStatus.FAILED
    assert "gamma" not in {k[1] for k, (spec, ours) in cluster_state(h.cluster).items() if ours}

    fake.forbid_namespace("gamma", False)
    later = madrid(2026, 12, 1, 20, 5)
    assert h.service.reconcile(at=later).ok
    record = h.store.get_record("gamma", int(NIGHT.timestamp()), OperationType.AUTO_SHUTDOWN)
    assert record is not None and record.status is RecordStatus.ACTIVE
    assert "403" in record.error_message or "orbidden" in record.error_message
    assert len(h.store.history("gamma")) == 1


def test_an_unreachable_cluster_changes_nothing(tmp_path: Path) -> None:
    with FakeKube() as gone:
        kubeconfig = gone.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = KubeCluster(
        ClusterSettings(kubeconfig=str(kubeconfig), request_timeout=0.5, retries=1),
        backoff_base=0.01,
    )
    h = make_harness(tmp_path, [], cluster=cluster)
    with pytest.raises(ClusterUnavailableError, match=r"127\.0\.0\.1"):
        h.service.shutdown(at=NIGHT)
    assert h.store.history() == []


def _write_config(tmp_path: Path, fake: FakeKube) -> Path:
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    config = {
        "timezone": "Europe/Madrid",
        "store": {"backend": "sqlite", "path": str(tmp_path / "audit.db")},
        "cluster": {"kubeconfig": str(kubeconfig), "concurrency": 2},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _spawn_cli(config: Path, now: datetime, *args: str) -> subprocess.Popen[bytes]:
    """`namespace-ctl --config CONFIG --now NOW ARGS...` as a separate process."""
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "bot.cli", "--config", str(config), "--now", now.isoformat()]
    return subprocess.Popen(
        [*cmd, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _patches(fake: FakeKube) -> int:
    return sum(
        fake.count("PATCH", kind) for kind in ("Deployment", "StatefulSet", "DaemonSet", "CronJob")
    )


@pytest.mark.parametrize("kill_after_patches", [1, 7, 19])
def test_property_8_sigkill_mid_shutdown_then_reconcile(
    fake: FakeKube, tmp_path: Path, kill_after_patches: int
) -> None:
    """A real process killed with SIGKILL in the middle of a shutdown; a new one reconciles."""
    originals = cluster_state(_kube(fake, tmp_path))
    config = _write_config(tmp_path, fake)
    fake.latency = 0.03
    proc = _spawn_cli(config, NIGHT, "shutdown")
    deadline = time.monotonic() + 60
    while (
        _patches(fake) < kill_after_patches and proc.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert 0 < _patches(fake) < len(originals)  # it really died mid-run
    fake.latency = 0.0

    # A new process: its own client and a new store on the same SQLite file.
    recovered = make_harness(tmp_path, [], cluster=_kube(fake, tmp_path))
    store = recovered.store
    assert recovered.service.reconcile(at=madrid(2026, 12, 1, 20, 5)).ok
    records = store.history()
    assert sorted(r.namespace_name for r in records) == TEAMS  # one interval each, no duplicate
    assert all(r.timestamp_start == int(NIGHT.timestamp()) for r in records)
    for (kind, ns, name), (spec, ours) in cluster_state(recovered.cluster).items():
        if kind in ("Deployment", "StatefulSet"):
            assert spec == 0 and ours["namespace-ctl.io/original-replicas"] == str(
                originals[(kind, ns, name)][0]
            )
    assert recovered.service.reconcile(at=MORNING).ok
    assert cluster_state(recovered.cluster) == originals


def test_sigkill_between_claim_and_wake_leaks_no_slot(fake: FakeKube, tmp_path: Path) -> None:
    """A real `activate` process killed after claiming its cap slot, before waking anything:
    the reconcile pass finishes the activation after the grace period; nothing leaks."""
    h = _harness(fake, tmp_path)
    assert h.service.shutdown(at=NIGHT).ok
    config = _write_config(tmp_path, fake)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["cost_centers"] = [{"cost_center": "CC-ALL", "authorized_namespaces": ["*"]}]
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    fake.reset_counters()
    fake.latency = 0.3  # the wake's inventory read after the claim takes > 1 s
    late = madrid(2026, 12, 1, 22)
    proc = _spawn_cli(
        config,
        late,
        "activate",
        "beta",
        "--cost-center",
        "CC-ALL",
        "--user",
        "ana",
        "--reason",
        "deploy",
    )
    deadline = time.monotonic() + 60
    while h.store.get_slot("beta") is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    fake.latency = 0.0
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert _patches(fake) == 0  # died after the claim, before any wake
    slot = h.store.get_slot("beta")
    assert slot is not None and slot.state.value == "claimed"

    h.activation.reconcile(at=madrid(2026, 12, 1, 22, 1))  # within the grace: a live process may
    assert h.store.get_slot("beta").state.value == "claimed"  # type: ignore[union-attr]
    chores, _ = h.activation.reconcile(at=madrid(2026, 12, 1, 22, 5))
    assert [s.namespace for s in chores.repaired] == ["beta"]
    assert cluster_state(h.cluster)[("Deployment", "beta", "api")][0] == 3
    record = h.store.get_record("beta", int(late.timestamp()), OperationType.MANUAL_ACTIVATION)
    assert record is not None and record.user_id == "ana" and record.cost_center == "CC-ALL"
    h.activation.reconcile(at=madrid(2026, 12, 2, 0, 5))  # the 2 h window is over
    assert h.store.list_slots() == []
    assert cluster_state(h.cluster)[("Deployment", "beta", "api")][0] == 0
