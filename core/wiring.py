"""Builds the use cases from a configuration: the one place adapters are chosen."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from core.activation import ActivationService
from core.app import NamespaceCtl
from core.calendar import BusinessCalendar
from core.clock import Clock
from core.cluster.base import Cluster
from core.config import ClusterSettings, Config
from core.costs import Rates
from core.errors import ConfigError
from core.inventory import Exclusions, own_namespace
from core.leader import LeaderElector, LeaseElection, holder_identity, lease_namespace
from core.prewake import WakePlan
from core.service import NamespaceService
from core.store.factory import open_store
from core.worker import ForwardedRead, PassName, PassWorker


def open_cluster(settings: ClusterSettings) -> Cluster:
    if settings.simulated:
        from core.cluster.simulated import SimulatedCluster

        return SimulatedCluster.from_manifests(
            [settings.simulated],
            state_path=settings.simulated_state,
            concurrency=settings.concurrency,
        )
    from core.cluster.kube import KubeCluster

    return KubeCluster(settings)


def build_service(config: Config, clock: Clock, cluster: Cluster | None = None) -> NamespaceService:
    # The calendar first: it finishes validating the config (holiday codes) before any I/O.
    calendar = BusinessCalendar.from_config(config)
    cluster = cluster or open_cluster(config.cluster)
    store = open_store(config.store)
    plan = WakePlan(config.wake, calendar, store)
    return NamespaceService(
        cluster=cluster,
        store=store,
        calendar=calendar,
        exclusions=Exclusions.build(config.exclude_namespaces, own_namespace()),
        clock=clock,
        rates=Rates.from_config(config.costs),
        wake_plan=plan if plan.enabled else None,
        events=config.cluster.events,
    )


def build_activation(
    config: Config, clock: Clock, cluster: Cluster | None = None
) -> ActivationService:
    """Every use case: the schedule's and the activations'; cost centers seeded from the config
    (rows already in the store are kept: an admin's change outlives a restart)."""
    activation = ActivationService(namespaces=build_service(config, clock, cluster), config=config)
    activation.seed_cost_centers(clock.now())
    return activation


def build_app(config: Config, clock: Clock, cluster: Cluster | None = None) -> NamespaceCtl:
    """The front every adapter calls (see `core.app`)."""
    return NamespaceCtl(build_activation(config, clock, cluster))


def build_elector(config: Config, ctl: NamespaceCtl) -> LeaderElector:
    """The Lease election of `leader_election`, on the service's Kubernetes client."""
    settings = config.leader_election
    lease = getattr(ctl.services.namespaces.cluster, "lease", None)
    if lease is None:
        raise ConfigError("leader_election.enabled needs a Kubernetes cluster for its Lease")
    # One request may not outlast half the renew deadline: the loop must get another try.
    timeout = max(0.5, settings.renew_deadline.total_seconds() / 2)
    lock = lease(lease_namespace(settings), settings.name, timeout)
    return LeaderElector(LeaseElection(lock, holder_identity(), settings))


def run_passes_in_worker(ctl: NamespaceCtl, config: Config) -> None:
    """`serve`'s passes in a worker process (core.worker), its front built by `pass_handler`
    over the same configuration and product clock (the offset of `--now`)."""
    service = ctl.services.namespaces
    offset = service.clock.now() - datetime.now(UTC)
    factory = functools.partial(pass_handler, config, offset)
    ctl.schedule.use_worker(PassWorker(factory, service.last_read, service.outbox.tell_posted))


class _WorkerFront:
    """The worker process's handler: the front, its reads and notices sent to the parent."""

    def __init__(self, ctl: NamespaceCtl) -> None:
        self.ctl = ctl

    def handle(self, name: PassName, at: datetime, args: tuple[Any, ...]) -> Any:
        return self.ctl.schedule.handle(name, at, args)

    def close(self) -> None:
        self.ctl.close()


def pass_handler(config: Config, offset: timedelta, reads: ForwardedRead) -> _WorkerFront:
    """In the worker process: the front over `config`, on the parent's product clock."""
    ctl = build_app(config, Clock(datetime.now(UTC) + offset))
    services = ctl.services.namespaces
    services.forward_reads(reads)
    services.wakes.active = False  # the serving process follows what the passes woke
    services.outbox.on_post(lambda notice: reads.send("posted", notice))
    return _WorkerFront(ctl)
