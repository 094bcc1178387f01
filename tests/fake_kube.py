"""A small stateful fake Kubernetes API server, over real HTTP, for tests and benchmarks.

The real `kubernetes` client talks to it exactly as it would to a kube-apiserver: paginated
cluster-wide lists, GET, strategic/JSON-merge PATCH (maps merged, `null` deletes a key, lists
replaced whole), PUT, `resourceVersion` preconditions (409), `dryRun=All`, `Status` errors.
It keeps only what namespace-ctl uses: namespaces, Deployments, StatefulSets, DaemonSets (apps/v1),
CronJobs (batch/v1), and Leases (coordination.k8s.io/v1: GET, POST to create, PUT) for leader
election.

Known simplifications (a real API server differs):
- lists are not snapshots: a `continue` token resumes after the last key in the *current* state;
- strategic merge does not merge lists by key (`containers` is replaced whole);
- `forbid_namespace` models an admission/authorization denial of that namespace's requests;
  cluster-wide lists still return its objects (RBAC cannot hide part of a list);
- label and field selectors are refused with 400 instead of being ignored.

Faults (`inject`) never change state: a matching request gets the status (after `delay`, if any)
and nothing is stored, so a client that timed out and retries applies its change exactly once.

Run standalone for benchmarks: `python -m tests.fake_kube --port 8001 --latency 0.025`; it prints
its URL when ready and serves `/_admin/{load,stats,reset,inject,config,forbid}` besides the API.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import contextlib
import copy
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Resource:
    kind: str
    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:  # as the API server names it in messages: deployments.apps
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("Deployment", "apps", "v1", "deployments"),
        Resource("StatefulSet", "apps", "v1", "statefulsets"),
        Resource("DaemonSet", "apps", "v1", "daemonsets"),
        Resource("CronJob", "batch", "v1", "cronjobs"),
    )
}
NAMESPACE = Resource("Namespace", "", "v1", "namespaces")
POD = Resource("Pod", "", "v1", "pods")  # listed per namespace only, made up from the workloads
EVENT = Resource("Event", "", "v1", "events")  # created only, kept in `FakeKube.events`
LEASE = Resource("Lease", "coordination.k8s.io", "v1", "leases")
# Every namespaced kind kept in `_objects`: the workloads, and the Leases of leader election.
STORED: dict[str, Resource] = {**RESOURCES, LEASE.kind: LEASE}
_BY_PLURAL = {(r.group, r.plural): r for r in STORED.values()}

_NS_PATH = re.compile(r"^/api/v1/namespaces(?:/(?P<name>[^/]+))?$")
_PODS_PATH = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<plural>pods|events)$")
_WORKLOAD_PATH = re.compile(
    r"^/apis/(?P<group>[a-z0-9.]+)/v1(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
    r"(?:/(?P<name>[^/]+))?$"
)
_MERGE_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json")


class ApiError(Exception):
    """Becomes a `Status` response."""

    def __init__(
        self, code: int, reason: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.headers = headers or {}

    def status(self) -> Obj:
        return status_object(self.code, self.reason, self.message)


def status_object(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def reason_for(code: int) -> str:
    if code in _REASONS:
        return _REASONS[code]
    try:
        return HTTPStatus(code).phrase.replace(" ", "")
    except ValueError:
        return "Unknown"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, without mutating `target` (stored objects stay immutable)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    retry_after: float | None
    delay: float | None

    def matches(self, method: str, target: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(target) is not None


@dataclass
class Trouble:
    ready: int
    reason: str
    message: str


STARTING = Trouble(0, "ContainerCreating", "")


def _pod(owner: Obj, name: str, labels: Obj, ready: bool, trouble: Trouble) -> Obj:
    meta = {"name": name, "namespace": owner["metadata"]["namespace"], "labels": dict(labels)}
    container = {"name": "app", "ready": ready, "restartCount": 0}
    if ready:
        container["state"] = {"running": {"startedAt": _now()}}
        status: Obj = {"phase": "Running", "containerStatuses": [container]}
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    elif trouble.reason == "Unschedulable":
        scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        status = {"phase": "Pending", "conditions": [{**scheduled, "message": trouble.message}]}
    else:
        container["state"] = {"waiting": {"reason": trouble.reason, "message": trouble.message}}
        status = {"phase": "Pending", "containerStatuses": [container]}
        status["conditions"] = [{"type": "Ready", "status": "False"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": status}


@dataclass(frozen=True)
class Route:
    resource: Resource
    namespace: str | None  # None: cluster-wide
    name: str | None  # None: a list


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_token(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_token(token: str) -> Key:
    try:
        namespace, name = json.loads(base64.urlsafe_b64decode(token.encode()))
        return (str(namespace), str(name))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "BadRequest", f"invalid continue token {token!r}") from exc


def _strip_type(obj: Obj) -> Obj:
    """List items carry no apiVersion/kind, as a real API server sends them."""
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


# Every kind of request the in-process fakes of this test session answered, as
# (test, METHOD, kind), METHOD as in `FakeKube.requests`. Filled when a server stops or its
# counters are reset, under the pytest test running then (PYTEST_CURRENT_TEST, "" outside one);
# tests/test_zz_rbac_matches_use.py compares it with the RBAC the manifests grant.
SESSION_LOG: set[tuple[str, str, str]] = set()
_SESSION_LOCK = threading.Lock()


def log_session_requests(requests: Iterable[tuple[str, str]]) -> None:
    """Add (METHOD, kind) pairs to `SESSION_LOG` under the current test (thread-safe)."""
    origin = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    with _SESSION_LOCK:
        SESSION_LOG.update((origin, method, kind) for method, kind in requests)


class FakeKube:
    """A stateful fake API server. All public methods are thread-safe (one lock)."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, token: str | None = "fake-token"
    ) -> None:
        self.host = host
        self.port = port
        self.token = token  # None: no authentication; else require `Bearer <token>`
        self._extra_tokens: set[str] = set()  # further clients, told apart by their token
        self._refused_tokens: dict[str, int] = {}  # token -> the status its requests get
        self.latency = 0.0  # seconds slept per API request (outside the lock)
        # API Priority and Fairness, roughly: above this many API requests in flight, a request
        # is answered 429 with `Retry-After: throttle_retry_after` at once (None: no limit).
        self.max_in_flight: int | None = None
        self.throttle_retry_after = 1.0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.throttled = 0  # requests answered 429 by max_in_flight
        self.requests: Counter[tuple[str, str]] = Counter()  # (LIST|GET|PATCH|PUT, kind)
        self.total_requests = 0
        self.writes = 0  # changes stored through the API (not through the Python API)
        self._lock = threading.RLock()
        self._rv = 1000
        self._namespaces: dict[str, Obj] = {}
        self._objects: dict[str, dict[Key, Obj]] = {kind: {} for kind in STORED}
        self._sorted: dict[str, list[Key] | None] = {kind: None for kind in STORED}
        self._forbidden: set[str] = set()
        self._faults: list[Fault] = []
        # The controllers, roughly: a workload's served status follows its spec (all replicas
        # ready, a DaemonSet on `nodes` nodes) unless held back (`hold_ready`, `slow_ready`).
        self.nodes = 3
        self._held: dict[tuple[str, str, str], Trouble] = {}
        self._slow: dict[str, float] = {}  # namespace -> seconds from a spec change to ready
        self._changed_at: dict[tuple[str, str, str], float] = {}
        self.events: list[Obj] = []  # the Events created through the API, in order
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-kube", daemon=True
        )
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is None:
            return
        with self._lock:
            log_session_requests(list(self.requests))
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> FakeKube:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(
        self, path: str | Path, context: str = "fake", token: str | None = None
    ) -> Path:
        """A kubeconfig (plain http, bearer token) that points the real client here."""
        user: Obj = {"token": token or self.token or "none"}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-user", "user": user}],
            "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake-user"}}],
            "current-context": context,
        }
        target = Path(path)
        target.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
        return target

    # --- state, from Python --------------------------------------------------------------------

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _new_meta(self, meta: Obj) -> Obj:
        meta = dict(meta)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["generation"] = meta.get("generation") or 1
        meta["resourceVersion"] = self._bump()
        return meta

    def add_namespace(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Obj:
        meta: Obj = {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
        }
        if annotations:
            meta["annotations"] = dict(annotations)
        with self._lock:
            meta = self._new_meta(meta)
            meta.pop("generation")
            obj = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": meta,
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            }
            self._namespaces[name] = obj
            return copy.deepcopy(obj)

    def delete_namespace(self, name: str) -> None:
        """The namespace and every object in it vanish (later requests on them get 404)."""
        with self._lock:
            self._namespaces.pop(name, None)
            for kind, objects in self._objects.items():
                for key in [k for k in objects if k[0] == name]:
                    del objects[key]
                    self._sorted[kind] = None
            self._bump()

    def add(self, obj: Obj) -> Obj:
        """Store a workload (creating its namespace if missing); return it as stored."""
        resource = RESOURCES.get(obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        if resource is None or not meta.get("namespace") or not meta.get("name"):
            kinds = ", ".join(RESOURCES)
            raise ValueError(f"need kind (one of {kinds}), metadata.namespace and metadata.name")
        with self._lock:
            if meta["namespace"] not in self._namespaces:
                self.add_namespace(meta["namespace"])
            stored = copy.deepcopy(obj)
            stored["apiVersion"] = resource.api_version
            stored["metadata"] = self._new_meta(meta)
            key = (meta["namespace"], meta["name"])
            if key not in self._objects[resource.kind]:
                self._sorted[resource.kind] = None
            self._objects[resource.kind][key] = stored
            return copy.deepcopy(stored)

    def add_all(self, objects: Iterable[Obj]) -> None:
        for obj in objects:
            if obj.get("kind") == "Namespace":
                meta = obj.get("metadata") or {}
                self.add_namespace(meta["name"], meta.get("labels"), meta.get("annotations"))
            else:
                self.add(obj)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            if self._objects[kind].pop((namespace, name), None) is not None:
                self._sorted[kind] = None
                self._bump()

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A deep copy of the object as the API serves it (its status too), or None."""
        with self._lock:
            if kind == "Namespace":
                return copy.deepcopy(self._namespaces.get(name))
            found = self._objects[kind].get((namespace, name))
            return None if found is None else copy.deepcopy(self._served(STORED[kind], found))

    def objects(self, kind: str) -> list[Obj]:
        """Deep copies of every object of `kind` as served, ordered by namespace/name."""
        with self._lock:
            if kind == "Namespace":
                return [copy.deepcopy(self._namespaces[n]) for n in sorted(self._namespaces)]
            served = (self._served(STORED[kind], self._objects[kind][k]) for k in self._keys(kind))
            return [copy.deepcopy(obj) for obj in served]

    def patch(self, kind: str, namespace: str, name: str, patch: Obj) -> Obj:
        """Someone else's edit, out of band: a merge patch that bumps resourceVersion."""
        with self._lock:
            stored = self._objects[kind][(namespace, name)]
            updated = self._merged(stored, patch)
            self._objects[kind][(namespace, name)] = updated
            return copy.deepcopy(updated)

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    # --- faults and counters -------------------------------------------------------------------

    def forbid_namespace(self, namespace: str, forbidden: bool = True) -> None:
        with self._lock:
            (self._forbidden.add if forbidden else self._forbidden.discard)(namespace)

    def inject(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        delay: float | None = None,
    ) -> None:
        """The next `times` requests whose method matches (`*`: any) and whose path?query matches
        `path_regex` (re.search) get `status` (a Status object, `Retry-After` if given) after
        sleeping `delay`, and nothing is stored, whatever the status. A 2xx status only makes
        sense with a `delay` longer than the client's timeout (the client never sees the body)."""
        fault = Fault(method.upper(), re.compile(path_regex), status, times, retry_after, delay)
        with self._lock:
            self._faults.append(fault)

    def accept_token(self, token: str) -> None:
        """Another client identity (e.g. a second replica), accepted like `token`."""
        with self._lock:
            self._extra_tokens.add(token)

    def refuse_token(self, token: str, status: int | None = 503) -> None:
        """Every request bearing `token` gets `status` (None: served again), state untouched: one
        client cut off from the API server while the others are not (a partition)."""
        with self._lock:
            if status is None:
                self._refused_tokens.pop(token, None)
            else:
                self._refused_tokens[token] = status

    def hold_ready(
        self,
        kind: str,
        namespace: str,
        name: str,
        ready: int,
        reason: str = "ImagePullBackOff",
        message: str = 'Back-off pulling image "registry.example/app:1"',
    ) -> None:
        """At most `ready` of its pods become ready; the others are stuck for `reason`
        (a container's waiting reason, or `Unschedulable`: Pending with `message`)."""
        with self._lock:
            self._held[(kind, namespace, name)] = Trouble(ready, reason, message)

    def release_ready(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._held.pop((kind, namespace, name), None)

    def slow_ready(self, namespace: str, seconds: float) -> None:
        """Pods in `namespace` take `seconds` (wall time) after a spec change to be ready."""
        with self._lock:
            self._slow[namespace] = seconds

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.times for f in self._faults)

    def reset_counters(self) -> None:
        with self._lock:
            log_session_requests(list(self.requests))
            self.requests.clear()
            self.total_requests = 0
            self.writes = 0
            self.throttled = 0
            self.peak_in_flight = self.in_flight

    def reset(self) -> None:
        """Counters, faults and forbidden namespaces cleared; objects kept."""
        with self._lock:
            self.reset_counters()
            self._faults.clear()
            self._forbidden.clear()

    def clear(self) -> None:
        """Every namespace and object removed (resourceVersion keeps growing)."""
        with self._lock:
            self._namespaces.clear()
            for kind in STORED:
                self._objects[kind].clear()
                self._sorted[kind] = None
            self._bump()

    def count(self, method: str, kind: str) -> int:
        with self._lock:
            return self.requests[(method.upper(), kind)]

    def stats(self) -> Obj:
        with self._lock:
            return {
                "total": self.total_requests,
                "writes": self.writes,
                "throttled": self.throttled,
                "peak_in_flight": self.peak_in_flight,
                "resourceVersion": str(self._rv),
                "requests": {f"{m} {k}": n for (m, k), n in sorted(self.requests.items())},
                "objects": {kind: len(objs) for kind, objs in self._objects.items()},
                "namespaces": len(self._namespaces),
            }

    # --- request handling (called by the HTTP handler) -------------------------------------------

    def _enter(self) -> bool:
        """One more API request in flight, unless `max_in_flight` are: then False (a 429)."""
        with self._lock:
            if self.max_in_flight is not None and self.in_flight >= self.max_in_flight:
                self.throttled += 1
                self.total_requests += 1
                return False
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            return True

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _take_fault(self, method: str, target: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, target):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _admit(
        self, method: str, target: str, route: Route | None, auth: str | None
    ) -> Fault | None:
        """Count the request; return the fault it gets, if any."""
        with self._lock:
            self.total_requests += 1
            if route is not None:
                verb = "LIST" if route.name is None and method == "GET" else method
                self.requests[(verb, route.resource.kind)] += 1
            fault = self._take_fault(method, target)
            token = (auth or "").removeprefix("Bearer ")
            refused = self._refused_tokens.get(token)
            accepted = self.token is None or token in (self.token, *self._extra_tokens)
        if refused is not None:
            raise ApiError(refused, reason_for(refused), "refused for this client (refuse_token)")
        if fault is None and not accepted:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return fault

    def _keys(self, kind: str) -> list[Key]:
        keys = self._sorted[kind]
        if keys is None:
            keys = self._sorted[kind] = sorted(self._objects[kind])
        return keys

    def _check_forbidden(self, method: str, route: Route) -> None:
        ns = route.namespace if route.resource is not NAMESPACE else route.name
        if ns is not None and ns in self._forbidden:
            what = route.resource.qualified + (f' "{route.name}"' if route.name else "")
            verb = {
                "GET": "get" if route.name else "list",
                "PATCH": "patch",
                "PUT": "update",
                "POST": "create",
            }
            raise ApiError(
                403,
                "Forbidden",
                f'{what} is forbidden: User "fake-user" cannot {verb.get(method, method.lower())} '
                f'resource "{route.resource.plural}" in API group "{route.resource.group}" '
                f'in the namespace "{ns}"',
            )

    def _not_found(self, route: Route) -> ApiError:
        return ApiError(404, "NotFound", f'{route.resource.qualified} "{route.name}" not found')

    def _stored(self, route: Route) -> Obj:
        assert route.name is not None
        if route.resource is NAMESPACE:
            found = self._namespaces.get(route.name)
        else:
            found = self._objects[route.resource.kind].get((route.namespace or "", route.name))
        if found is None:
            raise self._not_found(route)
        return found

    def _store(self, route: Route, obj: Obj) -> None:
        assert route.name is not None
        if route.resource is NAMESPACE:
            self._namespaces[route.name] = obj
        else:
            objects = self._objects[route.resource.kind]
            key = (route.namespace or "", route.name)
            if key not in objects:
                self._sorted[route.resource.kind] = None
            elif objects[key].get("spec") != obj.get("spec"):
                self._changed_at[(route.resource.kind, *key)] = time.monotonic()
            objects[key] = obj
        self.writes += 1

    # --- the controllers: served status and made-up pods ------------------------------------

    def _served(self, resource: Resource, obj: Obj) -> Obj:
        """A workload as served: its status as its controller would have made it by now."""
        if resource.kind not in RESOURCES or resource.kind == "CronJob":
            return obj
        meta = obj["metadata"]
        wanted, ready = self._pod_counts(resource.kind, obj)
        generation = meta.get("generation", 1)
        if resource.kind == "DaemonSet":
            status = {
                "observedGeneration": generation,
                "desiredNumberScheduled": wanted,
                "currentNumberScheduled": wanted,
                "numberReady": ready,
                "numberAvailable": ready,
                "numberMisscheduled": 0,
            }
        else:
            status = {
                "observedGeneration": generation,
                "replicas": wanted,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "updatedReplicas": wanted,
            }
        return {**obj, "status": status}

    def _pod_counts(self, kind: str, obj: Obj) -> tuple[int, int]:
        """(pods wanted, pods ready) of a workload now."""
        meta, spec = obj["metadata"], obj.get("spec") or {}
        if kind == "DaemonSet":
            selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
            wanted = 0 if selector.get("namespace-ctl.io/sleeping") == "true" else self.nodes
        else:
            wanted = spec.get("replicas", 1)
        key = (kind, meta.get("namespace", ""), meta["name"])
        ready = wanted
        held = self._held.get(key)
        if held is not None:
            ready = min(ready, held.ready)
        slow = self._slow.get(key[1])
        if slow is not None and time.monotonic() - self._changed_at.get(key, 0.0) < slow:
            ready = 0
        return wanted, ready

    def _pods(self, route: Route) -> list[Obj]:
        """The pods of a namespace, made up from its workloads: ready ones, and stuck ones
        saying why (`hold_ready`) or still starting (`slow_ready`)."""
        pods: list[Obj] = []
        for kind in ("Deployment", "StatefulSet", "DaemonSet"):
            for (namespace, name), obj in self._objects[kind].items():
                if namespace != route.namespace:
                    continue
                wanted, ready = self._pod_counts(kind, obj)
                trouble = self._held.get((kind, namespace, name), STARTING)
                labels = ((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
                for index in range(wanted):
                    pods.append(
                        _pod(
                            obj,
                            f"{name}-{index}",
                            labels.get("labels") or {},
                            index < ready,
                            trouble,
                        )
                    )
        return pods

    def _merged(self, stored: Obj, patch: Obj, dry_run: bool = False) -> Obj:
        meta = stored["metadata"]
        updated: Obj = merge_patch(stored, patch)
        fixed = {k: meta[k] for k in ("name", "uid", "creationTimestamp") if k in meta}
        if "namespace" in meta:
            fixed["namespace"] = meta["namespace"]
        updated["metadata"] = {**(updated.get("metadata") or {}), **fixed}
        updated["kind"], updated["apiVersion"] = stored["kind"], stored["apiVersion"]
        if updated.get("spec") != stored.get("spec") and "generation" in meta:
            updated["metadata"]["generation"] = meta["generation"] + 1
        updated["metadata"]["resourceVersion"] = self._version(meta, dry_run)
        return updated

    def _version(self, meta: Obj, dry_run: bool) -> str:
        """A dry run keeps the stored resourceVersion; a write takes the next one."""
        return str(meta["resourceVersion"]) if dry_run else self._bump()

    def _precondition(self, route: Route, stored: Obj, body: Obj) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and str(wanted) != stored["metadata"]["resourceVersion"]:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {route.resource.qualified} "{route.name}": the '
                "object has been modified; please apply your changes to the latest version and "
                "try again",
            )

    def handle_list(self, route: Route, query: dict[str, list[str]]) -> Obj:
        for unsupported in ("labelSelector", "fieldSelector"):
            if query.get(unsupported, [""])[0]:
                raise ApiError(400, "BadRequest", f"FakeKube does not implement {unsupported}")
        try:
            limit = int(query.get("limit", ["0"])[0] or 0)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"limit must be an integer: {exc}") from exc
        token = query.get("continue", [""])[0]
        with self._lock:
            self._check_forbidden("GET", route)
            keys, lookup = self._collection(route)
            start = bisect.bisect_right(keys, _decode_token(token)) if token else 0
            end = len(keys) if limit <= 0 else min(len(keys), start + limit)
            page = [self._served(route.resource, lookup(k)) for k in keys[start:end]]
            rv = str(self._rv)
        meta: Obj = {"resourceVersion": rv}
        if end < len(keys):
            meta["continue"] = _encode_token(keys[end - 1])
            meta["remainingItemCount"] = len(keys) - end
        r = route.resource
        items = [_strip_type(o) for o in page]  # stored objects are never mutated in place
        return {
            "kind": f"{r.kind}List",
            "apiVersion": r.api_version,
            "metadata": meta,
            "items": items,
        }

    def _collection(self, route: Route) -> tuple[list[Key], Callable[[Key], Obj]]:
        """The sorted keys a list request covers, and how to fetch each object."""
        if route.resource is POD:
            pods = {(route.namespace or "", p["metadata"]["name"]): p for p in self._pods(route)}
            return sorted(pods), pods.__getitem__
        if route.resource is NAMESPACE:
            namespaces = self._namespaces
            return [("", name) for name in sorted(namespaces)], lambda key: namespaces[key[1]]
        keys = self._keys(route.resource.kind)
        if route.namespace is not None:
            keys = [k for k in keys if k[0] == route.namespace]
        return keys, self._objects[route.resource.kind].__getitem__

    def handle_get(self, route: Route) -> Obj:
        with self._lock:
            self._check_forbidden("GET", route)
            return self._served(route.resource, self._stored(route))

    def handle_patch(self, route: Route, body: Any, content_type: str, dry_run: bool) -> Obj:
        if content_type.split(";")[0].strip() not in _MERGE_TYPES:
            raise ApiError(415, "UnsupportedMediaType", f"FakeKube does not accept {content_type}")
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "a merge patch body must be a JSON object")
        with self._lock:
            self._check_forbidden("PATCH", route)
            stored = self._stored(route)
            self._precondition(route, stored, body)
            updated = self._merged(stored, body, dry_run)
            if not dry_run:
                self._store(route, updated)
            return self._served(route.resource, updated)

    def handle_put(self, route: Route, body: Any, dry_run: bool) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        meta = body.get("metadata") or {}
        if (
            meta.get("name") != route.name
            or meta.get("namespace", route.namespace) != route.namespace
        ):
            raise ApiError(400, "BadRequest", "metadata.name/namespace do not match the URL")
        with self._lock:
            self._check_forbidden("PUT", route)
            stored = self._stored(route)
            self._precondition(route, stored, body)
            updated = self._replaced(stored, body, dry_run)
            if not dry_run:
                self._store(route, updated)
            return updated

    def handle_create(self, route: Route, body: Any, dry_run: bool) -> Obj:
        """POST to a namespaced collection (Leases, Events): 409 AlreadyExists if the name is
        taken."""
        if route.resource is EVENT:
            return self._create_event(route, body)
        if route.resource is not LEASE or route.namespace is None:
            raise ApiError(405, "MethodNotAllowed", "FakeKube creates only namespaced Leases")
        if not isinstance(body, dict) or not (body.get("metadata") or {}).get("name"):
            raise ApiError(400, "BadRequest", "the body must be an object with metadata.name")
        name = body["metadata"]["name"]
        target = Route(route.resource, route.namespace, name)
        with self._lock:
            self._check_forbidden("POST", target)
            if (route.namespace, name) in self._objects[LEASE.kind]:
                raise ApiError(409, "AlreadyExists", f'{LEASE.qualified} "{name}" already exists')
            created = copy.deepcopy(body)
            meta = {**body["metadata"], "namespace": route.namespace}
            meta.pop("resourceVersion", None)
            created["metadata"] = self._new_meta(meta)
            created["metadata"].pop("generation")
            created["kind"], created["apiVersion"] = LEASE.kind, LEASE.api_version
            if not dry_run:
                self._store(target, created)
            return created

    def _create_event(self, route: Route, body: Any) -> Obj:
        """A core/v1 Event, checked for what `kubectl events` needs, kept in `events`."""
        if not isinstance(body, dict) or body.get("kind") != "Event":
            raise ApiError(400, "BadRequest", "the body must be an Event")
        meta, regarding = body.get("metadata") or {}, body.get("involvedObject") or {}
        missing = [
            f
            for f, v in (
                ("metadata.name", meta.get("name")),
                ("involvedObject.kind", regarding.get("kind")),
                ("involvedObject.name", regarding.get("name")),
                ("reason", body.get("reason")),
                ("type", body.get("type")),
            )
            if not v
        ]
        if missing:
            raise ApiError(
                422, "Invalid", f"Event is invalid: {', '.join(missing)}: Required value"
            )
        if meta.get("namespace", route.namespace) != route.namespace:
            raise ApiError(400, "BadRequest", "metadata.namespace does not match the URL")
        with self._lock:
            self._check_forbidden("POST", route)
            if route.namespace not in self._namespaces:
                raise ApiError(404, "NotFound", f'namespaces "{route.namespace}" not found')
            created = copy.deepcopy(body)
            created["metadata"] = {**meta, "namespace": route.namespace}
            self.events.append(created)
            return created

    def lease(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            found = self._objects[LEASE.kind].get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def _replaced(self, stored: Obj, body: Obj, dry_run: bool) -> Obj:
        meta = stored["metadata"]
        updated = copy.deepcopy(body)
        keep = {k: meta[k] for k in ("name", "namespace", "uid", "creationTimestamp") if k in meta}
        updated["metadata"] = {**updated["metadata"], **keep}
        updated["kind"], updated["apiVersion"] = stored["kind"], stored["apiVersion"]
        if "generation" in meta:
            changed = updated.get("spec") != stored.get("spec")
            updated["metadata"]["generation"] = meta["generation"] + (1 if changed else 0)
        updated["metadata"]["resourceVersion"] = self._version(meta, dry_run)
        return updated


_SHORT_NAMES = {
    "deployments": ["deploy"],
    "statefulsets": ["sts"],
    "daemonsets": ["ds"],
    "cronjobs": ["cj"],
    "namespaces": ["ns"],
}


def discovery(path: str) -> Obj | None:
    """The legacy discovery documents kubectl reads before it lists (`/api`, `/apis`, and one
    resource list per group version), for the kinds this fake serves; None for other paths."""
    served = [NAMESPACE, *STORED.values()]
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = sorted({r.group for r in served if r.group})
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": f"{group}/v1", "version": "v1"},
                }
                for group in groups
            ],
        }
    for group_version in {r.api_version for r in served}:
        prefix = "/api/" if group_version == "v1" else "/apis/"
        if path == prefix + group_version:
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": [
                    {
                        "name": r.plural,
                        "singularName": r.kind.lower(),
                        "namespaced": r is not NAMESPACE,
                        "kind": r.kind,
                        "verbs": ["get", "list", "patch", "update", "create", "delete"],
                        "shortNames": _SHORT_NAMES.get(r.plural, []),
                    }
                    for r in served
                    if r.api_version == group_version
                ],
            }
    return None


