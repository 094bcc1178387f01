"""The `Store` contract, run against both backends (SQLite file and DynamoDB on moto)."""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import StoreError
from core.models import (
    ActivityRecord,
    HistoryQuery,
    OperationType,
    RecordStatus,
    WorkloadSnapshot,
)
from core.store.base import Store
from core.store.dynamo import OPEN_INDEX, DynamoStore
from core.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests import store_fixtures
from tests.store_fixtures import AWS_REGION, StoreFactory, make_record, race, snapshot

SHUTDOWN = OperationType.AUTO_SHUTDOWN
STARTUP = OperationType.AUTO_STARTUP
ACTIVATION = OperationType.MANUAL_ACTIVATION
DEACTIVATION = OperationType.MANUAL_DEACTIVATION
DAY = 86_400


def newest_first(records: list[ActivityRecord]) -> list[ActivityRecord]:
    return sorted(
        records,
        key=lambda r: (r.timestamp_start, r.namespace_name, r.operation_type.value),
        reverse=True,
    )


# ---- adding ------------------------------------------------------------------------------------


def test_add_is_idempotent_by_key(store: Store) -> None:
    record = make_record(cost_center="cc-1", user_id="U1")
    assert store.add_record(record) is True
    # Same key, different content: still the first record, and only one.
    assert store.add_record(record.model_copy(update={"user_id": "U2"})) is False
    assert store.history() == [record]


def test_add_records_adds_each_unless_its_key_exists_in_the_order_given(store: Store) -> None:
    """What a mass pass writes at once: one answer per record, the existing key refused, and a
    record crossing midnight kept with its crossings (found by a read of the later day)."""
    kept = make_record("team-b", 1_000, SHUTDOWN, user_id="first")
    assert store.add_record(kept)
    batch = [
        make_record("team-a", 1_000, SHUTDOWN),
        kept.model_copy(update={"user_id": "second"}),  # same key: refused, first kept
        make_record("team-c", 1_000, STARTUP, RecordStatus.COMPLETED, timestamp_end=1_000),
        make_record("team-d", DAY - 60, SHUTDOWN, RecordStatus.COMPLETED, timestamp_end=DAY + 60),
        make_record("team-a", 1_000, SHUTDOWN, user_id="again"),  # a twin inside the batch
    ]
    assert store.add_records(batch) == [True, False, True, True, False]
    assert store.add_records([]) == []
    assert store.get_record("team-b", 1_000, SHUTDOWN) == kept
    assert store.get_record("team-a", 1_000, SHUTDOWN) == batch[0]
    assert len(store.history()) == 4
    # The next day: the open nights (still asleep) and the closed one that crossed midnight.
    crossing = store.records_overlapping(DAY + 10, DAY + 20)
    assert {r.namespace_name for r in crossing} == {"team-a", "team-b", "team-d"}
    assert [r.namespace_name for r in crossing if r.timestamp_end is not None] == ["team-d"]


def test_same_second_different_operations_are_two_records(store: Store) -> None:
    activation = make_record("payments", 5_000, ACTIVATION, user_id="U1")
    deactivation = make_record(
        "payments", 5_000, DEACTIVATION, RecordStatus.COMPLETED, timestamp_end=5_000
    )
    assert store.add_record(activation)
    assert store.add_record(deactivation)
    assert len(store.history("payments")) == 2
    assert store.get_record("payments", 5_000, ACTIVATION) == activation
    assert store.get_record("payments", 5_000, DEACTIVATION) == deactivation


def test_get_record_round_trips_every_field(store: Store) -> None:
    record = make_record(
        "checkout",
        1_700_000_000,
        ACTIVATION,
        RecordStatus.FAILED,
        timestamp_end=1_700_003_600,
        duration_minutes=60,
        cost_center="cc-ñ",
        user_id="U123",
        error_message="scale failed: 'web' 409\nretry later",
        workloads=[snapshot("web")],
    )
    store.add_record(record)
    assert store.get_record("checkout", 1_700_000_000, ACTIVATION) == record
    assert store.get_record("checkout", 1_700_000_000, SHUTDOWN) is None
    assert store.get_record("checkout", 1_700_000_001, ACTIVATION) is None
    assert store.get_record("nope", 1_700_000_000, ACTIVATION) is None


