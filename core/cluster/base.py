"""The `Cluster` protocol. Workloads travel as plain Kubernetes JSON objects (dicts), the same
shape the API server sends, so one strategy per kind serves every adapter."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from core.models import WorkloadKind, WorkloadRef

WorkloadObject = dict[str, Any]


class NamespaceInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    annotations: dict[str, str] = {}
    labels: dict[str, str] = {}


def ref_of(kind: WorkloadKind, obj: WorkloadObject) -> WorkloadRef:
    meta = obj.get("metadata") or {}
    return WorkloadRef(kind=kind, namespace=meta.get("namespace", ""), name=meta.get("name", ""))


class Cluster(Protocol):
    """What the use cases need from a cluster.

    Errors are `core.errors.ClusterError` subclasses: `ConflictError` (409, re-read and retry),
    `NotFoundError` (404), `ForbiddenError` (401/403), `ClusterUnavailableError` (gave up after
    retries on 429/5xx/timeouts, or cannot connect).
    """

    @property
    def concurrency(self) -> int:
        """How many requests the caller may have in flight at once."""
        ...

    def list_namespaces(self) -> list[NamespaceInfo]: ...

    def list_workloads(self, kind: WorkloadKind) -> list[WorkloadObject]:
        """Every workload of `kind`, listed cluster-wide with pagination (never per namespace)."""
        ...

    def get_workload(self, ref: WorkloadRef) -> WorkloadObject: ...

    def create_event(self, event: dict[str, Any]) -> None:
        """Create a core/v1 Event in its `metadata.namespace` (core.events)."""
        ...

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        """The pods of one namespace (why a woken workload is not ready: read only for the
        namespaces still not ready at their deadline)."""
        ...

    def patch_workload(
        self, ref: WorkloadRef, body: dict[str, Any], dry_run: bool = False
    ) -> WorkloadObject:
        """Apply one strategic-merge patch; `body.metadata.resourceVersion`, when present, is a
        precondition (409 if the object changed). Return the object as stored after the patch."""
        ...
