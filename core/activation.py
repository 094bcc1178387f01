"""After-hours activation: requests, approvals, windows, bookings, cost-center administration.

The rules are DESIGN.md's; the pure checks live in `core.policy`, the atomic cap claim in the
store. Every use case takes the instant it acts at (`at`) so records are exact. Refusals raise
`Refusal` (its message holds the reason word) and change nothing.
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Concatenate, ParamSpec, TypeVar

from core import metrics, notices
from core.clock import epoch
from core.config import Config, format_duration
from core.events import pass_events, post_events
from core.models import (
    Action,
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    ClaimOutcome,
    CostCenterPermission,
    NamespaceResult,
    OperationResult,
    OperationType,
    RecordStatus,
    RequestStatus,
    SlotState,
    WorkloadOutcome,
)
from core.policy import (
    ActivationFacts,
    Refusal,
    RefusalReason,
    check_activation,
    check_duration,
    check_reason,
    cost_center_cap,
    cost_center_limit_refusal,
    global_limit_refusal,
)
from core.readiness import ACTIVATION_WAKE
from core.service import NamespaceService
from core.store.base import Store

log = logging.getLogger("namespace_ctl.activation")
P = ParamSpec("P")
R = TypeVar("R")
SYSTEM_USER = "namespace-ctl"
# A slot claimed but never opened (the process died between claim and wake) is repaired by the
# reconcile pass after this long: long enough never to race a wake in progress.
CLAIM_GRACE_SECONDS = 120
OPEN_REQUEST_STATUSES = (RequestStatus.PENDING, RequestStatus.APPROVED)


@dataclass
class Opened:
    """An activation window that was opened."""

    slot: ActivationSlot
    outcomes: list[WorkloadOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[WorkloadOutcome]:
        return [o for o in self.outcomes if o.error]


@dataclass
class Housekeeping:
    """What a reconcile pass did to activations before following the schedule."""

    ended: list[ActivationSlot] = field(default_factory=list)
    expired: list[ActivationRequest] = field(default_factory=list)
    started: list[Opened] = field(default_factory=list)
    refused_bookings: list[tuple[ActivationRequest, str]] = field(default_factory=list)
    repaired: list[ActivationSlot] = field(default_factory=list)


def counts_refusals(
    use_case: Callable[Concatenate[ActivationService, P], R],
) -> Callable[Concatenate[ActivationService, P], R]:
    """Refusals add no activity record: they are logged and counted in `system_metrics`
    (`refused.<reason>` per local day) before they reach the caller."""

    def wrapper(self: ActivationService, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = use_case(self, *args, **kwargs)
        except Refusal as refusal:
            self.count_refusal(use_case.__name__, refusal)
            raise
        service = self.namespaces
        metrics.record_use_case(
            self.store, service.calendar.zone, service.clock.now(), use_case.__name__, result
        )
        return result

    functools.update_wrapper(wrapper, use_case)
    return wrapper


@dataclass
class ActivationService:
    namespaces: NamespaceService
    config: Config

    @property
    def store(self) -> Store:
        return self.namespaces.store

    # ---- activation now (the CLI) and on approval --------------------------------------------

    @counts_refusals
    def activate(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        duration: timedelta | None,
        reason: str,
        at: datetime,
        request_id: str = "",
    ) -> Opened:
        """Wake `namespace` now for `duration`, charged to `cost_center`: every rule and cap."""
        slot = self._claim(namespace, cost_center, user, duration, reason, at, request_id)
        return self._open(slot, "approved" if request_id else "activated")

    @counts_refusals
    def deactivate(self, namespace: str, user: str, at: datetime) -> ActivationSlot:
        """End a window now: `manual_deactivation` record, activation record closed, the
        namespace back to the schedule's state."""
        slot = self._slot_or_refuse(namespace)
        self._require_may_end(slot, user)
        ts = epoch(at)
        self.store.add_record(
            ActivityRecord(
                namespace_name=namespace,
                timestamp_start=ts,
                timestamp_end=ts,
                duration_minutes=0,
                operation_type=OperationType.MANUAL_DEACTIVATION,
                status=RecordStatus.COMPLETED,
                cost_center=slot.cost_center,
                user_id=user,
            )
        )
        self._end(slot, ts)
        self._notify(notices.activation_ended(slot, ts, by=user))
        return slot

    @counts_refusals
    def extend(
        self, namespace: str, duration: timedelta, user: str, at: datetime
    ) -> ActivationSlot:
        slot = self._slot_or_refuse(namespace)
        self._require_may_end(slot, user)
        refusal = check_duration(duration, self.config.activation.max_duration)
        if refusal:
            raise refusal
        new_end = slot.ends_at + int(duration.total_seconds())
        total = timedelta(seconds=new_end - slot.claimed_at)
        if total > self.config.activation.max_duration:
            raise Refusal(
                RefusalReason.INVALID,
                f"invalid extension: the window would last {format_duration(total)}, more than "
                f"activation.max_duration ({format_duration(self.config.activation.max_duration)})",
            )
        new_end = min(new_end, self._business_start_after(slot.claimed_at))
        if not self.store.update_slot(namespace, slot.claimed_at, ends_at=new_end):
            raise Refusal(RefusalReason.NOT_FOUND, f"{namespace}'s window ended meanwhile")
        return slot.model_copy(update={"ends_at": new_end})

    # ---- requests and approvals -------------------------------------------------------------

    @counts_refusals
    def request(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        duration: timedelta | None,
        reason: str,
        at: datetime,
        starts_at: datetime | None = None,
    ) -> ActivationRequest:
        """A pending request (now, or a booking from `starts_at`), to be approved by a colleague."""
        request = self._new_request(namespace, cost_center, user, duration, reason, at, starts_at)
        self._notify(notices.request_opened(request))
        return request

    def _new_request(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        duration: timedelta | None,
        reason: str,
        at: datetime,
        starts_at: datetime | None = None,
    ) -> ActivationRequest:
        duration = duration or self.config.activation.default_duration
        when = starts_at or at
        if starts_at is not None and starts_at <= at:
            raise Refusal(RefusalReason.INVALID, "invalid booking: its start must be in the future")
        self._check(namespace, cost_center, duration, reason, when, booking=starts_at is not None)
        request = ActivationRequest(
            request_id=_new_id(),
            namespace=namespace,
            cost_center=cost_center,
            requester=user,
            reason=reason.strip(),
            duration_minutes=int(duration.total_seconds()) // 60,
            created_at=epoch(at),
            expires_at=epoch(at + self.config.activation.approval_timeout),
            starts_at=epoch(starts_at) if starts_at else None,
        )
        self.store.add_request(request)
        return request

    @counts_refusals
    def approve(
        self, request_id: str, approver: str, at: datetime
    ) -> tuple[ActivationRequest, Opened | None]:
        """Approve a pending request; an immediate one opens its window now (caps again)."""
        request = self._pending_or_refuse(request_id, at)
        self._require_approver(request, approver)
        duration = timedelta(minutes=request.duration_minutes)
        when = _instant(request.starts_at) if request.starts_at else at
        try:
            self._check(
                request.namespace,
                request.cost_center,
                duration,
                request.reason,
                when,
                booking=request.is_booking,
                exclude=request_id,
            )
        except Refusal as refusal:
            # A racing click may have approved it (and taken its slot) since we read it.
            current = self._request_or_refuse(request_id)
            if current.status is not RequestStatus.PENDING:
                raise _already_decided(current) from None
            raise refusal from None
        # The decision first: of racing clicks exactly one passes this conditional write.
        decided = self._decide(request, RequestStatus.APPROVED, approver, at)
        if request.is_booking:
            self._notify(notices.request_decided(decided))
            return decided, None
        try:
            slot = self._claim(
                request.namespace,
                request.cost_center,
                request.requester,
                duration,
                request.reason,
                at,
                request_id,
                checked=True,
            )
        except Refusal:
            # A cap filled up since the check: the request stays pending for a later try.
            self.store.decide_request(
                request_id, RequestStatus.APPROVED, RequestStatus.PENDING, by="", at=epoch(at)
            )
            raise
        self.store.mark_request_started(request_id, epoch(at))
        opened = self._open(slot, "approved")
        self._notify(notices.request_decided(decided, opened.slot))
        return decided, opened

    @counts_refusals
    def check_may_decide(self, request_id: str, user: str, at: datetime) -> ActivationRequest:
        """The pending request `user` may approve or deny, or the refusal they would get: lets
        the bot refuse before asking for a denial's reason."""
        request = self._pending_or_refuse(request_id, at)
        self._require_approver(request, user)
        return request

    @counts_refusals
    def deny(self, request_id: str, approver: str, reason: str, at: datetime) -> ActivationRequest:
        request = self._pending_or_refuse(request_id, at)
        self._require_approver(request, approver)
        refusal = check_reason(reason)
        if refusal:
            raise Refusal(RefusalReason.INVALID, "invalid denial: give the requester a reason")
        decided = self._decide(request, RequestStatus.DENIED, approver, at, reason.strip())
        self._notify(notices.request_decided(decided))
        return decided

    @counts_refusals
    def cancel(self, request_id: str, user: str, at: datetime) -> ActivationRequest:
        """The requester (or an admin) withdraws a pending request or a booking not yet started."""
        request = self._request_or_refuse(request_id)
        if user != request.requester and user not in self.config.slack.admins:
            raise Refusal(
                RefusalReason.UNAUTHORIZED,
                "unauthorized: only its requester or an admin may cancel it",
            )
        if request.status not in OPEN_REQUEST_STATUSES or request.started_at is not None:
            raise _already_decided(request)
        decided = self._decide(
            request, RequestStatus.CANCELLED, user, at, "cancelled", expected=request.status
        )
        self._notify(notices.request_decided(decided))
        return decided

    @counts_refusals
    def book(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        starts_at: datetime,
        duration: timedelta | None,
        reason: str,
        at: datetime,
    ) -> ActivationRequest:
        """A booking approved at once (the operator's CLI); it starts by itself."""
        request = self._new_request(namespace, cost_center, user, duration, reason, at, starts_at)
        return self._decide(request, RequestStatus.APPROVED, user, at, "booked by an operator")

    def requests(
        self, statuses: Collection[RequestStatus] | None = None
    ) -> list[ActivationRequest]:
        return self.store.list_requests(statuses)

    def bookings(self) -> list[ActivationRequest]:
        """Bookings pending or approved and not yet started, soonest first."""
        waiting = [
            r
            for r in self.store.list_requests(OPEN_REQUEST_STATUSES)
            if r.is_booking and r.started_at is None
        ]
        return sorted(waiting, key=lambda r: (r.starts_at or 0, r.request_id))

    def slots(self) -> list[ActivationSlot]:
        return self.store.list_slots()

    def count_refusal(self, use_case: str, refusal: Refusal, at: datetime | None = None) -> None:
        now = at or self.namespaces.clock.now()
        log.info("refused %s: %s", use_case, refusal)
        metrics.add_daily(
            self.store,
            self.namespaces.calendar.zone,
            epoch(now),
            {f"refused.{refusal.reason.value}": 1},
        )

    # ---- the reconcile pass -----------------------------------------------------------------

    def reconcile(
        self, dry_run: bool = False, at: datetime | None = None
    ) -> tuple[Housekeeping, OperationResult]:
        """End windows that are over, expire requests, start due bookings, repair half-done
        claims; then drive every namespace to the schedule's state."""
        at = at or self.namespaces.clock.now()
        chores = Housekeeping() if dry_run else self.housekeeping(at)
        return chores, self.namespaces.reconcile(dry_run=dry_run, at=at)

    def housekeeping(self, at: datetime) -> Housekeeping:
        chores = Housekeeping()
        ts = epoch(at)
        for slot in self.store.list_slots():
            if slot.ends_at <= ts:
                self._end(slot, slot.ends_at, follow_schedule=False)
                self._notify(notices.activation_ended(slot, slot.ends_at))
                chores.ended.append(slot)
            elif slot.state is SlotState.CLAIMED and ts - slot.claimed_at >= CLAIM_GRACE_SECONDS:
                self._open(slot, "repaired")
                chores.repaired.append(slot)
            elif slot.ends_at - ts <= notices.ENDING_NOTICE_SECONDS:
                self._notify(notices.activation_ending(slot, ts))
        for request in self.store.list_requests([RequestStatus.PENDING]):
            if request.expires_at <= ts:
                decided = self._expire(request)
                if decided:
                    chores.expired.append(decided)
        self._start_due_bookings(at, chores)
        return chores

    def _expire(self, request: ActivationRequest) -> ActivationRequest | None:
        decided = self.store.decide_request(
            request.request_id,
            RequestStatus.PENDING,
            RequestStatus.EXPIRED,
            by=SYSTEM_USER,
            at=request.expires_at,
            reason="nobody decided in time",
        )
        if decided is not None:
            self._notify(notices.request_expired(decided))
        return decided

    def _start_due_bookings(self, at: datetime, chores: Housekeeping) -> None:
        ts = epoch(at)
        for booking in self.store.list_requests([RequestStatus.APPROVED]):
            if not booking.is_booking or booking.started_at is not None:
                continue
            start = booking.starts_at or 0
            end = start + booking.duration_minutes * 60
            if start > ts:
                continue
            if not self.store.mark_request_started(booking.request_id, ts):
                continue  # another process started it
            if end <= ts:
                self._drop_booking(booking, "its window passed while namespace-ctl was down", at)
                chores.refused_bookings.append((booking, "its window passed"))
                continue
            try:
                slot = self._claim(
                    booking.namespace,
                    booking.cost_center,
                    booking.requester,
                    timedelta(seconds=end - ts),
                    booking.reason,
                    at,
                    booking.request_id,
                )
            except Refusal as refusal:
                self.count_refusal("start booking", refusal, at)
                self._drop_booking(booking, str(refusal), at)
                chores.refused_bookings.append((booking, str(refusal)))
                continue
            chores.started.append(self._open(slot, "booking"))

    def _drop_booking(self, booking: ActivationRequest, why: str, at: datetime) -> None:
        """A booking that cannot start is cancelled by namespace-ctl, the reason kept on it."""
        dropped = self.store.decide_request(
            booking.request_id,
            RequestStatus.APPROVED,
            RequestStatus.CANCELLED,
            by=SYSTEM_USER,
            at=epoch(at),
            reason=f"not started: {why}",
        )
        if dropped is not None:
            self._notify(notices.booking_dropped(dropped, why, epoch(at)))

    # ---- cost centers (admin) ---------------------------------------------------------------

    def seed_cost_centers(self, at: datetime) -> int:
        ts = epoch(at)
        rows = [
            CostCenterPermission(**row.model_dump(), created_at=ts, updated_at=ts)
            for row in self.config.cost_centers
        ]
        return self.store.seed_cost_centers(rows)

    def cost_centers(self) -> list[CostCenterPermission]:
        return self.store.list_cost_centers()

    def cost_center(self, name: str) -> CostCenterPermission:
        permission = self.store.get_cost_center(name)
        if permission is None:
            raise Refusal(
                RefusalReason.NOT_FOUND, f"cost center {name!r} not found (`costcenter list`)"
            )
        return permission

    def set_cost_center(
        self,
        name: str,
        at: datetime,
        *,
        authorized: bool | None = None,
        max_concurrent: int | None = None,
        clear_max: bool = False,
        add_namespaces: Collection[str] = (),
        remove_namespaces: Collection[str] = (),
        create: bool = False,
    ) -> CostCenterPermission:
        """Change a cost center (create it with `create`); unknown patterns to remove refuse."""
        current = self.store.get_cost_center(name)
        if current is None and not create:
            raise Refusal(
                RefusalReason.NOT_FOUND,
                f"cost center {name!r} not found (create it with `costcenter add`)",
            )
        current = current or CostCenterPermission(cost_center=name, created_at=epoch(at))
        missing = [p for p in remove_namespaces if p not in current.authorized_namespaces]
        if missing:
            raise Refusal(RefusalReason.NOT_FOUND, f"{name} does not list {', '.join(missing)}")
        if max_concurrent is not None and max_concurrent < 0:
            raise Refusal(
                RefusalReason.INVALID, "invalid cap: max_concurrent_namespaces must be >= 0"
            )
        patterns = [p for p in current.authorized_namespaces if p not in remove_namespaces]
        patterns += [p for p in add_namespaces if p not in patterns]
        cap = (
            None
            if clear_max
            else (
                max_concurrent if max_concurrent is not None else current.max_concurrent_namespaces
            )
        )
        updated = current.model_copy(
            update={
                "is_authorized": current.is_authorized if authorized is None else authorized,
                "max_concurrent_namespaces": cap,
                "authorized_namespaces": patterns,
                "updated_at": epoch(at),
            }
        )
        self.store.put_cost_center(updated)
        return updated

    # ---- steps ------------------------------------------------------------------------------

    def _check(
        self,
        namespace: str,
        cost_center: str,
        duration: timedelta,
        reason: str,
        when: datetime,
        booking: bool = False,
        exclude: str = "",
    ) -> None:
        """Every rule before anything changes; for a booking, the caps over its window."""
        view = self.namespaces.namespace_view(namespace)
        permission = self.store.get_cost_center(cost_center)
        slots = self.store.list_slots()
        live = [] if booking else slots
        facts = ActivationFacts(
            namespace=namespace,
            cost_center=cost_center,
            duration=duration,
            reason=reason,
            business_time=self.namespaces.calendar.is_business_time(when),
            namespace_exists=view is not None,
            excluded_reason=view.excluded_reason if view else None,
            permission=permission,
            slot=next((s for s in live if s.namespace == namespace), None),
            active_total=len(live),
            active_for_cost_center=sum(1 for s in live if s.cost_center == cost_center),
            global_cap=self.config.limits.max_active_namespaces,
            max_duration=self.config.activation.max_duration,
        )
        refusal = check_activation(facts)
        if refusal:
            raise refusal
        if booking:
            self._check_booking_caps(namespace, cost_center, when, duration, slots, exclude)

    def _check_booking_caps(
        self,
        namespace: str,
        cost_center: str,
        start: datetime,
        duration: timedelta,
        slots: list[ActivationSlot],
        exclude: str,
    ) -> None:
        """Windows overlapping the booking's (live ones and other bookings) must leave room."""
        begin, end = epoch(start), epoch(start + duration)
        windows = [(s.namespace, s.cost_center, s.claimed_at, s.ends_at) for s in slots]
        windows += [
            (
                b.namespace,
                b.cost_center,
                b.starts_at or 0,
                (b.starts_at or 0) + b.duration_minutes * 60,
            )
            for b in self.bookings()
            if b.status is RequestStatus.APPROVED and b.request_id != exclude
        ]
        overlapping = [w for w in windows if w[2] < end and begin < w[3]]
        if any(w[0] == namespace for w in overlapping):
            raise Refusal(
                RefusalReason.ALREADY_ACTIVE, f"{namespace} is already active or booked then"
            )
        cap = self.config.limits.max_active_namespaces
        if len(overlapping) >= cap:
            raise global_limit_refusal(cap)
        permission = self.cost_center(cost_center)
        cc_cap = cost_center_cap(permission, cap)
        if sum(1 for w in overlapping if w[1] == cost_center) >= cc_cap:
            raise cost_center_limit_refusal(cost_center, cc_cap)

    def _claim(
        self,
        namespace: str,
        cost_center: str,
        user: str,
        duration: timedelta | None,
        reason: str,
        at: datetime,
        request_id: str,
        checked: bool = False,
    ) -> ActivationSlot:
        """Claim a cap slot atomically (after the rules, unless the caller just checked them)."""
        duration = duration or self.config.activation.default_duration
        if not checked:
            self._check(namespace, cost_center, duration, reason, at)
        permission = self.cost_center(cost_center)
        ts = epoch(at)
        slot = ActivationSlot(
            namespace=namespace,
            cost_center=cost_center,
            user_id=user,
            request_id=request_id,
            claimed_at=ts,
            ends_at=min(ts + int(duration.total_seconds()), self._business_start_after(ts)),
            reason=reason.strip(),
        )
        cap = self.config.limits.max_active_namespaces
        outcome = self.store.claim_slot(slot, cap, cost_center_cap(permission, cap))
        if outcome is ClaimOutcome.GLOBAL_LIMIT:
            raise global_limit_refusal(cap)
        if outcome is ClaimOutcome.COST_CENTER_LIMIT:
            raise cost_center_limit_refusal(cost_center, cost_center_cap(permission, cap))
        if outcome is ClaimOutcome.ALREADY_ACTIVE:
            raise Refusal(
                RefusalReason.ALREADY_ACTIVE, f"{namespace} is already active; use extend"
            )
        return slot

    def _announce_caps(self, slot: ActivationSlot) -> None:
        """This window filled the global cap or its cost center's: the team should know."""
        cap = self.config.limits.max_active_namespaces
        permission = self.store.get_cost_center(slot.cost_center)
        cc_cap = cost_center_cap(permission, cap) if permission else cap
        slots = self.store.list_slots()
        if len(slots) >= cap:
            self._notify(notices.cap_reached(slot, "global", cap))
        if sum(1 for s in slots if s.cost_center == slot.cost_center) >= cc_cap:
            self._notify(notices.cap_reached(slot, slot.cost_center, cc_cap))

    def _open(self, slot: ActivationSlot, how: str) -> Opened:
        """Wake the namespace, open its `manual_activation` record, mark the slot live;
        `how` it opened ("activated", "approved", "booking", "repaired") is for the notice."""
        view = self.namespaces.namespace_view(slot.namespace)
        outcomes = self.namespaces.wake_namespace(view) if view else []
        failed = [o for o in outcomes if o.error]
        self.store.add_record(
            ActivityRecord(
                namespace_name=slot.namespace,
                timestamp_start=slot.claimed_at,
                operation_type=OperationType.MANUAL_ACTIVATION,
                status=RecordStatus.FAILED if failed else RecordStatus.ACTIVE,
                cost_center=slot.cost_center,
                user_id=slot.user_id,
                error_message="; ".join(f"{o.ref}: {o.error}" for o in failed)[:2000],
                reason=slot.reason,
            )
        )
        self.store.update_slot(
            slot.namespace, slot.claimed_at, state=SlotState.LIVE, record_start=slot.claimed_at
        )
        live = slot.model_copy(update={"state": SlotState.LIVE, "record_start": slot.claimed_at})
        metrics.record_activation_opened(
            self.store, self.namespaces.calendar.zone, slot.claimed_at, outcomes
        )
        self._notify(notices.activation_started(live, outcomes, how))
        self._announce_caps(live)
        opened = Opened(slot=live, outcomes=outcomes)
        self._tell_kubectl(opened)
        self.follow_opened(opened)
        return opened

    def _tell_kubectl(self, opened: Opened) -> None:
        """The Events of a window opened: on the Namespace, and on each workload that failed."""
        slot = opened.slot
        result = OperationResult(operation="activate", at=slot.claimed_at)
        result.namespaces.append(
            NamespaceResult(namespace=slot.namespace, action=Action.WAKE, outcomes=opened.outcomes)
        )
        post_events(self.namespaces.cluster, pass_events(result), self.namespaces.events)

    def follow_opened(self, opened: Opened) -> None:
        """Follow the woken namespace until its pods are ready; its requester is told."""
        slot = opened.slot
        self.namespaces.wakes.follow(
            [(slot.namespace, opened.outcomes)],
            slot.claimed_at,
            self.config.wake.ready_timeout,
            wake=f"{ACTIVATION_WAKE} {slot.namespace} at {slot.claimed_at}",
            requester=slot.user_id,
        )

    def _end(self, slot: ActivationSlot, ts: int, follow_schedule: bool = True) -> None:
        """Close the window's record at `ts`, free the slot, and (for a person's deactivate)
        put the namespace where the schedule wants it; the reconcile pass does that itself."""
        start = slot.record_start or slot.claimed_at
        if self.store.close_record(slot.namespace, start, OperationType.MANUAL_ACTIVATION, ts):
            metrics.record_activation_closed(self.store, self.namespaces.calendar.zone, start, ts)
        self.store.release_slot(slot.namespace, slot.claimed_at)
        if follow_schedule:
            view = self.namespaces.namespace_view(slot.namespace)
            if view is not None:
                self.namespaces.follow_schedule(view, _instant(ts))

    def _decide(
        self,
        request: ActivationRequest,
        status: RequestStatus,
        by: str,
        at: datetime,
        reason: str = "",
        expected: RequestStatus = RequestStatus.PENDING,
    ) -> ActivationRequest:
        decided = self.store.decide_request(
            request.request_id, expected, status, by=by, at=epoch(at), reason=reason
        )
        if decided is None:
            raise _already_decided(self._request_or_refuse(request.request_id))
        return decided

    def _request_or_refuse(self, request_id: str) -> ActivationRequest:
        request = self.store.get_request(request_id)
        if request is None:
            raise Refusal(
                RefusalReason.NOT_FOUND, f"request {request_id!r} not found (`requests` lists them)"
            )
        return request

    def _pending_or_refuse(self, request_id: str, at: datetime) -> ActivationRequest:
        request = self._request_or_refuse(request_id)
        if request.status is RequestStatus.PENDING and request.expires_at <= epoch(at):
            self._expire(request)
            request = self._request_or_refuse(request_id)
        if request.status is RequestStatus.EXPIRED:
            raise Refusal(RefusalReason.EXPIRED, f"request {request_id} expired: ask for a new one")
        if request.status is not RequestStatus.PENDING:
            raise _already_decided(request)
        return request

    def _require_approver(self, request: ActivationRequest, user: str) -> None:
        if user == request.requester:
            raise Refusal(
                RefusalReason.UNAUTHORIZED,
                "unauthorized: a requester cannot approve or deny their own request",
            )
        approvers = self.config.slack.approvers.get(request.cost_center, [])
        if user not in approvers and user not in self.config.slack.admins:
            raise Refusal(
                RefusalReason.UNAUTHORIZED,
                f"unauthorized: {user} is not an approver of {request.cost_center} nor an admin",
            )

    def _require_may_end(self, slot: ActivationSlot, user: str) -> None:
        allowed = {slot.user_id, *self.config.slack.admins}
        allowed.update(self.config.slack.approvers.get(slot.cost_center, []))
        if user not in allowed:
            raise Refusal(
                RefusalReason.UNAUTHORIZED,
                f"unauthorized: only {slot.user_id}, an approver of {slot.cost_center} "
                "or an admin may do that",
            )

    def _slot_or_refuse(self, namespace: str) -> ActivationSlot:
        slot = self.store.get_slot(namespace)
        if slot is None:
            raise Refusal(
                RefusalReason.NOT_FOUND, f"{namespace} is not awake by activation (not found)"
            )
        return slot

    def _notify(self, notice: notices.Notice) -> None:
        self.namespaces.notify([notice])

    def _business_start_after(self, ts: int) -> int:
        """Any window ends at the next business start."""
        calendar = self.namespaces.calendar
        at = _instant(ts)
        if calendar.is_business_time(at):
            return ts
        return epoch(calendar.next_transition(at)[0])


def _already_decided(request: ActivationRequest) -> Refusal:
    who = f" by {request.decided_by}" if request.decided_by else ""
    return Refusal(
        RefusalReason.ALREADY_DECIDED,
        f"request {request.request_id} already decided: {request.status.value}{who}",
    )


def _new_id() -> str:
    return "r-" + secrets.token_hex(4)


def _instant(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
