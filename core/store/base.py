"""The `Store` protocol: the audit log with DESIGN.md's interval semantics.

Idempotency key of a record: (namespace_name, timestamp_start, operation_type). Adding a record
whose key exists changes nothing. Closing sets `timestamp_end` and
`duration_minutes = (end - start) // 60` exactly once. Nothing is ever deleted.
"""

from __future__ import annotations

from typing import Protocol

from core.models import ActivityRecord, OperationType, RecordStatus


class Store(Protocol):
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

    def close(self) -> None: ...