def test_workloads_snapshot_round_trips_exactly(store: Store) -> None:
    workloads = [
        WorkloadSnapshot(
            kind="Deployment", name="web", replicas=3, cpu_cores=0.1, memory_gib=1 / 3
        ),
        WorkloadSnapshot(kind="StatefulSet", name="db", replicas=1, cpu_cores=2.0, memory_gib=0.0),
        WorkloadSnapshot(
            kind="DaemonSet",
            name="agent",
            replicas=7,
            cpu_cores=1e-7,
            memory_gib=12345.678901234567,
        ),
        WorkloadSnapshot(kind="CronJob", name="batch", replicas=0, has_requests=False),
    ]
    store.add_record(make_record(workloads=workloads))
    stored = store.get_record("payments", 1_000, SHUTDOWN)
    assert stored is not None
    assert stored.workloads == workloads
    assert [w.cpu_cores for w in stored.workloads] == [0.1, 2.0, 1e-7, 0.0]
    assert all(isinstance(w.replicas, int) for w in stored.workloads)
    assert store.history()[0].workloads == workloads


def test_a_records_reason_round_trips_and_defaults_to_empty(store: Store) -> None:
    """A direct activation's reason is kept on its record through every read, close and status
    change (on DynamoDB also in the copies under the midnights it crosses); a record written
    without one reads ""."""
    midnight = 20_000 * DAY
    given = make_record(
        "checkout", midnight - 3_600, ACTIVATION, user_id="U1", reason='incident 4711: ñ, "v2"'
    )
    plain = make_record("checkout", midnight - 7_200, SHUTDOWN)
    assert store.add_record(given) and store.add_record(plain)
    assert store.get_record(*given.key) == given
    assert store.get_record(*plain.key) == plain and plain.reason == ""
    assert store.open_records(ACTIVATION) == [given]
    assert store.close_record(*given.key, midnight + 3_600)
    store.set_status(*given.key, RecordStatus.FAILED, "web: 409")
    closed = store.get_record(*given.key)
    assert closed is not None
    assert (closed.reason, closed.status, closed.timestamp_end) == (
        given.reason,
        RecordStatus.FAILED,
        midnight + 3_600,
    )
    assert store.history("checkout") == [closed, plain]
    assert store.history_page(HistoryQuery(user_id="U1"), 10) == [closed]
    # Past the midnight: the closed record comes from the crossings, the open one by itself.
    found = store.records_overlapping(midnight + 60, midnight + 120)
    assert sorted(found, key=lambda r: r.timestamp_start) == [plain, closed]


# ---- closing and status ------------------------------------------------------------------------


def test_close_once_with_exact_duration(store: Store) -> None:
    store.add_record(make_record(start=1_000))
    assert store.close_record("payments", 1_000, SHUTDOWN, 1_000 + 3_599) is True
    closed = store.get_record("payments", 1_000, SHUTDOWN)
    assert closed is not None
    assert (closed.timestamp_end, closed.duration_minutes) == (4_599, 59)
    assert closed.status is RecordStatus.COMPLETED
    # A second close changes nothing.
    assert store.close_record("payments", 1_000, SHUTDOWN, 9_999) is False
    assert store.get_record("payments", 1_000, SHUTDOWN) == closed
    assert store.history() == [closed]


def test_close_missing_record_adds_nothing(store: Store) -> None:
    assert store.close_record("ghost", 1_000, SHUTDOWN, 2_000) is False
    assert store.history() == []


def test_close_keeps_a_failed_status(store: Store) -> None:
    store.add_record(make_record(status=RecordStatus.FAILED, error_message="web: 403"))
    assert store.close_record("payments", 1_000, SHUTDOWN, 1_000 + 120) is True
    closed = store.get_record("payments", 1_000, SHUTDOWN)
    assert closed is not None
    assert (closed.status, closed.error_message) == (RecordStatus.FAILED, "web: 403")
    assert closed.duration_minutes == 2


def test_close_keeps_a_completed_status(store: Store) -> None:
    store.add_record(make_record(status=RecordStatus.COMPLETED))
    assert store.close_record("payments", 1_000, SHUTDOWN, 1_059) is True
    closed = store.get_record("payments", 1_000, SHUTDOWN)
    assert closed is not None
    assert (closed.status, closed.duration_minutes) == (RecordStatus.COMPLETED, 0)


