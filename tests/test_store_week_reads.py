"""`records_overlapping`: the weekly report's read, served by indexes on both stores (no scan),
checked against a brute-force filter over `history()`, with the items it reads counted."""

from __future__ import annotations

import logging
import sqlite3
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.report_reads import MADRID, batch_load, expected_overlap, local, realistic_history
from core.models import ActivityRecord, OperationType, RecordStatus
from core.store.base import Store
from core.store.dynamo import (
    CROSSINGS_TABLE,
    OPEN_INDEX,
    START_INDEX,
    DynamoStore,
    activity_item,
)
from core.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.store_fixtures import (
    AWS_REGION,
    TABLE_PREFIX,
    StoreFactory,
    make_record,
    snapshot,
    sqlite_file_at_version,
)

DAY = 86_400
BASE = 1_767_225_600  # 2026-01-01T00:00:00Z
SHUTDOWN = OperationType.AUTO_SHUTDOWN
ACTIVATION = OperationType.MANUAL_ACTIVATION
Key = tuple[str, int, OperationType]


def by_key(records: list[ActivityRecord]) -> list[ActivityRecord]:
    return sorted(records, key=lambda r: (r.namespace_name, r.timestamp_start, r.operation_type))


def brute_force(store: Store, start: int, end: int) -> list[ActivityRecord]:
    if end <= start:
        return []
    return by_key([r for r in store.history() if expected_overlap(r, start, end)])


def read(store: Store, start: int, end: int) -> tuple[list[ActivityRecord], int]:
    """The records of [start, end), sorted, and how many items the store read for them."""
    before = store.items_read
    found = store.records_overlapping(start, end)
    return by_key(found), store.items_read - before


def count_calls(store_or_client: Store | Any) -> dict[str, int]:
    """DynamoDB API calls by operation name from now on (none for SQLite)."""
    calls: dict[str, int] = {}
    if isinstance(store_or_client, SqliteStore):
        return calls
    client = getattr(store_or_client, "client", store_or_client)

    def count(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb", count)
    return calls


def madrid_week(monday: date) -> tuple[int, int]:
    start = datetime.combine(monday, time(0), MADRID)
    end = datetime.combine(monday + timedelta(days=7), time(0), MADRID)
    return int(start.timestamp()), int(end.timestamp())


# ---- the property ------------------------------------------------------------------------------


def moments(first_day: int, last_day: int) -> st.SearchStrategy[int]:
    """Offsets from BASE: anywhere, or right at / around a UTC midnight."""
    return st.one_of(
        st.integers(first_day * DAY, last_day * DAY),
        st.builds(
            lambda day, delta: day * DAY + delta,
            st.integers(first_day, last_day),
            st.sampled_from([-1, 0, 1]),
        ),
    )


durations = st.one_of(
    st.integers(1, 20 * DAY),
    st.integers(1, 20).map(lambda days: days * DAY),
    st.integers(1, 7_200),
)
specs = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        moments(0, 28),
        st.sampled_from(OperationType),
        st.sampled_from(["open", "added closed", "closed later", "point"]),
        durations,
        st.sampled_from([None, RecordStatus.FAILED, RecordStatus.COMPLETED]),
        st.booleans(),
    ),
    max_size=25,
    unique_by=lambda spec: (spec[0], spec[1], spec[2]),
)
periods = st.lists(st.tuples(moments(-2, 35), moments(-2, 35)), min_size=1, max_size=4)


def write(store: Store, spec: tuple[Any, ...]) -> None:
    namespace, offset, operation, shape, duration, new_status, with_workloads = spec
    start = BASE + offset
    record = make_record(
        namespace,
        start,
        operation,
        workloads=[snapshot("web")] if with_workloads else [],
        cost_center="cc-1",
    )
    if shape == "added closed":
        end = start + duration
        record = record.model_copy(
            update={
                "timestamp_end": end,
                "duration_minutes": duration // 60,
                "status": RecordStatus.COMPLETED,
            }
        )
    elif shape == "point":
        record = record.model_copy(
            update={"timestamp_end": start, "duration_minutes": 0, "status": RecordStatus.COMPLETED}
        )
    assert store.add_record(record)
    if shape == "closed later":
        assert store.close_record(namespace, start, operation, start + duration)
    if new_status is not None:  # after the close: the crossing copies must follow
        store.set_status(namespace, start, operation, new_status, f"now {new_status.value}")


