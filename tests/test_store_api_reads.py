"""The store's reads and writes for the REST API, on both backends: idempotency keys (the first
answer to a retried POST) and `history_page` (filters, newest first, cursor pagination)."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.models import (
    ActivityRecord,
    HistoryQuery,
    IdempotentAnswer,
    OperationType,
    RecordStatus,
)
from core.store import dynamo as dynamo_module
from core.store.base import Store, history_key
from core.store.dynamo import IDEMPOTENCY_TTL_ATTR, DynamoStore
from core.store.sqlite import SCHEMA_VERSION, SqliteStore, _history_page_sql
from tests.store_fixtures import (
    make_record,
    race,
    snapshot,
    sqlite_file_at_version,
)

SHUTDOWN = OperationType.AUTO_SHUTDOWN
STARTUP = OperationType.AUTO_STARTUP
ACTIVATION = OperationType.MANUAL_ACTIVATION
DEACTIVATION = OperationType.MANUAL_DEACTIVATION
DAY = 86_400
HOUR = 3_600
BASE = 1_764_547_200  # 2025-12-01T00:00:00Z, a UTC midnight
TTL = DAY


def count_calls(store: Store) -> dict[str, int]:
    """DynamoDB API calls by operation name from now on (none for SQLite)."""
    calls: dict[str, int] = {}
    if isinstance(store, DynamoStore):

        def count(model: Any, **_: Any) -> None:
            calls[model.name] = calls.get(model.name, 0) + 1

        store.client.meta.events.register("before-call.dynamodb", count)
    return calls


# ---- idempotency keys ----------------------------------------------------------------------------


def test_claim_finish_and_replay(store: Store) -> None:
    assert store.claim_idempotency("ci:k1", "fp-1", BASE, TTL) is None  # this caller holds it
    running = store.claim_idempotency("ci:k1", "fp-1", BASE + 5, TTL)
    assert running == IdempotentAnswer(
        key="ci:k1",
        fingerprint="fp-1",
        status=0,
        body="",
        created_at=BASE,
        expires_at=BASE + TTL,
    )
    assert running.running
    store.finish_idempotency("ci:k1", 201, '{"namespace": "payments", "ñ": "✓"}')
    replay = store.claim_idempotency("ci:k1", "fp-1", BASE + 60, TTL)
    assert replay is not None and not replay.running
    assert (replay.status, replay.body) == (201, '{"namespace": "payments", "ñ": "✓"}')
    assert (replay.created_at, replay.expires_at) == (BASE, BASE + TTL)  # a replay extends nothing
    # The first answer is final: neither a second answer nor a release changes it.
    store.finish_idempotency("ci:k1", 500, '{"error": "late"}')
    store.release_idempotency("ci:k1")
    assert store.claim_idempotency("ci:k1", "fp-1", BASE + 120, TTL) == replay
    # Other keys (another token, another header) are independent.
    assert store.claim_idempotency("ops:k1", "fp-1", BASE, TTL) is None


def test_the_stored_fingerprint_tells_a_different_request_with_the_same_key(store: Store) -> None:
    assert store.claim_idempotency("ci:k", "sha-of-first-body", BASE, TTL) is None
    store.finish_idempotency("ci:k", 200, "{}")
    other = store.claim_idempotency("ci:k", "sha-of-another-body", BASE + 1, TTL)
    assert other is not None and other.fingerprint == "sha-of-first-body"


def test_an_expired_key_may_be_claimed_again(store: Store) -> None:
    assert store.claim_idempotency("ci:k", "fp-old", BASE, 10) is None
    store.finish_idempotency("ci:k", 200, '{"old": true}')
    live = store.claim_idempotency("ci:k", "fp-new", BASE + 9, 10)
    assert live is not None and live.body == '{"old": true}'
    assert store.claim_idempotency("ci:k", "fp-new", BASE + 10, 10) is None  # expires_at <= at
    again = store.claim_idempotency("ci:k", "fp-new", BASE + 11, 10)
    assert again == IdempotentAnswer(
        key="ci:k",
        fingerprint="fp-new",
        status=0,
        body="",
        created_at=BASE + 10,
        expires_at=BASE + 20,
    )


def test_a_released_key_may_be_claimed_again(store: Store) -> None:
    assert store.claim_idempotency("ci:k", "fp", BASE, TTL) is None
    store.release_idempotency("ci:k")  # the first request failed with a server fault
    assert store.claim_idempotency("ci:k", "fp", BASE + 1, TTL) is None
    assert store.claim_idempotency("ci:k", "fp", BASE + 2, TTL) is not None
    store.release_idempotency("never-claimed")  # a no-op
    store.finish_idempotency("never-claimed", 200, "{}")  # a no-op: nothing is created
    assert store.claim_idempotency("never-claimed", "fp", BASE, TTL) is None


def test_a_finished_answer_outlives_a_release_and_an_unclaimed_finish_adds_nothing(
    store: Store,
) -> None:
    assert store.claim_idempotency("ci:k", "fp", BASE, TTL) is None
    store.release_idempotency("ci:k")
    store.finish_idempotency("ci:k", 200, "{}")  # too late: released
    assert store.claim_idempotency("ci:k", "fp", BASE + 1, TTL) is None


def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        store.claim_idempotency("ci:k", "fp", BASE, 0)
    assert store.claim_idempotency("ci:k", "fp", BASE, TTL) is None
    with pytest.raises(ValueError, match="status"):
        store.finish_idempotency("ci:k", 0, "{}")
    assert store.claim_idempotency("ci:k", "fp", BASE, TTL) is not None  # still running


@pytest.mark.parametrize("round_", range(3))
def test_racing_claims_have_exactly_one_winner(store: Store, round_: int) -> None:
    key = f"ci:race-{round_}"
    if round_ == 2:  # racing over an expired entry: it is replaced exactly once
        assert store.claim_idempotency(key, "stale", BASE - TTL, 10) is None
    results = race(8, lambda i: store.claim_idempotency(key, f"fp-{i}", BASE, TTL))
    winners = [i for i, result in enumerate(results) if result is None]
    assert len(winners) == 1, results
    seen = {result.fingerprint for result in results if result is not None}
    assert seen == {f"fp-{winners[0]}"}  # every loser sees the winner's entry


def test_racing_claims_after_a_release_have_exactly_one_winner(store: Store) -> None:
    assert store.claim_idempotency("ci:k", "first", BASE, TTL) is None
    store.release_idempotency("ci:k")
    results = race(6, lambda i: store.claim_idempotency("ci:k", f"fp-{i}", BASE + 1, TTL))
    assert sum(result is None for result in results) == 1


# ---- history pages -------------------------------------------------------------------------------


def _dataset() -> list[ActivityRecord]:
    """Records with many ties: the same second in several namespaces and operations, on two
    days in a row and one day more than a month before."""
    records: list[ActivityRecord] = []
    users = ["U1", "U2", "", "U1", "U3"]
    n = 0
    for day in (0, 1, -40):
        for second in (0, 8 * HOUR, 8 * HOUR, DAY - 1):
            for namespace in ("a", "b", "c"):
                for operation in (SHUTDOWN, ACTIVATION, STARTUP, DEACTIVATION):
                    n += 1
                    if n % 3 == 0 or (namespace == "c" and operation is STARTUP):
                        continue  # not every key exists: gaps in the ties
                    start = BASE + day * DAY + second
                    record = make_record(namespace, start, operation, user_id=users[n % len(users)])
                    if operation in (STARTUP, DEACTIVATION):  # point records
                        record = record.model_copy(
                            update={
                                "timestamp_end": start,
                                "duration_minutes": 0,
                                "status": RecordStatus.COMPLETED,
                            }
                        )
                    records.append(record)
    unique = {r.key: r for r in records}  # (8 h appears twice)
    return list(unique.values())


DATASET = _dataset()
TIMES = sorted({r.timestamp_start for r in DATASET})
BOUNDS = [
    None,
    0,
    BASE - 100 * DAY,
    BASE - 40 * DAY,
    BASE - 39 * DAY,
    BASE,
    BASE + 8 * HOUR,
    BASE + 8 * HOUR + 1,
    BASE + DAY,
    BASE + DAY + 8 * HOUR,
    BASE + 3 * DAY,
    10**10 + 5,
]


def brute_force(query: HistoryQuery) -> list[ActivityRecord]:
    """The matching records newest first, by the contract's words, with no store helper."""
    return sorted(
        (r for r in DATASET if query.matches(r)),
        key=lambda r: (r.timestamp_start, r.namespace_name, r.operation_type.value),
        reverse=True,
    )


