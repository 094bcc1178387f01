"""The `Store` protocol: the audit log with DESIGN.md's interval semantics.

Idempotency key of a record: (namespace_name, timestamp_start, operation_type). Adding a record
whose key exists changes nothing. Closing sets `timestamp_end` and
`duration_minutes = (end - start) // 60` exactly once. Nothing is ever deleted.

Reading one period (`records_overlapping`) never scans: both stores index records by start time,
and a closed record that crosses UTC midnights is also filed once under each midnight it crosses
(a "crossing" entry), so the records that began before the period and are still running at its
start are found under the one midnight before it. UTC days keep the stores zone-free.

`history_page` reads the log newest first in one total order, `history_key` descending, and
resumes strictly after the key of the last record of the previous page (a cursor that stays
valid while records are added: a new record lands in its place in the order, never shifts a
page). Idempotency keys (`claim_idempotency`) remember the first answer to a retried POST.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

from core.models import (
    ActivationRequest,
    ActivationSlot,
    ActivityRecord,
    ClaimOutcome,
    CostCenterPermission,
    HistoryQuery,
    IdempotentAnswer,
    Notice,
    OperationType,
    RecordStatus,
    RequestStatus,
    SlotState,
    WorkloadSnapshot,
)

SECONDS_PER_DAY = 86_400

HistoryKey = tuple[int, str, str]
"""(timestamp_start, namespace_name, operation_type value): `history_page`'s sort key."""


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


def history_key(record: ActivityRecord) -> HistoryKey:
    """The sort key of `Store.history_page` (newest first is this key descending)."""
    return (record.timestamp_start, record.namespace_name, record.operation_type.value)


def newest_first(records: Iterable[ActivityRecord]) -> list[ActivityRecord]:
    return sorted(records, key=history_key, reverse=True)


def on_page(query: HistoryQuery, after: HistoryKey | None, record: ActivityRecord) -> bool:
    """Whether `record` belongs to a page of `query` that starts strictly after `after`."""
    return query.matches(record) and (after is None or history_key(record) < after)


class Store(Protocol):
    items_read: int
    """Cumulative number of stored items (rows) that `records_overlapping`'s queries returned,
    before any filtering in Python (DynamoDB: the ScannedCount of every Query page)."""

    def add_record(self, record: ActivityRecord) -> bool:
        """Insert `record` unless its key exists (atomically). True if it was inserted."""
        ...

    def add_records(self, records: Sequence[ActivityRecord]) -> list[bool]:
        """`add_record` for each, in the order given (a mass pass writes hundreds at once):
        each inserted unless its key exists, with the same atomicity per record."""
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

    def set_ready_seconds(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, seconds: int
    ) -> None:
        """Note on a record (an `auto_startup`) how long its wake took to be ready; a missing
        record is left missing."""
        ...

    def add_snapshots(
        self,
        namespace: str,
        timestamp_start: int,
        operation_type: OperationType,
        snapshots: Sequence[WorkloadSnapshot],
    ) -> bool:
        """Append `snapshots` (workloads the record lacks: created while the namespace slept)
        to an open record's. True if appended; False if the record is closed or missing."""
        ...

    def open_records(self, operation_type: OperationType | None = None) -> list[ActivityRecord]:
        """Records not yet closed (any namespace), oldest first; served by an index, not a scan."""
        ...

    def history(
        self, namespace: str | None = None, limit: int | None = None
    ) -> list[ActivityRecord]:
        """Every record (of one namespace, or all), newest first."""
        ...

    def history_page(
        self, query: HistoryQuery, limit: int, after: HistoryKey | None = None
    ) -> list[ActivityRecord]:
        """At most `limit` records matching `query`, newest first in one total order:
        (timestamp_start desc, namespace_name desc, operation_type desc), i.e. `history_key`
        descending; `after` is the sort key (timestamp_start, namespace_name, operation_type
        value) of the last record of the previous page, and the page starts strictly after it.
        Pages never skip or repeat a record: the pages of one query, each started after the last
        key of the one before, concatenate to exactly the matching records newest first (a
        record added meanwhile shows on a later page when it sorts after the cursor; it never
        shifts one). `limit` <= 0 returns []. Reads stop as soon as the page's `limit` records
        are certain (see each store for how)."""
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

    # ---- idempotency keys: the first answer to a retried POST (REST `Idempotency-Key`) -------

    def claim_idempotency(
        self, key: str, fingerprint: str, at: int, ttl_seconds: int
    ) -> IdempotentAnswer | None:
        """Atomically claim `key` at `at`: None when this caller now holds it (no entry, or only
        an expired one, `expires_at <= at`, which is replaced), else the live entry as stored
        (status 0: the first request is still running; its `fingerprint` lets the caller tell
        a different request reusing the key). The entry claimed holds `fingerprint`, status 0,
        body "", `created_at` = `at` and `expires_at` = `at + ttl_seconds` (`ttl_seconds` > 0,
        else ValueError). Racing claims of one key (threads, processes, hosts): exactly one gets
        None. An entry lives at least until its `expires_at`; each store removes expired ones in
        its own time (SQLite: the next claim; DynamoDB: TTL on `expires_at`)."""
        ...

    def finish_idempotency(self, key: str, status: int, body: str) -> None:
        """Store the first answer of a claimed key (status > 0, else ValueError): conditional on
        the entry still running (status 0), so the first answer is never overwritten; a key no
        longer claimed (released, or expired and gone) is left as it is. It keeps its
        `expires_at`: a retry after that acts again."""
        ...

    def release_idempotency(self, key: str) -> None:
        """Forget a claimed, unfinished key (the first request failed with a server fault), so
        a retry may act. Conditional on the entry still running (status 0): a finished answer is
        never forgotten; a missing key is a no-op."""
        ...

    def close(self) -> None: ...
