"""Kubernetes Events, so `kubectl events -n NS` and `kubectl describe` tell what namespace-ctl did.

One Event on the Namespace per sleep and per wake (and per verified-ready or not-ready), and one
on each workload that failed, all reported by the controller `namespace-ctl`. Events are best
effort: one that cannot be created is logged and never fails the pass (the audit log is the
record; an Event is what `kubectl` shows). A mass pass posts its Events at once, as many in
flight as the cluster allows, after its patches.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal

from core.cluster.base import Cluster
from core.models import Action, NamespaceResult, OperationResult, OutcomeStatus, WorkloadKind

log = logging.getLogger("namespace_ctl.events")

REPORTING_CONTROLLER = "namespace-ctl"
API_VERSIONS = {
    WorkloadKind.DEPLOYMENT: "apps/v1",
    WorkloadKind.STATEFULSET: "apps/v1",
    WorkloadKind.DAEMONSET: "apps/v1",
    WorkloadKind.CRONJOB: "batch/v1",
}
Event = dict[str, Any]


def reporting_instance() -> str:
    return os.environ.get("POD_NAME") or socket.gethostname()


def event(
    namespace: str,
    regarding: tuple[str, str, str],  # (apiVersion, kind, name)
    reason: str,
    message: str,
    at: int,
    warning: bool = False,
    action: str = "",
) -> Event:
    """A core/v1 Event (what `kubectl events` and `kubectl describe` list)."""
    api_version, kind, name = regarding
    stamp = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{time.time_ns():x}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            **({"namespace": namespace} if kind != "Namespace" else {}),
        },
        "reason": reason,
        "message": message[:1024],
        "type": "Warning" if warning else "Normal",
        "action": action or reason,
        "source": {"component": REPORTING_CONTROLLER},
        "reportingComponent": REPORTING_CONTROLLER,
        "reportingInstance": reporting_instance(),
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def on_namespace(
    namespace: str, reason: str, message: str, at: int, warning: bool = False
) -> Event:
    return event(namespace, ("v1", "Namespace", namespace), reason, message, at, warning)


def pass_events(result: OperationResult) -> list[Event]:
    """The Events of a pass: per namespace it slept or woke, and per workload that failed."""
    if result.dry_run:
        return []
    events: list[Event] = []
    for ns in result.namespaces:
        events += _namespace_events(ns, result.at)
    return events


def _namespace_events(ns: NamespaceResult, at: int) -> list[Event]:
    changed = [o for o in ns.outcomes if o.status in (OutcomeStatus.CHANGED, OutcomeStatus.DRIFT)]
    sleep = ns.action is Action.SLEEP
    events = []
    if changed:
        replicas = f" ({_plural(ns.replicas, 'replica')})" if ns.replicas is not None else ""
        verb = "put to sleep" if sleep else "woken"
        events.append(
            on_namespace(
                ns.namespace,
                "Slept" if sleep else "Woken",
                f"{_plural(len(changed), 'workload')} {verb} by namespace-ctl{replicas}",
                at,
            )
        )
    for outcome in ns.failed:
        ref = outcome.ref
        events.append(
            event(
                ns.namespace,
                (API_VERSIONS[ref.kind], ref.kind.value, ref.name),
                "SleepFailed" if sleep else "WakeFailed",
                outcome.error,
                at,
                warning=True,
            )
        )
    return events


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


EventLevel = Literal["all", "failures", "none"]


def post_events(cluster: Cluster, events: Sequence[Event], level: EventLevel = "all") -> int:
    """Create the Events `level` (`cluster.events`) keeps, `cluster.concurrency` at a time;
    return how many failed (logged). `failures`: the Warnings only."""
    if level == "none":
        return 0
    if level == "failures":
        events = [e for e in events if e["type"] == "Warning"]
    if not events:
        return 0
    workers = max(1, min(cluster.concurrency, len(events)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="events") as pool:
        failures = [exc for exc in pool.map(lambda e: _create(cluster, e), events) if exc]
    if failures:
        log.warning(
            "%d of %d Kubernetes Events could not be created (first: %s)",
            len(failures),
            len(events),
            failures[0],
        )
    return len(failures)


def _create(cluster: Cluster, item: Event) -> str:
    try:
        cluster.create_event(item)
    except Exception as exc:  # an Event never fails a pass
        return f"{type(exc).__name__}: {exc}"
    return ""


def readiness_events(
    ready: Iterable[tuple[str, int, int]], not_ready: Iterable[tuple[str, int, list[str]]]
) -> list[Event]:
    """(namespace, at, seconds) ready; (namespace, at, workload descriptions) not ready."""
    events = [
        on_namespace(ns, "Ready", f"every woken workload is ready, {seconds} s after the wake", at)
        for ns, at, seconds in ready
    ]
    events += [
        on_namespace(ns, "NotReady", "not ready by wake.ready_timeout: " + "; ".join(why), at, True)
        for ns, at, why in not_ready
    ]
    return events
