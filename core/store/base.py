"""The `Store` protocol: the audit log with DESIGN.md's interval semantics.

Idempotency key of a record: (namespace_name, timestamp_start, operation_type). Adding a record
whose key exists changes nothing. Closing sets `timestamp_end` and
`duration_minutes = (end - start) // 60` exactly once. Nothing is ever deleted.

Reading one period (`records_overlapping`) never scans: both stores index records by start time,
and a closed record that crosses UTC midnights is also filed once under each midnight it crosses
(a "crossing" entry), so the records that began before the period and are still running at its
start are found under the one midnight before it. UTC days keep the stores zone-free.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    ClaimOutcome,
    CostCenterPermission,
    Notice,
    OperationType,
    RecordStatus,
    RequestStatus,
    SlotState,
)

SECONDS_PER_DAY = 86_400


def midnights_crossed(start: int, end: int) -> range:
    """The UTC midnights M (epoch seconds, M % 86400 == 0) with start < M < end."""
    first = start - start % SECONDS_PER_DAY + SECONDS_PER_DAY
    return range(first, end, SECONDS_PER_DAY)


def overlaps(record: ActivityRecord, start: int, end: int) -> bool:
    """Whether `record` overlaps [start, end): see `Store.records_overlapping`."""
    if record.timestamp_start >= end:
        return False
    if record.timestamp_end is None or record.timestamp_start >= start:
        return True
    return record.timestamp_end > start


class Store(Protocol):
    items_read: int
    """Cumulative number of stored items (rows) that `records_overlapping`'s queries returned,
    before any filtering in Python (DynamoDB: the ScannedCount of every Query page)."""

    def add_record(self, record: ActivityRecord) -> bool:
        """Insert `record` unless its key exists (atomically). True if it was inserted."""
        ...

    def get_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType
    ) -> ActivityRecord | None: ...

    def close_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, end: int
    ) -> bool:
        """Close an open record at `end` (conditional: only if still open). A record whose status
        is `active` becomes `completed`; a `failed` one stays `failed`. True if this call closed
        it; False if it was already closed or does not exist."""
        ...

    def set_status(
        self,
        namespace: str,
        timestamp_start: int,
        operation_type: OperationType,
        status: RecordStatus,
        error_message: str,
    ) -> None:
        """Update a record's status and error message (e.g. a failed shutdown later completed)."""
        ...

    def open_records(self, operation_type: OperationType | None = None) -> list[ActivityRecord]:
        """Records not yet closed (any namespace), oldest first; served by an index, not a scan."""
        ...

    def history(
        self, namespace: str | None = None, limit: int | None = None
    ) -> list[ActivityRecord]:
        """Every record (of one namespace, or all), newest first."""
        ...

    def records_overlapping(self, start: int, end: int) -> list[ActivityRecord]:
        """Records whose interval overlaps [start, end): closed records with
        timestamp_start < end and timestamp_end > start, point records (end == start) with start
        in [start, end), open records with timestamp_start < end. Any order. Served by indexes,
        never a scan: it reads the records starting from the UTC midnight before `start`, the
        crossing entries of that midnight and the open records that started before it."""
        ...

    # ---- cost-center permissions (the seed's `cost_center_permissions`) ------------------------

    def get_cost_center(self, cost_center: str) -> CostCenterPermission | None: ...

    def list_cost_centers(self) -> list[CostCenterPermission]:
        """Every cost center, sorted by name."""
        ...

    def put_cost_center(self, permission: CostCenterPermission) -> None:
        """Insert or replace; an existing row keeps its `created_at`."""
        ...

    def seed_cost_centers(self, permissions: Collection[CostCenterPermission]) -> int:
        """Insert the rows whose cost center is missing (never overwrite an admin's change).
        Return how many were inserted."""
        ...

    # ---- activation slots: what the caps count ---------------------------------------------

    def claim_slot(
        self, slot: ActivationSlot, global_cap: int, cost_center_cap: int
    ) -> ClaimOutcome:
        """One atomic step: refuse ALREADY_ACTIVE if the namespace holds a slot, GLOBAL_LIMIT if
        `global_cap` slots exist, COST_CENTER_LIMIT if `cost_center_cap` slots of
        `slot.cost_center` exist (checked in that order); else insert `slot`, CLAIMED.
        Racing callers (threads, processes) can never exceed a cap."""
        ...

    def get_slot(self, namespace: str) -> ActivationSlot | None: ...

    def list_slots(self) -> list[ActivationSlot]:
        """Every slot, sorted by namespace."""
        ...

    def update_slot(
        self,
        namespace: str,
        claimed_at: int,
        *,
        ends_at: int | None = None,
        state: SlotState | None = None,
        record_start: int | None = None,
    ) -> bool:
        """Change the given fields of the slot claimed at `claimed_at` (conditional: False if
        that slot is gone or was replaced)."""
        ...

    def release_slot(self, namespace: str, claimed_at: int) -> bool:
        """Free the slot claimed at `claimed_at` (conditional, atomic with the cap counts).
        True if this call released it."""
        ...

    # ---- activation requests (approvals and bookings) ---------------------------------------

    def add_request(self, request: ActivationRequest) -> None:
        """Insert a new request (its id is unique; an existing id raises StoreError)."""
        ...

    def get_request(self, request_id: str) -> ActivationRequest | None: ...

    def list_requests(
        self, statuses: Collection[RequestStatus] | None = None
    ) -> list[ActivationRequest]:
        """Requests with one of `statuses` (all when None), newest `created_at` first; served
        by an index on status, not a scan."""
        ...

    def decide_request(
        self,
        request_id: str,
        expected: RequestStatus,
        new: RequestStatus,
        *,
        by: str,
        at: int,
        reason: str = "",
    ) -> ActivationRequest | None:
        """Conditional: only if the stored status is `expected`, set status `new`,
        `decided_by`, `decided_at`, `decision_reason`. Return the updated request, or None when
        the condition failed (the first decision wins; read the request to learn who)."""
        ...

    def mark_request_started(self, request_id: str, at: int) -> bool:
        """Set `started_at` once (conditional on it being unset). True if this call set it."""
        ...

    # ---- system_metrics: counters by period (e.g. a day) ------------------------------------

    def increment_metric(self, metric_name: str, period: str, amount: float, at: int) -> None:
        """Add `amount` to the metric of `period` (created at 0 when missing), atomically."""
        ...

    def get_metric(self, metric_name: str, period: str) -> float:
        """The metric's value for `period` (0 when never written)."""
        ...

    # ---- notices: the outbox of channel notices --------------------------------------------

    def add_notice(self, notice: Notice) -> bool:
        """Insert `notice` unless its `notice_id` exists (atomically). True if inserted."""
        ...

    def get_notice(self, notice_id: str) -> Notice | None: ...

    def due_notices(self, now: int, limit: int) -> list[Notice]:
        """Pending notices (neither sent nor expired) with `next_attempt_at <= now`, oldest `at`
        first (then `sequence`, then id), at most `limit`; served by an index on pending
        notices, not a scan."""
        ...

    def mark_notice_delivered(self, notice_id: str, at: int, ref: str) -> bool:
        """Set `sent_at` and `sent_ref` (conditional: only if pending). True if this call did."""
        ...

    def mark_notice_failed(self, notice_id: str, error: str, next_attempt_at: int) -> Notice | None:
        """Count a failed attempt: `attempts + 1`, `last_error`, `next_attempt_at` (conditional:
        only if pending). The updated notice, or None when it is missing, sent or expired."""
        ...

    def mark_notice_expired(self, notice_id: str, at: int) -> bool:
        """Set `expired_at` (conditional: only if pending): the notice is kept, never due again.
        True if this call did."""
        ...

    def pending_notice_count(self) -> int:
        """How many notices are pending: not delivered, not expired (due or waiting for a
        retry)."""
        ...

    def close(self) -> None: ...
