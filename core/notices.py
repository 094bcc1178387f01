"""Channel notices: what the team hears about, kept in an outbox until delivered.

The use cases post notices here (so a CLI `shutdown` is heard too) and the serving process
delivers them (`bot.slack.notifier`). A notice's id is derived from its event, so posting the
same event twice adds nothing. Delivery never blocks scaling: a failed delivery is retried with
exponential backoff (30 s doubling up to 15 min), and logged every time, until it is delivered or
it gets older than `slack.notice_max_age` (by its `at`): then it is expired (kept in the store,
marked `expired_at`, never due again, logged): a summary of last night is not news at noon.

The builders below turn core results into notices; they never read a clock or the store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from core.models import (
    Action,
    ActivationRequest,
    ActivationSlot,
    NamespaceResult,
    Notice,
    NoticeKind,
    OperationResult,
    OutcomeStatus,
    WorkloadOutcome,
)
from core.readiness import ACTIVATION_WAKE, NamespaceCheck, Settled, WakeSummary, Waking
from core.report import WeekSummary
from core.store.base import Store

__all__ = [
    "Notice",
    "NoticeKind",
    "Outbox",
    "activation_ended",
    "activation_ending",
    "activation_started",
    "booking_dropped",
    "cap_reached",
    "operation_notices",
    "request_decided",
    "request_expired",
    "request_opened",
]

log = logging.getLogger("namespace_ctl.notices")

FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 15 * 60
# From this many failed attempts on, each further failure is logged as an error (not a warning).
ALERT_AFTER_ATTEMPTS = 5
# A failure that persists (the reconcile retries it every few minutes) is alerted once per hour.
FAILURE_REPEAT_SECONDS = 3600
ENDING_NOTICE_SECONDS = 600  # "ending in 10 minutes"
MAX_LISTED = 50  # failures and namespaces listed in one notice's facts (counts stay exact)
MAX_ERROR = 500
# Facts key of a shutdown notice: {amount, currency, until} saved until the next wake-up, or None
# when no snapshot is known (`NamespaceService.announce` fills it).
ESTIMATED_SAVING = "estimated_saving"

PostCallback = Callable[[Notice], None]


class Outbox:
    """The notices waiting for delivery, over the store. Thread-safe (the store is)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._callbacks: list[PostCallback] = []
        self._lock = threading.Lock()
        self.posted = 0  # notices posted (or told of) so far: "anything new since?"

    def on_post(self, callback: PostCallback) -> None:
        """Call `callback(notice)` after each notice newly posted (e.g. to wake a notifier)."""
        with self._lock:
            self._callbacks.append(callback)

    def post(self, notice: Notice) -> bool:
        """Queue `notice` unless its id is already there. True if it was added."""
        added = self.store.add_notice(notice)
        if added:
            self._tell(notice)
        return added

    def tell_posted(self, notice: Notice) -> None:
        """`notice` was posted to the store by another process of ours (the pass worker): wake
        this process's listeners as if posted here."""
        self._tell(notice)

    def post_all(self, notices: Iterable[Notice]) -> int:
        return sum(1 for notice in notices if self.post(notice))

    def due(self, now: int, limit: int = 50) -> list[Notice]:
        """Undelivered notices whose next attempt is due at `now`, oldest first."""
        return self.store.due_notices(now, limit)

    def get(self, notice_id: str) -> Notice | None:
        return self.store.get_notice(notice_id)

    def is_delivered(self, notice_id: str) -> bool:
        notice = self.get(notice_id)
        return notice is not None and notice.sent

    def delivered(self, notice_id: str, at: int, ref: str) -> bool:
        return self.store.mark_notice_delivered(notice_id, at, ref)

    def failed(self, notice_id: str, error: str, at: int) -> Notice | None:
        """Count a failed attempt at `at` and schedule the next one (never dropped)."""
        current = self.store.get_notice(notice_id)
        if current is None or not current.pending:
            return None
        attempts = current.attempts + 1
        updated = self.store.mark_notice_failed(
            notice_id, error[:MAX_ERROR], at + retry_delay(attempts)
        )
        if updated is not None:
            level = logging.ERROR if updated.attempts >= ALERT_AFTER_ATTEMPTS else logging.WARNING
            log.log(
                level,
                "notice %s not delivered (attempt %d, next at %d): %s",
                notice_id,
                updated.attempts,
                updated.next_attempt_at,
                error,
            )
        return updated

    def expire(self, notice: Notice, at: int, max_age: int) -> bool:
        """Give `notice` up at `at` if it is older than `max_age` seconds: kept, marked expired,
        logged. True if this call expired it (False: still young, or delivered or expired by
        another drain meanwhile)."""
        if not is_stale(notice, at, max_age):
            return False
        expired = self.store.mark_notice_expired(notice.notice_id, at)
        if expired:
            log.warning(
                "notice %s expired unsent: %s old (slack.notice_max_age is %s); kept in the "
                "store, not posted%s",
                notice.notice_id,
                _age(at - notice.at),
                _age(max_age),
                f" (last error: {notice.last_error})" if notice.last_error else "",
            )
        return expired

    def pending_count(self) -> int:
        """Notices neither delivered nor expired (a count the store serves from an index)."""
        return self.store.pending_notice_count()

    def _tell(self, notice: Notice) -> None:
        with self._lock:
            self.posted += 1
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback(notice)
            except Exception:
                log.exception("a notice callback failed for %s", notice.notice_id)


