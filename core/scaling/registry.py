"""One strategy per workload kind."""

from __future__ import annotations

from core.models import WorkloadKind
from core.scaling.base import WorkloadStrategy
from core.scaling.cronjob import CRONJOB
from core.scaling.daemonset import DAEMONSET
from core.scaling.deployment import DEPLOYMENT
from core.scaling.statefulset import STATEFULSET

STRATEGIES: dict[WorkloadKind, WorkloadStrategy] = {
    WorkloadKind.DEPLOYMENT: DEPLOYMENT,
    WorkloadKind.STATEFULSET: STATEFULSET,
    WorkloadKind.DAEMONSET: DAEMONSET,
    WorkloadKind.CRONJOB: CRONJOB,
}


def strategy_for(kind: WorkloadKind | str) -> WorkloadStrategy:
    """The strategy of `kind` (a WorkloadKind or its name, e.g. "Deployment")."""
    try:
        return STRATEGIES[WorkloadKind(kind)]
    except ValueError:
        supported = ", ".join(k.value for k in WorkloadKind)
        raise ValueError(f"no strategy for kind {kind!r} (supported: {supported})") from None