def all_pages(store: Store, query: HistoryQuery, size: int) -> list[list[ActivityRecord]]:
    pages: list[list[ActivityRecord]] = []
    after = None
    while True:
        page = store.history_page(query, size, after)
        assert len(page) <= size
        pages.append(page)
        if len(page) < size:
            return pages
        after = history_key(page[-1])
        assert len(pages) <= len(DATASET) + 1, "the pages do not end"


def fill(store: Store) -> Store:
    for record in DATASET:
        assert store.add_record(record)
    return store


@pytest.fixture
def filled(store: Store) -> Store:
    return fill(store)


@pytest.fixture
def filled_dynamo(dynamo_store: DynamoStore) -> DynamoStore:
    fill(dynamo_store)
    return dynamo_store


def test_the_dataset_has_ties_across_namespaces() -> None:
    by_second: dict[int, set[str]] = {}
    for record in DATASET:
        by_second.setdefault(record.timestamp_start, set()).add(record.namespace_name)
    assert sum(len(namespaces) == 3 for namespaces in by_second.values()) >= 5
    assert len(DATASET) > 50


@pytest.mark.parametrize(
    "query",
    [
        HistoryQuery(),
        HistoryQuery(namespace="b"),
        HistoryQuery(namespace="nope"),
        HistoryQuery(operation_type=ACTIVATION),
        HistoryQuery(user_id="U2"),
        HistoryQuery(user_id=""),
        HistoryQuery(since=BASE + DAY),
        HistoryQuery(until=BASE + 8 * HOUR),
        HistoryQuery(since=BASE + 8 * HOUR, until=BASE + 8 * HOUR + 1),  # one second of ties
        HistoryQuery(namespace="a", operation_type=SHUTDOWN, user_id="U1"),
        HistoryQuery(namespace="c", since=BASE - 40 * DAY, until=BASE + DAY + 1),
        HistoryQuery(operation_type=DEACTIVATION, user_id="U3", until=BASE + 2 * DAY),
        HistoryQuery(
            namespace="b",
            operation_type=STARTUP,
            user_id="U1",
            since=BASE - 40 * DAY,
            until=BASE + DAY,
        ),
        HistoryQuery(since=BASE + DAY, until=BASE + DAY),  # empty range
    ],
    ids=repr,
)
def test_filters_alone_and_combined(filled: Store, query: HistoryQuery) -> None:
    expected = brute_force(query)
    assert filled.history_page(query, 1_000) == expected
    pages = all_pages(filled, query, 4)
    assert [r for page in pages for r in page] == expected
    assert all(len(page) == 4 for page in pages[:-1])


