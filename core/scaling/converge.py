"""Drives workloads to sleep or wake with bounded concurrency: one PATCH per workload.

A conflict (the object changed since it was listed) re-reads the object and recomputes the patch,
so a concurrent edit is never overwritten blindly. Transport retries (429/5xx/timeouts) live in
the cluster adapter; this layer only sees their final outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from core.cluster.base import Cluster, WorkloadObject, ref_of
from core.errors import ClusterError, ConflictError, ForbiddenError, NotFoundError
from core.models import Action, OutcomeStatus, WorkloadKind, WorkloadOutcome, WorkloadRef
from core.scaling.base import Plan
from core.scaling.registry import strategy_for

MAX_CONFLICT_RETRIES = 5

Item = tuple[WorkloadKind, WorkloadObject]
Patched = Callable[[WorkloadKind, WorkloadObject], None]


def plan_for(action: Action, kind: WorkloadKind, obj: WorkloadObject) -> Plan:
    strategy = strategy_for(kind)
    return strategy.plan_sleep(obj) if action is Action.SLEEP else strategy.plan_wake(obj)


def converge(
    cluster: Cluster,
    items: Sequence[Item],
    action: Action,
    dry_run: bool = False,
    patched: Patched | None = None,
) -> list[WorkloadOutcome]:
    """Apply `action` to every item; outcomes come back in the order of `items`. `patched`
    hears of every object as the API server stored it after our patch."""
    if not items:
        return []
    workers = max(1, min(cluster.concurrency, len(items)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="converge") as pool:
        return list(
            pool.map(
                lambda item: converge_one(cluster, item[0], item[1], action, dry_run, patched),
                items,
            )
        )


def converge_one(
    cluster: Cluster,
    kind: WorkloadKind,
    obj: WorkloadObject,
    action: Action,
    dry_run: bool,
    patched: Patched | None = None,
) -> WorkloadOutcome:
    ref = ref_of(kind, obj)
    try:
        for _ in range(MAX_CONFLICT_RETRIES):
            plan = plan_for(action, kind, obj)
            if plan.patch is None:
                return _outcome(ref, action, plan.status, plan.detail)
            if dry_run:
                return _outcome(ref, action, OutcomeStatus.PLANNED, plan.detail)
            try:
                stored = cluster.patch_workload(ref, plan.patch)
                if patched is not None:
                    patched(kind, stored)
                return _outcome(ref, action, plan.status, plan.detail)
            except ConflictError:
                obj = cluster.get_workload(ref)
        return _failed(ref, action, "it kept changing under us (409 conflicts); retried next pass")
    except NotFoundError:
        return _outcome(ref, action, OutcomeStatus.GONE, "deleted during the run")
    except ForbiddenError as exc:
        return _failed(
            ref, action, f"{exc} (grant namespace-ctl patch rights on {ref.kind.value} there)"
        )
    except ClusterError as exc:
        return _failed(ref, action, str(exc))


def _outcome(
    ref: WorkloadRef, action: Action, status: OutcomeStatus, detail: str
) -> WorkloadOutcome:
    error = detail if status is OutcomeStatus.FAILED else ""
    return WorkloadOutcome(ref=ref, action=action, status=status, detail=detail, error=error)


def _failed(ref: WorkloadRef, action: Action, error: str) -> WorkloadOutcome:
    return WorkloadOutcome(
        ref=ref, action=action, status=OutcomeStatus.FAILED, detail="failed", error=error
    )
