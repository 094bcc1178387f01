"""Build manifests/ with `kubectl kustomize` (offline) and find objects in the output, for the
manifest, monitoring and RBAC tests. No kubectl is a failure that says how to install it, never a
skip."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
BUILDS = ("base", "overlays/single", "overlays/ha", "monitoring")
Obj = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail(
            "kubectl is not installed: the manifests are built with `kubectl kustomize` (offline). "
            "Install it (`apt-get install -y kubectl`; .ci/run does) and run again.",
            pytrace=False,
        )
    return found


@functools.cache
def _build(directory: str) -> tuple[Obj, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(MANIFESTS / directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"kubectl kustomize manifests/{directory}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def build(directory: str) -> list[Obj]:
    """The objects `kubectl kustomize manifests/<directory>` outputs (cached per session; the
    caller must not mutate them)."""
    return list(_build(directory))


def of_kind(objects: Iterable[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: Iterable[Obj], kind: str, name: str | None = None) -> Obj:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def rbac_rules(objects: Iterable[Obj]) -> list[Obj]:
    """Every rule of every ClusterRole and Role."""
    return [
        rule
        for o in objects
        if o.get("kind") in ("ClusterRole", "Role")
        for rule in o.get("rules") or []
    ]


def granted(objects: Iterable[Obj]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) for every rule (resourceNames ignored)."""
    return {
        (group, resource, verb)
        for rule in rbac_rules(objects)
        for group in rule.get("apiGroups") or []
        for resource in rule.get("resources") or []
        for verb in rule.get("verbs") or []
    }
