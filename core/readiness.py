"""Verified wake-ups: after a wake, follow the woken workloads until their pods are ready.

A wake is not done when its patches succeed: an image that cannot be pulled, a crash loop or no
node with room leaves the namespace down in the morning. `WakeFollower` keeps, per woken
namespace, the workloads to wait for and a deadline (`wake.ready_timeout`); each check
(`assess`) reads the cluster with one cluster-wide list per kind it waits for (never a read per
workload), and, only for a namespace still not ready at its deadline, that namespace's pods, to
say why. `settle` turns a check into what happened: namespaces ready (and how long they took),
namespaces not ready at their deadline (each told once), wakes whose every namespace settled
(one summary each).

The follower lives in the process that answers status (`serve`); the reads can run anywhere
(the pass worker), since `assess` only needs the list of what is waking.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from core.cluster.base import Cluster, WorkloadObject, ref_of
from core.models import (
    Action,
    OperationResult,
    OutcomeStatus,
    WorkloadKind,
    WorkloadOutcome,
    WorkloadRef,
)
from core.scaling.registry import strategy_for

# The wake of one activation: its requester is told; no channel summary of a wake of one.
ACTIVATION_WAKE = "activation of"
# A namespace not ready at its deadline is still watched this long (it may come up later:
# its gauge and status then clear), then forgotten.
KEEP_NOT_READY = timedelta(hours=1)


@dataclass(frozen=True)
class Waking:
    """One woken namespace being followed."""

    namespace: str
    wake: str  # which wake it belongs to ("startup at ..."): one summary per wake
    woken_at: int
    deadline: int
    workloads: tuple[WorkloadRef, ...]
    requester: str = ""  # an activation's: told when the namespace is ready
    ready: int = 0  # workloads ready at the last check
    told_not_ready: bool = False

    @property
    def total(self) -> int:
        return len(self.workloads)


@dataclass(frozen=True)
class WorkloadCheck:
    ref: WorkloadRef
    ready: int
    wanted: int
    done: bool
    why: str = ""  # from its pods, when not done at the deadline

    def describe(self) -> str:
        text = f"{self.ref.kind.value}/{self.ref.name} {self.ready}/{self.wanted} ready"
        return text + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class NamespaceCheck:
    namespace: str
    workloads: tuple[WorkloadCheck, ...]

    @property
    def done(self) -> bool:
        return all(w.done for w in self.workloads)

    @property
    def ready_count(self) -> int:
        return sum(1 for w in self.workloads if w.done)

    def not_ready(self) -> list[WorkloadCheck]:
        return [w for w in self.workloads if not w.done]


@dataclass
class Settled:
    """What one check settled."""

    at: int
    ready: list[tuple[Waking, int]] = field(default_factory=list)  # (namespace, seconds)
    not_ready: list[tuple[Waking, NamespaceCheck]] = field(default_factory=list)
    wakes_done: list[WakeSummary] = field(default_factory=list)


@dataclass(frozen=True)
class WakeSummary:
    """A wake whose every namespace is ready or past its deadline."""

    wake: str
    woken_at: int
    total: int
    ready: int
    last_ready_at: int | None
    not_ready: tuple[tuple[str, tuple[str, ...]], ...]  # (namespace, workload descriptions)


# ---- the follower's state ---------------------------------------------------------------------


class WakeFollower:
    """The namespaces being followed (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = True  # False: follows nothing (the pass worker: `serve` follows)
        self._waking: dict[str, Waking] = {}
        # Per wake: when it woke, and each namespace's outcome (name, ready at, why not).
        self._wakes: dict[str, tuple[int, list[tuple[str, int | None, tuple[str, ...]]]]] = {}

    def register(self, result: OperationResult, timeout: timedelta) -> list[Waking]:
        """Follow every namespace a pass woke (its changed workloads that have pods)."""
        if result.dry_run:
            return []
        woken = [
            (ns.namespace, ns.outcomes) for ns in result.namespaces if ns.action is Action.WAKE
        ]
        return self.follow(woken, result.at, timeout, f"{result.operation} at {result.at}")

    def follow(
        self,
        woken: Iterable[tuple[str, Sequence[WorkloadOutcome]]],
        at: int,
        timeout: timedelta,
        wake: str,
        requester: str = "",
    ) -> list[Waking]:
        if not self.active:
            return []
        added = [
            Waking(
                namespace=namespace,
                wake=wake,
                woken_at=at,
                deadline=at + int(timeout.total_seconds()),
                workloads=refs,
                requester=requester,
            )
            for namespace, outcomes in woken
            if (refs := _followed(outcomes))
        ]
        with self._lock:
            for waking in added:
                self._waking[waking.namespace] = waking
                self._wakes.setdefault(waking.wake, (waking.woken_at, []))
        return added

    def waking(self) -> list[Waking]:
        with self._lock:
            return list(self._waking.values())

    def progress(self) -> dict[str, Waking]:
        """For status: each followed namespace, with its count at the last check."""
        with self._lock:
            return dict(self._waking)

    def not_ready_count(self) -> int:
        with self._lock:
            return sum(1 for w in self._waking.values() if w.told_not_ready)

    def forget(self, namespaces: Iterable[str]) -> None:
        """Stop following (e.g. put to sleep again)."""
        with self._lock:
            for name in namespaces:
                self._waking.pop(name, None)

    def settle(self, checks: Mapping[str, NamespaceCheck], at: int) -> Settled:
        settled = Settled(at=at)
        with self._lock:
            for name, waking in list(self._waking.items()):
                check = checks.get(name)
                if check is None:
                    continue
                self._settle_one(waking, check, settled)
            settled.wakes_done = self._finished_wakes()
        return settled

    def _settle_one(self, waking: Waking, check: NamespaceCheck, settled: Settled) -> None:
        name = waking.namespace
        if check.done:
            del self._waking[name]
            if not waking.told_not_ready:
                settled.ready.append((waking, settled.at - waking.woken_at))
                self._outcome(waking, settled.at, ())
            return
        if settled.at >= waking.deadline and not waking.told_not_ready:
            settled.not_ready.append((waking, check))
            self._outcome(waking, None, tuple(w.describe() for w in check.not_ready()))
            self._waking[name] = replace(waking, ready=check.ready_count, told_not_ready=True)
        elif settled.at >= waking.deadline + KEEP_NOT_READY.total_seconds():
            del self._waking[name]
        else:
            self._waking[name] = replace(waking, ready=check.ready_count)

    def _outcome(self, waking: Waking, ready_at: int | None, why: tuple[str, ...]) -> None:
        tally = self._wakes.setdefault(waking.wake, (waking.woken_at, []))
        tally[1].append((waking.namespace, ready_at, why))

    def _finished_wakes(self) -> list[WakeSummary]:
        """Wakes with no namespace left to settle (a not-ready one counts as settled)."""
        pending = {w.wake for w in self._waking.values() if not w.told_not_ready}
        done = []
        for wake, (woken_at, outcomes) in list(self._wakes.items()):
            if wake in pending or not outcomes:
                continue
            del self._wakes[wake]
            ready_times = [at for _, at, _ in outcomes if at is not None]
            done.append(
                WakeSummary(
                    wake=wake,
                    woken_at=woken_at,
                    total=len(outcomes),
                    ready=len(ready_times),
                    last_ready_at=max(ready_times, default=None),
                    not_ready=tuple((ns, why) for ns, at, why in outcomes if at is None),
                )
            )
        return done


def _followed(outcomes: Sequence[WorkloadOutcome]) -> tuple[WorkloadRef, ...]:
    kinds = ready_kinds()
    return tuple(
        o.ref for o in outcomes if o.status is OutcomeStatus.CHANGED and o.ref.kind in kinds
    )


# ---- the cluster reads ------------------------------------------------------------------------


def assess(cluster: Cluster, waking: Sequence[Waking], at: int) -> dict[str, NamespaceCheck]:
    """One check: a cluster-wide list per kind waited for; the pods of a namespace only when it
    is at (or past) its deadline and not ready, to say why."""
    kinds = sorted({ref.kind for w in waking for ref in w.workloads}, key=lambda k: k.value)
    objects: dict[WorkloadRef, WorkloadObject] = {}
    for kind in kinds:
        for obj in cluster.list_workloads(kind):
            objects[ref_of(kind, obj)] = obj
    checks = {}
    for item in waking:
        check = _check(item, objects)
        if not check.done and at >= item.deadline:
            check = _explained(check, cluster.list_pods(item.namespace), objects)
        checks[item.namespace] = check
    return checks


def _check(waking: Waking, objects: Mapping[WorkloadRef, WorkloadObject]) -> NamespaceCheck:
    rows = []
    for ref in waking.workloads:
        obj = objects.get(ref)
        if obj is None:  # deleted since the wake: nothing to wait for
            rows.append(WorkloadCheck(ref, 0, 0, True, "gone"))
            continue
        readiness = strategy_for(ref.kind).readiness(obj)
        if readiness is None:
            continue
        rows.append(WorkloadCheck(ref, readiness.ready, readiness.wanted, readiness.done))
    return NamespaceCheck(waking.namespace, tuple(rows))


def _explained(
    check: NamespaceCheck,
    pods: list[dict[str, Any]],
    objects: Mapping[WorkloadRef, WorkloadObject],
) -> NamespaceCheck:
    rows = []
    for row in check.workloads:
        if row.done:
            rows.append(row)
            continue
        selector = _match_labels(objects.get(row.ref) or {})
        mine = [p for p in pods if selector and _labels_match(p, selector)]
        rows.append(replace(row, why=pod_trouble(mine)))
    return NamespaceCheck(check.namespace, tuple(rows))


def _match_labels(obj: WorkloadObject) -> dict[str, str]:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels")
    return dict(labels) if isinstance(labels, dict) else {}


def _labels_match(pod: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_trouble(pods: list[dict[str, Any]]) -> str:
    """Why a workload's pods are not ready, in the words `kubectl get pods` uses: a container's
    waiting reason (ImagePullBackOff, CrashLoopBackOff), `Pending: <scheduler message>`, or
    `no pods` when none exist yet."""
    reasons: dict[str, int] = {}
    for pod in pods:
        reason = _one_pod(pod)
        if reason:
            reasons[reason] = reasons.get(reason, 0) + 1
    if not pods:
        return "no pods"
    if not reasons:
        return "pods not ready"
    return "; ".join(sorted(reasons, key=lambda r: -reasons[r]))


def _one_pod(pod: dict[str, Any]) -> str:
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = str(condition.get("message") or condition.get("reason") or "unschedulable")
            return f"Pending: {message}"
    for container in status.get("containerStatuses") or []:
        if container.get("ready"):
            continue
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    if status.get("phase") == "Pending":
        return "Pending"
    return ""


@functools.cache
def ready_kinds() -> frozenset[WorkloadKind]:
    """The kinds a wake waits for: those whose strategy has a readiness (not CronJobs)."""
    return frozenset(k for k in WorkloadKind if strategy_for(k).readiness({}) is not None)
