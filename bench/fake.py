"""The fake API server as a separate process, its admin endpoints, and the benchmark's objects.

Only 127.0.0.1. Everything here uses the standard library, so the parent process of the
benchmark never imports the `kubernetes` client (its own RSS and CPU stay out of the figures).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TOKEN = "fake-token"
ORIGINAL_REPLICAS = "namespace-ctl.io/original-replicas"  # core.scaling.base.ORIGINAL_REPLICAS
REPLICAS = 2  # every benchmark Deployment runs 2 replicas before the night
ROOT = Path(__file__).resolve().parent.parent

Obj = dict[str, Any]


# ---- talking to a running fake ------------------------------------------------------------------


def _call(url: str, method: str, path: str, body: Any = None, timeout: float = 120.0) -> Any:
    data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {TOKEN}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def stats(url: str) -> Obj:
    """The fake's counters (admin requests are not counted in them)."""
    result: Obj = _call(url, "GET", "/_admin/stats")
    return result


def reset_counters(url: str) -> Obj:
    result: Obj = _call(url, "POST", "/_admin/reset", {})
    return result


def load_scenario(url: str, namespaces: int, per_namespace: int, chunk: int = 100) -> Obj:
    """Empty the fake, then load `namespaces` x `per_namespace` Deployments, `chunk` namespaces
    per request (small bodies: the loading process's peak RSS stays small), counters zeroed."""
    _call(url, "POST", "/_admin/reset", {"state": True})
    for start in range(0, namespaces, chunk):
        objects = list(
            scenario_objects(range(start, min(namespaces, start + chunk)), per_namespace)
        )
        _call(url, "POST", "/_admin/load", objects)
        del objects
    loaded = reset_counters(url)
    expected = namespaces * per_namespace
    if loaded["objects"].get("Deployment") != expected or loaded["namespaces"] != namespaces:
        raise RuntimeError(f"the fake holds {loaded}, not {namespaces} x {per_namespace}")
    return loaded


def namespace_name(index: int) -> str:
    return f"team-{index:04d}"


def scenario_objects(indexes: range, per_namespace: int) -> Iterator[Obj]:
    """Team namespaces of `per_namespace` Deployments at 2 replicas (the fake's own builder)."""
    from tests.fake_kube import workload

    for index in indexes:
        namespace = namespace_name(index)
        yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        for j in range(per_namespace):
            yield workload("Deployment", namespace, f"app-{j}", replicas=REPLICAS)


def verify_asleep(url: str, namespaces: int, per_namespace: int) -> list[str]:
    """Read every Deployment back through the API (one unpaginated list) and return what is
    wrong: a missing one, replicas not 0, or the annotation not carrying the original count."""
    listing = _call(url, "GET", "/apis/apps/v1/deployments")
    problems: list[str] = []
    seen = set()
    for item in listing["items"]:
        meta = item["metadata"]
        key = (meta["namespace"], meta["name"])
        seen.add(key)
        replicas = item["spec"].get("replicas")
        annotation = (meta.get("annotations") or {}).get(ORIGINAL_REPLICAS)
        if replicas != 0 or annotation != str(REPLICAS):
            problems.append(
                f"{key[0]}/{key[1]}: replicas={replicas} {ORIGINAL_REPLICAS}={annotation}"
            )
    expected = {
        (namespace_name(i), f"app-{j}") for i in range(namespaces) for j in range(per_namespace)
    }
    problems.extend(f"{ns}/{name}: missing" for ns, name in sorted(expected - seen))
    return problems


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc: the fake is not our child's child)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_kubeconfig(path: Path, url: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "bench", "user": {"token": TOKEN}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "bench"}}],
        "current-context": "fake",
    }
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


# ---- the fake's process ------------------------------------------------------------------------


class FakeProcess:
    """`python -m tests.fake_kube` on 127.0.0.1, a free port; always stopped by `stop()`."""

    def __init__(
        self, latency: float, log: Path, max_in_flight: int | None = None, token: str = TOKEN
    ) -> None:
        self.latency = latency
        self.token = token  # "": the fake asks for none (kubectl sends none over plain HTTP)
        self.max_in_flight = max_in_flight  # above it, 429 `Retry-After: 1` (None: no limit)
        self.log = log  # the fake's stderr (a pipe nobody reads could fill and block it)
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> str:
        command = [
            sys.executable,
            "-m",
            "tests.fake_kube",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--latency",
            str(self.latency),
            "--token",
            self.token,
        ]
        if self.max_in_flight is not None:
            command += ["--max-in-flight", str(self.max_in_flight)]
        with self.log.open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"the fake API server printed no URL within {timeout:.0f}s")
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            error = self.log.read_text(encoding="utf-8")[-2000:]
            raise RuntimeError(f"the fake API server did not start: {line!r} {error}")
        self.url = line
        return line

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM (the fake stops cleanly), then SIGKILL if it lingers; idempotent."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)

    def __enter__(self) -> FakeProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