def is_stale(notice: Notice, now: int, max_age: int) -> bool:
    """Whether `notice` is older than `max_age` seconds at `now` (by its event's `at`)."""
    return now - notice.at > max_age


def _age(seconds: int) -> str:
    minutes = max(0, seconds) // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after `attempts` failures: 30 s doubling, at most 15 min."""
    exponent = min(max(attempts - 1, 0), 16)
    return int(min(FIRST_RETRY_SECONDS * 2**exponent, MAX_RETRY_SECONDS))


# ---- builders: from core results ----------------------------------------------------------------


def operation_notices(result: OperationResult, catch_up: bool = False) -> list[Notice]:
    """The notices of a shutdown, startup or reconcile: a summary per action that changed
    something (a named shutdown or startup also when it only failed), drift put back, failures.
    A dry run, or a pass that changed and failed nothing, gives none. `catch_up`: a reconcile
    pass did it away from the schedule's edges (e.g. after the bot was down)."""
    if result.dry_run:
        return []
    notices: list[Notice] = []
    for action, kind in ((Action.SLEEP, NoticeKind.SHUTDOWN), (Action.WAKE, NoticeKind.STARTUP)):
        summary = _summary(result, action, kind, catch_up)
        if summary is not None:
            notices.append(summary)
    drift = _drift(result)
    if drift is not None:
        notices.append(drift)
    failure = _failure(result)
    if failure is not None:
        notices.append(failure)
    return notices


def _summary(
    result: OperationResult, action: Action, kind: NoticeKind, catch_up: bool
) -> Notice | None:
    namespaces = [ns for ns in result.namespaces if ns.action is action]
    changed = [ns for ns in namespaces if _count(ns.outcomes, OutcomeStatus.CHANGED)]
    failed = [o for ns in namespaces for o in ns.failed]
    explicit = result.operation != "reconcile"
    if not changed and not (explicit and failed):
        return None
    facts: dict[str, Any] = {
        "operation": result.operation,
        "catch_up": catch_up,
        "namespaces": [_namespace_facts(ns) for ns in changed[:MAX_LISTED]],
        "namespace_count": len(changed),
        "workloads": sum(_count(ns.outcomes, OutcomeStatus.CHANGED) for ns in changed),
        "replicas": _replicas(changed),
        "failed_count": len(failed),
        "failures": _failures(failed),
        "skipped": [
            {"namespace": ns.namespace, "reason": ns.skipped_reason}
            for ns in namespaces
            if ns.skipped_reason
        ][:MAX_LISTED],
        ESTIMATED_SAVING: None,
    }
    digest = _digest([(ns.namespace, ns.action.value) for ns in changed], failed)
    return Notice(
        notice_id=f"{kind.value}:{result.operation}:{result.at}:{digest}",
        kind=kind,
        at=result.at,
        facts=facts,
    )


def _drift(result: OperationResult) -> Notice | None:
    drifted = [
        o for ns in result.namespaces for o in ns.outcomes if o.status is OutcomeStatus.DRIFT
    ]
    if not drifted:
        return None
    listed = [
        {
            "namespace": o.ref.namespace,
            "workload": f"{o.ref.kind.value}/{o.ref.name}",
            "detail": o.detail,
        }
        for o in drifted[:MAX_LISTED]
    ]
    return Notice(
        notice_id=f"drift:{result.at}:{_digest([str(o.ref) for o in drifted], [])}",
        kind=NoticeKind.DRIFT,
        at=result.at,
        facts={"operation": result.operation, "count": len(drifted), "workloads": listed},
    )


