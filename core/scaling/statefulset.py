"""StatefulSets: the same replica rules as Deployments (see `ReplicaStrategy`)."""

from __future__ import annotations

from core.models import WorkloadKind
from core.scaling.deployment import ReplicaStrategy

STATEFULSET = ReplicaStrategy(WorkloadKind.STATEFULSET)