@pytest.mark.parametrize(
    "query",
    [
        HistoryQuery(since=BASE + 8 * HOUR, until=BASE + DAY + 1),
        HistoryQuery(namespace="a", since=BASE - 40 * DAY, until=BASE + 8 * HOUR + 1),
    ],
    ids=repr,
)
def test_pages_of_one_record_through_ties_and_midnights(filled: Store, query: HistoryQuery) -> None:
    expected = brute_force(query)
    assert len({r.timestamp_start for r in expected}) < len(expected) - 5  # ties
    assert [r for page in all_pages(filled, query, 1) for r in page] == expected


def test_every_filter_narrows_something() -> None:
    everything = brute_force(HistoryQuery())
    for query in (
        HistoryQuery(namespace="b"),
        HistoryQuery(operation_type=ACTIVATION),
        HistoryQuery(user_id="U2"),
        HistoryQuery(since=BASE + DAY),
        HistoryQuery(until=BASE),
    ):
        assert 0 < len(brute_force(query)) < len(everything), query


def test_limit_bounds(filled: Store) -> None:
    everything = brute_force(HistoryQuery())
    assert filled.history_page(HistoryQuery(), 0) == []
    assert filled.history_page(HistoryQuery(), -3) == []
    assert filled.history_page(HistoryQuery(), 1) == everything[:1]
    assert filled.history_page(HistoryQuery(), 5) == everything[:5]
    assert filled.history_page(HistoryQuery(), len(everything)) == everything
    assert filled.history_page(HistoryQuery(), len(everything) + 50) == everything
    last = history_key(everything[-1])
    assert filled.history_page(HistoryQuery(), 10, last) == []
    first_of_b = brute_force(HistoryQuery(namespace="b"))
    assert filled.history_page(HistoryQuery(namespace="b"), 3) == first_of_b[:3]