def _failure(result: OperationResult) -> Notice | None:
    failed = result.failed_workloads()
    if not failed and not result.errors:
        return None
    # Keyed by what failed and the hour: a failure the reconcile retries every few minutes is
    # alerted once an hour, not every pass.
    digest = _digest(sorted(result.errors), failed)
    return Notice(
        notice_id=f"failure:{digest}:{result.at // FAILURE_REPEAT_SECONDS}",
        kind=NoticeKind.FAILURE,
        at=result.at,
        facts={
            "operation": result.operation,
            "failed_count": len(failed),
            "failures": _failures(failed),
            "errors": [e[:MAX_ERROR] for e in result.errors[:MAX_LISTED]],
        },
    )


def _namespace_facts(ns: NamespaceResult) -> dict[str, Any]:
    return {
        "namespace": ns.namespace,
        "workloads": _count(ns.outcomes, OutcomeStatus.CHANGED),
        "replicas": ns.replicas,
        "failed": len(ns.failed),
    }


def _replicas(namespaces: Sequence[NamespaceResult]) -> int | None:
    known = [ns.replicas for ns in namespaces if ns.replicas is not None]
    return sum(known) if known else None


def _count(outcomes: Iterable[WorkloadOutcome], status: OutcomeStatus) -> int:
    return sum(1 for o in outcomes if o.status is status)


def _failures(failed: Sequence[WorkloadOutcome]) -> list[dict[str, str]]:
    return [
        {
            "namespace": o.ref.namespace,
            "workload": f"{o.ref.kind.value}/{o.ref.name}",
            "error": o.error[:MAX_ERROR],
        }
        for o in failed[:MAX_LISTED]
    ]


def _digest(parts: Any, failed: Sequence[WorkloadOutcome]) -> str:
    content = json.dumps([parts, sorted((str(o.ref), o.error) for o in failed)], sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:12]


# ---- activations ---------------------------------------------------------------------------------


def _slot_facts(slot: ActivationSlot) -> dict[str, Any]:
    return {
        "namespace": slot.namespace,
        "cost_center": slot.cost_center,
        "user": slot.user_id,
        "request_id": slot.request_id,
        "claimed_at": slot.claimed_at,
        "ends_at": slot.ends_at,
    }


def activation_started(
    slot: ActivationSlot, outcomes: Sequence[WorkloadOutcome], how: str
) -> Notice:
    """A window opened (`how`: "activated", "approved", "booking", "repaired")."""
    failed = [o for o in outcomes if o.error]
    return Notice(
        notice_id=f"started:{slot.namespace}:{slot.claimed_at}",
        kind=NoticeKind.ACTIVATION_STARTED,
        at=slot.claimed_at,
        facts={
            **_slot_facts(slot),
            "how": how,
            "workloads": len(outcomes),
            "failed_count": len(failed),
            "failures": _failures(failed),
        },
    )


def activation_ending(slot: ActivationSlot, at: int) -> Notice:
    """A live window ends within ten minutes (a later extend gives a new `ends_at`, so a new
    notice may come)."""
    return Notice(
        notice_id=f"ending:{slot.namespace}:{slot.ends_at}",
        kind=NoticeKind.ACTIVATION_ENDING,
        at=at,
        facts=_slot_facts(slot),
    )


def activation_ended(slot: ActivationSlot, at: int, by: str = "") -> Notice:
    """A window ended: by itself at its end (`by` empty) or by a person's deactivate."""
    return Notice(
        notice_id=f"ended:{slot.namespace}:{slot.claimed_at}",
        kind=NoticeKind.ACTIVATION_ENDED,
        at=at,
        facts={**_slot_facts(slot), "ended_at": at, "ended_by": by},
    )


def cap_reached(slot: ActivationSlot, scope: str, cap: int) -> Notice:
    """The claim of `slot` filled a cap (`scope`: "global" or the cost center's name)."""
    return Notice(
        notice_id=f"cap:{scope}:{slot.namespace}:{slot.claimed_at}",
        kind=NoticeKind.CAP_REACHED,
        at=slot.claimed_at,
        facts={**_slot_facts(slot), "scope": scope, "cap": cap},
    )


def _request_facts(request: ActivationRequest) -> dict[str, Any]:
    return {"request": request.model_dump(mode="json")}


