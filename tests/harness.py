"""A namespace-ctl assembled for tests: real use cases over a given cluster and a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.activation import ActivationService
from core.app import NamespaceCtl
from core.calendar import BusinessCalendar
from core.clock import FrozenClock
from core.cluster.base import Cluster
from core.cluster.kube import KubeCluster
from core.cluster.simulated import SimulatedCluster
from core.config import ClusterSettings, Config
from core.inventory import Exclusions
from core.models import WorkloadKind
from core.notices import Outbox
from core.prewake import WakePlan
from core.service import NamespaceService
from core.store.base import Store
from core.store.sqlite import SqliteStore
from tests.builders import Obj, our_annotations, spec_state, write_manifests
from tests.fake_kube import FakeKube

MADRID = ZoneInfo("Europe/Madrid")

TEST_CONFIG: dict[str, Any] = {
    "timezone": "Europe/Madrid",
    "holidays": {"country": "ES"},
    "exclude_namespaces": ["monitoring"],
    "cost_centers": [
        {
            "cost_center": "CC-PAY",
            "max_concurrent_namespaces": 2,
            "authorized_namespaces": ["pay*"],
        },
        {"cost_center": "CC-ALL", "authorized_namespaces": ["*"]},
        {"cost_center": "CC-OFF", "is_authorized": False, "authorized_namespaces": ["*"]},
    ],
    "slack": {"admins": ["admin"], "approvers": {"CC-PAY": ["lead"], "CC-ALL": ["lead", "boss"]}},
}

Key = tuple[str, str, str]


def madrid(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


@dataclass
class Harness:
    cluster: Cluster
    store: Store
    service: NamespaceService
    clock: FrozenClock
    config: Config
    activation: ActivationService

    @property
    def ctl(self) -> NamespaceCtl:
        """The front the adapters call, over these use cases."""
        return NamespaceCtl(self.activation)

    @property
    def outbox(self) -> Outbox:
        """The notices the use cases posted (what a notifier delivers)."""
        return self.service.outbox

    def state(self) -> dict[Key, tuple[Any, dict[str, str]]]:
        """Every workload's sleep-relevant spec and our annotations."""
        return cluster_state(self.cluster)

    def specs(self) -> dict[Key, Any]:
        return {key: spec for key, (spec, _) in self.state().items()}


def cluster_state(cluster: Cluster) -> dict[Key, tuple[Any, dict[str, str]]]:
    state = {}
    for kind in WorkloadKind:
        for obj in cluster.list_workloads(kind):
            meta = obj["metadata"]
            state[(kind.value, meta["namespace"], meta["name"])] = (
                spec_state(obj),
                our_annotations(obj),
            )
    return state


def make_service(
    cluster: Cluster, store: Store, clock: FrozenClock, config: Config
) -> NamespaceService:
    calendar = BusinessCalendar.from_config(config)
    plan = WakePlan(config.wake, calendar, store)
    return NamespaceService(
        cluster=cluster,
        store=store,
        calendar=calendar,
        exclusions=Exclusions.build(config.exclude_namespaces, "namespace-ctl"),
        clock=clock,
        wake_plan=plan if plan.enabled else None,
    )


def make_harness(
    tmp_path: Path,
    objects: list[Obj],
    at: datetime | None = None,
    cluster: Cluster | None = None,
    store: Store | None = None,
    **config: Any,
) -> Harness:
    cfg = Config.model_validate(TEST_CONFIG | config)
    if cluster is None:
        manifests = write_manifests(tmp_path / "cluster.yaml", objects)
        cluster = SimulatedCluster.from_manifests([str(manifests)])
    store = store or SqliteStore(str(tmp_path / "audit.db"))
    clock = FrozenClock(at or madrid(2026, 12, 1, 12))
    service = make_service(cluster, store, clock, cfg)
    activation = ActivationService(namespaces=service, config=cfg)
    activation.seed_cost_centers(clock.now())
    return Harness(cluster, store, service, clock, cfg, activation)


@contextmanager
def kube_harness(
    fake: FakeKube, tmp_path: Path, at: datetime, retries: int = 0, **config: Any
) -> Iterator[Harness]:
    """A harness over the fake API server through the real client (closed afterwards)."""
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = KubeCluster(ClusterSettings(kubeconfig=str(kubeconfig), retries=retries))
    try:
        yield make_harness(tmp_path, [], at=at, cluster=cluster, **config)
    finally:
        cluster.close()
