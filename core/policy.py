"""Pure validation of an activation: the facts in, a typed refusal (or None) out. No I/O."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from core.config import format_duration
from core.errors import RefusedError
from core.models import ActivationSlot, CostCenterPermission


class RefusalReason(StrEnum):
    """The reason words; every refusal message contains its word."""

    UNAUTHORIZED = "unauthorized"
    LIMIT_EXCEEDED = "limit exceeded"
    BUSINESS_HOURS = "business hours"
    NOT_FOUND = "not found"
    EXCLUDED = "excluded"
    ALREADY_ACTIVE = "already active"
    INVALID = "invalid"
    EXPIRED = "expired"
    ALREADY_DECIDED = "already decided"


class Refusal(RefusedError):
    """A request that breaks a rule. Nothing was changed."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        if reason.value not in message.lower():
            message = f"{reason.value}: {message}"
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ActivationFacts:
    """What the check needs to know, gathered by the use case."""

    namespace: str
    cost_center: str
    duration: timedelta
    reason: str
    business_time: bool
    namespace_exists: bool
    excluded_reason: str | None
    permission: CostCenterPermission | None
    slot: ActivationSlot | None  # the namespace's live or claimed slot, if any
    active_total: int
    active_for_cost_center: int
    global_cap: int
    max_duration: timedelta


def cost_center_cap(permission: CostCenterPermission, global_cap: int) -> int:
    """A cost center without its own cap gets the global one."""
    if permission.max_concurrent_namespaces is None:
        return global_cap
    return permission.max_concurrent_namespaces


def lists_namespace(permission: CostCenterPermission, namespace: str) -> bool:
    return any(fnmatch.fnmatchcase(namespace, p) for p in permission.authorized_namespaces)


def check_activation(facts: ActivationFacts) -> Refusal | None:
    """The first rule the request breaks, in the order a person would want to hear it."""
    for check in (_when, _where, _who, _what, _caps):
        refusal = check(facts)
        if refusal is not None:
            return refusal
    return None


def _when(f: ActivationFacts) -> Refusal | None:
    if f.business_time:
        return Refusal(
            RefusalReason.BUSINESS_HOURS,
            f"{f.namespace} is awake during business hours: activation is for after hours only",
        )
    return None


def _where(f: ActivationFacts) -> Refusal | None:
    if not f.namespace_exists:
        return Refusal(
            RefusalReason.NOT_FOUND,
            f"namespace {f.namespace!r} not found in the cluster (check the name)",
        )
    if f.excluded_reason:
        return Refusal(
            RefusalReason.EXCLUDED,
            f"namespace {f.namespace} is excluded ({f.excluded_reason}): it never sleeps",
        )
    return None


def _who(f: ActivationFacts) -> Refusal | None:
    perm = f.permission
    if perm is None:
        return Refusal(
            RefusalReason.UNAUTHORIZED,
            f"cost center {f.cost_center!r} is unknown: unauthorized (ask an admin to add it)",
        )
    if not perm.is_authorized:
        return Refusal(
            RefusalReason.UNAUTHORIZED,
            f"cost center {f.cost_center} is unauthorized for after-hours activation",
        )
    if not lists_namespace(perm, f.namespace):
        return Refusal(
            RefusalReason.UNAUTHORIZED,
            f"cost center {f.cost_center} is unauthorized for {f.namespace} "
            f"(it lists {', '.join(perm.authorized_namespaces) or 'no namespaces'})",
        )
    return None


def _what(f: ActivationFacts) -> Refusal | None:
    if f.slot is not None:
        return Refusal(
            RefusalReason.ALREADY_ACTIVE,
            f"{f.namespace} is already active (until epoch {f.slot.ends_at}); use extend",
        )
    return check_duration(f.duration, f.max_duration) or check_reason(f.reason)


def check_duration(duration: timedelta, max_duration: timedelta) -> Refusal | None:
    if duration <= timedelta(0):
        return Refusal(RefusalReason.INVALID, "invalid duration: it must be positive, e.g. 2h")
    if duration > max_duration:
        return Refusal(
            RefusalReason.INVALID,
            f"invalid duration {format_duration(duration)}: the maximum is "
            f"{format_duration(max_duration)} (activation.max_duration)",
        )
    return None


def check_reason(reason: str) -> Refusal | None:
    if not reason.strip():
        return Refusal(RefusalReason.INVALID, "invalid request: say why (a reason is required)")
    return None


def _caps(f: ActivationFacts) -> Refusal | None:
    assert f.permission is not None  # _who ran first
    if f.active_total >= f.global_cap:
        return global_limit_refusal(f.global_cap)
    cap = cost_center_cap(f.permission, f.global_cap)
    if f.active_for_cost_center >= cap:
        return cost_center_limit_refusal(f.cost_center, cap)
    return None


def global_limit_refusal(cap: int) -> Refusal:
    return Refusal(
        RefusalReason.LIMIT_EXCEEDED,
        f"limit exceeded: {cap} namespaces are already awake after hours "
        "(limits.max_active_namespaces); try when one ends",
    )


def cost_center_limit_refusal(cost_center: str, cap: int) -> Refusal:
    return Refusal(
        RefusalReason.LIMIT_EXCEEDED,
        f"limit exceeded: cost center {cost_center} already has {cap} namespaces awake "
        "(its max_concurrent_namespaces)",
    )
