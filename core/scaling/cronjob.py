"""CronJobs: sleep with `suspend: true`, the original value kept in
`namespace-ctl.io/original-suspend`. A CronJob its team suspended is left alone (and stays
suspended in the morning)."""

from __future__ import annotations

from core.cluster.base import WorkloadObject
from core.models import OutcomeStatus, WorkloadKind, WorkloadSnapshot
from core.scaling.base import ORIGINAL_SUSPEND, Plan
from core.scaling.deployment import (
    annotations_of,
    build_patch,
    dig,
    invalid_annotation,
    make_snapshot,
    quoted,
    spec_of,
)

_SUSPEND = {"true": True, "false": False}


def _suspended(obj: WorkloadObject) -> bool | None:
    """spec.suspend, False when missing (the API server's default); None when not a boolean."""
    value = spec_of(obj).get("suspend")
    if value is None:
        return False
    return value if isinstance(value, bool) else None


def _bad_suspend(obj: WorkloadObject) -> Plan:
    value = spec_of(obj).get("suspend")
    return Plan(
        OutcomeStatus.FAILED,
        None,
        f"spec.suspend is {quoted(value)}, not true or false; nothing was changed",
    )


class CronJobStrategy:
    kind = WorkloadKind.CRONJOB

    def __repr__(self) -> str:
        return "CronJobStrategy()"

    def is_sleeping(self, obj: WorkloadObject) -> bool:
        return ORIGINAL_SUSPEND in annotations_of(obj)

    def plan_sleep(self, obj: WorkloadObject) -> Plan:
        suspended = _suspended(obj)
        if suspended is None:
            return _bad_suspend(obj)
        patch = build_patch(obj, {ORIGINAL_SUSPEND: "false"}, {"suspend": True})
        if ORIGINAL_SUSPEND in annotations_of(obj):
            if suspended:
                return Plan(OutcomeStatus.UNCHANGED, None, "already asleep")
            return Plan(
                OutcomeStatus.DRIFT,
                patch,
                "resumed while asleep: suspended again (resumed in the morning)",
            )
        if suspended:
            return Plan(OutcomeStatus.UNCHANGED, None, "already suspended")
        return Plan(OutcomeStatus.CHANGED, patch, "suspended")

    def plan_wake(self, obj: WorkloadObject) -> Plan:
        annotations = annotations_of(obj)
        if ORIGINAL_SUSPEND not in annotations:
            return Plan(OutcomeStatus.UNCHANGED, None, "not asleep")
        suspended = _suspended(obj)
        if suspended is None:
            return _bad_suspend(obj)
        if not suspended:
            patch = build_patch(obj, {ORIGINAL_SUSPEND: None}, None)
            return Plan(OutcomeStatus.CHANGED, patch, "kept running (resumed while asleep)")
        raw = annotations[ORIGINAL_SUSPEND]
        original = _SUSPEND.get(raw) if isinstance(raw, str) else None
        if original is None:
            return Plan(
                OutcomeStatus.FAILED,
                None,
                invalid_annotation(
                    ORIGINAL_SUSPEND,
                    raw,
                    '"true" or "false"',
                    "set spec.suspend by hand (kubectl patch cronjob ... suspend)",
                ),
            )
        patch = build_patch(obj, {ORIGINAL_SUSPEND: None}, {"suspend": original})
        return Plan(OutcomeStatus.CHANGED, patch, "kept suspended" if original else "resumed")

    def snapshot(self, obj: WorkloadObject) -> WorkloadSnapshot:
        pod_spec = dig(obj, "spec", "jobTemplate", "spec", "template", "spec")
        return make_snapshot(self.kind, obj, 0, pod_spec)

    def readiness(self, obj: WorkloadObject) -> None:
        """Nothing to wait for: a resumed CronJob runs at its next schedule."""
        return None


CRONJOB = CronJobStrategy()