def test_a_cursor_from_another_namespace_or_between_records_still_orders_strictly(
    filled: Store,
) -> None:
    # The cursor is a position in the order, whether or not a record of the page sits there.
    for after in [
        (BASE + 8 * HOUR, "b", ACTIVATION.value),
        (BASE + 8 * HOUR, "bb", "zzz"),
        (BASE + 8 * HOUR, "a", ""),
        (BASE - 40 * DAY + 1, "", ""),
        (BASE + 9 * HOUR, "c", SHUTDOWN.value),
    ]:
        for query in (HistoryQuery(), HistoryQuery(namespace="b"), HistoryQuery(namespace="a")):
            expected = [r for r in brute_force(query) if history_key(r) < after]
            assert filled.history_page(query, 1_000, after) == expected, (query, after)
            assert filled.history_page(query, 4, after) == expected[:4], (query, after)


def test_records_added_between_pages_neither_shift_nor_repeat_a_page(store: Store) -> None:
    for record in DATASET[:30]:
        store.add_record(record)
    first = store.history_page(HistoryQuery(), 10)
    newer = make_record("z", TIMES[-1] + 1, user_id="U9")
    older_tie = make_record("0", first[-1].timestamp_start, user_id="U9")  # sorts after the cursor
    store.add_record(newer)
    store.add_record(older_tie)
    rest = [r for page in all_pages_after(store, history_key(first[-1])) for r in page]
    assert newer not in rest and older_tie in rest
    assert first + rest == sorted([*DATASET[:30], older_tie], key=history_key, reverse=True)


def all_pages_after(store: Store, after: tuple[int, str, str]) -> list[list[ActivityRecord]]:
    pages = []
    while page := store.history_page(HistoryQuery(), 3, after):
        pages.append(page)
        after = history_key(page[-1])
    return pages


def test_history_keeps_working(filled: Store) -> None:
    everything = brute_force(HistoryQuery())
    assert filled.history() == everything
    assert filled.history("a", limit=4) == brute_force(HistoryQuery(namespace="a"))[:4]


queries = st.builds(
    HistoryQuery,
    namespace=st.sampled_from([None, None, "a", "b", "c", "zz"]),
    operation_type=st.sampled_from([None, None, *OperationType]),
    user_id=st.sampled_from([None, None, "U1", "U2", ""]),
    since=st.sampled_from(BOUNDS),
    until=st.sampled_from(BOUNDS),
)


# Fewer records for the properties (moto answers a call in ~20 ms): ties in every namespace.
SMALL = [r for r in DATASET if r.operation_type in (SHUTDOWN, DEACTIVATION)]


