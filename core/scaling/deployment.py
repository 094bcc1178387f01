"""Deployments (and StatefulSets, same replica logic): sleep to 0 replicas, the count kept in
`namespace-ctl.io/original-replicas`, written in the same patch.

Also the helpers every strategy shares: reading our annotations, building one strategic-merge
patch that carries the change, the annotation and the resourceVersion precondition, and the
snapshot of a pod template's requests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.cluster.base import WorkloadObject
from core.models import OutcomeStatus, WorkloadKind, WorkloadSnapshot
from core.scaling.base import (
    ORIGINAL_REPLICAS,
    Plan,
    Readiness,
    observed_stale,
    status_count,
)
from core.scaling.quantities import pod_requests

MAX_REPLICAS = 2**31 - 1  # spec.replicas is an int32


# ---- helpers shared by every strategy -----------------------------------------------------------


def annotations_of(obj: WorkloadObject) -> dict[str, Any]:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    return dict(annotations) if isinstance(annotations, Mapping) else {}


def spec_of(obj: WorkloadObject) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def dig(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]..., None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def build_patch(
    obj: WorkloadObject, annotations: Mapping[str, str | None], spec: Mapping[str, Any] | None
) -> dict[str, Any]:
    """One strategic-merge body: our annotations (None deletes), the spec change, and
    `metadata.resourceVersion` of `obj` as a precondition."""
    metadata: dict[str, Any] = {"annotations": dict(annotations)}
    resource_version = dig(obj, "metadata", "resourceVersion")
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    body: dict[str, Any] = {"metadata": metadata}
    if spec:
        body["spec"] = dict(spec)
    return body


def quoted(value: Any) -> str:
    """A value as it reads in a manifest: "abc", "" ..."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def invalid_annotation(annotation: str, value: Any, expected: str, fix: str) -> str:
    return (
        f"annotation {annotation} is {quoted(value)}, not {expected}; "
        f"nothing was changed: {fix} and remove the annotation"
    )


def make_snapshot(
    kind: WorkloadKind, obj: WorkloadObject, replicas: int, pod_spec: Any
) -> WorkloadSnapshot:
    requests = pod_requests(pod_spec)
    return WorkloadSnapshot(
        kind=kind,
        name=str(dig(obj, "metadata", "name") or ""),
        replicas=replicas,
        cpu_cores=float(requests.cpu_cores),
        memory_gib=float(requests.memory_gib),
        has_requests=requests.has_requests,
    )


def parse_count(value: Any) -> int | None:
    """A replica count written by us: a non-negative integer in decimal digits, else None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    count = int(value)
    return count if count <= MAX_REPLICAS else None


# ---- Deployment / StatefulSet -------------------------------------------------------------------


def _replicas(obj: WorkloadObject) -> int | None:
    """spec.replicas, 1 when missing (the API server's default); None when not an integer."""
    value = spec_of(obj).get("replicas")
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _bad_replicas(obj: WorkloadObject) -> Plan:
    value = spec_of(obj).get("replicas")
    return Plan(
        OutcomeStatus.FAILED,
        None,
        f"spec.replicas is {quoted(value)}, not a replica count; nothing was changed",
    )


class ReplicaStrategy:
    """Scale to 0 and back; the same rules for every kind with `spec.replicas`."""

    def __init__(self, kind: WorkloadKind) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"ReplicaStrategy({self.kind.value})"

    def is_sleeping(self, obj: WorkloadObject) -> bool:
        return ORIGINAL_REPLICAS in annotations_of(obj)

    def plan_sleep(self, obj: WorkloadObject) -> Plan:
        replicas = _replicas(obj)
        if replicas is None:
            return _bad_replicas(obj)
        if ORIGINAL_REPLICAS in annotations_of(obj):
            if replicas == 0:
                return Plan(OutcomeStatus.UNCHANGED, None, "already asleep")
            # Scaled up by hand or by a GitOps sync while asleep: the latest intent wins.
            patch = build_patch(obj, {ORIGINAL_REPLICAS: str(replicas)}, {"replicas": 0})
            return Plan(
                OutcomeStatus.DRIFT,
                patch,
                f"scaled to {replicas} while asleep: replicas {replicas} -> 0 "
                f"({replicas} restored in the morning)",
            )
        if replicas == 0:
            return Plan(OutcomeStatus.UNCHANGED, None, "already at 0")
        patch = build_patch(obj, {ORIGINAL_REPLICAS: str(replicas)}, {"replicas": 0})
        return Plan(OutcomeStatus.CHANGED, patch, f"replicas {replicas} -> 0")

    def plan_wake(self, obj: WorkloadObject) -> Plan:
        annotations = annotations_of(obj)
        if ORIGINAL_REPLICAS not in annotations:
            return Plan(OutcomeStatus.UNCHANGED, None, "not asleep")
        replicas = _replicas(obj)
        if replicas is None:
            return _bad_replicas(obj)
        if replicas != 0:
            patch = build_patch(obj, {ORIGINAL_REPLICAS: None}, None)
            return Plan(OutcomeStatus.CHANGED, patch, f"kept {replicas} (changed while asleep)")
        raw = annotations[ORIGINAL_REPLICAS]
        count = parse_count(raw)
        if count is None:
            return Plan(
                OutcomeStatus.FAILED,
                None,
                invalid_annotation(
                    ORIGINAL_REPLICAS,
                    raw,
                    "a replica count",
                    f"scale the {self.kind.value} by hand (kubectl scale --replicas=N)",
                ),
            )
        patch = build_patch(obj, {ORIGINAL_REPLICAS: None}, {"replicas": count})
        return Plan(OutcomeStatus.CHANGED, patch, f"replicas 0 -> {count}")

    def awake_replicas(self, obj: WorkloadObject) -> int:
        """What it runs when awake: the annotation while asleep at 0, else spec.replicas."""
        replicas = _replicas(obj)
        if replicas == 0 and self.is_sleeping(obj):
            count = parse_count(annotations_of(obj)[ORIGINAL_REPLICAS])
            if count is not None:
                return count
        return replicas if replicas is not None else 0

    def snapshot(self, obj: WorkloadObject) -> WorkloadSnapshot:
        pod_spec = dig(obj, "spec", "template", "spec")
        return make_snapshot(self.kind, obj, self.awake_replicas(obj), pod_spec)

    def readiness(self, obj: WorkloadObject) -> Readiness:
        """A Deployment's available replicas, a StatefulSet's ready ones, against spec.replicas."""
        counted = "availableReplicas" if self.kind is WorkloadKind.DEPLOYMENT else "readyReplicas"
        wanted = _replicas(obj) or 0
        return Readiness(status_count(obj, counted), wanted, observed_stale(obj))


DEPLOYMENT = ReplicaStrategy(WorkloadKind.DEPLOYMENT)
