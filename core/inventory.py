"""One read of the cluster: namespaces, their workloads, and which namespaces are ours to touch."""

from __future__ import annotations

import fnmatch
import os
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from core.cluster.base import Cluster, NamespaceInfo, WorkloadObject
from core.costs import Footprint, footprint
from core.models import OutcomeStatus, WorkloadKind, WorkloadSnapshot
from core.scaling.base import EXCLUDE_ANNOTATION
from core.scaling.registry import strategy_for

K = TypeVar("K")
V = TypeVar("V")
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


Workloads = list[tuple[WorkloadKind, WorkloadObject]]


class NamespaceView:
    """A namespace and its workloads as one read found them.

    A packed view (`packed()`, what `serve` keeps of the pass worker's read) holds its workloads
    as one pickled blob and its facts worked out: a read of 10,000 workloads kept as about
    165,000 nested dicts and lists made each full collection of the serving process walk them
    all (about 170 ms, collecting nothing) while Slack waited for its acks. Its `workloads` is
    a new list at each call; a view's workloads are never changed after the read anyway (the
    last read replaces the whole view when our patch changes one)."""

    __slots__ = ("_facts", "_snapshots", "_workloads", "excluded_reason", "info")

    def __init__(
        self, info: NamespaceInfo, excluded_reason: str | None, workloads: Workloads | None = None
    ) -> None:
        self.info = info
        self.excluded_reason = excluded_reason
        self._workloads: Workloads | bytes = [] if workloads is None else workloads
        self._facts: ViewFacts | None = None
        self._snapshots: list[WorkloadSnapshot] | None = None

    def __repr__(self) -> str:
        # Never the facts: working them out here would cache them for a view still being read.
        return f"NamespaceView({self.name!r}, packed={self.is_packed})"

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def managed(self) -> bool:
        return self.excluded_reason is None

    @property
    def is_packed(self) -> bool:
        return isinstance(self._workloads, bytes)

    @property
    def facts_known(self) -> bool:
        """Are the facts worked out already (a packed view's always are)?"""
        return self._facts is not None

    @property
    def workloads(self) -> Workloads:
        if isinstance(self._workloads, bytes):
            unpacked: Workloads = pickle.loads(self._workloads)
            return unpacked
        return self._workloads

    @property
    def workload_count(self) -> int:
        return self.facts.workloads

    def own_copy(self) -> NamespaceView:
        """A view with its own workload list, and the facts already worked out (if any); a
        packed view is never changed, so it is its own copy."""
        if self.is_packed:
            return self
        twin = self.with_workloads(list(self.workloads))
        twin._facts, twin._snapshots = self._facts, self._snapshots
        return twin

    def with_workloads(self, workloads: Workloads) -> NamespaceView:
        """The same namespace with other workloads (its facts worked out again)."""
        return NamespaceView(self.info, self.excluded_reason, workloads)

    def packed(self) -> NamespaceView:
        """This view with its workloads in one blob and its facts worked out."""
        if self.is_packed:
            return self
        twin = NamespaceView(self.info, self.excluded_reason)
        twin._workloads = pickle.dumps(self._workloads, protocol=pickle.HIGHEST_PROTOCOL)
        twin._facts = self.facts
        return twin

    def sleeping_workloads(self) -> Workloads:
        return [(k, o) for k, o in self.workloads if strategy_for(k).is_sleeping(o)]

    @property
    def snapshots(self) -> list[WorkloadSnapshot]:
        """Each workload's snapshot (a packed view works them out at each call)."""
        if self._snapshots is not None:
            return self._snapshots
        snapshots = [strategy_for(kind).snapshot(obj) for kind, obj in self.workloads]
        if not self.is_packed:
            self._snapshots = snapshots
        return snapshots

    @property
    def facts(self) -> ViewFacts:
        """What status shows of the workloads, worked out once per view: `serve` answers many
        requests from one read."""
        if self._facts is None:
            workloads = self.workloads
            running = sum(
                1
                for kind, obj in workloads
                if strategy_for(kind).plan_sleep(obj).status is not OutcomeStatus.UNCHANGED
            )
            self._facts = ViewFacts(
                workloads=len(workloads),
                sleeping=len(self.sleeping_workloads()),
                running=running,
                footprint=footprint(self.snapshots),
            )
        return self._facts


@dataclass(frozen=True)
class ViewFacts:
    workloads: int  # how many
    sleeping: int  # workloads asleep
    running: int  # workloads a sleep would change
    footprint: Footprint  # what they request awake


@dataclass
class Inventory:
    namespaces: dict[str, NamespaceView]

    def managed(self) -> list[NamespaceView]:
        return [view for view in self.namespaces.values() if view.managed]