def test_records_overlapping_equals_a_brute_force_filter(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    dynamo = request.node.callspec.params["store_factory"] == "dynamodb"

    @settings(
        max_examples=20 if dynamo else 100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(records=specs, windows=periods)
    def check(records: list[tuple[Any, ...]], windows: list[tuple[int, int]]) -> None:
        store = store_factory()
        for spec in records:
            write(store, spec)
        for begin, finish in windows:
            start, end = BASE + begin, BASE + finish
            expected = brute_force(store, start, end)
            calls = count_calls(store)
            found, items = read(store, start, end)
            assert found == expected  # same keys and every field (statuses set after closing)
            assert len(found) <= items
            assert calls.get("Scan", 0) == 0

    check()


# ---- examples ----------------------------------------------------------------------------------


def test_a_closed_15_day_shutdown_is_found_for_a_week_in_its_middle(store: Store) -> None:
    sleep, wake = local(date(2026, 12, 23), 20), local(date(2027, 1, 7), 7)
    store.add_record(make_record("closed-later", sleep, workloads=[snapshot("web")]))
    assert store.close_record("closed-later", sleep, SHUTDOWN, wake)
    store.add_record(
        make_record(
            "added-closed",
            sleep,
            status=RecordStatus.COMPLETED,
            timestamp_end=wake,
            duration_minutes=(wake - sleep) // 60,
        )
    )
    store.set_status("added-closed", sleep, SHUTDOWN, RecordStatus.FAILED, "one workload failed")
    # A night before the week: not read.
    before = local(date(2026, 12, 22), 20)
    store.add_record(
        make_record(
            "night", before, status=RecordStatus.COMPLETED, timestamp_end=before + 11 * 3_600
        )
    )

    found, items = read(store, *madrid_week(date(2026, 12, 28)))
    assert [r.namespace_name for r in found] == ["added-closed", "closed-later"]
    assert found == brute_force(store, *madrid_week(date(2026, 12, 28)))
    assert found[0].status is RecordStatus.FAILED
    assert found[0].error_message == "one workload failed"
    assert found[1].workloads == [snapshot("web")]
    assert items == 2  # the two crossing entries of the midnight before the week


def test_a_record_crossing_more_midnights_than_a_transaction_holds(store: Store) -> None:
    start = BASE + 3_600
    end = start + 150 * DAY  # 150 crossing entries: more than one DynamoDB transaction
    store.add_record(make_record("long", start, workloads=[snapshot("db")]))
    assert store.close_record("long", start, SHUTDOWN, end)
    store.set_status("long", start, SHUTDOWN, RecordStatus.FAILED, "late failure")
    for day in (1, 98, 99, 100, 149):
        window = (BASE + day * DAY + 5, BASE + day * DAY + 10)
        found, items = read(store, *window)
        assert found == brute_force(store, *window)
        assert [(r.status, r.error_message) for r in found] == [
            (RecordStatus.FAILED, "late failure")
        ]
        assert items == 1


def test_a_realistic_month_reads_at_most_a_tenth_more_than_it_returns(store: Store) -> None:
    # March 2026 in Madrid: nightly and weekend shutdowns, startups, activations, a DST change.
    first, days = date(2026, 3, 2), 35
    history = realistic_history(first, days, 20, now=local(first + timedelta(days=days), 12))
    if isinstance(store, DynamoStore):
        # The items add_record writes, in batches: moto's transactions copy whole tables.
        batch_load(store, history)
    else:
        for record in history:
            assert store.add_record(record)
    for monday in (date(2026, 3, 16), date(2026, 3, 23)):  # the second one has the DST change
        start, end = madrid_week(monday)
        found, items = read(store, start, end)
        assert found == by_key([r for r in history if expected_overlap(r, start, end)])
        assert len(found) > 200
        assert items <= 1.1 * len(found)


def test_the_current_week_returns_the_open_records(store: Store) -> None:
    start, end = madrid_week(date(2026, 3, 23))
    store.add_record(make_record("asleep-since-friday", start - 2 * DAY))  # open
    store.add_record(make_record("asleep-since-monday", start + 20 * 3_600))  # open
    store.add_record(make_record("awake", start + 3 * DAY, ACTIVATION))  # open
    store.add_record(make_record("future", end + 1))  # open, after the week
    found, items = read(store, start, end)
    assert [r.namespace_name for r in found] == [
        "asleep-since-friday",
        "asleep-since-monday",
        "awake",
    ]
    assert items == 3
    assert read(store, end, start) == ([], 0)


# ---- SQLite ------------------------------------------------------------------------------------


def test_sqlite_reads_the_period_through_indexes(sqlite_store: SqliteStore) -> None:
    from core.store import sqlite as module

    conn = sqlite3.connect(sqlite_store.path)
    try:
        for sql in module._OVERLAP_QUERIES:
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", {"midnight": 0, "end": 1})
            )
            assert "SCAN" not in plan, plan
            assert "USING" in plan, plan
    finally:
        conn.close()


def test_sqlite_migrates_a_version_3_file_and_fills_the_crossings(tmp_path: Path) -> None:
    from core.store import sqlite as module

    path = tmp_path / "v3.db"
    conn = sqlite_file_at_version(path, 3)
    old = [
        make_record("weekend", BASE + 20 * 3_600, timestamp_end=BASE + 3 * DAY + 7 * 3_600),
        make_record("night", BASE + DAY + 20 * 3_600, timestamp_end=BASE + 2 * DAY + 7 * 3_600),
        make_record("open", BASE + 5 * DAY + 20 * 3_600),
        make_record(
            "point", BASE + 2 * DAY, OperationType.AUTO_STARTUP, timestamp_end=BASE + 2 * DAY
        ),
        make_record("before-epoch-day", -5, timestamp_end=DAY + 5),
    ]
    # A version 3 file's columns (7 adds the reason, 8 the seconds to ready).
    columns = [c for c in module._COLUMNS if c not in ("reason", "ready_seconds")]
    for record in old:
        row = dict(zip(module._COLUMNS, module._to_row(record), strict=True))
        conn.execute(
            f"INSERT INTO namespace_activity_logs ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            [row[c] for c in columns],
        )
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        assert SCHEMA_VERSION == 8
        crossings = store._conn().execute(
            "SELECT midnight, namespace_name FROM activity_crossings ORDER BY 1, 2"
        )
        assert crossings.fetchall() == [
            (0, "before-epoch-day"),
            (DAY, "before-epoch-day"),
            (BASE + DAY, "weekend"),
            (BASE + 2 * DAY, "night"),
            (BASE + 2 * DAY, "weekend"),
            (BASE + 3 * DAY, "weekend"),
        ]
        for start, end in [(BASE + 2 * DAY + 3_600, BASE + 9 * DAY), (10, 20), (BASE, BASE + DAY)]:
            found, _ = read(store, start, end)
            assert found == brute_force(store, start, end)
            assert found
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    finally:
        conn.close()


# ---- DynamoDB ----------------------------------------------------------------------------------


def test_dynamo_creates_the_start_index_and_the_crossings_table(
    dynamo_store: DynamoStore,
) -> None:
    client = dynamo_store.client
    activity = client.describe_table(TableName=f"{TABLE_PREFIX}namespace_activity_logs")["Table"]
    indexes = {i["IndexName"]: i["KeySchema"] for i in activity["GlobalSecondaryIndexes"]}
    assert indexes[START_INDEX] == [
        {"AttributeName": "start_day", "KeyType": "HASH"},
        {"AttributeName": "timestamp_start", "KeyType": "RANGE"},
    ]
    assert OPEN_INDEX in indexes
    crossings = client.describe_table(TableName=f"{TABLE_PREFIX}{CROSSINGS_TABLE}")["Table"]
    assert crossings["KeySchema"] == [
        {"AttributeName": "midnight", "KeyType": "HASH"},
        {"AttributeName": "record_id", "KeyType": "RANGE"},
    ]
    dynamo_store.add_record(make_record("a", BASE + 3 * 3_600))
    raw = client.get_item(
        TableName=f"{TABLE_PREFIX}namespace_activity_logs",
        Key={"namespace_name": {"S": "a"}, "sk": {"S": f"{BASE + 3 * 3_600:010d}#auto_shutdown"}},
    )["Item"]
    assert raw["start_day"] == {"N": str(BASE // DAY)}
    assert raw["timestamp_start"] == {"N": str(BASE + 3 * 3_600)}


def test_dynamo_migrates_tables_made_before_the_index(
    moto_dynamodb: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = boto3.client("dynamodb", region_name=AWS_REGION)
    table = "old_namespace_activity_logs"
    client.create_table(  # exactly as namespace-ctl 3 created it
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "namespace_name", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "namespace_name", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "open_type", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": OPEN_INDEX,
                "KeySchema": [
                    {"AttributeName": "open_type", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    old = [
        make_record("weekend", BASE + 20 * 3_600, timestamp_end=BASE + 3 * DAY + 7 * 3_600),
        make_record("night", BASE + DAY + 20 * 3_600, timestamp_end=BASE + 2 * DAY + 7 * 3_600),
        make_record("open", BASE + 5 * DAY + 20 * 3_600, workloads=[snapshot("web")]),
        make_record(
            "point", BASE + 2 * DAY, OperationType.AUTO_STARTUP, timestamp_end=BASE + 2 * DAY
        ),
    ]
    from core.store.dynamo import _to_attrs

    for record in old:
        item = activity_item(record)
        del item["start_day"]  # the old layout
        client.put_item(TableName=table, Item=_to_attrs(item))

    with caplog.at_level(logging.WARNING, logger="core.store.dynamo"):
        store = DynamoStore(region=AWS_REGION, table_prefix="old_")
    migration_logs = [r for r in caplog.records if "one-time migration" in r.getMessage()]
    assert len(migration_logs) == 2  # the index added, the records filled
    try:
        assert {r.namespace_name for r in store.history()} == {r.namespace_name for r in old}
        for start, end in [(BASE + 2 * DAY + 3_600, BASE + 9 * DAY), (BASE, BASE + DAY)]:
            expected = brute_force(store, start, end)  # history(): a Scan
            calls = count_calls(store)
            found, _ = read(store, start, end)
            assert calls.get("Scan", 0) == 0
            assert found == expected
            assert found
        # New writes after the migration keep working with it.
        store.close_record("open", BASE + 5 * DAY + 20 * 3_600, SHUTDOWN, BASE + 8 * DAY)
        found, items = read(store, BASE + 7 * DAY + 5, BASE + 7 * DAY + 9)
        assert [r.namespace_name for r in found] == ["open"]
        assert found[0].workloads == [snapshot("web")]
        assert items == 1
    finally:
        store.close()

    caplog.clear()
    again_client = boto3.client("dynamodb", region_name=AWS_REGION)
    calls = count_calls(again_client)
    with caplog.at_level(logging.WARNING, logger="core.store.dynamo"):
        DynamoStore(region=AWS_REGION, table_prefix="old_", client=again_client).close()
    assert calls.get("Scan", 0) == 0 and calls.get("UpdateTable", 0) == 0  # migrated once
    assert not [r for r in caplog.records if "migration" in r.getMessage()]