def parse_route(path: str) -> Route | None:
    match = _PODS_PATH.match(path)
    if match:
        return Route(POD if match["plural"] == "pods" else EVENT, unquote(match["ns"]), None)
    match = _NS_PATH.match(path)
    if match:
        name = match["name"]
        return Route(NAMESPACE, None, unquote(name) if name else None)
    match = _WORKLOAD_PATH.match(path)
    if match:
        resource = _BY_PLURAL.get((match["group"], match["plural"]))
        if resource is None:
            return None
        ns, name = match["ns"], match["name"]
        if name is not None and ns is None:
            return None
        return Route(resource, unquote(ns) if ns else None, unquote(name) if name else None)
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    fake: FakeKube

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Drop kept-alive client connections, so a stopped server really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (ConnectionError, TimeoutError):  # the client gave up (e.g. timed out)
            self.close_connection = True

    def _dispatch(self, method: str) -> None:
        raw = self._read_body()
        parts = urlsplit(self.path)
        fake = self.server.fake
        if parts.path.startswith("/_admin/"):
            self._admin(method, parts.path, raw)
            return
        if not fake._enter():
            retry_after = fake.throttle_retry_after
            header = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            message = "too many requests in flight (max_in_flight), please try again later"
            self._send(429, status_object(429, "TooManyRequests", message), {"Retry-After": header})
            return
        try:
            self._serve_api(method, parts, raw)
        finally:
            fake._leave()

    def _serve_api(self, method: str, parts: SplitResult, raw: bytes) -> None:
        fake = self.server.fake
        try:
            route = parse_route(parts.path)
            fault = fake._admit(method, self.path, route, self.headers.get("Authorization"))
            if fault is not None:
                self._fault(fault)
                return
            document = discovery(parts.path) if route is None and method == "GET" else None
            if document is not None:
                self._send(200, document)
                return
            if fake.latency > 0:
                time.sleep(fake.latency)
            self._send(200, self._api(method, route, parse_qs(parts.query), raw))
        except ApiError as err:
            self._send(err.code, err.status(), err.headers)
        except Exception as exc:  # a bug in the fake: answer, so the client does not hang
            message = f"FakeKube failed: {type(exc).__name__}: {exc}"
            self._send(500, status_object(500, "InternalError", message))

    def _fault(self, fault: Fault) -> None:
        if fault.delay:
            time.sleep(fault.delay)
        headers = {}
        if fault.retry_after is not None:
            ra = fault.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        reason = reason_for(fault.status)
        message = f"injected fault: {fault.status} {reason}"
        self._send(fault.status, status_object(fault.status, reason, message), headers)

    def _api(
        self, method: str, route: Route | None, query: dict[str, list[str]], raw: bytes
    ) -> Obj:
        fake = self.server.fake
        if route is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = query.get("dryRun", [""])[0]
        if dry_run not in ("", "All"):
            raise ApiError(400, "BadRequest", f"invalid dryRun {dry_run!r}: only All is valid")
        if method == "GET":
            return fake.handle_list(route, query) if route.name is None else fake.handle_get(route)
        if method == "POST" and route.name is None:
            try:
                body = json.loads(raw or b"null")
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"the body is not JSON: {exc}") from exc
            return fake.handle_create(route, body, bool(dry_run))
        if method in ("PATCH", "PUT") and route.name is not None:
            try:
                body = json.loads(raw or b"null")
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"the body is not JSON: {exc}") from exc
            if method == "PUT":
                return fake.handle_put(route, body, bool(dry_run))
            content_type = self.headers.get("Content-Type", "")
            return fake.handle_patch(route, body, content_type, bool(dry_run))
        raise ApiError(405, "MethodNotAllowed", f"FakeKube does not implement {method} here")

    def _admin(self, method: str, path: str, raw: bytes) -> None:
        fake = self.server.fake
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, status_object(400, "BadRequest", "admin body must be JSON"))
            return
        action = path.removeprefix("/_admin/")
        if method == "GET" and action == "stats":
            self._send(200, fake.stats())
        elif method == "POST" and action == "load":
            fake.add_all(body or [])
            self._send(200, fake.stats())
        elif method == "POST" and action == "reset":
            fake.reset()
            if (body or {}).get("state"):
                fake.clear()
            self._send(200, fake.stats())
        elif method == "POST" and action == "inject":
            fake.inject(**(body or {}))
            self._send(200, {"pending": fake.pending_faults()})
        elif method == "POST" and action == "config":
            settings = body or {}
            fake.latency = float(settings.get("latency", fake.latency))
            if "max_in_flight" in settings:
                limit = settings["max_in_flight"]
                fake.max_in_flight = None if limit is None else int(limit)
            fake.throttle_retry_after = float(
                settings.get("throttle_retry_after", fake.throttle_retry_after)
            )
            self._send(200, {"latency": fake.latency, "max_in_flight": fake.max_in_flight})
        elif method == "POST" and action == "hold_ready" and isinstance(body, dict):
            fake.hold_ready(body["kind"], body["namespace"], body["name"], int(body["ready"]))
            self._send(200, {"held": f"{body['kind']}/{body['namespace']}/{body['name']}"})
        elif method == "POST" and action == "forbid" and isinstance(body, dict):
            fake.forbid_namespace(body["namespace"], bool(body.get("forbidden", True)))
            self._send(200, {"forbidden": body["namespace"]})
        else:
            self._send(404, status_object(404, "NotFound", f"no admin endpoint {method} {path}"))


