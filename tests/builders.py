"""Builders of Kubernetes objects for tests (plain JSON dicts, as the API server sends them),
and of activity records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from core.clock import epoch
from core.models import ActivityRecord, OperationType, RecordStatus, WorkloadSnapshot

Obj = dict[str, Any]


def _template(name: str, cpu: str = "250m", memory: str = "256Mi") -> Obj:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": name,
                    "image": f"registry.example/{name}:1.0",
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ]
        },
    }


def _meta(namespace: str, name: str, annotations: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": namespace, "labels": {"app": name}}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def deployment(namespace: str, name: str, replicas: int = 2, **kw: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(namespace, name, kw.get("annotations")),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": _template(name),
        },
    }


def statefulset(namespace: str, name: str, replicas: int = 1, **kw: Any) -> Obj:
    obj = deployment(namespace, name, replicas, **kw)
    obj["kind"] = "StatefulSet"
    obj["spec"]["serviceName"] = name
    return obj


def daemonset(namespace: str, name: str, node_selector: dict[str, str] | None = None) -> Obj:
    template = _template(name, cpu="100m", memory="128Mi")
    if node_selector is not None:
        template["spec"]["nodeSelector"] = dict(node_selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(namespace, name),
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template},
        "status": {"desiredNumberScheduled": 3},
    }


def cronjob(namespace: str, name: str, suspend: bool = False) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(namespace, name),
        "spec": {
            "schedule": "*/15 * * * *",
            "suspend": suspend,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [{"name": name, "image": "registry.example/job:1"}],
                        }
                    }
                }
            },
        },
    }


def namespace(name: str, annotations: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta("", name, annotations)}


def team_namespace(name: str, deployments: dict[str, int] | None = None) -> list[Obj]:
    """A typical team namespace: deployments, a statefulset, a daemonset and two cronjobs."""
    objs = [namespace(name)]
    for dep, replicas in (deployments or {"api": 3, "worker": 1}).items():
        objs.append(deployment(name, dep, replicas))
    objs += [
        statefulset(name, "db", 1),
        daemonset(name, "log-agent", {"kubernetes.io/os": "linux"}),
        cronjob(name, "report"),
        cronjob(name, "cleanup", suspend=True),
    ]
    return objs


def write_manifests(path: Path, objects: list[Obj]) -> Path:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")
    return path


def spec_state(obj: Obj) -> Any:
    """The part of an object that sleep changes and wake must restore exactly."""
    kind, spec = obj["kind"], obj["spec"]
    if kind in ("Deployment", "StatefulSet"):
        return spec.get("replicas", 1)
    if kind == "DaemonSet":
        return spec["template"]["spec"].get("nodeSelector") or {}
    return bool(spec.get("suspend", False))


def our_annotations(obj: Obj) -> dict[str, str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return {k: v for k, v in annotations.items() if k.startswith("namespace-ctl.io/")}


# ---- activity records -------------------------------------------------------------------------


def shutdown_record(
    ns: str,
    start: datetime,
    end: datetime | None = None,
    workloads: Sequence[WorkloadSnapshot] = (),
) -> ActivityRecord:
    """A night: `auto_shutdown` from `start` to `end` (open without it), with its snapshot."""
    return ActivityRecord(
        namespace_name=ns,
        timestamp_start=epoch(start),
        timestamp_end=epoch(end) if end else None,
        operation_type=OperationType.AUTO_SHUTDOWN,
        status=RecordStatus.COMPLETED if end else RecordStatus.ACTIVE,
        workloads=list(workloads),
    )


def activation_record(
    ns: str, cc: str, start: datetime, end: datetime | None = None, user: str = "ana"
) -> ActivityRecord:
    """An activation window charged to `cc` (open without `end`)."""
    return ActivityRecord(
        namespace_name=ns,
        timestamp_start=epoch(start),
        timestamp_end=epoch(end) if end else None,
        operation_type=OperationType.MANUAL_ACTIVATION,
        status=RecordStatus.COMPLETED if end else RecordStatus.ACTIVE,
        cost_center=cc,
        user_id=user,
    )