def test_set_status(store: Store) -> None:
    store.add_record(make_record(status=RecordStatus.FAILED, error_message="web: 403"))
    store.set_status("payments", 1_000, SHUTDOWN, RecordStatus.ACTIVE, "completed later")
    record = store.get_record("payments", 1_000, SHUTDOWN)
    assert record is not None
    assert (record.status, record.error_message) == (RecordStatus.ACTIVE, "completed later")
    assert record.is_open  # set_status does not close
    assert store.close_record("payments", 1_000, SHUTDOWN, 2_000)
    closed = store.get_record("payments", 1_000, SHUTDOWN)
    assert closed is not None and closed.status is RecordStatus.COMPLETED


def test_set_status_of_a_missing_record_creates_nothing(store: Store) -> None:
    store.set_status("ghost", 1_000, SHUTDOWN, RecordStatus.FAILED, "boom")
    assert store.get_record("ghost", 1_000, SHUTDOWN) is None
    assert store.history() == []


# ---- queries -----------------------------------------------------------------------------------


def test_open_records_filtered_by_type_oldest_first_and_gone_once_closed(store: Store) -> None:
    store.add_record(make_record("b", 3_000, SHUTDOWN))
    store.add_record(make_record("a", 3_000, SHUTDOWN))
    store.add_record(make_record("c", 1_000, SHUTDOWN))
    store.add_record(make_record("a", 2_000, ACTIVATION))
    store.add_record(make_record("a", 2_500, STARTUP, RecordStatus.COMPLETED, timestamp_end=2_500))

    shutdowns = store.open_records(SHUTDOWN)
    assert [(r.namespace_name, r.timestamp_start) for r in shutdowns] == [
        ("c", 1_000),
        ("a", 3_000),
        ("b", 3_000),
    ]
    assert [r.operation_type for r in store.open_records(ACTIVATION)] == [ACTIVATION]
    assert store.open_records(STARTUP) == []
    everything = store.open_records()
    assert [(r.namespace_name, r.timestamp_start, r.operation_type) for r in everything] == [
        ("c", 1_000, SHUTDOWN),
        ("a", 2_000, ACTIVATION),
        ("a", 3_000, SHUTDOWN),
        ("b", 3_000, SHUTDOWN),
    ]

    assert store.close_record("a", 3_000, SHUTDOWN, 4_000)
    assert [r.namespace_name for r in store.open_records(SHUTDOWN)] == ["c", "b"]
    assert store.close_record("a", 2_000, ACTIVATION, 4_000)
    assert store.open_records(ACTIVATION) == []
    assert len(store.history()) == 5  # closing removes nothing


def test_history_newest_first_per_namespace_and_all(store: Store) -> None:
    records = [
        make_record("a", 1_000, SHUTDOWN),
        make_record("a", 5_000, ACTIVATION),
        make_record("a", 5_000, DEACTIVATION, RecordStatus.COMPLETED, timestamp_end=5_000),
        make_record("b", 3_000, SHUTDOWN),
        make_record("b", 9_000, STARTUP, RecordStatus.COMPLETED, timestamp_end=9_000),
    ]
    for record in records:
        assert store.add_record(record)
    assert store.history() == newest_first(records)
    assert [r.timestamp_start for r in store.history()] == [9_000, 5_000, 5_000, 3_000, 1_000]
    assert store.history("a") == newest_first(records[:3])
    assert store.history("b") == newest_first(records[3:])
    assert store.history("nobody") == []
    assert store.history(limit=2) == newest_first(records)[:2]
    assert store.history("a", limit=1) == newest_first(records[:3])[:1]
    assert store.history(limit=0) == []
    assert store.history("a", limit=100) == newest_first(records[:3])


def test_history_paginates_over_many_large_records(store: Store) -> None:
    # 250 records of ~6 KB: ~1.5 MB, more than one 1 MB DynamoDB page and more than 100 items.
    # (Few, long attributes: moto's response serializer is slow per attribute.)
    workloads = [snapshot(f"{i}-" + "x" * 3_000, i, i / 7, i / 3) for i in range(2)]
    records = [
        make_record("big" if i < 200 else "small", 1_000 + i, SHUTDOWN, workloads=workloads)
        for i in range(250)
    ]
    calls = _count_dynamo_calls(store)
    for record in records:
        assert store.add_record(record)
    everything = store.history()
    assert everything == newest_first(records)
    big = store.history("big")
    assert big == newest_first(records[:200])
    assert store.history("big", limit=150) == big[:150]
    assert store.history(limit=120) == everything[:120]
    if calls is not None:  # DynamoDB really needed more than one page
        assert calls["Scan"] >= 2
        assert calls["Query"] >= 2


