"""`SqliteStore`: the embedded default store, one SQLite file.

Safe for several threads (one connection per thread) and several processes on the same file: the
file is in WAL mode, every connection waits on a lock (`busy_timeout`) instead of failing, and
every write runs in its own `BEGIN IMMEDIATE` transaction, so a conditional write (insert unless
the key exists, close unless already closed, claim unless a cap is reached) is atomic across
processes. Activity records are never deleted; an activation slot is deleted when released.

Tables:

- `namespace_activity_logs`: the audit log (the seed's attribute names, plus `workloads` JSON
  and, since version 7, `reason`); primary key (namespace_name, timestamp_start, operation_type);
  a partial index on open records.
- `cost_center_permissions`: the seed's table, primary key `cost_center`;
  `authorized_namespaces` is a JSON list, `is_authorized` 0/1.
- `system_metrics`: (metric_name, period) -> value.
- `activation_slots` (schema version 2): one row per namespace awake (or being woken) by
  activation, primary key `namespace`; what the caps count. `claim_slot` counts the rows (all,
  and those of the cost center) and inserts in one `BEGIN IMMEDIATE` transaction, which holds the
  file's write lock from the first read, so no other thread or process can claim in between.
- `activation_requests` (schema version 2): approval requests and bookings, primary key
  `request_id`, indexed on (status, created_at) for `list_requests`.
- `notices` (schema version 3): the outbox of channel notices, primary key `notice_id`, `facts`
  as JSON; a partial index on pending notices by `next_attempt_at` serves `due_notices`.
  Version 5 adds `expired_at` (a notice given up unsent) and rebuilds that index over the
  notices neither sent nor expired.
- `activity_crossings` (schema version 4): for every closed record, one row per UTC midnight its
  interval crosses (start < midnight < end), holding the record's key; written in the same
  transaction that closes (or adds closed) the record; version 4 fills it for existing records.
  With `idx_activity_start` and the partial index `idx_activity_open_start` it serves
  `records_overlapping` without a scan (see `_OVERLAP_QUERIES`).
- `idempotency_keys` (schema version 6): the first answer to a POST with an `Idempotency-Key`,
  primary key `key`, indexed on `expires_at`; a claim deletes the expired rows, then inserts
  unless a live row exists, in one `BEGIN IMMEDIATE` transaction. Version 6 also indexes the
  audit log for `history_page`: `idx_activity_newest` (timestamp_start, namespace_name,
  operation_type), its sort order, and `idx_activity_user` (user_id, then that order); with
  a namespace the primary key serves it. Each page is one query reading the index in order.
- Version 7 adds `reason` (TEXT, '' by default) to `namespace_activity_logs` and
  `activation_slots`: the reason a person gave for a window, kept on its slot and copied onto its
  `manual_activation` record; rows written before it read "".

The schema is versioned with `PRAGMA user_version`: `_MIGRATIONS[i]` takes the file from version
`i` to `i + 1`, so later changes append a migration and existing files are upgraded in place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from core.errors import StoreError
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
from core.store.base import SECONDS_PER_DAY, HistoryKey, midnights_crossed, overlaps

ACTIVITY_TABLE = "namespace_activity_logs"
COST_CENTER_TABLE = "cost_center_permissions"
METRICS_TABLE = "system_metrics"
SLOTS_TABLE = "activation_slots"
REQUESTS_TABLE = "activation_requests"
NOTICES_TABLE = "notices"
CROSSINGS_TABLE = "activity_crossings"
IDEMPOTENCY_TABLE = "idempotency_keys"
BUSY_TIMEOUT_MS = 30_000

_COLUMNS = (
    "namespace_name",
    "timestamp_start",
    "timestamp_end",
    "duration_minutes",
    "cost_center",
    "user_id",
    "operation_type",
    "status",
    "error_message",
    "workloads",
    "reason",
    "ready_seconds",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {ACTIVITY_TABLE}"
_KEY_WHERE = "namespace_name = ? AND timestamp_start = ? AND operation_type = ?"
# One total order for both backends: oldest first is (start, namespace, operation) ascending.
_CC_COLUMNS = (
    "cost_center",
    "is_authorized",
    "max_concurrent_namespaces",
    "authorized_namespaces",
    "created_at",
    "updated_at",
)
# Spelled out (not taken from the models): they must match the migrations, not a later model.
_SLOT_COLUMNS = (
    "namespace",
    "cost_center",
    "user_id",
    "request_id",
    "claimed_at",
    "ends_at",
    "state",
    "record_start",
    "reason",
)
_REQUEST_COLUMNS = (
    "request_id",
    "namespace",
    "cost_center",
    "requester",
    "reason",
    "duration_minutes",
    "created_at",
    "expires_at",
    "status",
    "starts_at",
    "decided_by",
    "decided_at",
    "decision_reason",
    "started_at",
)
_NOTICE_COLUMNS = (
    "notice_id",
    "kind",
    "at",
    "sequence",
    "facts",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
    "sent_ref",
    "expired_at",
)
_PENDING = "sent_at IS NULL AND expired_at IS NULL"
_ANSWER_COLUMNS = ("key", "fingerprint", "status", "body", "created_at", "expires_at")
_SELECT_ANSWER = f"SELECT {', '.join(_ANSWER_COLUMNS)} FROM {IDEMPOTENCY_TABLE}"
_SELECT_NOTICE = f"SELECT {', '.join(_NOTICE_COLUMNS)} FROM {NOTICES_TABLE}"
_OLDEST_FIRST = "timestamp_start ASC, namespace_name ASC, operation_type ASC"
_KEY_COLUMNS = ("namespace_name", "timestamp_start", "operation_type")
_INSERT_CROSSING = (
    f"INSERT INTO {CROSSINGS_TABLE} (midnight, {', '.join(_KEY_COLUMNS)}) VALUES (?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)
# records_overlapping(start, end), with M the UTC midnight at or before `start`: the closed
# records crossing M, every record starting in [M, end), the open records started before M.
# The three sets are disjoint; each query is served by an index (tested with EXPLAIN).
_OVERLAP_QUERIES = (
    f"SELECT {', '.join('a.' + c for c in _COLUMNS)} FROM {CROSSINGS_TABLE} AS c "
    f"JOIN {ACTIVITY_TABLE} AS a USING ({', '.join(_KEY_COLUMNS)}) WHERE c.midnight = :midnight",
    f"{_SELECT} WHERE timestamp_start >= :midnight AND timestamp_start < :end",
    f"{_SELECT} WHERE timestamp_end IS NULL AND timestamp_start < :midnight",
)
_NEWEST_FIRST = "timestamp_start DESC, namespace_name DESC, operation_type DESC"

# No CHECK constraints on the enum columns: pydantic validates them, and SQLite cannot alter a
# CHECK later when a new operation type appears.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        f"""CREATE TABLE IF NOT EXISTS {ACTIVITY_TABLE} (
            namespace_name   TEXT    NOT NULL,
            timestamp_start  INTEGER NOT NULL,
            timestamp_end    INTEGER,
            duration_minutes INTEGER,
            cost_center      TEXT    NOT NULL DEFAULT '',
            user_id          TEXT    NOT NULL DEFAULT '',
            operation_type   TEXT    NOT NULL,
            status           TEXT    NOT NULL,
            error_message    TEXT    NOT NULL DEFAULT '',
            workloads        TEXT    NOT NULL DEFAULT '[]',
            PRIMARY KEY (namespace_name, timestamp_start, operation_type)
        )""",
        f"""CREATE INDEX IF NOT EXISTS idx_activity_open
            ON {ACTIVITY_TABLE} (operation_type, timestamp_start)
            WHERE timestamp_end IS NULL""",
        f"""CREATE INDEX IF NOT EXISTS idx_activity_start
            ON {ACTIVITY_TABLE} (timestamp_start)""",
        f"""CREATE TABLE IF NOT EXISTS {COST_CENTER_TABLE} (
            cost_center               TEXT    PRIMARY KEY NOT NULL,
            is_authorized             INTEGER NOT NULL DEFAULT 1,
            max_concurrent_namespaces INTEGER,
            authorized_namespaces     TEXT    NOT NULL DEFAULT '[]',
            created_at                INTEGER NOT NULL,
            updated_at                INTEGER NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {METRICS_TABLE} (
            metric_name TEXT    NOT NULL,
            period      TEXT    NOT NULL,
            value       REAL    NOT NULL DEFAULT 0,
            updated_at  INTEGER NOT NULL,
            PRIMARY KEY (metric_name, period)
        )""",
    ),
    # 2: after-hours activation: the slots the caps count, and the approval requests.
    (
        f"""CREATE TABLE IF NOT EXISTS {SLOTS_TABLE} (
            namespace    TEXT    PRIMARY KEY NOT NULL,
            cost_center  TEXT    NOT NULL,
            user_id      TEXT    NOT NULL DEFAULT '',
            request_id   TEXT    NOT NULL DEFAULT '',
            claimed_at   INTEGER NOT NULL,
            ends_at      INTEGER NOT NULL,
            state        TEXT    NOT NULL,
            record_start INTEGER
        )""",
        f"""CREATE INDEX IF NOT EXISTS idx_slots_cost_center
            ON {SLOTS_TABLE} (cost_center)""",
        f"""CREATE TABLE IF NOT EXISTS {REQUESTS_TABLE} (
            request_id       TEXT    PRIMARY KEY NOT NULL,
            namespace        TEXT    NOT NULL,
            cost_center      TEXT    NOT NULL,
            requester        TEXT    NOT NULL,
            reason           TEXT    NOT NULL DEFAULT '',
            duration_minutes INTEGER NOT NULL,
            created_at       INTEGER NOT NULL,
            expires_at       INTEGER NOT NULL,
            status           TEXT    NOT NULL,
            starts_at        INTEGER,
            decided_by       TEXT    NOT NULL DEFAULT '',
            decided_at       INTEGER,
            decision_reason  TEXT    NOT NULL DEFAULT '',
            started_at       INTEGER
        )""",
        f"""CREATE INDEX IF NOT EXISTS idx_requests_status
            ON {REQUESTS_TABLE} (status, created_at)""",
    ),
    # 3: the outbox of channel notices.
    (
        f"""CREATE TABLE IF NOT EXISTS {NOTICES_TABLE} (
            notice_id       TEXT    PRIMARY KEY NOT NULL,
            kind            TEXT    NOT NULL,
            at              INTEGER NOT NULL,
            sequence        INTEGER NOT NULL DEFAULT 0,
            facts           TEXT    NOT NULL DEFAULT '{{}}',
            attempts        INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL DEFAULT 0,
            last_error      TEXT    NOT NULL DEFAULT '',
            sent_at         INTEGER,
            sent_ref        TEXT    NOT NULL DEFAULT ''
        )""",
        f"""CREATE INDEX IF NOT EXISTS idx_notices_unsent
            ON {NOTICES_TABLE} (next_attempt_at, at)
            WHERE sent_at IS NULL""",
    ),
    # 4: reading one week without a scan (idx_activity_start exists since version 1).
    (
        f"""CREATE TABLE IF NOT EXISTS {CROSSINGS_TABLE} (
            midnight        INTEGER NOT NULL,
            namespace_name  TEXT    NOT NULL,
            timestamp_start INTEGER NOT NULL,
            operation_type  TEXT    NOT NULL,
            PRIMARY KEY (midnight, namespace_name, timestamp_start, operation_type)
        ) WITHOUT ROWID""",
        f"""CREATE INDEX IF NOT EXISTS idx_activity_open_start
            ON {ACTIVITY_TABLE} (timestamp_start)
            WHERE timestamp_end IS NULL""",
        # One crossing row per UTC midnight strictly inside each closed interval (the same
        # midnights as `midnights_crossed`; floor arithmetic, as SQLite's % truncates).
        f"""INSERT INTO {CROSSINGS_TABLE} (midnight, {", ".join(_KEY_COLUMNS)})
            WITH RECURSIVE crossed (midnight, namespace_name, timestamp_start, operation_type,
                                    timestamp_end) AS (
                SELECT timestamp_start - ((timestamp_start % {SECONDS_PER_DAY}
                           + {SECONDS_PER_DAY}) % {SECONDS_PER_DAY}) + {SECONDS_PER_DAY},
                       namespace_name, timestamp_start, operation_type, timestamp_end
                FROM {ACTIVITY_TABLE} WHERE timestamp_end IS NOT NULL
                UNION ALL
                SELECT midnight + {SECONDS_PER_DAY}, namespace_name, timestamp_start,
                       operation_type, timestamp_end
                FROM crossed WHERE midnight + {SECONDS_PER_DAY} < timestamp_end
            )
            SELECT midnight, {", ".join(_KEY_COLUMNS)} FROM crossed
            WHERE midnight < timestamp_end
            ON CONFLICT DO NOTHING""",
    ),
    # 5: notices given up unsent (`slack.notice_max_age`); the index holds pending ones only.
    (
        f"ALTER TABLE {NOTICES_TABLE} ADD COLUMN expired_at INTEGER",
        "DROP INDEX IF EXISTS idx_notices_unsent",
        f"""CREATE INDEX IF NOT EXISTS idx_notices_pending
            ON {NOTICES_TABLE} (next_attempt_at, at)
            WHERE {_PENDING}""",
    ),
    # 6: the REST API: idempotency keys, and history pages read in order from an index.
    (
        f"""CREATE TABLE IF NOT EXISTS {IDEMPOTENCY_TABLE} (
            key         TEXT    PRIMARY KEY NOT NULL,
            fingerprint TEXT    NOT NULL,
            status      INTEGER NOT NULL DEFAULT 0,
            body        TEXT    NOT NULL DEFAULT '',
            created_at  INTEGER NOT NULL,
            expires_at  INTEGER NOT NULL
        )""",
        f"""CREATE INDEX IF NOT EXISTS idx_idempotency_expires
            ON {IDEMPOTENCY_TABLE} (expires_at)""",
        f"""CREATE INDEX IF NOT EXISTS idx_activity_newest
            ON {ACTIVITY_TABLE} (timestamp_start, namespace_name, operation_type)""",
        f"""CREATE INDEX IF NOT EXISTS idx_activity_user
            ON {ACTIVITY_TABLE} (user_id, timestamp_start, namespace_name, operation_type)""",
    ),
    # 7: the reason a person gave for a window, on its slot and its `manual_activation` record.
    (
        f"ALTER TABLE {ACTIVITY_TABLE} ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
        f"ALTER TABLE {SLOTS_TABLE} ADD COLUMN reason TEXT NOT NULL DEFAULT ''",
    ),
    # 8: an `auto_startup`'s seconds to ready (verified wake-ups).
    (f"ALTER TABLE {ACTIVITY_TABLE} ADD COLUMN ready_seconds INTEGER",),
)
SCHEMA_VERSION = len(_MIGRATIONS)


class SqliteStore:
    """The audit log in a SQLite file (created with its parent directory when missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.items_read = 0
        self._count_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory of the SQLite store {self.path}: {exc}; "
                "set store.path to a writable location"
            ) from exc
        try:
            with self._errors("open"):
                self._open()
        except BaseException:
            self.close()
            raise

    # ---- Store -------------------------------------------------------------------------------

    def add_record(self, record: ActivityRecord) -> bool:
        return self.add_records([record])[0]

    def add_records(self, records: Sequence[ActivityRecord]) -> list[bool]:
        """One transaction for them all: one fsync for a mass pass's records, not one each."""
        if not records:
            return []
        with self._write("add records" if len(records) > 1 else "add a record") as conn:
            return [_insert_record(conn, record) for record in records]

    def get_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType
    ) -> ActivityRecord | None:
        rows = self._read(
            "read a record",
            f"{_SELECT} WHERE {_KEY_WHERE}",
            (namespace, timestamp_start, OperationType(operation_type).value),
        )
        return _from_row(rows[0]) if rows else None

    def close_record(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, end: int
    ) -> bool:
        sql = (
            f"UPDATE {ACTIVITY_TABLE} SET timestamp_end = ?, duration_minutes = ?, "
            f"status = CASE status WHEN '{RecordStatus.ACTIVE.value}' "
            f"THEN '{RecordStatus.COMPLETED.value}' ELSE status END "
            f"WHERE {_KEY_WHERE} AND timestamp_end IS NULL"
        )
        params = (
            end,
            (end - timestamp_start) // 60,
            namespace,
            timestamp_start,
            OperationType(operation_type).value,
        )
        with self._write("close a record") as conn:
            if conn.execute(sql, params).rowcount != 1:
                return False
            _add_crossings(conn, (namespace, timestamp_start, operation_type), end)
            return True

    def set_status(
        self,
        namespace: str,
        timestamp_start: int,
        operation_type: OperationType,
        status: RecordStatus,
        error_message: str,
    ) -> None:
        """Update status and error message; a missing record is left missing (no-op)."""
        sql = f"UPDATE {ACTIVITY_TABLE} SET status = ?, error_message = ? WHERE {_KEY_WHERE}"
        params = (
            RecordStatus(status).value,
            error_message,
            namespace,
            timestamp_start,
            OperationType(operation_type).value,
        )
        with self._write("update a record's status") as conn:
            conn.execute(sql, params)

    def set_ready_seconds(
        self, namespace: str, timestamp_start: int, operation_type: OperationType, seconds: int
    ) -> None:
        sql = f"UPDATE {ACTIVITY_TABLE} SET ready_seconds = ? WHERE {_KEY_WHERE}"
        key = (namespace, timestamp_start, OperationType(operation_type).value)
        with self._write("record a wake's seconds to ready") as conn:
            conn.execute(sql, (seconds, *key))

    def add_snapshots(
        self,
        namespace: str,
        timestamp_start: int,
        operation_type: OperationType,
        snapshots: Sequence[WorkloadSnapshot],
    ) -> bool:
        key = (namespace, timestamp_start, OperationType(operation_type).value)
        with self._write("add workloads to a record") as conn:
            row = conn.execute(
                f"SELECT workloads FROM {ACTIVITY_TABLE} WHERE {_KEY_WHERE} "
                "AND timestamp_end IS NULL",
                key,
            ).fetchone()
            if row is None:
                return False
            known = _SNAPSHOTS.validate_json(row[0])
            workloads = json.dumps([w.model_dump(mode="json") for w in [*known, *snapshots]])
            conn.execute(
                f"UPDATE {ACTIVITY_TABLE} SET workloads = ? WHERE {_KEY_WHERE}", (workloads, *key)
            )
            return True

    def open_records(self, operation_type: OperationType | None = None) -> list[ActivityRecord]:
        # Both forms are served by the partial index on open records.
        if operation_type is None:
            sql = f"{_SELECT} WHERE timestamp_end IS NULL ORDER BY {_OLDEST_FIRST}"
            params: tuple[Any, ...] = ()
        else:
            sql = (
                f"{_SELECT} WHERE timestamp_end IS NULL AND operation_type = ? "
                f"ORDER BY {_OLDEST_FIRST}"
            )
            params = (OperationType(operation_type).value,)
        return [_from_row(row) for row in self._read("list open records", sql, params)]

    def history(
        self, namespace: str | None = None, limit: int | None = None
    ) -> list[ActivityRecord]:
        if limit is not None and limit <= 0:
            return []
        where = "" if namespace is None else " WHERE namespace_name = ?"
        params: tuple[Any, ...] = () if namespace is None else (namespace,)
        sql = f"{_SELECT}{where} ORDER BY {_NEWEST_FIRST}"
        if limit is not None:
            sql += " LIMIT ?"
            params = (*params, limit)
        return [_from_row(row) for row in self._read("read the history", sql, params)]

    def history_page(
        self, query: HistoryQuery, limit: int, after: HistoryKey | None = None
    ) -> list[ActivityRecord]:
        """One query with `LIMIT limit` that walks an index already in the page's order, so it
        stops at the limit and never sorts: the primary key or `idx_activity_user` when a
        namespace or a user is given, else `idx_activity_newest` (tested with EXPLAIN QUERY
        PLAN); `since`, `until` and `after` bound the index range."""
        if limit <= 0:
            return []
        sql, params = _history_page_sql(query, limit, after)
        return [_from_row(row) for row in self._read("read a history page", sql, params)]

    def records_overlapping(self, start: int, end: int) -> list[ActivityRecord]:
        if end <= start:
            return []
        params = {"midnight": start - start % SECONDS_PER_DAY, "end": end}
        found: dict[tuple[str, int, OperationType], ActivityRecord] = {}
        with self._errors("read the records of a period"), self._snapshot() as conn:
            for sql in _OVERLAP_QUERIES:
                rows = conn.execute(sql, params).fetchall()
                self._count_read(len(rows))
                for row in rows:
                    record = _from_row(row)
                    found[record.key] = record
        return [r for r in found.values() if overlaps(r, start, end)]

    # ---- cost-center permissions -------------------------------------------------------------

    def get_cost_center(self, cost_center: str) -> CostCenterPermission | None:
        rows = self._read(
            "read a cost center",
            f"SELECT {', '.join(_CC_COLUMNS)} FROM {COST_CENTER_TABLE} WHERE cost_center = ?",
            (cost_center,),
        )
        return _cost_center_from_row(rows[0]) if rows else None

    def list_cost_centers(self) -> list[CostCenterPermission]:
        rows = self._read(
            "list cost centers",
            f"SELECT {', '.join(_CC_COLUMNS)} FROM {COST_CENTER_TABLE} ORDER BY cost_center",
            (),
        )
        return [_cost_center_from_row(row) for row in rows]

    def put_cost_center(self, permission: CostCenterPermission) -> None:
        updated = [c for c in _CC_COLUMNS if c not in ("cost_center", "created_at")]
        sql = (
            f"INSERT INTO {COST_CENTER_TABLE} ({', '.join(_CC_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _CC_COLUMNS)}) "
            "ON CONFLICT (cost_center) DO UPDATE SET "
            + ", ".join(f"{c} = excluded.{c}" for c in updated)
        )
        with self._write("write a cost center") as conn:
            conn.execute(sql, _cost_center_to_row(permission))

    def seed_cost_centers(self, permissions: Collection[CostCenterPermission]) -> int:
        sql = (
            f"INSERT INTO {COST_CENTER_TABLE} ({', '.join(_CC_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _CC_COLUMNS)}) "
            "ON CONFLICT (cost_center) DO NOTHING"
        )
        inserted = 0
        with self._write("seed cost centers") as conn:
            for permission in permissions:
                inserted += conn.execute(sql, _cost_center_to_row(permission)).rowcount
        return inserted

    # ---- activation slots --------------------------------------------------------------------

    def claim_slot(
        self, slot: ActivationSlot, global_cap: int, cost_center_cap: int
    ) -> ClaimOutcome:
        # BEGIN IMMEDIATE takes the write lock before the first read: the checks and the insert
        # are one step for every thread and process using the file.
        with self._write("claim an activation slot") as conn:
            held = conn.execute(
                f"SELECT 1 FROM {SLOTS_TABLE} WHERE namespace = ?", (slot.namespace,)
            ).fetchone()
            if held is not None:
                return ClaimOutcome.ALREADY_ACTIVE
            (total,) = conn.execute(f"SELECT count(*) FROM {SLOTS_TABLE}").fetchone()
            if total >= global_cap:
                return ClaimOutcome.GLOBAL_LIMIT
            (of_center,) = conn.execute(
                f"SELECT count(*) FROM {SLOTS_TABLE} WHERE cost_center = ?", (slot.cost_center,)
            ).fetchone()
            if of_center >= cost_center_cap:
                return ClaimOutcome.COST_CENTER_LIMIT
            conn.execute(
                f"INSERT INTO {SLOTS_TABLE} ({', '.join(_SLOT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _SLOT_COLUMNS)})",
                _slot_to_row(slot),
            )
            return ClaimOutcome.CLAIMED

    def get_slot(self, namespace: str) -> ActivationSlot | None:
        rows = self._read(
            "read an activation slot",
            f"SELECT {', '.join(_SLOT_COLUMNS)} FROM {SLOTS_TABLE} WHERE namespace = ?",
            (namespace,),
        )
        return _slot_from_row(rows[0]) if rows else None

    def list_slots(self) -> list[ActivationSlot]:
        rows = self._read(
            "list activation slots",
            f"SELECT {', '.join(_SLOT_COLUMNS)} FROM {SLOTS_TABLE} ORDER BY namespace",
            (),
        )
        return [_slot_from_row(row) for row in rows]

    def update_slot(
        self,
        namespace: str,
        claimed_at: int,
        *,
        ends_at: int | None = None,
        state: SlotState | None = None,
        record_start: int | None = None,
    ) -> bool:
        changes: dict[str, Any] = {}
        if ends_at is not None:
            changes["ends_at"] = ends_at
        if state is not None:
            changes["state"] = SlotState(state).value
        if record_start is not None:
            changes["record_start"] = record_start
        if not changes:  # nothing to change: report whether that slot is still there
            rows = self._read(
                "read an activation slot",
                f"SELECT 1 FROM {SLOTS_TABLE} WHERE namespace = ? AND claimed_at = ?",
                (namespace, claimed_at),
            )
            return bool(rows)
        sql = (
            f"UPDATE {SLOTS_TABLE} SET {', '.join(f'{c} = ?' for c in changes)} "
            "WHERE namespace = ? AND claimed_at = ?"
        )
        with self._write("update an activation slot") as conn:
            return conn.execute(sql, (*changes.values(), namespace, claimed_at)).rowcount == 1

    def release_slot(self, namespace: str, claimed_at: int) -> bool:
        # The caps count rows, so deleting the row frees its place in both counts at once.
        sql = f"DELETE FROM {SLOTS_TABLE} WHERE namespace = ? AND claimed_at = ?"
        with self._write("release an activation slot") as conn:
            return conn.execute(sql, (namespace, claimed_at)).rowcount == 1

    # ---- activation requests -----------------------------------------------------------------

    def add_request(self, request: ActivationRequest) -> None:
        sql = (
            f"INSERT INTO {REQUESTS_TABLE} ({', '.join(_REQUEST_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _REQUEST_COLUMNS)}) "
            "ON CONFLICT (request_id) DO NOTHING"
        )
        with self._write("add an activation request") as conn:
            inserted = conn.execute(sql, _request_to_row(request)).rowcount == 1
        if not inserted:
            raise StoreError(
                f"SQLite store {self.path}: activation request {request.request_id!r} already "
                "exists; request ids must be unique"
            )

    def get_request(self, request_id: str) -> ActivationRequest | None:
        rows = self._read(
            "read an activation request",
            f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM {REQUESTS_TABLE} WHERE request_id = ?",
            (request_id,),
        )
        return _request_from_row(rows[0]) if rows else None

    def list_requests(
        self, statuses: Collection[RequestStatus] | None = None
    ) -> list[ActivationRequest]:
        select = f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM {REQUESTS_TABLE}"
        order = " ORDER BY created_at DESC, request_id DESC"
        if statuses is None:
            rows = self._read("list activation requests", select + order, ())
        else:
            wanted = sorted({RequestStatus(s).value for s in statuses})
            if not wanted:
                return []
            # Served by idx_requests_status (status, created_at).
            where = f" WHERE status IN ({', '.join('?' for _ in wanted)})"
            rows = self._read("list activation requests", select + where + order, wanted)
        return [_request_from_row(row) for row in rows]

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
        sql = (
            f"UPDATE {REQUESTS_TABLE} SET status = ?, decided_by = ?, decided_at = ?, "
            "decision_reason = ? WHERE request_id = ? AND status = ?"
        )
        params = (
            RequestStatus(new).value,
            by,
            at,
            reason,
            request_id,
            RequestStatus(expected).value,
        )
        with self._write("decide an activation request") as conn:
            if conn.execute(sql, params).rowcount != 1:
                return None
            # Read back inside the same transaction: exactly what this decision wrote.
            row = conn.execute(
                f"SELECT {', '.join(_REQUEST_COLUMNS)} FROM {REQUESTS_TABLE} WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        return _request_from_row(row)

    def mark_request_started(self, request_id: str, at: int) -> bool:
        sql = (
            f"UPDATE {REQUESTS_TABLE} SET started_at = ? "
            "WHERE request_id = ? AND started_at IS NULL"
        )
        with self._write("mark an activation request started") as conn:
            return conn.execute(sql, (at, request_id)).rowcount == 1

    def increment_metric(self, metric_name: str, period: str, amount: float, at: int) -> None:
        sql = (
            f"INSERT INTO {METRICS_TABLE} (metric_name, period, value, updated_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (metric_name, period) "
            "DO UPDATE SET value = value + excluded.value, updated_at = excluded.updated_at"
        )
        with self._write("count a metric") as conn:
            conn.execute(sql, (metric_name, period, amount, at))

    def get_metric(self, metric_name: str, period: str) -> float:
        rows = self._read(
            "read a metric",
            f"SELECT value FROM {METRICS_TABLE} WHERE metric_name = ? AND period = ?",
            (metric_name, period),
        )
        return float(rows[0][0]) if rows else 0.0

    # ---- notices ----------------------------------------------------------------------------

    def add_notice(self, notice: Notice) -> bool:
        sql = (
            f"INSERT INTO {NOTICES_TABLE} ({', '.join(_NOTICE_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _NOTICE_COLUMNS)}) "
            "ON CONFLICT (notice_id) DO NOTHING"
        )
        with self._write("add a notice") as conn:
            return conn.execute(sql, _notice_to_row(notice)).rowcount == 1

    def get_notice(self, notice_id: str) -> Notice | None:
        rows = self._read("read a notice", f"{_SELECT_NOTICE} WHERE notice_id = ?", (notice_id,))
        return _notice_from_row(rows[0]) if rows else None

    def due_notices(self, now: int, limit: int) -> list[Notice]:
        if limit <= 0:
            return []
        # Served by the partial index idx_notices_pending.
        sql = (
            f"{_SELECT_NOTICE} WHERE {_PENDING} AND next_attempt_at <= ? "
            "ORDER BY at ASC, sequence ASC, notice_id ASC LIMIT ?"
        )
        return [_notice_from_row(r) for r in self._read("list due notices", sql, (now, limit))]

    def mark_notice_delivered(self, notice_id: str, at: int, ref: str) -> bool:
        sql = (
            f"UPDATE {NOTICES_TABLE} SET sent_at = ?, sent_ref = ? "
            f"WHERE notice_id = ? AND {_PENDING}"
        )
        with self._write("mark a notice delivered") as conn:
            return conn.execute(sql, (at, ref, notice_id)).rowcount == 1

    def mark_notice_expired(self, notice_id: str, at: int) -> bool:
        sql = f"UPDATE {NOTICES_TABLE} SET expired_at = ? WHERE notice_id = ? AND {_PENDING}"
        with self._write("mark a notice expired") as conn:
            return conn.execute(sql, (at, notice_id)).rowcount == 1

    def mark_notice_failed(self, notice_id: str, error: str, next_attempt_at: int) -> Notice | None:
        sql = (
            f"UPDATE {NOTICES_TABLE} SET attempts = attempts + 1, last_error = ?, "
            f"next_attempt_at = ? WHERE notice_id = ? AND {_PENDING}"
        )
        with self._write("count a failed notice") as conn:
            if conn.execute(sql, (error, next_attempt_at, notice_id)).rowcount != 1:
                return None
            row = conn.execute(f"{_SELECT_NOTICE} WHERE notice_id = ?", (notice_id,)).fetchone()
        return _notice_from_row(row)

    def pending_notice_count(self) -> int:
        rows = self._read(
            "count pending notices",
            f"SELECT count(*) FROM {NOTICES_TABLE} WHERE {_PENDING}",
            (),
        )
        return int(rows[0][0])

    # ---- idempotency keys --------------------------------------------------------------------

    def claim_idempotency(
        self, key: str, fingerprint: str, at: int, ttl_seconds: int
    ) -> IdempotentAnswer | None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds}")
        # BEGIN IMMEDIATE holds the write lock from the first statement: the read and the insert
        # are one step for every thread and process using the file.
        with self._write("claim an idempotency key") as conn:
            # Expired entries may be claimed again: delete them (this store's TTL).
            conn.execute(f"DELETE FROM {IDEMPOTENCY_TABLE} WHERE expires_at <= ?", (at,))
            row = conn.execute(f"{_SELECT_ANSWER} WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return _answer_from_row(row)
            conn.execute(
                f"INSERT INTO {IDEMPOTENCY_TABLE} ({', '.join(_ANSWER_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _ANSWER_COLUMNS)})",
                (key, fingerprint, 0, "", at, at + ttl_seconds),
            )
            return None

    def finish_idempotency(self, key: str, status: int, body: str) -> None:
        if status <= 0:
            raise ValueError(f"an answer's status must be positive, not {status}")
        sql = f"UPDATE {IDEMPOTENCY_TABLE} SET status = ?, body = ? WHERE key = ? AND status = 0"
        with self._write("store the answer of an idempotency key") as conn:
            conn.execute(sql, (status, body, key))

    def release_idempotency(self, key: str) -> None:
        sql = f"DELETE FROM {IDEMPOTENCY_TABLE} WHERE key = ? AND status = 0"
        with self._write("release an idempotency key") as conn:
            conn.execute(sql, (key,))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- internals ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the SQLite store {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._lock:
            if self._closed:
                raise StoreError(f"the SQLite store {self.path} is closed")
            # isolation_level=None: no implicit transactions; writes open BEGIN IMMEDIATE.
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,  # only so that close() may close it from any thread
            )
            self._connections.append(conn)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._local.conn = conn
        return conn

    def _open(self) -> None:
        """Switch the file to WAL and migrate its schema. Switching the journal mode returns
        SQLITE_BUSY at once, without waiting on `busy_timeout`, while another process is opening
        the same new file; so retry that (both steps are idempotent) until the timeout."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.005
        while True:
            try:
                conn = self._conn()
                row = conn.execute("PRAGMA journal_mode").fetchone()
                mode = str(row[0]).lower() if row else "unknown"
                if mode != "wal":
                    row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                    mode = str(row[0]).lower() if row else "unknown"
                if mode != "wal":
                    raise StoreError(
                        f"SQLite store {self.path}: cannot switch the file to WAL mode (journal "
                        f"mode is {mode}); put store.path on a local file system"
                    )
                self._migrate(conn)
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._transaction(conn):
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the SQLite store {self.path} has schema version {version}, newer than this "
                    f"namespace-ctl understands ({SCHEMA_VERSION}): upgrade namespace-ctl"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise StoreError(_describe(self.path, action, exc)) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: cannot {action}: {exc}") from exc

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._errors(action), self._transaction(self._conn()) as conn:
            yield conn

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: its queries see one state of the file (WAL)."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _count_read(self, rows: int) -> None:
        with self._count_lock:
            self.items_read += rows

    def _read(self, action: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._errors(action):
            return list(self._conn().execute(sql, tuple(params)).fetchall())


_INSERT_RECORD = (
    f"INSERT INTO {ACTIVITY_TABLE} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT (namespace_name, timestamp_start, operation_type) DO NOTHING"
)


def _insert_record(conn: sqlite3.Connection, record: ActivityRecord) -> bool:
    if conn.execute(_INSERT_RECORD, _to_row(record)).rowcount != 1:
        return False
    if record.timestamp_end is not None:
        _add_crossings(conn, record.key, record.timestamp_end)
    return True


def _add_crossings(conn: sqlite3.Connection, key: tuple[str, int, OperationType], end: int) -> None:
    namespace, start, operation = key
    operation_value = OperationType(operation).value
    conn.executemany(
        _INSERT_CROSSING,
        (
            (midnight, namespace, start, operation_value)
            for midnight in midnights_crossed(start, end)
        ),
    )


def _history_page_sql(
    query: HistoryQuery, limit: int, after: HistoryKey | None
) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("namespace_name", query.namespace),
        ("operation_type", None if query.operation_type is None else query.operation_type.value),
        ("user_id", query.user_id),
    ):
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if query.since is not None:
        conditions.append("timestamp_start >= ?")
        params.append(query.since)
    if query.until is not None:
        conditions.append("timestamp_start < ?")
        params.append(query.until)
    if after is not None:
        start, namespace, operation = after
        # The row value is the exact cursor; the plain bound on the first column lets the
        # planner start the index range there.
        conditions.append(
            "timestamp_start <= ? AND (timestamp_start, namespace_name, operation_type) < (?, ?, ?)"
        )
        params.extend((start, start, namespace, operation))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"{_SELECT}{where} ORDER BY {_NEWEST_FIRST} LIMIT ?", [*params, limit]


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _describe(path: Path, action: str, exc: sqlite3.Error) -> str:
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        hint = (
            "the file is not a valid SQLite database or is corrupt: move it aside (keep it for "
            "the audit trail) and start again, or point store.path at the right file"
        )
    elif "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        hint = "the file or its directory is not writable: fix the permissions or set store.path"
    elif "locked" in lowered or "busy" in lowered:
        hint = (
            f"another process held the database lock for more than {BUSY_TIMEOUT_MS // 1000}s: "
            "try again"
        )
    elif "disk" in lowered or "full" in lowered:
        hint = "the disk is full or failing: free space and try again"
    else:
        hint = "check the file and its directory"
    return f"SQLite store {path}: cannot {action}: {text}; {hint}"


def _to_row(record: ActivityRecord) -> tuple[Any, ...]:
    workloads = json.dumps([w.model_dump(mode="json") for w in record.workloads])
    return (
        record.namespace_name,
        record.timestamp_start,
        record.timestamp_end,
        record.duration_minutes,
        record.cost_center,
        record.user_id,
        record.operation_type.value,
        record.status.value,
        record.error_message,
        workloads,
        record.reason,
        record.ready_seconds,
    )


# Parsed and validated in one pass in pydantic's core: `status` at night reads every open
# record (2,000 at a time), and json.loads plus a model per snapshot was most of its cost.
_SNAPSHOTS = TypeAdapter(list[WorkloadSnapshot])


def _from_row(row: Sequence[Any]) -> ActivityRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["workloads"] = _SNAPSHOTS.validate_json(values["workloads"])
    return ActivityRecord.model_validate(values)


def _cost_center_to_row(permission: CostCenterPermission) -> tuple[Any, ...]:
    return (
        permission.cost_center,
        int(permission.is_authorized),
        permission.max_concurrent_namespaces,
        json.dumps(list(permission.authorized_namespaces)),
        permission.created_at,
        permission.updated_at,
    )


def _cost_center_from_row(row: Sequence[Any]) -> CostCenterPermission:
    values = dict(zip(_CC_COLUMNS, row, strict=True))
    values["is_authorized"] = bool(values["is_authorized"])
    values["authorized_namespaces"] = json.loads(values["authorized_namespaces"])
    return CostCenterPermission.model_validate(values)


def _slot_to_row(slot: ActivationSlot) -> tuple[Any, ...]:
    return tuple(slot.model_dump(mode="json")[c] for c in _SLOT_COLUMNS)


def _slot_from_row(row: Sequence[Any]) -> ActivationSlot:
    return ActivationSlot.model_validate(dict(zip(_SLOT_COLUMNS, row, strict=True)))


def _request_to_row(request: ActivationRequest) -> tuple[Any, ...]:
    return tuple(request.model_dump(mode="json")[c] for c in _REQUEST_COLUMNS)


def _request_from_row(row: Sequence[Any]) -> ActivationRequest:
    return ActivationRequest.model_validate(dict(zip(_REQUEST_COLUMNS, row, strict=True)))


def _notice_to_row(notice: Notice) -> tuple[Any, ...]:
    values = notice.model_dump(mode="json")
    values["facts"] = json.dumps(values["facts"], sort_keys=True)
    return tuple(values[c] for c in _NOTICE_COLUMNS)


def _answer_from_row(row: Sequence[Any]) -> IdempotentAnswer:
    return IdempotentAnswer.model_validate(dict(zip(_ANSWER_COLUMNS, row, strict=True)))


def _notice_from_row(row: Sequence[Any]) -> Notice:
    values = dict(zip(_NOTICE_COLUMNS, row, strict=True))
    values["facts"] = json.loads(values["facts"])
    return Notice.model_validate(values)
