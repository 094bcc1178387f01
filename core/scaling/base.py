"""The strategy interface and the annotations namespace-ctl writes (DESIGN.md, Behaviour)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.cluster.base import WorkloadObject
from core.models import OutcomeStatus, WorkloadKind, WorkloadSnapshot

ANNOTATION_PREFIX = "namespace-ctl.io/"
ORIGINAL_REPLICAS = "namespace-ctl.io/original-replicas"
ORIGINAL_NODE_SELECTOR = "namespace-ctl.io/original-node-selector"
ORIGINAL_SUSPEND = "namespace-ctl.io/original-suspend"
SLEEPING_NODE_LABEL = "namespace-ctl.io/sleeping"
EXCLUDE_ANNOTATION = "namespace-ctl.io/exclude"


@dataclass(frozen=True)
class Plan:
    """What to do to one workload.

    status: CHANGED (apply `patch`), DRIFT (apply `patch`: it was scaled up while asleep),
    UNCHANGED (already in the wanted state, `patch` is None), FAILED (cannot be done safely,
    e.g. a garbage annotation; `patch` is None and `detail` says what to fix).
    A patch is a strategic-merge body that carries the change and the annotation together and
    `metadata.resourceVersion` of the object it was computed from (a precondition).
    """

    status: OutcomeStatus
    patch: dict[str, Any] | None
    detail: str


class WorkloadStrategy(Protocol):
    kind: WorkloadKind

    def plan_sleep(self, obj: WorkloadObject) -> Plan: ...

    def plan_wake(self, obj: WorkloadObject) -> Plan: ...

    def is_sleeping(self, obj: WorkloadObject) -> bool:
        """True when the object carries our original-state annotation."""
        ...

    def snapshot(self, obj: WorkloadObject) -> WorkloadSnapshot:
        """Replicas it runs when awake (from the annotation if asleep) and requests per replica."""
        ...

    def readiness(self, obj: WorkloadObject) -> Readiness | None:
        """After a wake: how many of its pods are ready of how many it wants, from the object's
        status (None: a kind with nothing to wait for, a CronJob)."""
        ...


@dataclass(frozen=True)
class Readiness:
    ready: int
    wanted: int
    # The controller has not seen the latest spec yet (status.observedGeneration behind
    # metadata.generation): its counts are about the object before our patch.
    stale: bool = False

    @property
    def done(self) -> bool:
        return not self.stale and self.ready >= self.wanted


def observed_stale(obj: WorkloadObject) -> bool:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    return isinstance(generation, int) and isinstance(observed, int) and observed < generation


def status_count(obj: WorkloadObject, field: str) -> int:
    value = (obj.get("status") or {}).get(field)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