def test_records_are_never_deleted(store: Store) -> None:
    counts = [len(store.history())]
    store.add_record(make_record("a", 1_000, SHUTDOWN))
    counts.append(len(store.history()))
    store.add_record(make_record("a", 1_000, SHUTDOWN))
    counts.append(len(store.history()))
    store.close_record("a", 1_000, SHUTDOWN, 2_000)
    counts.append(len(store.history()))
    store.set_status("a", 1_000, SHUTDOWN, RecordStatus.FAILED, "x")
    counts.append(len(store.history()))
    store.add_record(make_record("a", 2_000, STARTUP, timestamp_end=2_000))
    counts.append(len(store.history()))
    store.close_record("a", 1_000, SHUTDOWN, 3_000)
    counts.append(len(store.history()))
    assert counts == sorted(counts)
    assert counts[-1] == 2


# ---- races -------------------------------------------------------------------------------------


def test_racing_adds_insert_exactly_once(store: Store) -> None:
    results = race(16, lambda i: store.add_record(make_record(user_id=f"U{i}")))
    assert results.count(True) == 1
    assert len(store.history()) == 1
    winner = store.history()[0].user_id
    assert results[int(winner[1:])] is True


def test_racing_closes_close_exactly_once(store: Store) -> None:
    store.add_record(make_record(start=1_000))
    results = race(16, lambda i: store.close_record("payments", 1_000, SHUTDOWN, 2_000 + 60 * i))
    assert results.count(True) == 1
    record = store.get_record("payments", 1_000, SHUTDOWN)
    assert record is not None
    winner = results.index(True)
    assert record.timestamp_end == 2_000 + 60 * winner
    assert record.duration_minutes == (1_000 + 60 * winner) // 60


def test_racing_closes_keep_a_failed_status(store: Store) -> None:
    store.add_record(make_record(status=RecordStatus.FAILED))
    results = race(16, lambda i: store.close_record("payments", 1_000, SHUTDOWN, 2_000 + i))
    assert results.count(True) == 1
    record = store.get_record("payments", 1_000, SHUTDOWN)
    assert record is not None and record.status is RecordStatus.FAILED


def test_serialized_moto_holds_the_lock_during_backend_writes(
    dynamo_store: DynamoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    seen: list[bool] = []
    original = DynamoDBBackend.put_item

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(store_fixtures.MOTO_LOCK.locked())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "put_item", spy)
    race(4, lambda i: dynamo_store.add_record(make_record(start=1_000 + i)))
    assert seen == [True] * 4


# ---- a random sequence of operations against a model -------------------------------------------

Key = tuple[str, int, OperationType]
keys = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([0, 59, 60, 3_600]),
    st.sampled_from(OperationType),
)
texts = st.text(max_size=12)
finite = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e4))
workload_lists = st.lists(
    st.builds(
        WorkloadSnapshot,
        kind=st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "CronJob"]),
        name=st.text(min_size=1, max_size=8),
        replicas=st.integers(0, 50),
        cpu_cores=finite,
        memory_gib=finite,
        has_requests=st.booleans(),
    ),
    max_size=3,
)


@st.composite
def add_ops(draw: st.DrawFn) -> tuple[str, ActivityRecord]:
    namespace, start, operation = draw(keys)
    end = draw(st.one_of(st.none(), st.integers(start, start + 10_000)))
    return (
        "add",
        ActivityRecord(
            namespace_name=namespace,
            timestamp_start=start,
            operation_type=operation,
            status=draw(st.sampled_from(RecordStatus)),
            timestamp_end=end,
            duration_minutes=None if end is None else (end - start) // 60,
            cost_center=draw(texts),
            user_id=draw(texts),
            error_message=draw(texts),
            workloads=draw(workload_lists),
            reason=draw(texts),
        ),
    )


operations = st.lists(
    st.one_of(
        add_ops(),
        st.tuples(st.just("close"), keys, st.integers(0, 100_000)),
        st.tuples(st.just("status"), keys, st.sampled_from(RecordStatus), texts),
    ),
    max_size=25,
)