def request_opened(request: ActivationRequest) -> Notice:
    return Notice(
        notice_id=request_notice_id(request.request_id),
        kind=NoticeKind.REQUEST_OPENED,
        at=request.created_at,
        facts=_request_facts(request),
    )


def request_decided(request: ActivationRequest, opened: ActivationSlot | None = None) -> Notice:
    """Approved, denied or cancelled; `opened`: the window an approval opened."""
    facts = _request_facts(request)
    if opened is not None:
        facts["window"] = _slot_facts(opened)
    return Notice(
        notice_id=f"decided:{request.request_id}",
        kind=NoticeKind.REQUEST_DECIDED,
        at=request.decided_at or request.created_at,
        facts=facts,
    )


def request_expired(request: ActivationRequest) -> Notice:
    return Notice(
        notice_id=f"expired:{request.request_id}",
        kind=NoticeKind.REQUEST_EXPIRED,
        at=request.decided_at or request.expires_at,
        facts=_request_facts(request),
    )


def booking_dropped(request: ActivationRequest, why: str, at: int) -> Notice:
    return Notice(
        notice_id=f"dropped:{request.request_id}",
        kind=NoticeKind.BOOKING_DROPPED,
        at=at,
        facts={**_request_facts(request), "why": why},
    )


def weekly_summary(summary: WeekSummary, at: int) -> Notice:
    """One per ISO week: the job posting it twice (a restart, two replicas) sends it once."""
    return Notice(
        notice_id=f"weekly:{summary.week}",
        kind=NoticeKind.WEEKLY_SUMMARY,
        at=at,
        facts={"summary": summary.model_dump(mode="json")},
    )


def request_notice_id(request_id: str) -> str:
    """The id of the `request_opened` notice of a request (its message is updated later)."""
    return f"request:{request_id}"


# ---- verified wake-ups (core.readiness) -------------------------------------------------------


def readiness_notices(settled: Settled) -> list[Notice]:
    """One notice per namespace not ready at its deadline, one summary per wake that settled,
    and the requester of an activation told when its namespace is ready."""
    notices = [_not_ready(waking, check, settled.at) for waking, check in settled.not_ready]
    notices += [
        _wake_verified(summary, settled.at)
        for summary in settled.wakes_done
        if not summary.wake.startswith(ACTIVATION_WAKE)
    ]
    notices += [
        _namespace_ready(waking, seconds, settled.at)
        for waking, seconds in settled.ready
        if waking.requester
    ]
    notices += [
        _namespace_ready(waking, None, settled.at, check)
        for waking, check in settled.not_ready
        if waking.requester
    ]
    return notices


def _not_ready(waking: Waking, check: NamespaceCheck, at: int) -> Notice:
    return Notice(
        notice_id=f"not-ready:{waking.namespace}:{waking.woken_at}",
        kind=NoticeKind.NOT_READY,
        at=at,
        facts={
            "namespace": waking.namespace,
            "woken_at": waking.woken_at,
            "deadline": waking.deadline,
            "ready": check.ready_count,
            "total": len(check.workloads),
            "workloads": [w.describe() for w in check.not_ready()][:MAX_LISTED],
        },
    )


def _wake_verified(summary: WakeSummary, at: int) -> Notice:
    return Notice(
        notice_id=f"wake-verified:{summary.wake}",
        kind=NoticeKind.WAKE_VERIFIED,
        at=at,
        facts={
            "wake": summary.wake,
            "woken_at": summary.woken_at,
            "total": summary.total,
            "ready": summary.ready,
            "last_ready_at": summary.last_ready_at,
            "not_ready": [
                {"namespace": ns, "workloads": list(why)[:MAX_LISTED]}
                for ns, why in summary.not_ready[:MAX_LISTED]
            ],
        },
    )


def _namespace_ready(
    waking: Waking, seconds: int | None, at: int, check: NamespaceCheck | None = None
) -> Notice:
    ready = seconds is not None
    return Notice(
        notice_id=f"{'ready' if ready else 'unready'}:{waking.namespace}:{waking.woken_at}",
        kind=NoticeKind.NAMESPACE_READY,
        at=at,
        facts={
            "namespace": waking.namespace,
            "user": waking.requester,
            "ready": ready,
            "seconds": seconds,
            "woken_at": waking.woken_at,
            "workloads": [] if check is None else [w.describe() for w in check.not_ready()],
        },
    )