class SingleFlight(Generic[K, V]):
    """Concurrent callers with the same key share one call: ten `status` commands at once work
    out one answer, not ten. A caller gets an answer that was in flight when it asked, never
    one older than that; nothing is kept after the call completes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[K, Future[V]] = {}
        self.joined = 0  # callers that shared another's call

    def __call__(self, key: K, call: Callable[[], V]) -> V:
        with self._lock:
            pending = self._pending.get(key)
            leader = pending is None
            if pending is None:
                pending = self._pending[key] = Future()
            else:
                self.joined += 1
        if not leader:
            return pending.result()
        try:
            value = call()
            pending.set_result(value)
            return value
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._pending[key]


class SharedRead:
    """Concurrent callers share one inventory read (`SingleFlight`): ten `status` commands at
    once list the cluster once."""

    def __init__(self, read: Callable[[], Inventory]) -> None:
        self._read = read
        self._flight: SingleFlight[None, Inventory] = SingleFlight()

    def __call__(self) -> Inventory:
        return self._flight(None, self._read)


def read_inventory(cluster: Cluster, exclusions: Exclusions) -> Inventory:
    """List namespaces and every workload kind cluster-wide (one paginated list per kind), the
    five lists at once: before the first patch of a mass pass, their round trips add up."""
    kinds = list(WorkloadKind)
    with ThreadPoolExecutor(max_workers=1 + len(kinds), thread_name_prefix="list") as pool:
        listed = [pool.submit(cluster.list_workloads, kind) for kind in kinds]
        namespaces = cluster.list_namespaces()
        workloads = [future.result() for future in listed]
    views = {
        info.name: NamespaceView(info=info, excluded_reason=exclusions.reason(info))
        for info in namespaces
    }
    for kind, objects in zip(kinds, workloads, strict=True):
        for obj in objects:
            view = views.get((obj.get("metadata") or {}).get("namespace", ""))
            if view is not None:  # a namespace created after the namespace list: next pass
                view.workloads.append((kind, obj))
    return Inventory(namespaces=dict(sorted(views.items())))


# What status reads of a workload (core.scaling): the rest of a pod template (env, volumes,
# probes), `managedFields` and kubectl's copy of the whole object stay behind when a read is
# handed to another process.
POD_SPEC_PATHS = (("spec", "template", "spec"), ("spec", "jobTemplate", "spec", "template", "spec"))
POD_SPEC_KEPT = ("nodeSelector", "overhead")
CONTAINER_KEPT = ("name", "resources", "restartPolicy")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def compact(obj: WorkloadObject) -> WorkloadObject:
    """`obj` without what no strategy reads: the same snapshot, sleeping state and plans
    (tests/test_worker.py checks it per kind), a fraction of the bytes."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k != "managedFields"}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            meta["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
        out["metadata"] = meta
    for path in POD_SPEC_PATHS:
        out = _replaced(out, path, _compact_pod_spec)
    return out


def _replaced(obj: dict[str, Any], path: tuple[str, ...], change: Callable[[Any], Any]) -> Any:
    """A copy of `obj` with the value at `path` changed (copies along the path only)."""
    head, *rest = path
    value = obj.get(head)
    if not isinstance(value, dict):
        return obj
    return {**obj, head: _replaced(value, tuple(rest), change) if rest else change(value)}


def _compact_pod_spec(pod_spec: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {k: pod_spec[k] for k in POD_SPEC_KEPT if k in pod_spec}
    for key in ("containers", "initContainers"):
        containers = pod_spec.get(key)
        if isinstance(containers, list):
            kept[key] = [_compact_container(c) for c in containers]
        elif key in pod_spec:
            kept[key] = containers
    return kept


def _compact_container(container: Any) -> Any:
    if not isinstance(container, dict):
        return container
    return {k: container[k] for k in CONTAINER_KEPT if k in container}


def compact_view(view: NamespaceView) -> NamespaceView:
    return NamespaceView(
        info=view.info,
        excluded_reason=view.excluded_reason,
        workloads=[(kind, compact(obj)) for kind, obj in view.workloads],
    )


class LastRead:
    """What the last pass read of the cluster, kept current with the objects our own patches
    stored since: what `serve` answers status from (a page load or a scrape never lists the
    cluster). A change made by someone else shows at the next pass (the reconcile, every few
    minutes). Thread-safe; it keeps its own copy of each view's workload list, so a pass that
    is still using the views it read sees no change under it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inventory: Inventory | None = None
        self.read_at: int | None = None

    def remember(self, inventory: Inventory, read_at: int) -> None:
        copy = Inventory(
            namespaces={name: view.own_copy() for name, view in inventory.namespaces.items()}
        )
        with self._lock:
            self._inventory, self.read_at = copy, read_at

    def patched(self, kind: WorkloadKind, obj: WorkloadObject) -> None:
        """Put the object the API server answered our patch with in place of the one read."""
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        with self._lock:
            inventory = self._inventory
            view = inventory.namespaces.get(meta.get("namespace", "")) if inventory else None
            if inventory is None or view is None:
                return
            workloads = list(view.workloads)
            for index, (known_kind, known) in enumerate(workloads):
                if known_kind is kind and (known.get("metadata") or {}).get("name") == name:
                    workloads[index] = (kind, obj)
                    # A new view, whose facts are worked out again; a reader keeps the old one.
                    twin = view.with_workloads(workloads)
                    inventory.namespaces[view.name] = twin.packed() if view.is_packed else twin
                    return

    def replace_views(self, views: dict[str, NamespaceView]) -> None:
        """Views our patches changed, as another process of ours (the pass worker) sends them."""
        with self._lock:
            if self._inventory is not None:
                self._inventory.namespaces.update(views)

    def latest(self) -> tuple[Inventory, int] | None:
        with self._lock:
            if self._inventory is None or self.read_at is None:
                return None
            return self._inventory, self.read_at
