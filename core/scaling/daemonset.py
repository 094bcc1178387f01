"""DaemonSets: sleep by merging `namespace-ctl.io/sleeping: "true"` into the pod template's
nodeSelector (no node carries that label, so no pod is scheduled); the original selector is kept
as JSON in `namespace-ctl.io/original-node-selector` (`{}` when there was none).

Wake puts the sleeping key back as it was (out, unless the original selector had it) and
touches nothing else: a selector untouched while asleep comes back
exactly, and a key someone added or changed while it slept keeps its new value (README: a workload
changed while asleep keeps its new value on wake); no selector at all when it was `{}` and nothing
was added.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.cluster.base import WorkloadObject
from core.models import OutcomeStatus, WorkloadKind, WorkloadSnapshot
from core.scaling.base import (
    ORIGINAL_NODE_SELECTOR,
    SLEEPING_NODE_LABEL,
    Plan,
    Readiness,
    observed_stale,
    status_count,
)
from core.scaling.deployment import (
    annotations_of,
    build_patch,
    dig,
    invalid_annotation,
    make_snapshot,
    quoted,
)

SLEEPING_VALUE = "true"


def encode_selector(selector: Mapping[str, str]) -> str:
    return json.dumps(dict(selector), sort_keys=True, separators=(",", ":"))


def decode_selector(text: Any) -> dict[str, str] | None:
    """The stored selector, or None when it is not a JSON object of strings."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return value


def _selector(obj: WorkloadObject) -> dict[str, str] | None:
    """The pod template's nodeSelector ({} when none); None when it is not a map of strings."""
    value = dig(obj, "spec", "template", "spec", "nodeSelector")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return dict(value)


def _node_selector_patch(selector: Mapping[str, str | None] | None) -> dict[str, Any]:
    return {"template": {"spec": {"nodeSelector": selector}}}


def _bad_selector(obj: WorkloadObject) -> Plan:
    value = dig(obj, "spec", "template", "spec", "nodeSelector")
    return Plan(
        OutcomeStatus.FAILED,
        None,
        f"spec.template.spec.nodeSelector is {quoted(value)}, not a map of strings; "
        "nothing was changed",
    )


class DaemonSetStrategy:
    kind = WorkloadKind.DAEMONSET

    def __repr__(self) -> str:
        return "DaemonSetStrategy()"

    def is_sleeping(self, obj: WorkloadObject) -> bool:
        return ORIGINAL_NODE_SELECTOR in annotations_of(obj)

    def plan_sleep(self, obj: WorkloadObject) -> Plan:
        selector = _selector(obj)
        if selector is None:
            return _bad_selector(obj)
        unschedulable = selector.get(SLEEPING_NODE_LABEL) == SLEEPING_VALUE
        patch = build_patch(
            obj,
            {ORIGINAL_NODE_SELECTOR: encode_selector(selector)},
            _node_selector_patch({SLEEPING_NODE_LABEL: SLEEPING_VALUE}),
        )
        if ORIGINAL_NODE_SELECTOR in annotations_of(obj):
            if unschedulable:
                return Plan(OutcomeStatus.UNCHANGED, None, "already asleep")
            # Someone took our key out while asleep: their selector is the one to restore.
            return Plan(
                OutcomeStatus.DRIFT,
                patch,
                "nodeSelector changed while asleep: unscheduled again "
                "(their selector restored in the morning)",
            )
        if unschedulable:
            return Plan(
                OutcomeStatus.UNCHANGED,
                None,
                f"already unscheduled (nodeSelector {SLEEPING_NODE_LABEL}, no annotation)",
            )
        return Plan(
            OutcomeStatus.CHANGED, patch, f"unscheduled (nodeSelector {SLEEPING_NODE_LABEL})"
        )

    def plan_wake(self, obj: WorkloadObject) -> Plan:
        annotations = annotations_of(obj)
        if ORIGINAL_NODE_SELECTOR not in annotations:
            return Plan(OutcomeStatus.UNCHANGED, None, "not asleep")
        selector = _selector(obj)
        if selector is None:
            return _bad_selector(obj)
        if selector.get(SLEEPING_NODE_LABEL) != SLEEPING_VALUE:
            patch = build_patch(obj, {ORIGINAL_NODE_SELECTOR: None}, None)
            return Plan(OutcomeStatus.CHANGED, patch, "kept nodeSelector (changed while asleep)")
        raw = annotations[ORIGINAL_NODE_SELECTOR]
        original = decode_selector(raw)
        if original is None:
            return Plan(
                OutcomeStatus.FAILED,
                None,
                invalid_annotation(
                    ORIGINAL_NODE_SELECTOR,
                    raw,
                    'a JSON object of strings (like {"kubernetes.io/os":"linux"})',
                    f"set spec.template.spec.nodeSelector by hand (without {SLEEPING_NODE_LABEL})",
                ),
            )
        kept = {key: value for key, value in selector.items() if key != SLEEPING_NODE_LABEL}
        restored: dict[str, str | None] | None = None
        if original or kept:  # our key back to what it was (none: taken out), the rest kept
            restored = {SLEEPING_NODE_LABEL: original.get(SLEEPING_NODE_LABEL)}
        patch = build_patch(obj, {ORIGINAL_NODE_SELECTOR: None}, _node_selector_patch(restored))
        untouched = {k: v for k, v in original.items() if k != SLEEPING_NODE_LABEL} == kept
        if untouched:
            return Plan(OutcomeStatus.CHANGED, patch, "nodeSelector restored")
        return Plan(
            OutcomeStatus.CHANGED, patch, "nodeSelector restored with the changes made while asleep"
        )

    def snapshot(self, obj: WorkloadObject) -> WorkloadSnapshot:
        scheduled = dig(obj, "status", "desiredNumberScheduled")
        replicas = (
            scheduled if isinstance(scheduled, int) and not isinstance(scheduled, bool) else 0
        )
        pod_spec = dig(obj, "spec", "template", "spec")
        return make_snapshot(self.kind, obj, max(replicas, 0), pod_spec)

    def readiness(self, obj: WorkloadObject) -> Readiness:
        wanted = status_count(obj, "desiredNumberScheduled")
        return Readiness(status_count(obj, "numberAvailable"), wanted, observed_stale(obj))


DAEMONSET = DaemonSetStrategy()