@pytest.fixture
def small(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    # On DynamoDB: a short walk, so that both the index walk and the Scan of older days serve
    # pages, and Query pages of `limit + 1` items, so that they end inside runs of ties (the
    # same code as with the defaults).
    monkeypatch.setattr(dynamo_module, "HISTORY_WALK_DAYS", 3)
    monkeypatch.setattr(dynamo_module, "HISTORY_FIRST_ITEMS", 1)
    for record in SMALL:
        assert store.add_record(record)
    return store


@pytest.fixture
def ties_out_of_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto orders the items one GSI key holds by the table's hash key, then its range key:
    for `by_start` that is the page's own order, which real DynamoDB does not promise. Order
    them by the range key first (operation, then namespace) to see the page put them right."""
    from moto.dynamodb.models.table import Table

    original = Table._generate_attr_to_sort_by

    def range_key_first(self: Any, hash_keys: list[str], range_keys: list[str | None]) -> Any:
        attrs = list(original(self, hash_keys, range_keys))
        if len(hash_keys) > 1 and len(attrs) == 4:  # a GSI: its keys, then the table's
            attrs[2], attrs[3] = attrs[3], attrs[2]
        return attrs

    monkeypatch.setattr(Table, "_generate_attr_to_sort_by", range_key_first)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # read only: shared is fine
)
@given(query=queries, size=st.integers(1, 9))
def test_pages_concatenate_to_the_filtered_newest_first_list(
    ties_out_of_order: None, small: Store, query: HistoryQuery, size: int
) -> None:
    expected = [r for r in brute_force(query) if r in SMALL]
    pages = all_pages(small, query, size)
    assert [r for page in pages for r in page] == expected
    assert all(len(page) == size for page in pages[:-1])


WINDOW = 10 * DAY


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one window per example
)
@given(
    specs=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from([0, 1, 2, DAY - 1, DAY, DAY + 1, 5 * DAY]),
            st.sampled_from(OperationType),
            st.sampled_from(["U1", "U2"]),
        ),
        max_size=12,
        unique_by=lambda spec: spec[:3],
    ),
    size=st.integers(1, 4),
    user=st.sampled_from([None, "U1"]),
)
def test_random_logs_page_exactly(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    specs: list[Any],
    size: int,
    user: str | None,
) -> None:
    # One store for every example, each in a window of its own that `since` selects.
    monkeypatch.setattr(dynamo_module, "HISTORY_WALK_DAYS", 2)
    windows = store.history_page(HistoryQuery(), 1)
    since = windows[0].timestamp_start // WINDOW * WINDOW + WINDOW if windows else BASE
    records = [make_record(ns, since + at, op, user_id=u) for ns, at, op, u in specs]
    for record in records:
        assert store.add_record(record)
    for query in (
        HistoryQuery(user_id=user, since=since),  # no upper bound: DynamoDB scans
        HistoryQuery(user_id=user, since=since, until=since + WINDOW),  # DynamoDB walks
    ):
        expected = sorted((r for r in records if query.matches(r)), key=history_key, reverse=True)
        got: list[ActivityRecord] = []
        after = None
        while page := store.history_page(query, size, after):
            got.extend(page)
            after = history_key(page[-1])
        assert got == expected


# ---- SQLite specifics ----------------------------------------------------------------------------


def test_sqlite_migrates_a_version_5_file_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v5.db"
    conn = sqlite_file_at_version(path, 5)
    conn.execute(
        "INSERT INTO namespace_activity_logs (namespace_name, timestamp_start, operation_type, "
        "status, user_id, workloads) VALUES ('payments', 1000, 'auto_shutdown', 'active', 'U1', "
        '\'[{"kind": "Deployment", "name": "api", "replicas": 2, "cpu_cores": 0.25, '
        '"memory_gib": 0.5}]\')'
    )
    conn.execute(
        "INSERT INTO notices (notice_id, kind, at, facts) VALUES ('n1', 'shutdown', 5, '{}')"
    )
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        kept = make_record(user_id="U1", workloads=[snapshot("api")])
        assert store.history() == [kept]
        assert store.history_page(HistoryQuery(user_id="U1"), 10) == [kept]
        assert store.get_notice("n1") is not None
        assert store.claim_idempotency("ci:k", "fp", BASE, TTL) is None
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        # 6: idempotency keys and the history page indexes; 7: reasons; 8: seconds to ready
        assert SCHEMA_VERSION == 8
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        objects = dict(conn.execute("SELECT name, type FROM sqlite_master").fetchall())
        for name in ("idx_idempotency_expires", "idx_activity_newest", "idx_activity_user"):
            assert objects[name] == "index"
        assert objects["idempotency_keys"] == "table"
        columns = [row[1] for row in conn.execute("PRAGMA table_info(idempotency_keys)")]
        assert columns == list(IdempotentAnswer.model_fields)
    finally:
        conn.close()
    assert SqliteStore(path).history() == [kept]  # reopening migrates nothing again


def test_sqlite_claims_delete_expired_entries(sqlite_store: SqliteStore) -> None:
    assert sqlite_store.claim_idempotency("a", "fp", BASE, 10) is None
    assert sqlite_store.claim_idempotency("b", "fp", BASE, 100) is None
    assert sqlite_store.claim_idempotency("c", "fp", BASE + 50, 10) is None
    keys = sqlite_store._conn().execute("SELECT key FROM idempotency_keys ORDER BY key")
    assert [row[0] for row in keys] == ["b", "c"]


def test_sqlite_pages_are_one_query_in_index_order(sqlite_store: SqliteStore) -> None:
    conn = sqlite_store._conn()
    for namespace, operation, user, (since, until), after in itertools.product(
        (None, "a"),
        (None, SHUTDOWN),
        (None, "U1"),
        ((None, None), (1, None), (None, 9), (1, 9)),
        (None, (5, "a", "x")),
    ):
        query = HistoryQuery(
            namespace=namespace, operation_type=operation, user_id=user, since=since, until=until
        )
        sql, params = _history_page_sql(query, 5, after)
        plan = [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert len(plan) == 1 and "USING INDEX" in plan[0], (query, plan)  # no sort step
        assert sql.endswith("LIMIT ?")


# ---- DynamoDB specifics --------------------------------------------------------------------------


def test_dynamo_creates_the_idempotency_table_with_ttl(dynamo_store: DynamoStore) -> None:
    client = dynamo_store.client
    table = client.describe_table(TableName="test_idempotency_keys")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName="test_idempotency_keys")
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": IDEMPOTENCY_TTL_ATTR,
    }
    assert dynamo_store.claim_idempotency("ci:k", "fp", BASE, TTL) is None
    dynamo_store.finish_idempotency("ci:k", 201, '{"ok": true}')
    raw = client.get_item(TableName="test_idempotency_keys", Key={"key": {"S": "ci:k"}})["Item"]
    assert raw == {
        "key": {"S": "ci:k"},
        "fingerprint": {"S": "fp"},
        "status": {"N": "201"},
        "body": {"S": '{"ok": true}'},
        "created_at": {"N": str(BASE)},
        "expires_at": {"N": str(BASE + TTL)},
    }
    calls = count_calls(dynamo_store)
    again = DynamoStore(region="us-east-1", table_prefix="test_", client=client)
    assert calls.get("UpdateTimeToLive", 0) == 0  # enabled once
    assert again.claim_idempotency("ci:k", "fp", BASE + 1, TTL) is not None


def test_dynamo_a_namespace_page_is_one_query_of_its_partition(filled_dynamo: DynamoStore) -> None:
    calls = count_calls(filled_dynamo)
    page = filled_dynamo.history_page(HistoryQuery(namespace="b", user_id="U1"), 3)
    assert page == brute_force(HistoryQuery(namespace="b", user_id="U1"))[:3]
    assert set(calls) == {"Query"} and calls["Query"] <= 3


def test_dynamo_a_bounded_page_walks_the_start_index_and_stops_early(
    filled_dynamo: DynamoStore,
) -> None:
    query = HistoryQuery(until=BASE + 3 * DAY)
    calls = count_calls(filled_dynamo)
    assert filled_dynamo.history_page(query, 5) == brute_force(query)[:5]
    assert set(calls) == {"Query"} and calls["Query"] <= 2  # the newest day is enough
    calls.clear()
    page = filled_dynamo.history_page(query, 40)  # more than a day holds: the walk goes on
    assert page == brute_force(query)[:40]
    assert set(calls) == {"Query"}


def test_dynamo_the_walk_finishes_older_days_with_one_scan(filled_dynamo: DynamoStore) -> None:
    query = HistoryQuery(until=BASE + 3 * DAY, user_id="U3")
    calls = count_calls(filled_dynamo)
    assert filled_dynamo.history_page(query, 1_000) == brute_force(query)
    assert calls["Query"] == dynamo_module.HISTORY_WALK_DAYS and calls["Scan"] == 1


def test_dynamo_the_first_unbounded_page_is_a_filtered_scan(filled_dynamo: DynamoStore) -> None:
    calls = count_calls(filled_dynamo)
    query = HistoryQuery(operation_type=SHUTDOWN, since=BASE)
    assert filled_dynamo.history_page(query, 4) == brute_force(query)[:4]
    assert set(calls) == {"Scan"}
