"""`SimulatedCluster`: the `Cluster` protocol in memory, loaded from real manifest YAML.

For the demo, the console and tests. It behaves like the API server where namespace-ctl can tell:
- objects get a uid, a generation and a resourceVersion from one cluster-wide counter; a patch
  that changes nothing keeps the resourceVersion;
- PATCH is a strategic merge on maps (null deletes a key, a map emptied that way disappears, lists
  are replaced, `$patch: replace|delete` are honoured); `metadata.resourceVersion` in the body is
  a precondition (409 `ConflictError`); `status` in a body is ignored (it is a subresource);
  the result is validated (422) before it is stored;
- defaults: `spec.replicas` 1, `spec.suspend` false; Deployment/StatefulSet status follows
  spec.replicas; a DaemonSet schedules on `SIMULATED_NODES` nodes (or its manifest's
  `status.desiredNumberScheduled`) and on none while its nodeSelector holds
  `namespace-ctl.io/sleeping: "true"`.
Only the four workload kinds and Namespaces are kept; other documents (Services, ConfigMaps, ...)
are read and ignored. A workload's namespace exists even without a Namespace document.

With `state_path`, the state is written (temp file + `os.replace`) after every change and read
from there at start instead of the manifests, so a later process sees the same cluster; writers
take a file lock and every call first re-reads the file if another process replaced it.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from core.cluster.base import NamespaceInfo, WorkloadObject
from core.errors import ClusterError, ConfigError, ConflictError, NotFoundError
from core.models import WorkloadKind, WorkloadRef
from core.scaling.base import SLEEPING_NODE_LABEL
from core.scaling.quantities import QuantityError, parse_quantity

SIMULATED_NODES = 3
STATE_VERSION = 1
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

API_VERSIONS = {
    WorkloadKind.DEPLOYMENT: "apps/v1",
    WorkloadKind.STATEFULSET: "apps/v1",
    WorkloadKind.DAEMONSET: "apps/v1",
    WorkloadKind.CRONJOB: "batch/v1",
}
RESOURCE_NAMES = {
    WorkloadKind.DEPLOYMENT: "deployments.apps",
    WorkloadKind.STATEFULSET: "statefulsets.apps",
    WorkloadKind.DAEMONSET: "daemonsets.apps",
    WorkloadKind.CRONJOB: "cronjobs.batch",
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

Key = tuple[str, str]  # (namespace, name)
_DELETE = object()  # a `$patch: delete` result


# ---- strategic merge ----------------------------------------------------------------------------


def strategic_merge(target: Any, patch: Any) -> Any:
    """Merge `patch` into `target` (neither is modified) as the API server's strategic merge does
    for maps: keys merge recursively, null deletes, a map emptied by deletions is dropped (Go's
    omitempty), lists and scalars replace."""
    result = _merge(target, patch)
    return None if result is _DELETE else result


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    body = {k: v for k, v in patch.items() if not k.startswith("$")}
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in body.items() if v is not None}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in body.items():
        if value is None:
            result.pop(key, None)
            continue
        merged = _merge(result.get(key), value)
        emptied = isinstance(value, dict) and not merged and any(v is None for v in value.values())
        if merged is _DELETE or emptied:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


# ---- validation (what the API server would refuse) ----------------------------------------------


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string_map(value: Any, where: str, problems: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        problems.append(f"{where} must be a map of strings, not {value!r}")
        return
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            problems.append(
                f'{where}.{key}: {item!r} must be a string (quote it in YAML, e.g. "true")'
            )


def _check_containers(pod_spec: Any, where: str, problems: list[str]) -> None:
    if not isinstance(pod_spec, Mapping):
        problems.append(f"{where} must be a pod spec (a map with containers)")
        return
    for field, required in (("containers", True), ("initContainers", False)):
        containers = pod_spec.get(field)
        if containers is None and not required:
            continue
        if not isinstance(containers, list) or (required and not containers):
            problems.append(f"{where}.{field} must be a list of containers")
            continue
        for i, container in enumerate(containers):
            at = f"{where}.{field}[{i}]"
            if not isinstance(container, Mapping) or not isinstance(container.get("name"), str):
                problems.append(f"{at} must be a container with a name")
                continue
            resources = container.get("resources")
            if resources is None:
                continue
            if not isinstance(resources, Mapping):
                problems.append(f"{at}.resources must be a map")
                continue
            for section in ("requests", "limits"):
                amounts = resources.get(section)
                if amounts is None:
                    continue
                if not isinstance(amounts, Mapping):
                    problems.append(f"{at}.resources.{section} must be a map")
                    continue
                for resource, amount in amounts.items():
                    try:
                        negative = parse_quantity(amount) < 0
                    except QuantityError as exc:
                        problems.append(f"{at}.resources.{section}.{resource}: {exc}")
                        continue
                    if negative:
                        problems.append(f"{at}.resources.{section}.{resource} must not be negative")
    _string_map(pod_spec.get("nodeSelector"), f"{where}.nodeSelector", problems)


def workload_problems(kind: WorkloadKind, obj: Any) -> list[str]:
    """What the API server would reject in this workload (empty when it is valid)."""
    problems: list[str] = []
    if not isinstance(obj, Mapping):
        return ["not a map"]
    expected = API_VERSIONS[kind]
    if obj.get("apiVersion") != expected:
        problems.append(
            f"apiVersion {obj.get('apiVersion')!r} does not serve {kind.value}: use {expected}"
        )
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return [*problems, "metadata must be a map"]
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        problems.append(f"metadata.name {name!r} is not a valid name (lower case, digits, '-')")
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace):
        problems.append(f"metadata.namespace {namespace!r} is not a valid namespace name")
    _string_map(meta.get("labels"), "metadata.labels", problems)
    _string_map(meta.get("annotations"), "metadata.annotations", problems)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return [*problems, "spec must be a map"]
    if kind is WorkloadKind.CRONJOB:
        if not isinstance(spec.get("schedule"), str) or not spec["schedule"].strip():
            problems.append("spec.schedule must be a cron expression string")
        if spec.get("suspend") is not None and not isinstance(spec["suspend"], bool):
            problems.append(f"spec.suspend must be true or false, not {spec['suspend']!r}")
        template = _dig(spec, "jobTemplate", "spec", "template")
        if not isinstance(template, Mapping):
            return [*problems, "spec.jobTemplate.spec.template must be a pod template"]
        _check_containers(template.get("spec"), "spec.jobTemplate.spec.template.spec", problems)
        return problems
    if kind is not WorkloadKind.DAEMONSET:
        replicas = spec.get("replicas")
        if replicas is not None and (not _is_int(replicas) or replicas < 0):
            problems.append(f"spec.replicas must be a non-negative integer, not {replicas!r}")
    selector = spec.get("selector")
    template = spec.get("template")
    if not isinstance(selector, Mapping):
        problems.append("spec.selector is required (e.g. matchLabels: {app: NAME})")
    if not isinstance(template, Mapping):
        return [*problems, "spec.template must be a pod template"]
    template_meta = template.get("metadata")
    labels = template_meta.get("labels") if isinstance(template_meta, Mapping) else None
    _string_map(labels, "spec.template.metadata.labels", problems)
    match_labels = selector.get("matchLabels") if isinstance(selector, Mapping) else None
    if isinstance(match_labels, Mapping):
        labels = labels if isinstance(labels, Mapping) else {}
        if any(labels.get(k) != v for k, v in match_labels.items()):
            problems.append(
                "spec.selector.matchLabels does not match spec.template.metadata.labels"
            )
    _check_containers(template.get("spec"), "spec.template.spec", problems)
    return problems


# ---- the cluster --------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(kind: str, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    where = "/".join(str(p) for p in (meta.get("namespace"), meta.get("name")) if p)
    return f"{kind} {where}".strip()


class SimulatedCluster:
    """An in-memory cluster with API-server semantics for the calls namespace-ctl makes."""

    def __init__(self, concurrency: int = 8, state_path: str | Path | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._concurrency = concurrency
        self._state_path = Path(state_path) if state_path is not None else None
        self.events: list[dict[str, Any]] = []
        self._state_signature: tuple[int, int, int] | None = None
        self._lock = threading.RLock()
        self._counter = 0
        self._namespaces: dict[str, dict[str, Any]] = {}
        self._workloads: dict[WorkloadKind, dict[Key, dict[str, Any]]] = {
            kind: {} for kind in WorkloadKind
        }
        self._nodes: dict[str, int] = {}  # DaemonSet "namespace/name" -> nodes it schedules on

    # ---- construction --------------------------------------------------------------------------

    @classmethod
    def from_manifests(
        cls,
        paths: Sequence[str | Path],
        state_path: str | Path | None = None,
        concurrency: int = 8,
    ) -> SimulatedCluster:
        """Load manifest files (or directories of them); from `state_path` instead when it exists.

        Raise `ConfigError` naming the file, the document and what is wrong.
        """
        cluster = cls(concurrency=concurrency, state_path=state_path)
        if cluster._state_path is not None and cluster._state_path.exists():
            with cluster._lock:
                cluster._load_state()
            return cluster
        implied: list[str] = []
        for file in _manifest_files(paths):
            implied += cluster._load_file(file)
        for name in implied:
            if name not in cluster._namespaces:
                cluster._add_namespace({"metadata": {"name": name}})
        return cluster

    def _load_file(self, file: Path) -> list[str]:
        """Load one file; return the namespaces its workloads imply."""
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read the manifest file: {exc}") from None
        implied: list[str] = []
        number = 0
        documents = yaml.safe_load_all(text)
        while True:
            number += 1
            try:
                document = next(documents)
            except StopIteration:
                break
            except yaml.YAMLError as exc:
                raise ConfigError(f"{file}: document {number}: not valid YAML: {exc}") from None
            if document is None:
                continue
            if isinstance(document, Mapping) and document.get("kind") == "List":
                items = document.get("items")
                if not isinstance(items, list):
                    raise ConfigError(f"{file}: document {number}: a List needs a list of items")
                for index, item in enumerate(items, start=1):
                    implied += self._load_document(item, f"{file}: document {number}, item {index}")
            else:
                implied += self._load_document(document, f"{file}: document {number}")
        return implied

    def _load_document(self, document: Any, where: str) -> list[str]:
        if not isinstance(document, Mapping):
            raise ConfigError(f"{where}: not a Kubernetes object (expected a map with kind)")
        kind = document.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ConfigError(f"{where}: no kind (every object needs kind and metadata.name)")
        meta = document.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: {kind} has no metadata.name")
        obj = copy.deepcopy(dict(document))
        if kind == "Namespace":
            problems: list[str] = []
            if len(name) > 63 or not _DNS_LABEL.match(name):
                problems.append(f"{name!r} is not a valid namespace name")
            _string_map(obj["metadata"].get("labels"), "metadata.labels", problems)
            _string_map(obj["metadata"].get("annotations"), "metadata.annotations", problems)
            if name in self._namespaces:
                problems.append("defined twice")
            if problems:
                raise ConfigError(f"{where}: Namespace {name}: {'; '.join(problems)}")
            self._add_namespace(obj)
            return []
        try:
            workload_kind = WorkloadKind(kind)
        except ValueError:
            namespace = meta.get("namespace") if isinstance(meta, Mapping) else None
            return [namespace] if isinstance(namespace, str) and namespace else []
        obj["metadata"].setdefault("namespace", "default")
        problems = workload_problems(workload_kind, obj)
        key = (obj["metadata"]["namespace"], name)
        if not problems and key in self._workloads[workload_kind]:
            problems.append("defined twice")
        if problems:
            raise ConfigError(f"{where}: {_describe(kind, obj)}: {'; '.join(problems)}")
        self._add_workload(workload_kind, obj)
        return [key[0]]

    def _next_version(self) -> str:
        self._counter += 1
        return str(self._counter)

    def _add_namespace(self, obj: Mapping[str, Any]) -> None:
        meta = dict(obj.get("metadata") or {})
        meta.pop("namespace", None)
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            creationTimestamp=meta.get("creationTimestamp") or _now(),
        )
        self._namespaces[meta["name"]] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": meta,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def _add_workload(self, kind: WorkloadKind, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        meta.update(
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            generation=1,
            creationTimestamp=meta.get("creationTimestamp") or _now(),
        )
        spec = obj["spec"]
        if (
            kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET)
            and spec.get("replicas") is None
        ):
            spec["replicas"] = 1
        if kind is WorkloadKind.CRONJOB and spec.get("suspend") is None:
            spec["suspend"] = False
        if kind is WorkloadKind.DAEMONSET:
            given = _dig(obj, "status", "desiredNumberScheduled")
            nodes = SIMULATED_NODES
            if isinstance(given, int) and not isinstance(given, bool) and given >= 0:
                nodes = given
            if _unschedulable(obj):  # loaded asleep: its status says nothing of its nodes
                nodes = SIMULATED_NODES
            self._nodes[_node_key(meta)] = nodes
        _derive_status(kind, obj, self._nodes)
        self._workloads[kind][(meta["namespace"], meta["name"])] = obj

    # ---- the Cluster protocol ------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        return self._concurrency

    def list_namespaces(self) -> list[NamespaceInfo]:
        with self._guard():
            return [
                NamespaceInfo(
                    name=name,
                    annotations=dict(ns["metadata"].get("annotations") or {}),
                    labels=dict(ns["metadata"].get("labels") or {}),
                )
                for name, ns in sorted(self._namespaces.items())
            ]

    def list_workloads(self, kind: WorkloadKind) -> list[WorkloadObject]:
        with self._guard():
            objects = self._workloads[WorkloadKind(kind)]
            return [copy.deepcopy(objects[key]) for key in sorted(objects)]

    def create_event(self, event: dict[str, Any]) -> None:
        """Kept in memory (never in the state file): what `kubectl events` would list."""
        with self._guard():
            self.events.append(copy.deepcopy(event))

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        """No pods are simulated: every workload's status is what its controller converges to
        at once (`_derive_status`), so nothing is ever left to explain."""
        return []

    def get_workload(self, ref: WorkloadRef) -> WorkloadObject:
        with self._guard():
            return copy.deepcopy(self._find(ref))

    def patch_workload(
        self, ref: WorkloadRef, body: dict[str, Any], dry_run: bool = False
    ) -> WorkloadObject:
        resource = RESOURCE_NAMES[ref.kind]
        if not isinstance(body, dict):
            raise ClusterError(
                f"{resource} {ref.name!r}: a strategic-merge patch must be a JSON object",
                status=400,
            )
        with self._guard(write=not dry_run):
            current = self._find(ref)
            meta_patch = body.get("metadata")
            wanted = meta_patch.get("resourceVersion") if isinstance(meta_patch, dict) else None
            if wanted is not None and str(wanted) != current["metadata"]["resourceVersion"]:
                raise ConflictError(
                    f'Operation cannot be fulfilled on {resource} "{ref.name}": the object has '
                    "been modified; please apply your changes to the latest version and try again",
                    status=409,
                )
            patch = copy.deepcopy(body)
            patch.pop("status", None)  # the status subresource is the controllers' to write
            if isinstance(patch.get("metadata"), dict):
                patch["metadata"].pop("resourceVersion", None)
            merged: dict[str, Any] = self._validate_update(
                ref, current, strategic_merge(current, patch)
            )
            if merged.get("spec") != current.get("spec"):
                merged["metadata"]["generation"] = int(current["metadata"]["generation"]) + 1
            _derive_status(ref.kind, merged, self._nodes)
            if merged == current:
                return copy.deepcopy(current)  # a no-op patch: the object is not touched
            if dry_run:
                return merged
            merged["metadata"]["resourceVersion"] = self._next_version()
            self._commit(lambda: self._workloads[ref.kind].__setitem__(_key(ref), merged))
            return copy.deepcopy(merged)

    # ---- helpers for tests and the demo --------------------------------------------------------

    def set_replicas(self, ref: WorkloadRef, replicas: int) -> WorkloadObject:
        """Scale a Deployment or StatefulSet as a person would (`kubectl scale`)."""
        if ref.kind not in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET):
            raise ValueError(f"{ref.kind.value} has no replicas to scale")
        return self.patch_workload(ref, {"spec": {"replicas": replicas}})

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace and everything in it (at once: no Terminating phase)."""
        with self._guard(write=True):
            if name not in self._namespaces:
                raise NotFoundError(f'namespaces "{name}" not found', status=404)

            def delete() -> None:
                del self._namespaces[name]
                for objects in self._workloads.values():
                    for key in [key for key in objects if key[0] == name]:
                        del objects[key]

            self._commit(delete)

    def delete_workload(self, ref: WorkloadRef) -> None:
        with self._guard(write=True):
            self._find(ref)
            self._commit(lambda: self._workloads[ref.kind].pop(_key(ref)))

    # ---- internals -----------------------------------------------------------------------------

    def _find(self, ref: WorkloadRef) -> dict[str, Any]:
        if ref.namespace not in self._namespaces:
            raise NotFoundError(f'namespaces "{ref.namespace}" not found', status=404)
        obj = self._workloads[ref.kind].get(_key(ref))
        if obj is None:
            raise NotFoundError(
                f'{RESOURCE_NAMES[ref.kind]} "{ref.name}" not found in namespace "{ref.namespace}"',
                status=404,
            )
        return obj

    def _validate_update(
        self, ref: WorkloadRef, current: Mapping[str, Any], merged: Any
    ) -> dict[str, Any]:
        """`merged` if the API server would accept it as the new object; else a 422."""
        resource = RESOURCE_NAMES[ref.kind]
        problems = workload_problems(ref.kind, merged)
        if not problems:
            for field in ("name", "namespace", "uid"):
                if merged["metadata"].get(field) != current["metadata"].get(field):
                    problems.append(f"metadata.{field} is immutable")
            if merged.get("kind") != current.get("kind"):
                problems.append("kind is immutable")
        if problems:
            raise ClusterError(f'{resource} "{ref.name}" is invalid: {"; ".join(problems)}', 422)
        assert isinstance(merged, dict)
        return merged

    def _commit(self, change: Callable[[], object]) -> None:
        """Apply `change` and persist it; undo it in memory if the state cannot be written."""
        if self._state_path is None:
            change()
            return
        snapshot = self._dump()
        change()
        try:
            self._save()
        except OSError as exc:
            self._restore(snapshot)
            raise ClusterError(
                f"could not write the simulated cluster state to {self._state_path}: {exc}",
                status=500,
            ) from None

    @contextlib.contextmanager
    def _guard(self, write: bool = False) -> Iterator[None]:
        """The thread lock, the file lock for writers, and a fresh view of the state file."""
        with self._lock:
            lock_file = None
            if write and self._state_path is not None:
                self._state_path.parent.mkdir(parents=True, exist_ok=True)
                lock_file = open(  # noqa: SIM115 - held across the yield
                    self._state_path.with_name(self._state_path.name + ".lock"), "a"
                )
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                self._sync()
                yield
            finally:
                if lock_file is not None:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
                    lock_file.close()

    def _signature(self) -> tuple[int, int, int] | None:
        assert self._state_path is not None
        try:
            st = os.stat(self._state_path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _sync(self) -> None:
        if self._state_path is None:
            return
        signature = self._signature()
        if signature is not None and signature != self._state_signature:
            self._load_state()

    def _dump(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "resourceVersion": self._counter,
            "namespaces": [self._namespaces[name] for name in sorted(self._namespaces)],
            "workloads": {
                kind.value: [objects[key] for key in sorted(objects)]
                for kind, objects in self._workloads.items()
            },
            "daemonSetNodes": dict(sorted(self._nodes.items())),
        }

    def _restore(self, state: Mapping[str, Any]) -> None:
        state = copy.deepcopy(state)
        self._counter = int(state["resourceVersion"])
        self._namespaces = {ns["metadata"]["name"]: ns for ns in state["namespaces"]}
        self._workloads = {kind: {} for kind in WorkloadKind}
        for kind_name, objects in state["workloads"].items():
            kind = WorkloadKind(kind_name)
            for obj in objects:
                self._workloads[kind][(obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        self._nodes = {str(k): int(v) for k, v in state.get("daemonSetNodes", {}).items()}

    def _save(self) -> None:
        assert self._state_path is not None
        path = self._state_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self._dump(), out, separators=(",", ":"))
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._state_signature = self._signature()

    def _load_state(self) -> None:
        assert self._state_path is not None
        path = self._state_path
        signature = self._signature()
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise ValueError(f"not a version {STATE_VERSION} simulated cluster state")
            self._restore(state)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"simulated cluster state {path} is unreadable ({exc}); "
                "delete it to start again from the manifests"
            ) from None
        self._state_signature = signature

    def __repr__(self) -> str:
        count = sum(len(objects) for objects in self._workloads.values())
        return (
            f"SimulatedCluster({len(self._namespaces)} namespaces, {count} workloads, "
            f"state_path={str(self._state_path) if self._state_path else None!r})"
        )


def _key(ref: WorkloadRef) -> Key:
    return (ref.namespace, ref.name)


def _node_key(meta: Mapping[str, Any]) -> str:
    return f"{meta['namespace']}/{meta['name']}"


def _unschedulable(obj: Mapping[str, Any]) -> bool:
    selector = _dig(obj, "spec", "template", "spec", "nodeSelector")
    return isinstance(selector, Mapping) and selector.get(SLEEPING_NODE_LABEL) == "true"


def _derive_status(kind: WorkloadKind, obj: dict[str, Any], nodes: Mapping[str, int]) -> None:
    """Set the status the controllers would converge to."""
    status = dict(obj.get("status") or {})
    generation = obj["metadata"].get("generation", 1)
    if kind in (WorkloadKind.DEPLOYMENT, WorkloadKind.STATEFULSET):
        replicas = obj["spec"].get("replicas", 1)
        status.update(
            observedGeneration=generation,
            replicas=replicas,
            readyReplicas=replicas,
            updatedReplicas=replicas,
            availableReplicas=replicas,
        )
        if kind is WorkloadKind.STATEFULSET:
            status["currentReplicas"] = replicas
    elif kind is WorkloadKind.DAEMONSET:
        scheduled = 0 if _unschedulable(obj) else nodes.get(_node_key(obj["metadata"]), 0)
        status.update(
            observedGeneration=generation,
            desiredNumberScheduled=scheduled,
            currentNumberScheduled=scheduled,
            updatedNumberScheduled=scheduled,
            numberReady=scheduled,
            numberAvailable=scheduled,
            numberMisscheduled=0,
        )
    obj["status"] = status


def _manifest_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(
                f"manifest file {path} not found (cluster.simulated must name a YAML file "
                "or a directory of them)"
            )
    return files