class Model:
    """The contract, in memory."""

    def __init__(self) -> None:
        self.records: dict[Key, ActivityRecord] = {}

    def add(self, record: ActivityRecord) -> bool:
        if record.key in self.records:
            return False
        self.records[record.key] = record
        return True

    def close(self, key: Key, end: int) -> bool:
        record = self.records.get(key)
        if record is None or not record.is_open:
            return False
        status = RecordStatus.COMPLETED if record.status is RecordStatus.ACTIVE else record.status
        self.records[key] = record.model_copy(
            update={
                "timestamp_end": end,
                "duration_minutes": (end - key[1]) // 60,
                "status": status,
            }
        )
        return True

    def set_status(self, key: Key, status: RecordStatus, message: str) -> None:
        if key in self.records:
            self.records[key] = self.records[key].model_copy(
                update={"status": status, "error_message": message}
            )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations)
def test_random_operations_match_the_model(store_factory: StoreFactory, ops: list[Any]) -> None:
    store = store_factory()
    model = Model()
    for op in ops:
        if op[0] == "add":
            assert store.add_record(op[1]) == model.add(op[1])
        elif op[0] == "close":
            _, key, end = op
            end = max(end, key[1])
            assert store.close_record(*key, end) == model.close(key, end)
        else:
            _, key, status, message = op
            store.set_status(*key, status, message)
            model.set_status(key, status, message)

    expected = newest_first(list(model.records.values()))
    assert store.history() == expected
    for namespace in ("a", "b", "c"):
        assert store.history(namespace) == [r for r in expected if r.namespace_name == namespace]
    assert store.open_records() == [r for r in reversed(expected) if r.is_open]
    for operation in OperationType:
        assert store.open_records(operation) == [
            r for r in reversed(expected) if r.is_open and r.operation_type is operation
        ]
    for key, record in model.records.items():
        assert store.get_record(*key) == record


# ---- SQLite specifics --------------------------------------------------------------------------


def test_sqlite_creates_file_schema_and_indexes(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "audit.db"
    store = SqliteStore(path)
    store.add_record(make_record())
    store.close()
    assert path.exists()

    conn = sqlite3.connect(path)
    try:
        objects = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
        for table in (
            "namespace_activity_logs",
            "cost_center_permissions",
            "system_metrics",
        ):
            assert objects.get(table) == "table"
        assert objects.get("idx_activity_open") == "index"
        assert objects.get("idx_activity_start") == "index"
        open_index_sql = conn.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'idx_activity_open'"
        ).fetchone()[0]
        assert "WHERE timestamp_end IS NULL" in open_index_sql
        columns = [row[1] for row in conn.execute("PRAGMA table_info(namespace_activity_logs)")]
        assert columns == [
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
        ]
        pk = sorted(
            (row[5], row[1])
            for row in conn.execute("PRAGMA table_info(namespace_activity_logs)")
            if row[5]
        )
        assert [name for _, name in pk] == ["namespace_name", "timestamp_start", "operation_type"]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM namespace_activity_logs "
                "WHERE timestamp_end IS NULL AND operation_type = 'auto_shutdown' "
                "ORDER BY timestamp_start"
            )
        )
        assert "idx_activity_open" in plan
    finally:
        conn.close()

    reopened = SqliteStore(path)  # existing file: kept, not recreated
    assert reopened.history() == [make_record()]
    reopened.close()


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="upgrade namespace-ctl"):
        SqliteStore(path)


def test_sqlite_unwritable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="not-a-directory") as info:
        SqliteStore(blocker / "audit" / "namespace-ctl.db")
    assert "store.path" in str(info.value)
    with pytest.raises(StoreError, match=re.escape(str(tmp_path))):
        SqliteStore(tmp_path)  # a directory, not a file


def test_sqlite_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    path.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StoreError, match="not a valid SQLite database") as info:
        SqliteStore(path)
    assert str(path) in str(info.value)


def test_sqlite_closed_store_is_a_store_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "audit.db")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.history()


