"""`slack.notice_max_age`: a notice older than that (by its `at`) is not posted hours late as if
it were news: it is kept in the store, marked expired (both backends), counted and logged, and
never due again."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.slack.notifier import SlackNotifier
from core.clock import epoch
from core.config import Config, load_config
from core.errors import ConfigError
from core.models import Notice, NoticeKind
from core.store.base import Store
from core.store.dynamo import DynamoStore
from core.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.fake_slack import FakeSlack
from tests.harness import TEST_CONFIG, madrid, make_harness
from tests.store_fixtures import sqlite_file_at_version
from tests.test_notifier import NOTIFY, SLACK, Env, objects

NIGHT = madrid(2026, 12, 1, 20)


def make_notice(notice_id: str = "shutdown:1000", at: int = 1_000, **fields: Any) -> Notice:
    values: dict[str, Any] = {"kind": NoticeKind.SHUTDOWN, "facts": {"workloads": 3}}
    return Notice(notice_id=notice_id, at=at, **(values | fields))


# ---- the store contract (both backends) ----------------------------------------------------------


def test_an_expired_notice_is_kept_and_never_due_again(store: Store) -> None:
    store.add_notice(make_notice("old", at=1_000))
    store.add_notice(make_notice("young", at=50_000))
    assert store.mark_notice_expired("old", 60_000) is True
    kept = store.get_notice("old")
    assert kept is not None and kept.expired_at == 60_000 and kept.expired and not kept.sent
    assert not kept.pending and kept.facts == {"workloads": 3}
    assert [n.notice_id for n in store.due_notices(10**9, 10)] == ["young"]
    assert store.pending_notice_count() == 1

    assert store.mark_notice_expired("old", 60_001) is False  # once
    assert store.mark_notice_delivered("old", 60_002, "C:1") is False  # never delivered after
    assert store.mark_notice_failed("old", "Slack: x", 60_100) is None
    assert store.get_notice("old") == kept
    assert store.mark_notice_expired("missing", 1) is False


def test_a_delivered_notice_cannot_expire(store: Store) -> None:
    store.add_notice(make_notice())
    assert store.mark_notice_delivered("shutdown:1000", 1_010, "C0NOTIFY:17.0")
    assert store.mark_notice_expired("shutdown:1000", 99_999) is False
    stored = store.get_notice("shutdown:1000")
    assert stored is not None and stored.expired_at is None and stored.sent


def test_dynamo_expiry_leaves_the_sparse_index(dynamo_store: DynamoStore) -> None:
    dynamo_store.add_notice(make_notice("n0"))
    assert dynamo_store.mark_notice_expired("n0", 9_000)
    raw = dynamo_store.client.get_item(TableName="test_notices", Key={"notice_id": {"S": "n0"}})
    assert "unsent" not in raw["Item"] and raw["Item"]["expired_at"] == {"N": "9000"}
    assert dynamo_store.pending_notice_count() == 0


def test_sqlite_migrates_a_version_4_outbox_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite_file_at_version(path, 4)
    conn.execute(
        "INSERT INTO notices (notice_id, kind, at, facts) VALUES ('queued', 'shutdown', 5, '{}')"
    )
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        [queued] = store.due_notices(10, 10)
        assert queued.notice_id == "queued" and queued.expired_at is None
        assert store.mark_notice_expired("queued", 100)
        assert store.due_notices(10**9, 10) == [] and store.pending_notice_count() == 0
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(notices)")}
        assert "idx_notices_pending" in indexes and "idx_notices_unsent" not in indexes
    finally:
        conn.close()


# ---- the configuration ---------------------------------------------------------------------------


def test_notice_max_age_is_a_duration_with_a_12h_default(tmp_path: Path) -> None:
    assert Config().slack.notice_max_age == timedelta(hours=12)
    config = Config.model_validate(TEST_CONFIG | {"slack": {"notice_max_age": "90m"}})
    assert config.slack.notice_max_age == timedelta(minutes=90)
    bad = tmp_path / "bad.yaml"
    bad.write_text("slack:\n  notice_max_age: soon\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="notice_max_age"):
        load_config(str(bad), environ={})
    env = load_config(None, environ={"NSCTL_SLACK__NOTICE_MAX_AGE": "1d"})
    assert env.slack.notice_max_age == timedelta(days=1)


# ---- the notifier --------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with FakeSlack() as slack:
        h = make_harness(tmp_path, objects(), at=NIGHT, slack=SLACK | {"notice_max_age": "2h"})
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        yield Env(h, slack, SlackNotifier(h.outbox, client, h.config, h.clock))


def test_a_notice_older_than_max_age_is_expired_not_posted(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.slack.fail("service_unavailable", status=503)
    env.h.service.shutdown(at=NIGHT)
    assert env.drain() == 0  # Slack down: it waits
    [notice] = env.h.outbox.due(epoch(NIGHT) + 3600)
    env.slack.heal()

    caplog.set_level(logging.WARNING, logger="namespace_ctl.notices")
    later = NIGHT + timedelta(hours=2, minutes=1)
    assert env.drain(later) == 0
    assert env.posted(NOTIFY) == []  # last night's summary is not news now
    kept = env.h.outbox.get(notice.notice_id)
    assert kept is not None and kept.expired_at == epoch(later) and not kept.sent
    assert env.h.outbox.due(epoch(later) + 10**6) == []
    assert env.h.outbox.pending_count() == 0
    assert env.notifier.last_drain.expired == 1
    assert env.notifier.health.snapshot().expired == 1
    [warning] = [r for r in caplog.records if "expired" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert notice.notice_id in warning.getMessage() and "2h01m old" in warning.getMessage()


def test_a_notice_younger_than_max_age_is_still_delivered(env: Env) -> None:
    env.slack.fail("service_unavailable", status=503)
    env.h.service.shutdown(at=NIGHT)
    assert env.drain() == 0
    env.slack.heal()
    assert env.drain(NIGHT + timedelta(hours=1, minutes=59)) == 1
    assert "put to sleep" in env.only_post()
    assert env.notifier.last_drain.expired == 0


def test_a_decision_whose_request_message_expired_is_posted_on_its_own(env: Env) -> None:
    env.slack.fail("service_unavailable", status=503)
    late = NIGHT + timedelta(hours=2)
    request = env.h.activation.request("pay-api", "CC-PAY", "U0ANA", None, "x", late)
    env.drain(late)
    env.slack.heal()
    # The request's message never got out and is given up; its expiry (normally the same
    # message updated) cannot wait for it forever: it is posted on its own.
    hours_later = late + timedelta(hours=2, minutes=1)
    env.h.activation.housekeeping(hours_later)
    env.drain(hours_later)
    opened = env.h.outbox.get(f"request:{request.request_id}")
    assert opened is not None and opened.expired
    gone = env.h.outbox.get(f"expired:{request.request_id}")
    assert gone is not None and gone.sent, gone
    assert env.slack.calls("chat.update") == []
    [posted] = env.posted(SLACK["approvals_channel"])
    assert "expired" in str(posted).lower()
