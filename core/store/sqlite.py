"""`SqliteStore`: the embedded default store, one SQLite file.

Safe for several threads (one connection per thread) and several processes on the same file: the
file is in WAL mode, every connection waits on a lock (`busy_timeout`) instead of failing, and
every write runs in its own `BEGIN IMMEDIATE` transaction, so a conditional write (insert unless
the key exists, close unless already closed) is atomic across processes. Nothing is ever deleted.

The schema is versioned with `PRAGMA user_version`: `_MIGRATIONS[i]` takes the file from version
`i` to `i + 1`, so later changes append a migration and existing files are upgraded in place.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import StoreError
from core.models import ActivityRecord, OperationType, RecordStatus, WorkloadSnapshot

ACTIVITY_TABLE = "namespace_activity_logs"
COST_CENTER_TABLE = "cost_center_permissions"
METRICS_TABLE = "system_metrics"
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
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM {ACTIVITY_TABLE}"
_KEY_WHERE = "namespace_name = ? AND timestamp_start = ? AND operation_type = ?"
# One total order for both backends: oldest first is (start, namespace, operation) ascending.
_OLDEST_FIRST = "timestamp_start ASC, namespace_name ASC, operation_type ASC"
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
        values = _to_row(record)
        sql = (
            f"INSERT INTO {ACTIVITY_TABLE} ({', '.join(_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in _COLUMNS)}) "
            "ON CONFLICT (namespace_name, timestamp_start, operation_type) DO NOTHING"
        )
        with self._write("add a record") as conn:
            return conn.execute(sql, values).rowcount == 1

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
            return conn.execute(sql, params).rowcount == 1

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

    def _read(self, action: str, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._errors(action):
            return list(self._conn().execute(sql, tuple(params)).fetchall())


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
    )


def _from_row(row: Sequence[Any]) -> ActivityRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["workloads"] = [
        WorkloadSnapshot.model_validate(w) for w in json.loads(values["workloads"])
    ]
    return ActivityRecord.model_validate(values)