def test_sqlite_two_processes_write_the_same_file(tmp_path: Path) -> None:
    path = str(tmp_path / "shared" / "audit.db")  # created by whichever process comes first
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    unique, shared = 150, 50
    processes = [
        ctx.Process(
            target=store_fixtures.sqlite_writer,
            args=(path, worker, unique, shared, barrier, results),
        )
        for worker in range(2)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert [error for *_, error in outcomes] == ["", ""]
    added = sum(o[1] for o in outcomes)
    closed = sum(o[2] for o in outcomes)
    assert added == 2 * unique + shared  # each shared record inserted by exactly one process
    assert closed == shared  # and closed by exactly one

    store = SqliteStore(path)
    history = store.history()
    assert len(history) == 2 * unique + shared
    assert len(store.history("ns-0")) == len(store.history("ns-1")) == unique
    assert (
        store.open_records(SHUTDOWN)
        == newest_first([r for r in history if r.namespace_name != "shared"])[::-1]
    )
    store.close()


# ---- DynamoDB specifics ------------------------------------------------------------------------


def _count_dynamo_calls(store: Store) -> dict[str, int] | None:
    """Count DynamoDB API calls by operation name (None for other backends)."""
    if not isinstance(store, DynamoStore):
        return None
    calls: dict[str, int] = {"Scan": 0, "Query": 0, "DeleteItem": 0}

    def count(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    store.client.meta.events.register("before-call.dynamodb", count)
    return calls


def test_dynamo_creates_its_tables(dynamo_store: DynamoStore) -> None:
    client = dynamo_store.client
    activity = client.describe_table(TableName="test_namespace_activity_logs")["Table"]
    assert activity["KeySchema"] == [
        {"AttributeName": "namespace_name", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert activity["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    indexes = {i["IndexName"]: i for i in activity["GlobalSecondaryIndexes"]}
    index = indexes[OPEN_INDEX]  # by_start: tests/test_store_week_reads.py
    assert index["KeySchema"] == [
        {"AttributeName": "open_type", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    permissions = client.describe_table(TableName="test_cost_center_permissions")["Table"]
    assert permissions["KeySchema"] == [{"AttributeName": "cost_center", "KeyType": "HASH"}]
    metrics = client.describe_table(TableName="test_system_metrics")["Table"]
    assert [k["AttributeName"] for k in metrics["KeySchema"]] == ["metric_name", "period"]

    dynamo_store.add_record(make_record())
    again = DynamoStore(region=AWS_REGION, table_prefix="test_")  # existing tables are reused
    assert again.history() == [make_record()]


def test_dynamo_items_keep_the_seed_attribute_names(dynamo_store: DynamoStore) -> None:
    dynamo_store.add_record(make_record("a", 1_000, SHUTDOWN, cost_center="cc", user_id="U1"))
    raw = dynamo_store.client.get_item(
        TableName="test_namespace_activity_logs",
        Key={"namespace_name": {"S": "a"}, "sk": {"S": "0000001000#auto_shutdown"}},
    )["Item"]
    assert raw["timestamp_start"] == {"N": "1000"}
    assert raw["open_type"] == {"S": "auto_shutdown"}
    assert "timestamp_end" not in raw
    for name in ("cost_center", "user_id", "operation_type", "status", "error_message"):
        assert name in raw
    dynamo_store.close_record("a", 1_000, SHUTDOWN, 1_600)
    raw = dynamo_store.client.get_item(
        TableName="test_namespace_activity_logs",
        Key={"namespace_name": {"S": "a"}, "sk": {"S": "0000001000#auto_shutdown"}},
    )["Item"]
    assert "open_type" not in raw  # out of the sparse index
    assert raw["timestamp_end"] == {"N": "1600"}
    assert raw["duration_minutes"] == {"N": "10"}


def test_dynamo_writes_a_records_reason_only_when_it_has_one(dynamo_store: DynamoStore) -> None:
    """`reason` is an optional attribute: absent when empty, as on items written before it."""
    dynamo_store.add_record(make_record("a", 1_000, ACTIVATION, reason="incident 4711"))
    dynamo_store.add_record(make_record("a", 2_000, SHUTDOWN))

    def raw(sk: str) -> dict[str, Any]:
        item: dict[str, Any] = dynamo_store.client.get_item(
            TableName="test_namespace_activity_logs",
            Key={"namespace_name": {"S": "a"}, "sk": {"S": sk}},
        )["Item"]
        return item

    assert raw("0000001000#manual_activation")["reason"] == {"S": "incident 4711"}
    assert "reason" not in raw("0000002000#auto_shutdown")
    record = dynamo_store.get_record("a", 2_000, SHUTDOWN)
    assert record is not None and record.reason == ""


def test_dynamo_open_records_is_a_query_not_a_scan(dynamo_store: DynamoStore) -> None:
    for i in range(5):
        dynamo_store.add_record(make_record(f"ns-{i}", 1_000 + i))
    calls = _count_dynamo_calls(dynamo_store)
    assert calls is not None
    assert len(dynamo_store.open_records(SHUTDOWN)) == 5
    assert len(dynamo_store.open_records()) == 5
    assert calls["Scan"] == 0
    assert calls["Query"] == 1 + len(OperationType)


def test_dynamo_refuses_a_table_with_the_seed_key_schema(moto_dynamodb: None) -> None:
    client = boto3.client("dynamodb", region_name=AWS_REGION)
    client.create_table(
        TableName="seed_namespace_activity_logs",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "namespace_name", "KeyType": "HASH"},
            {"AttributeName": "timestamp_start", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "namespace_name", "AttributeType": "S"},
            {"AttributeName": "timestamp_start", "AttributeType": "N"},
        ],
    )
    with pytest.raises(StoreError, match="seed_namespace_activity_logs has key schema"):
        DynamoStore(region=AWS_REGION, table_prefix="seed_")


def test_dynamo_unreachable_endpoint_is_a_quick_store_error(aws_credentials: None) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match=re.escape("cannot reach DynamoDB at http://127.0.0.1:1")):
        DynamoStore(
            region=AWS_REGION,
            endpoint_url="http://127.0.0.1:1",
            config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
        )
    assert time.monotonic() - started < 10


def test_dynamo_without_credentials_is_a_store_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(StoreError, match="no AWS credentials"):
        DynamoStore(
            region=AWS_REGION,
            endpoint_url="http://127.0.0.1:1",
            config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
        )


def test_dynamo_rejects_timestamps_its_sort_key_cannot_hold(dynamo_store: DynamoStore) -> None:
    with pytest.raises(ValueError, match="outside"):
        dynamo_store.add_record(make_record(start=-1))


def test_metrics_count_atomically_per_period(store: Store) -> None:
    assert store.get_metric("refused.unauthorized", "2026-12-01") == 0
    for _ in range(3):
        store.increment_metric("refused.unauthorized", "2026-12-01", 1, 1000)
    store.increment_metric("refused.unauthorized", "2026-12-02", 2.5, 1001)
    assert store.get_metric("refused.unauthorized", "2026-12-01") == 3
    assert store.get_metric("refused.unauthorized", "2026-12-02") == 2.5


def test_add_snapshots_appends_to_an_open_record_only(store: Store) -> None:
    """Workloads created while a namespace slept join its night's snapshot (issue 15)."""
    store.add_record(make_record(workloads=[snapshot("web", 2)]))
    late = [snapshot("worker", 3), snapshot("cron", 0)]

    assert store.add_snapshots("payments", 1_000, SHUTDOWN, late) is True

    record = store.get_record("payments", 1_000, SHUTDOWN)
    assert record is not None and record.is_open
    assert [(w.name, w.replicas) for w in record.workloads] == [
        ("web", 2),
        ("worker", 3),
        ("cron", 0),
    ]
    assert [r.workloads for r in store.open_records(SHUTDOWN)] == [record.workloads]
    assert store.close_record("payments", 1_000, SHUTDOWN, 2_000)
    assert store.add_snapshots("payments", 1_000, SHUTDOWN, [snapshot("api", 1)]) is False
    closed = store.get_record("payments", 1_000, SHUTDOWN)
    assert closed is not None and [w.name for w in closed.workloads] == ["web", "worker", "cron"]
    assert store.add_snapshots("ghost", 1_000, SHUTDOWN, late) is False
    assert store.get_record("ghost", 1_000, SHUTDOWN) is None


def test_set_ready_seconds_notes_a_wakes_time_to_ready(store: Store) -> None:
    store.add_record(
        make_record(
            operation=STARTUP,
            status=RecordStatus.COMPLETED,
            timestamp_end=1_000,
            duration_minutes=0,
        )
    )
    assert store.get_record("payments", 1_000, STARTUP).ready_seconds is None  # type: ignore[union-attr]

    store.set_ready_seconds("payments", 1_000, STARTUP, 312)

    record = store.get_record("payments", 1_000, STARTUP)
    assert record is not None and record.ready_seconds == 312
    assert record.status is RecordStatus.COMPLETED
    assert store.history("payments") == [record]
    store.set_ready_seconds("ghost", 1_000, STARTUP, 5)
    assert store.get_record("ghost", 1_000, STARTUP) is None
