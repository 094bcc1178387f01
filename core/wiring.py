"""Builds the use cases from a configuration: the one place adapters are chosen."""

from __future__ import annotations

from core.activation import ActivationService
from core.calendar import BusinessCalendar
from core.clock import Clock
from core.cluster.base import Cluster
from core.config import ClusterSettings, Config
from core.costs import Rates
from core.inventory import Exclusions, own_namespace
from core.service import NamespaceService
from core.store.factory import open_store


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
    return NamespaceService(
        cluster=cluster,
        store=open_store(config.store),
        calendar=calendar,
        exclusions=Exclusions.build(config.exclude_namespaces, own_namespace()),
        clock=clock,
        rates=Rates.from_config(config.costs),
    )


def build_activation(
    config: Config, clock: Clock, cluster: Cluster | None = None
) -> ActivationService:
    """Every use case: the schedule's and the activations'; cost centers seeded from the config
    (rows already in the store are kept: an admin's change outlives a restart)."""
    activation = ActivationService(namespaces=build_service(config, clock, cluster), config=config)
    activation.seed_cost_centers(clock.now())
    return activation
