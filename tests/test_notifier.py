"""Channel notices end to end: the use cases post to the outbox, the notifier delivers it to the
fake Slack Web API over loopback HTTP (the real slack_sdk WebClient)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.cli import main
from bot.slack.notice_blocks import EXTEND_ACTION
from bot.slack.notifier import SlackNotifier
from core.clock import FrozenClock, epoch
from core.config import Config
from core.costs import DEFAULT_RATES, footprint, money
from core.models import NoticeKind, OutcomeStatus, WorkloadKind, WorkloadRef
from core.notices import Outbox
from core.store.sqlite import SqliteStore
from tests.builders import deployment, namespace, team_namespace, write_manifests
from tests.fake_slack import FakeSlack
from tests.harness import TEST_CONFIG, Harness, madrid, make_harness

NIGHT = madrid(2026, 12, 1, 20)  # Tuesday: the shutdown
LATE = madrid(2026, 12, 1, 22)
MORNING = madrid(2026, 12, 2, 7)
NOTIFY, APPROVALS = "C0NOTIFY", "C0APPROVALS"
ANA, LEAD, ADMIN = "U0ANA", "U0LEAD", "U0ADMIN"
SLACK = {
    "notifications_channel": NOTIFY,
    "approvals_channel": APPROVALS,
    "admins": [ADMIN],
    "approvers": {"CC-PAY": [LEAD], "CC-ALL": [LEAD]},
}


def objects() -> list[dict[str, Any]]:
    return [
        *team_namespace("pay-api", {"api": 3, "worker": 2}),
        namespace("pay-web"),
        deployment("pay-web", "web", 2),
        namespace("team-a"),
        deployment("team-a", "app", 2),
    ]


@dataclass
class Env:
    h: Harness
    slack: FakeSlack
    notifier: SlackNotifier

    def drain(self, at: datetime | None = None) -> int:
        if at is not None:
            self.h.clock.set(at)
        return self.notifier.drain()

    def posted(self, channel: str = NOTIFY) -> list[dict[str, Any]]:
        return [p for _, p in self.slack.calls("chat.postMessage") if p["channel"] == channel]

    def only_post(self, channel: str = NOTIFY) -> str:
        [message] = self.posted(channel)
        return text_of(message)


def text_of(message: dict[str, Any]) -> str:
    return json.dumps([message.get("text", ""), message.get("blocks", [])])


def client_for(slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with FakeSlack() as slack:
        h = make_harness(
            tmp_path, objects(), at=NIGHT, slack=SLACK, limits={"max_active_namespaces": 3}
        )
        yield Env(h, slack, SlackNotifier(h.outbox, client_for(slack), h.config, h.clock))


def changed(result: Any) -> int:
    return sum(
        1 for ns in result.namespaces for o in ns.outcomes if o.status is OutcomeStatus.CHANGED
    )


# ---- schedule ------------------------------------------------------------------------------------


def test_a_shutdown_is_one_summary_with_its_counts(env: Env) -> None:
    result = env.h.service.shutdown(at=NIGHT)
    assert env.drain() == 1
    text = env.only_post()
    workloads = changed(result)
    assert workloads == 7  # pay-api: 2 deployments, db, log-agent, report; pay-web; team-a
    assert f"3 namespaces put to sleep, {workloads} workloads" in text
    for ns in ("pay-api", "pay-web", "team-a"):
        assert f"`{ns}`" in text
    assert "reconcile pass" not in text
    replicas = sum(
        w.replicas for r in env.h.store.history() for w in r.workloads
    )  # from the shutdown snapshots
    assert f"({replicas} replicas)" in text
    assert env.drain() == 0 and len(env.posted()) == 1
    [notice_id] = [n for n in _ids(env) if n.startswith("shutdown:")]
    stored = env.h.outbox.get(notice_id)
    assert stored is not None and stored.sent_ref.startswith(f"{NOTIFY}:")
    hourly = sum(
        footprint(r.workloads).hourly_cost(DEFAULT_RATES) for r in env.h.store.history()
    )  # every namespace slept at its snapshot until 07:00: 11 hours
    saving = {"amount": money(hourly * 11), "currency": "USD", "until": epoch(MORNING)}
    assert stored.facts["estimated_saving"] == saving
    assert f"Estimated saving until 2026-12-02 07:00 CET: {saving['amount']:,.2f} USD" in text


def _ids(env: Env) -> list[str]:
    store = env.h.store
    assert isinstance(store, SqliteStore)
    conn = store._conn()
    return [row[0] for row in conn.execute("SELECT notice_id FROM notices ORDER BY at")]


def test_startup_summary_after_a_shutdown(env: Env) -> None:
    env.h.service.shutdown(at=NIGHT)
    env.drain()
    result = env.h.service.startup(at=MORNING)
    assert env.drain(MORNING) == 1
    text = text_of(env.posted()[-1])
    assert f"*Startup*: 3 namespaces woken, {changed(result)} workloads" in text


def test_a_reconcile_that_catches_up_says_so_and_a_no_op_pass_says_nothing(env: Env) -> None:
    env.h.service.reconcile(at=NIGHT + timedelta(minutes=40))  # the bot was down at 20:00
    assert env.drain() == 1
    assert "by the reconcile pass" in env.only_post()
    env.h.service.reconcile(at=NIGHT + timedelta(minutes=45))
    env.h.service.reconcile(at=NIGHT + timedelta(minutes=50), dry_run=True)
    assert env.h.outbox.pending_count() == 0
    assert env.drain() == 0 and len(env.posted()) == 1


def test_the_edge_jobs_reconcile_is_a_plain_shutdown_summary(env: Env) -> None:
    env.h.service.reconcile(at=NIGHT)  # the 20:00 job: a reconcile at the edge's exact time
    assert env.drain() == 1
    text = env.only_post()
    assert "*Shutdown*: 3 namespaces put to sleep" in text and "reconcile pass" not in text


def test_drift_corrected_is_its_own_notice(env: Env) -> None:
    env.h.service.shutdown(at=NIGHT)
    env.drain()
    ref = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="team-a", name="app")
    env.h.cluster.set_replicas(ref, 4)  # type: ignore[attr-defined]
    env.h.service.reconcile(at=LATE)
    assert env.drain(LATE) == 1
    text = text_of(env.posted()[-1])
    assert "Drift corrected" in text and "`team-a` Deployment/app" in text
    assert "Shutdown" not in text


def test_a_failure_mentions_the_admins(env: Env) -> None:
    env.h.service.shutdown(at=NIGHT)
    env.drain()
    ref = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="pay-api", name="api")
    env.h.cluster.patch_workload(
        ref, {"metadata": {"annotations": {"namespace-ctl.io/original-replicas": "lots"}}}
    )
    env.h.service.startup(at=MORNING)
    assert env.drain(MORNING) == 2  # the summary and the alert
    [summary] = [text_of(m) for m in env.posted() if m["text"].startswith("Startup")]
    [alert] = [text_of(m) for m in env.posted() if "1 workload failed" in m["text"]]
    assert "*Startup*" in summary and "1 failed" in summary
    assert f"<@{ADMIN}>" in alert and "Deployment/api" in alert and "lots" in alert
    assert f"<@{ADMIN}>" not in summary
    # The reconcile retries every few minutes: the same failure is not alerted again this hour.
    env.h.service.reconcile(at=MORNING + timedelta(minutes=5))
    assert env.drain(MORNING + timedelta(minutes=5)) == 0


# ---- activations ---------------------------------------------------------------------------------


def test_activation_started_ending_with_extend_and_ended(env: Env) -> None:
    ctl = env.h.activation
    env.h.service.shutdown(at=NIGHT)
    env.drain()
    ctl.activate("pay-api", "CC-PAY", ANA, timedelta(hours=1), "incident 77", LATE)
    assert env.drain(LATE) == 1
    started = text_of(env.posted()[-1])
    assert "`pay-api` is awake" in started and f"<@{ANA}>" in started and "CC-PAY" in started
    assert "2026-12-01 23:00" in started

    ctl.housekeeping(LATE + timedelta(minutes=49))  # 11 minutes left: not yet
    assert env.drain(LATE + timedelta(minutes=49)) == 0
    for minute in (51, 55):  # twice inside the last 10 minutes: one notice
        ctl.housekeeping(LATE + timedelta(minutes=minute))
        env.drain(LATE + timedelta(minutes=minute))
    ending = env.posted()[-1]
    assert len(env.posted()) == 3
    assert f"<@{ANA}>" in text_of(ending)
    [button] = [e for b in ending["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (EXTEND_ACTION, "pay-api")

    ctl.extend("pay-api", timedelta(hours=1), ANA, LATE + timedelta(minutes=56))
    ctl.housekeeping(LATE + timedelta(minutes=111))  # the new end, 00:00, is 9 minutes away
    assert env.drain(LATE + timedelta(minutes=111)) == 1
    assert "2026-12-02 00:00" in text_of(env.posted()[-1])

    end = LATE + timedelta(hours=2, minutes=1)
    ctl.housekeeping(end)
    assert env.drain(end) == 1
    assert "window" in text_of(env.posted()[-1]) and "ended" in text_of(env.posted()[-1])


def test_deactivate_is_an_ended_notice_naming_who(env: Env) -> None:
    ctl = env.h.activation
    env.h.service.shutdown(at=NIGHT)
    ctl.activate("team-a", "CC-ALL", ANA, timedelta(hours=1), "debug", LATE)
    ctl.deactivate("team-a", ANA, LATE + timedelta(minutes=20))
    ctl.housekeeping(LATE + timedelta(hours=2))  # nothing left to end: no second notice
    env.drain(LATE + timedelta(hours=2))
    ended = [text_of(m) for m in env.posted() if "ended" in m["text"]]
    assert len(ended) == 1 and f"ended by <@{ANA}>" in ended[0]


def test_cap_reached_for_the_cost_center_then_globally(env: Env) -> None:
    ctl = env.h.activation
    env.h.service.shutdown(at=NIGHT)
    env.drain()
    ctl.activate("pay-api", "CC-PAY", ANA, timedelta(hours=1), "a", LATE)
    ctl.activate("pay-web", "CC-PAY", ANA, timedelta(hours=1), "b", LATE)  # CC-PAY: 2 of 2
    ctl.activate("team-a", "CC-ALL", ANA, timedelta(hours=1), "c", LATE)  # 3 of 3 in all
    env.drain(LATE)
    caps = [text_of(m) for m in env.posted() if "Cap reached" in text_of(m)]
    assert len(caps) == 2
    assert "cost center *CC-PAY*: 2 of 2" in caps[0] and "`pay-web`" in caps[0]
    assert "namespace-ctl: 3 of 3" in caps[1] and "`team-a`" in caps[1]


def test_a_booking_that_cannot_start_is_told(env: Env) -> None:
    ctl = env.h.activation
    ctl.book("pay-web", "CC-PAY", ANA, LATE + timedelta(hours=1), timedelta(hours=1), "x", LATE)
    ctl.housekeeping(LATE + timedelta(hours=3))  # the bot was down for the whole window
    env.drain(LATE + timedelta(hours=3))
    assert env.posted(APPROVALS) == []  # an operator's booking is approved already
    [dropped] = [text_of(m) for m in env.posted() if "did not start" in m["text"]]
    assert "its window passed" in dropped and "`pay-web`" in dropped


# ---- requests ------------------------------------------------------------------------------------


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["action_id"]: e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }


def test_a_request_goes_to_approvals_with_buttons_and_its_expiry_updates_it(env: Env) -> None:
    request = env.h.activation.request(
        "pay-api", "CC-PAY", ANA, timedelta(hours=1), "prod incident", LATE
    )
    assert env.drain(LATE) == 1
    [message] = env.posted(APPROVALS)
    assert _buttons(message) == {
        "approve_request": request.request_id,
        "deny_request": request.request_id,
    }
    assert f"<@{LEAD}>" in text_of(message)
    ts = env.slack.answer_to(message)["ts"]

    expired_at = LATE + timedelta(minutes=31)
    env.h.activation.housekeeping(expired_at)
    assert env.drain(expired_at) == 1
    [update] = [p for _, p in env.slack.calls("chat.update")]
    assert (update["channel"], update["ts"]) == (APPROVALS, ts)
    assert "Expired" in text_of(update) and "actions" not in json.dumps(update["blocks"])
    assert len(env.posted(APPROVALS)) == 1


def test_an_approval_updates_the_message_tells_the_requester_and_announces_the_window(
    env: Env,
) -> None:
    env.h.service.shutdown(at=NIGHT)
    request = env.h.activation.request("pay-api", "CC-PAY", ANA, None, "hotfix", LATE)
    env.drain(LATE)
    [message] = env.posted(APPROVALS)
    approved_at = LATE + timedelta(minutes=5)
    env.h.activation.approve(request.request_id, LEAD, approved_at)
    assert env.drain(approved_at) == 2  # the window opened, the decision
    [update] = [p for _, p in env.slack.calls("chat.update")]
    assert update["ts"] == env.slack.answer_to(message)["ts"]
    assert f"Approved* by <@{LEAD}>" in text_of(update)
    [dm] = env.posted(ANA)
    assert "approved" in text_of(dm) and "`pay-api` is awake until" in text_of(dm)
    assert "request approved" in text_of(env.posted()[-1])


def test_a_denial_tells_the_requester_why_and_a_withdrawal_tells_nobody(env: Env) -> None:
    ctl = env.h.activation
    denied = ctl.request("pay-api", "CC-PAY", ANA, None, "x", LATE)
    withdrawn = ctl.request("pay-web", "CC-PAY", ANA, None, "y", LATE)
    ctl.deny(denied.request_id, LEAD, "use staging", LATE + timedelta(minutes=1))
    ctl.cancel(withdrawn.request_id, ANA, LATE + timedelta(minutes=1))
    env.drain(LATE + timedelta(minutes=1))
    assert len(env.posted(APPROVALS)) == 2
    updates = {p["ts"]: text_of(p) for _, p in env.slack.calls("chat.update")}
    assert len(updates) == 2 and any("Denied" in t and "use staging" in t for t in updates.values())
    [dm] = env.posted(ANA)
    assert "denied" in text_of(dm) and "use staging" in text_of(dm)


# ---- Slack down, retries, idempotency ------------------------------------------------------------


def test_slack_down_never_blocks_scaling_and_notices_wait_for_it(env: Env) -> None:
    env.slack.fail("service_unavailable", status=503)
    result = env.h.service.shutdown(at=NIGHT)
    assert result.ok and all(
        spec == 0 for (k, _, _), spec in env.h.specs().items() if k == "Deployment"
    )
    assert env.drain() == 0
    [notice] = env.h.outbox.due(epoch(NIGHT) + 30)
    assert notice.attempts == 1 and "service_unavailable" in notice.last_error
    assert notice.next_attempt_at == epoch(NIGHT) + 30
    tried = len(env.slack.failed_calls())
    assert env.drain(NIGHT + timedelta(seconds=29)) == 0  # backing off: not even tried
    assert len(env.slack.failed_calls()) == tried
    assert env.drain(NIGHT + timedelta(seconds=30)) == 0
    second = env.h.outbox.get(notice.notice_id)
    assert second is not None and second.attempts == 2
    assert second.next_attempt_at == epoch(NIGHT) + 30 + 60
    env.slack.heal()
    assert env.h.outbox.pending_count() == 1
    assert env.drain(NIGHT + timedelta(seconds=90)) == 1
    assert "3 namespaces put to sleep" in env.only_post()
    assert env.h.outbox.pending_count() == 0


def test_unreachable_slack_counts_an_attempt_and_stops_the_drain(env: Env) -> None:
    env.h.service.shutdown(at=NIGHT)
    env.h.activation.activate("team-a", "CC-ALL", ANA, timedelta(hours=1), "x", LATE)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    down = SlackNotifier(
        env.h.outbox, WebClient(token="xoxb-test", base_url=dead), env.h.config, env.h.clock
    )
    env.h.clock.set(LATE)
    assert down.drain() == 0
    waiting = env.h.outbox.due(epoch(LATE) + 3600)
    assert sorted(n.attempts for n in waiting) == [0, 1]  # the second waits for the next drain
    [tried] = [n for n in waiting if n.attempts == 1]
    assert "Slack unreachable" in tried.last_error
    assert env.drain(LATE + timedelta(seconds=30)) == 2
    assert env.h.outbox.pending_count() == 0


def test_one_bad_notice_does_not_block_the_others(env: Env) -> None:
    request = env.h.activation.request("pay-api", "CC-PAY", ANA, None, "x", LATE)
    env.drain(LATE)
    env.slack.fail("message_not_found", status=200, methods={"chat.update"})
    env.h.activation.housekeeping(LATE + timedelta(minutes=31))  # expired: an update
    env.h.service.shutdown(at=LATE + timedelta(minutes=31))  # a summary: a post
    assert env.drain(LATE + timedelta(minutes=31)) == 1
    assert "put to sleep" in env.only_post()
    expired = env.h.outbox.get(f"expired:{request.request_id}")
    assert (
        expired is not None and expired.attempts == 1 and "message_not_found" in expired.last_error
    )


def test_the_same_event_twice_is_one_message(env: Env) -> None:
    result = env.h.service.shutdown(at=NIGHT)
    env.h.service.announce(result)
    env.h.service.announce(result)
    env.h.activation.activate("team-a", "CC-ALL", ANA, timedelta(minutes=5), "x", LATE)
    env.h.activation.housekeeping(LATE + timedelta(minutes=1))
    env.h.activation.housekeeping(LATE + timedelta(minutes=2))
    env.drain(LATE + timedelta(minutes=2))
    kinds = [m["text"].split(" ")[0] for m in env.posted()]
    assert len(env.posted()) == 3, kinds  # shutdown, started, ending
    assert env.notifier.drain() == 0


def test_kick_delivers_at_once_from_the_background_thread(env: Env) -> None:
    env.notifier.start()
    try:
        env.h.service.shutdown(at=NIGHT)
        [message] = env.slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == NOTIFY)
        assert "put to sleep" in text_of(message)
    finally:
        env.notifier.stop()


def test_a_cli_shutdown_is_delivered_by_the_serving_notifier(tmp_path: Path) -> None:
    manifests = write_manifests(tmp_path / "cluster.yaml", objects())
    settings = TEST_CONFIG | {
        "slack": SLACK,
        "store": {"path": str(tmp_path / "audit.db")},
        "cluster": {"simulated": str(manifests)},
    }
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(settings), encoding="utf-8")
    assert main(["--config", str(config_file), "--now", NIGHT.isoformat(), "shutdown"]) == 0

    config = Config.model_validate(settings)
    store = SqliteStore(tmp_path / "audit.db")
    with FakeSlack() as slack:
        clock = FrozenClock(NIGHT + timedelta(minutes=1))
        notifier = SlackNotifier(Outbox(store), client_for(slack), config, clock)
        assert notifier.drain() == 1
        [(_, message)] = slack.calls("chat.postMessage")
        assert message["channel"] == NOTIFY
        assert "3 namespaces put to sleep, 7 workloads" in text_of(message)
    store.close()


def test_every_kind_renders_block_kit(env: Env) -> None:
    """Every notice kind was delivered by the scenarios above; here, all in one night."""
    ctl = env.h.activation
    env.h.service.shutdown(at=NIGHT)
    ctl.request("pay-web", "CC-PAY", ANA, None, "expires", LATE)
    r = ctl.request("pay-api", "CC-PAY", ANA, timedelta(hours=1), "approved", LATE)
    ctl.approve(r.request_id, LEAD, LATE)
    ctl.book("team-a", "CC-ALL", ANA, LATE + timedelta(minutes=10), timedelta(hours=1), "b", LATE)
    ctl.housekeeping(LATE + timedelta(minutes=55))
    env.drain(LATE + timedelta(minutes=55))
    kinds = {n.kind for n in map(env.h.outbox.get, _ids(env)) if n is not None and n.sent}
    assert {
        NoticeKind.SHUTDOWN,
        NoticeKind.REQUEST_OPENED,
        NoticeKind.REQUEST_DECIDED,
        NoticeKind.REQUEST_EXPIRED,
        NoticeKind.ACTIVATION_STARTED,
        NoticeKind.ACTIVATION_ENDING,
    } <= kinds
    for _, params in env.slack.calls():
        assert params["blocks"] and all("type" in b for b in params["blocks"])
    assert env.h.outbox.pending_count() == 0


# ---- the weekly summary --------------------------------------------------------------------------


def test_the_weekly_summary_is_posted_once_per_week(env: Env) -> None:
    env.h.service.shutdown(at=NIGHT)  # Tuesday 20:00 of 2026-W49
    env.h.service.startup(at=MORNING)  # Wednesday 07:00: 11 h asleep
    env.drain()
    monday = madrid(2026, 12, 7, 9)
    summary = env.h.service.post_weekly_summary(monday)
    env.h.service.post_weekly_summary(monday + timedelta(minutes=1))  # a restart posts again
    assert summary.week == "2026-W49"
    assert {n.namespace: n.asleep_hours for n in summary.namespaces} == {
        "pay-api": 11.0,
        "pay-web": 11.0,
        "team-a": 11.0,
    }
    env.slack.forget()
    assert env.drain(monday) == 1
    text = env.only_post()
    assert "Week 2026-W49" in text and "`pay-api`: 11.0 h" in text
