"""One read of the cluster: namespaces, their workloads, and which namespaces are ours to touch."""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from core.cluster.base import Cluster, NamespaceInfo, WorkloadObject
from core.models import WorkloadKind
from core.scaling.base import EXCLUDE_ANNOTATION
from core.scaling.registry import strategy_for

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace() -> str:
    """The namespace namespace-ctl itself runs in (never put to sleep)."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip()
    except OSError:
        return "namespace-ctl"


@dataclass(frozen=True)
class Exclusions:
    patterns: tuple[str, ...]

    @classmethod
    def build(cls, configured: list[str], own: str) -> Exclusions:
        return cls(patterns=(*SYSTEM_NAMESPACES, own, *configured))

    def reason(self, namespace: NamespaceInfo) -> str | None:
        """Why `namespace` is excluded, or None when it is ours to put to sleep."""
        for pattern in self.patterns:
            if fnmatch.fnmatchcase(namespace.name, pattern):
                return f"excluded by {pattern!r}"
        if namespace.annotations.get(EXCLUDE_ANNOTATION, "").lower() == "true":
            return f"annotated {EXCLUDE_ANNOTATION}=true"
        return None


@dataclass
class NamespaceView:
    info: NamespaceInfo
    excluded_reason: str | None
    workloads: list[tuple[WorkloadKind, WorkloadObject]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def managed(self) -> bool:
        return self.excluded_reason is None

    def sleeping_workloads(self) -> list[tuple[WorkloadKind, WorkloadObject]]:
        return [(k, o) for k, o in self.workloads if strategy_for(k).is_sleeping(o)]


@dataclass
class Inventory:
    namespaces: dict[str, NamespaceView]

    def managed(self) -> list[NamespaceView]:
        return [view for view in self.namespaces.values() if view.managed]


class SharedRead:
    """Concurrent callers share one inventory read (single flight): ten `status` commands at once
    list the cluster once, not ten times. A caller gets a read that was in flight when it asked,
    never one older than that; nothing is cached after the read completes."""

    def __init__(self, read: Callable[[], Inventory]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._pending: Future[Inventory] | None = None

    def __call__(self) -> Inventory:
        with self._lock:
            pending, leader = self._pending, self._pending is None
            if pending is None:
                pending = self._pending = Future()
        if not leader:
            return pending.result()
        try:
            inventory = self._read()
            pending.set_result(inventory)
            return inventory
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._pending = None


def read_inventory(cluster: Cluster, exclusions: Exclusions) -> Inventory:
    """List namespaces and every workload kind cluster-wide (one paginated list per kind)."""
    views = {
        info.name: NamespaceView(info=info, excluded_reason=exclusions.reason(info))
        for info in cluster.list_namespaces()
    }
    for kind in WorkloadKind:
        for obj in cluster.list_workloads(kind):
            view = views.get((obj.get("metadata") or {}).get("namespace", ""))
            if view is not None:  # a namespace created after the namespace list: next pass
                view.workloads.append((kind, obj))
    return Inventory(namespaces=dict(sorted(views.items())))
