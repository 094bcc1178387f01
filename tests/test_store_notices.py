"""The notices outbox in the `Store` contract (both backends) and the `Outbox` over it."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core.models import Notice, NoticeKind
from core.notices import MAX_RETRY_SECONDS, Outbox, retry_delay
from core.store.base import Store
from core.store.dynamo import UNSENT_INDEX, DynamoStore
from core.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.store_fixtures import race, sqlite_file_at_version


def make_notice(notice_id: str = "shutdown:1000", at: int = 1_000, **fields: Any) -> Notice:
    values: dict[str, Any] = {"kind": NoticeKind.SHUTDOWN, "facts": {"workloads": 3}}
    return Notice(notice_id=notice_id, at=at, **(values | fields))


def test_add_is_idempotent_by_id(store: Store) -> None:
    notice = make_notice()
    assert store.add_notice(notice) is True
    assert store.add_notice(notice.model_copy(update={"facts": {"workloads": 9}})) is False
    assert store.get_notice(notice.notice_id) == notice
    assert store.pending_notice_count() == 1


def test_every_field_round_trips(store: Store) -> None:
    notice = make_notice(
        "failure:abc:7",
        kind=NoticeKind.FAILURE,
        facts={
            "failures": [{"namespace": "pay-ñ", "error": "409 'x'\nretry"}],
            "ratio": 0.1,
            "none": None,
            "empty": "",
            "nested": {"a": [1, 2.5, True]},
        },
        attempts=2,
        next_attempt_at=1_060,
        last_error="Slack: fatal_error",
    )
    store.add_notice(notice)
    assert store.get_notice("failure:abc:7") == notice
    assert store.get_notice("nope") is None


def test_due_is_unsent_due_oldest_first_and_limited(store: Store) -> None:
    store.add_notice(make_notice("c", at=3_000))
    store.add_notice(make_notice("a", at=1_000))
    store.add_notice(make_notice("b", at=1_000))
    store.add_notice(make_notice("later", at=500, next_attempt_at=2_000))
    store.add_notice(make_notice("sent", at=100))
    store.mark_notice_delivered("sent", 150, "C1:1.0")

    assert [n.notice_id for n in store.due_notices(1_999, 10)] == ["a", "b", "c"]
    assert [n.notice_id for n in store.due_notices(2_000, 10)] == ["later", "a", "b", "c"]
    assert [n.notice_id for n in store.due_notices(2_000, 2)] == ["later", "a"]
    assert store.due_notices(2_000, 0) == []
    assert store.pending_notice_count() == 4


def test_delivered_once_and_out_of_due(store: Store) -> None:
    store.add_notice(make_notice())
    assert store.mark_notice_delivered("shutdown:1000", 1_010, "C0NOTIFY:17.000100") is True
    assert store.mark_notice_delivered("shutdown:1000", 1_020, "C0OTHER:18.0") is False
    stored = store.get_notice("shutdown:1000")
    assert stored is not None
    assert (stored.sent_at, stored.sent_ref) == (1_010, "C0NOTIFY:17.000100")
    assert store.due_notices(10**9, 10) == []
    assert store.pending_notice_count() == 0
    assert store.mark_notice_delivered("missing", 1, "x") is False


def test_failed_counts_attempts_and_postpones(store: Store) -> None:
    store.add_notice(make_notice())
    first = store.mark_notice_failed("shutdown:1000", "Slack unreachable", 1_030)
    assert first is not None
    assert (first.attempts, first.last_error, first.next_attempt_at) == (
        1,
        "Slack unreachable",
        1_030,
    )
    second = store.mark_notice_failed("shutdown:1000", "Slack: fatal_error", 1_090)
    assert second is not None and second.attempts == 2
    assert store.get_notice("shutdown:1000") == second
    assert store.due_notices(1_089, 10) == []
    assert [n.notice_id for n in store.due_notices(1_090, 10)] == ["shutdown:1000"]

    store.mark_notice_delivered("shutdown:1000", 1_100, "C:1")
    assert store.mark_notice_failed("shutdown:1000", "late", 2_000) is None  # sent: unchanged
    assert store.mark_notice_failed("missing", "x", 1) is None
    assert store.get_notice("missing") is None


def test_racing_posts_insert_once(store: Store) -> None:
    results = race(8, lambda i: store.add_notice(make_notice(facts={"by": i})))
    assert results.count(True) == 1
    assert store.pending_notice_count() == 1


# ---- the Outbox ----------------------------------------------------------------------------------


def test_retry_delay_doubles_from_30s_up_to_15_minutes() -> None:
    assert [retry_delay(n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert retry_delay(10_000) == MAX_RETRY_SECONDS


def test_outbox_backs_off_never_drops_and_logs(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(store)
    outbox.post(make_notice())
    caplog.set_level(logging.WARNING, logger="namespace_ctl.notices")
    at = 1_000
    for attempt in range(1, 9):
        failed = outbox.failed("shutdown:1000", "Slack unreachable", at)
        assert failed is not None and failed.attempts == attempt
        assert failed.next_attempt_at == at + retry_delay(attempt)
        assert outbox.due(failed.next_attempt_at - 1) == []
        at = failed.next_attempt_at
        assert [n.notice_id for n in outbox.due(at)] == ["shutdown:1000"]
    levels = [r.levelno for r in caplog.records if "shutdown:1000" in r.getMessage()]
    assert levels == [logging.WARNING] * 4 + [logging.ERROR] * 4
    assert outbox.pending_count() == 1
    assert outbox.delivered("shutdown:1000", at, "C:1") is True
    assert outbox.failed("shutdown:1000", "late", at) is None
    assert outbox.pending_count() == 0


def test_outbox_calls_back_on_new_notices_only(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(store)
    seen: list[str] = []

    def broken(notice: Notice) -> None:
        raise RuntimeError("boom")

    outbox.on_post(broken)
    outbox.on_post(lambda n: seen.append(n.notice_id))
    assert outbox.post(make_notice("a")) is True
    assert outbox.post(make_notice("a")) is False
    assert outbox.post_all([make_notice("b"), make_notice("a")]) == 1
    assert seen == ["a", "b"]
    assert sum("a notice callback failed" in r.getMessage() for r in caplog.records) == 2


# ---- backend specifics ---------------------------------------------------------------------------


def test_sqlite_migrates_a_version_2_file_and_indexes_due(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite_file_at_version(path, 2)
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    assert store.add_notice(make_notice())
    store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM notices WHERE sent_at IS NULL "
                "AND expired_at IS NULL AND next_attempt_at <= 5 ORDER BY at LIMIT 10"
            )
        )
        assert "idx_notices_pending" in plan
    finally:
        conn.close()


def test_dynamo_due_and_count_are_queries_on_the_sparse_index(dynamo_store: DynamoStore) -> None:
    description = dynamo_store.client.describe_table(TableName="test_notices")["Table"]
    assert description["KeySchema"] == [{"AttributeName": "notice_id", "KeyType": "HASH"}]
    assert [i["IndexName"] for i in description["GlobalSecondaryIndexes"]] == [UNSENT_INDEX]
    for i in range(3):
        dynamo_store.add_notice(make_notice(f"n{i}", at=1_000 + i))
    dynamo_store.mark_notice_delivered("n0", 1_100, "C:1")
    raw = dynamo_store.client.get_item(TableName="test_notices", Key={"notice_id": {"S": "n0"}})
    assert "unsent" not in raw["Item"]  # out of the sparse index

    calls: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    dynamo_store.client.meta.events.register("before-call.dynamodb", count)
    assert [n.notice_id for n in dynamo_store.due_notices(2_000, 10)] == ["n1", "n2"]
    assert dynamo_store.pending_notice_count() == 2
    assert calls == {"Query": 2}