# --- objects for tests and benchmarks ----------------------------------------------------------


def _pod_template(app: str, cpu: str = "100m", memory: str = "128Mi") -> Obj:
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {
            "containers": [
                {
                    "name": app,
                    "image": f"registry.example/{app}:1.0",
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {
                        "requests": {"cpu": cpu, "memory": memory},
                        "limits": {"cpu": "1", "memory": "512Mi"},
                    },
                }
            ]
        },
    }


def workload(kind: str, namespace: str, name: str, replicas: int = 2) -> Obj:
    """A minimal valid workload of `kind` (valid for the client's models too)."""
    resource = RESOURCES[kind]
    meta = {"name": name, "namespace": namespace, "labels": {"app": name}}
    selector = {"matchLabels": {"app": name}}
    spec: Obj
    if kind == "CronJob":
        job = {
            "template": {
                **_pod_template(name),
                "spec": {**_pod_template(name)["spec"], "restartPolicy": "OnFailure"},
            }
        }
        spec = {"schedule": "*/5 * * * *", "suspend": False, "jobTemplate": {"spec": job}}
    elif kind == "DaemonSet":
        spec = {"selector": selector, "template": _pod_template(name)}
    else:
        spec = {"replicas": replicas, "selector": selector, "template": _pod_template(name)}
        if kind == "StatefulSet":
            spec["serviceName"] = name
    return {"apiVersion": resource.api_version, "kind": kind, "metadata": meta, "spec": spec}


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_kube", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per API request")
    parser.add_argument(
        "--max-in-flight", type=int, help="answer 429 (Retry-After: 1) above this many in flight"
    )
    parser.add_argument("--token", default="fake-token", help="bearer token required ('' = none)")
    parser.add_argument("--load", help="JSON file: a list of namespaces and workloads")
    parser.add_argument("--kubeconfig", help="write a kubeconfig for this server to PATH")
    args = parser.parse_args(argv)
    fake = FakeKube(args.host, args.port, token=args.token or None)
    fake.latency = args.latency
    fake.max_in_flight = args.max_in_flight
    if args.load:
        fake.add_all(json.loads(Path(args.load).read_text(encoding="utf-8")))
    url = fake.start()
    if args.kubeconfig:
        fake.write_kubeconfig(args.kubeconfig)
    print(url, flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
