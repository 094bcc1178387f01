"""`KubeLease`: the election's `LeaseLock` on a `coordination.k8s.io/v1` Lease, through the same
`ApiClient` as `KubeCluster` (its credentials, CA and token refresh), as raw JSON.

No retries here: the elector's loop is the retry, every `retry_period`, and one request may take
at most `timeout` seconds so a hung API server cannot hold the loop past `renew_deadline`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from core.errors import ClusterError
from core.leader import LeaseConflict, LeaseRecord

API = "/apis/coordination.k8s.io/v1"


def _micro_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def record_of(lease: dict[str, Any]) -> LeaseRecord:
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=_parse_time(spec.get("acquireTime")),
        renew_time=_parse_time(spec.get("renewTime")),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=(lease.get("metadata") or {}).get("resourceVersion"),
    )


class KubeLease:
    def __init__(
        self, api_client: k8s.ApiClient, namespace: str, name: str, timeout: float = 5.0
    ) -> None:
        self.api_client, self.namespace, self.name, self.timeout = (
            api_client,
            namespace,
            name,
            timeout,
        )

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    def get(self) -> LeaseRecord | None:
        status, body = self._call("GET", self._path(self.name))
        if status == 404:
            return None
        return record_of(self._ok("read", status, body))

    def create(self, record: LeaseRecord) -> LeaseRecord:
        status, body = self._call("POST", self._path(), self._body(record))
        if status == 409:
            raise LeaseConflict(f"Lease {self.describe()} exists already")
        return record_of(self._ok("create", status, body))

    def update(self, record: LeaseRecord) -> LeaseRecord:
        status, body = self._call("PUT", self._path(self.name), self._body(record))
        if status == 409:
            raise LeaseConflict(f"Lease {self.describe()} changed since it was read")
        return record_of(self._ok("update", status, body))

    def _path(self, name: str | None = None) -> str:
        tail = f"/{name}" if name else ""
        return f"{API}/namespaces/{self.namespace}/leases{tail}"

    def _body(self, record: LeaseRecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record.resource_version is not None:
            metadata["resourceVersion"] = record.resource_version
        spec = {
            "holderIdentity": record.holder,
            "leaseDurationSeconds": record.lease_duration_seconds,
            "acquireTime": _micro_time(record.acquire_time),
            "renewTime": _micro_time(record.renew_time),
            "leaseTransitions": record.transitions,
        }
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {k: v for k, v in spec.items() if v is not None},
        }

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request, _request_timeout=self.timeout)
        read: Callable[[], bytes] = response.read  # untyped in the client
        raw = read()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")[:300] if isinstance(raw, bytes) else raw
        return int(response.status), decoded

    def _ok(self, what: str, status: int, body: Any) -> dict[str, Any]:
        if 200 <= status < 300 and isinstance(body, dict):
            return body
        message = body.get("message") if isinstance(body, dict) else body
        hint = (
            "; grant get, create and update on leases.coordination.k8s.io in this namespace "
            "(manifests/base: the Role)"
            if status == 403
            else ""
        )
        raise ClusterError(
            f"{what} Lease {self.describe()}: HTTP {status}: {message}{hint}", status
        )
