"""The Slack bot over real HTTP: signed requests into the Bolt app (Flask adapter, served by
werkzeug on loopback), Web API calls answered and recorded by the fake Slack server."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier
from werkzeug.serving import make_server

from bot.slack.app import EVENTS_PATH, create_app, create_flask_app, notifier_of, work_pool_of
from bot.slack.blocks import (
    APPROVE_ACTION,
    DECISION_BLOCK,
    DENY_ACTION,
    DENY_REASON_FIELD,
    DENY_VIEW,
)
from bot.slack.notifier import SlackNotifier
from bot.slack.work import SlackWork
from core.models import RequestStatus
from tests.builders import deployment, namespace, team_namespace
from tests.fake_slack import TEAM_ID, FakeSlack, post_signed
from tests.harness import Harness, madrid, make_harness

SECRET = "test-signing-secret"
NIGHT = madrid(2026, 12, 1, 20)  # Tuesday: the shutdown
LATE = madrid(2026, 12, 1, 22)
ANA, LEAD, ADMIN, MALLORY = "U0ANA", "U0LEAD", "U0ADMIN", "U0MALLORY"
APPROVALS = "C0APPROVALS"
_ids = itertools.count(1)


@dataclass
class Bot:
    h: Harness
    slack: FakeSlack
    url: str
    notifier: SlackNotifier
    work: SlackWork | None = None  # the app's work pools (running_bot sets them)

    # ---- signed requests ------------------------------------------------------------------------

    def post(
        self, body: str, timestamp: int | None = None, signature: str | None = None
    ) -> tuple[int, str]:
        return post_signed(
            self.url + EVENTS_PATH, body, SECRET, timestamp=timestamp, signature=signature
        )

    def post_json(self, payload: dict[str, Any]) -> tuple[int, str]:
        """A signed Events API request (JSON body)."""
        return post_signed(
            self.url + EVENTS_PATH, json.dumps(payload), SECRET, content_type="application/json"
        )

    def command_body(
        self, text: str, user: str = ANA, with_trigger: bool = True
    ) -> tuple[str, str]:
        """A slash command's form body and the name of its response_url (and its trigger_id,
        `trigger-<name>`, unless `with_trigger` is False: the console has none)."""
        name = f"cmd-{next(_ids)}"
        fields = {
            "token": "legacy",
            "team_id": TEAM_ID,
            "team_domain": "fake",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/namespace",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": self.slack.response_url(name),
        }
        if with_trigger:
            fields["trigger_id"] = f"trigger-{name}"
        return urlencode(fields), name

    def command(self, text: str, user: str = ANA, with_trigger: bool = True) -> dict[str, Any]:
        """Run `/namespace text`; return what was said to the user through the response_url."""
        body, name = self.command_body(text, user, with_trigger)
        status, _ = self.post(body)
        assert status == 200
        [reply] = self.slack.wait_for(f"response:{name}")
        return reply

    def click_payload(
        self, action_id: str, value: str, user: str, message_ts: str, channel: str = APPROVALS
    ) -> tuple[dict[str, Any], str]:
        """A button click's payload and its name (`trigger-<name>` is its trigger_id)."""
        name = f"click-{next(_ids)}"
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0APP",
            "token": "legacy",
            "container": {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"trigger-{name}",
            "channel": {"id": channel, "name": "approvals"},
            "message": {"type": "message", "ts": message_ts, "text": "request"},
            "response_url": self.slack.response_url(name),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": DECISION_BLOCK,
                    "value": value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return payload, name

    def click(self, action_id: str, request_id: str, user: str, message_ts: str) -> int:
        payload, _ = self.click_payload(action_id, request_id, user, message_ts)
        return self.send_payload(payload)[0]

    def send_payload(self, payload: dict[str, Any]) -> tuple[int, str]:
        return self.post(urlencode({"payload": json.dumps(payload)}))

    def submit_view(
        self, view: dict[str, Any], values: dict[str, str], user: str
    ) -> tuple[int, dict[str, Any]]:
        """Submit a modal the bot opened (`view` as sent to views.open), with a value per input
        block (a select's option or a text); return the status and the ack's JSON body."""
        state: dict[str, Any] = {}
        for block in view["blocks"]:
            if block["type"] != "input" or block["block_id"] not in values:
                continue
            element = block["element"]
            value = values[block["block_id"]]
            if element["type"] == "static_select":
                entry = {"type": "static_select", "selected_option": {"value": value}}
            else:
                entry = {"type": "plain_text_input", "value": value}
            state[block["block_id"]] = {element["action_id"]: entry}
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trigger-view-{next(_ids)}",
            "view": {
                "id": "V0VIEW",
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view.get("private_metadata", ""),
                "blocks": view["blocks"],
                "state": {"values": state},
            },
        }
        status, answer = self.send_payload(payload)
        return status, (json.loads(answer) if answer.strip() else {})

    def opened_view(self, trigger_id: str) -> dict[str, Any]:
        """The view the bot opened with that trigger_id."""
        [opened] = self.slack.wait_for("views.open", where=lambda p: p["trigger_id"] == trigger_id)
        view: dict[str, Any] = opened["view"]
        return view

    # ---- the flow -------------------------------------------------------------------------------

    def request_activation(self, text: str = "activate pay-api 2h CC-PAY prod incident") -> Posted:
        reply = self.command(text)
        [message] = self.slack.wait_for(
            "chat.postMessage", where=lambda p: p["channel"] == APPROVALS
        )
        buttons = {
            e["action_id"]: e["value"]
            for b in message["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
        }
        ts = self.slack.answer_to(message)["ts"]
        return Posted(reply, message, buttons, str(ts))

    def replicas(self, ns: str, name: str) -> int:
        return int(self.h.state()[("Deployment", ns, name)][0])


@dataclass
class Posted:
    reply: dict[str, Any]
    message: dict[str, Any]
    buttons: dict[str, str]
    ts: str

    @property
    def request_id(self) -> str:
        return self.buttons[APPROVE_ACTION]


def text_of(value: dict[str, Any]) -> str:
    """Everything a message says: its text and every block's text."""
    return json.dumps([value.get("text", ""), value.get("blocks", [])])


def _objects() -> list[dict[str, Any]]:
    objects = [*team_namespace("pay-api", {"api": 3, "worker": 2})]
    objects += [namespace("team-a"), deployment("team-a", "app", 2)]
    return objects


@contextmanager
def running_bot(tmp_path: Path, work: Executor | None = None) -> Iterator[Bot]:
    """The bot served on loopback after the shutdown, at 22:00 on a Tuesday (its listeners'
    work on `work`, the app's own pool by default)."""
    with FakeSlack() as slack:
        h = make_harness(
            tmp_path,
            _objects(),
            at=NIGHT,
            slack={
                "admins": [ADMIN],
                "approvers": {"CC-PAY": [LEAD], "CC-ALL": [LEAD]},
                "approvals_channel": APPROVALS,
                "api_base_url": slack.api_url,
            },
        )
        h.service.shutdown(at=NIGHT)
        h.clock.set(LATE)
        app = create_app(h.ctl, h.config, "xoxb-test-token", SECRET, h.clock, work=work)
        # The setup's shutdown summary is delivered before the bot serves: tests see only theirs.
        assert notifier_of(app).drain() == 1
        setup = slack.forget()
        assert [m for m, _ in setup] == ["chat.postMessage"]
        assert setup[0][1]["text"].startswith("Shutdown: ")
        server = make_server("127.0.0.1", 0, create_flask_app(app), threaded=True)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_port}"
            yield Bot(h, slack, url, notifier_of(app), work_pool_of(app))
        finally:
            server.shutdown()
            thread.join(timeout=5)


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as running:
        yield running


# ---- commands -----------------------------------------------------------------------------------


def test_help_lists_every_subcommand(bot: Bot) -> None:
    reply = bot.command("help")
    assert reply["response_type"] == "ephemeral"
    for word in ("status", "activate", "deactivate", "extend", "list", "schedule", "report"):
        assert f"/namespace {word}" in text_of(reply)
    assert text_of(bot.command("")) == text_of(reply)  # a bare /namespace is help


def test_status_shows_the_sleeping_namespaces(bot: Bot) -> None:
    reply = bot.command("status")
    assert reply["response_type"] == "ephemeral"
    text = text_of(reply)
    assert "After hours" in text and "`pay-api`: asleep" in text and "`team-a`: asleep" in text
    only = text_of(bot.command("status team-a"))
    assert "team-a" in only and "pay-api" not in only


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extend pay-api soon", "not a duration"),
        ("schedule pay-api 2026-12-02 21:00 2h", "give a namespace, date, time"),
        ("report 2026-49", "not an ISO week"),
        ("frobnicate", "unknown subcommand"),
        ("status no-such-ns", "not found"),
    ],
)
def test_a_malformed_command_gets_its_usage(bot: Bot, text: str, expected: str) -> None:
    reply = bot.command(text)
    assert reply["response_type"] == "ephemeral"
    assert expected in text_of(reply) and "Usage" in text_of(reply)
    assert bot.slack.calls("chat.postMessage") == []


def test_a_refused_command_shows_the_reason_without_the_usage(bot: Bot) -> None:
    reply = bot.command("activate pay-api CC-OFF nightly tests")
    assert "unauthorized" in text_of(reply) and "Usage" not in text_of(reply)
    assert bot.h.activation.requests() == []
    assert bot.slack.calls("chat.postMessage") == []


def test_a_bad_duration_is_named_as_a_duration(bot: Bot) -> None:
    reply = bot.command("activate pay-api 2x CC-PAY nightly tests")
    assert "'2x' is not a duration" in text_of(reply) and "Usage" in text_of(reply)
    assert bot.h.activation.requests() == []


def test_an_unexpected_error_becomes_a_friendly_message(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store is on fire")

    monkeypatch.setattr(bot.h.activation.namespaces, "status", broken)
    reply = bot.command("status")
    assert "Something went wrong" in text_of(reply) and "on fire" not in text_of(reply)


# ---- approvals ----------------------------------------------------------------------------------


def test_the_whole_approval_flow(bot: Bot) -> None:
    posted = bot.request_activation()
    [request] = bot.h.activation.requests([RequestStatus.PENDING])
    assert (request.requester, request.cost_center, request.duration_minutes) == (
        ANA,
        "CC-PAY",
        120,
    )
    assert request.request_id in text_of(posted.reply) and APPROVALS in text_of(posted.reply)
    assert set(posted.buttons) == {APPROVE_ACTION, DENY_ACTION}
    assert posted.buttons[DENY_ACTION] == request.request_id
    assert f"<@{LEAD}>" in text_of(posted.message) and "prod incident" in text_of(posted.message)
    assert bot.replicas("pay-api", "api") == 0

    assert bot.click(APPROVE_ACTION, request.request_id, LEAD, posted.ts) == 200
    [update] = bot.slack.wait_for("chat.update")
    assert (update["channel"], update["ts"]) == (APPROVALS, posted.ts)
    assert all(b["type"] != "actions" for b in update["blocks"])  # buttons gone
    assert "Approved" in text_of(update) and f"<@{LEAD}>" in text_of(update)
    [told] = bot.slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == ANA)
    assert "approved" in text_of(told) and "awake until" in text_of(told)
    assert bot.replicas("pay-api", "api") == 3 and bot.replicas("pay-api", "worker") == 2
    assert bot.replicas("team-a", "app") == 0
    [slot] = bot.h.activation.slots()
    assert (slot.namespace, slot.user_id, slot.cost_center) == ("pay-api", ANA, "CC-PAY")

    assert bot.slack.calls("auth.test")  # Bolt's authorization, answered by the fake
    listing = text_of(bot.command("list"))
    assert "`pay-api` for <@U0ANA>" in listing


def test_self_approval_is_refused_and_changes_nothing(bot: Bot) -> None:
    posted = bot.request_activation()
    assert bot.click(APPROVE_ACTION, posted.request_id, ANA, posted.ts) == 200
    [ephemeral] = bot.slack.wait_for("chat.postEphemeral")
    assert ephemeral["user"] == ANA and ephemeral["channel"] == APPROVALS
    assert "unauthorized" in text_of(ephemeral)
    assert bot.slack.calls("chat.update") == []
    [pending] = bot.h.activation.requests([RequestStatus.PENDING])
    assert pending.request_id == posted.request_id
    assert bot.replicas("pay-api", "api") == 0 and bot.h.activation.slots() == []


def test_a_second_click_is_told_it_was_already_decided(bot: Bot) -> None:
    posted = bot.request_activation()
    assert bot.click(APPROVE_ACTION, posted.request_id, LEAD, posted.ts) == 200
    bot.slack.wait_for("chat.update")
    assert bot.click(DENY_ACTION, posted.request_id, ADMIN, posted.ts) == 200
    [ephemeral] = bot.slack.wait_for("chat.postEphemeral")
    assert ephemeral["user"] == ADMIN
    assert f"already decided: approved by {LEAD}" in text_of(ephemeral)
    assert len(bot.slack.calls("chat.update")) == 1
    [request] = bot.h.activation.requests()
    assert request.status is RequestStatus.APPROVED
    assert bot.replicas("pay-api", "api") == 3


def test_deny_asks_a_reason_then_updates_the_message_and_tells_the_requester(bot: Bot) -> None:
    posted = bot.request_activation()
    payload, name = bot.click_payload(DENY_ACTION, posted.request_id, LEAD, posted.ts)
    assert bot.send_payload(payload)[0] == 200
    view = bot.opened_view(f"trigger-{name}")
    assert view["callback_id"] == DENY_VIEW and posted.request_id in view["private_metadata"]
    assert bot.slack.calls("chat.update") == []  # nothing decided before the reason

    status, answer = bot.submit_view(view, {DENY_REASON_FIELD: "  "}, LEAD)
    assert status == 200 and answer["response_action"] == "errors"
    assert "reason" in answer["errors"][DENY_REASON_FIELD]
    assert bot.h.activation.requests()[0].status is RequestStatus.PENDING

    status, answer = bot.submit_view(view, {DENY_REASON_FIELD: "use staging <tonight>"}, LEAD)
    assert status == 200 and answer == {}  # the modal closes
    [update] = bot.slack.wait_for("chat.update")
    assert (update["channel"], update["ts"]) == (APPROVALS, posted.ts)
    assert all(b["type"] != "actions" for b in update["blocks"])
    assert "Denied" in text_of(update) and f"<@{LEAD}>" in text_of(update)
    assert "use staging &lt;tonight&gt;" in text_of(update)
    assert "2026-12-01 22:00" in text_of(update)
    [told] = bot.slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == ANA)
    assert "denied" in text_of(told) and "use staging" in text_of(told)
    [request] = bot.h.activation.requests()
    assert (request.status, request.decided_by) == (RequestStatus.DENIED, LEAD)
    assert request.decision_reason == "use staging <tonight>"
    assert bot.replicas("pay-api", "api") == 0 and bot.h.activation.slots() == []


def test_a_stranger_cannot_decide(bot: Bot) -> None:
    posted = bot.request_activation()
    assert bot.click(APPROVE_ACTION, posted.request_id, MALLORY, posted.ts) == 200
    [ephemeral] = bot.slack.wait_for("chat.postEphemeral")
    assert ephemeral["user"] == MALLORY and "unauthorized" in text_of(ephemeral)
    assert bot.h.activation.requests()[0].status is RequestStatus.PENDING


# ---- signatures ---------------------------------------------------------------------------------


def test_a_forged_signature_is_rejected(bot: Bot) -> None:
    body, _ = bot.command_body("activate pay-api 2h CC-PAY prod incident")
    forged = "v0=" + "0" * 64
    status, answer = bot.post(body, signature=forged)
    assert status == 401 and json.loads(answer) == {"error": "invalid request"}
    wrong_secret = SignatureVerifier("not-the-secret").generate_signature(
        timestamp=str(int(time.time())), body=body
    )
    assert bot.post(body, signature=wrong_secret)[0] == 401
    assert bot.slack.calls() == [] and bot.h.activation.requests() == []


def test_a_stale_timestamp_is_rejected(bot: Bot) -> None:
    body, _ = bot.command_body("help")
    status, _ = bot.post(body, timestamp=int(time.time()) - 6 * 60)  # correctly signed, too old
    assert status == 401
    assert bot.slack.calls() == []


def test_an_expired_request_says_so(bot: Bot) -> None:
    posted = bot.request_activation()
    bot.h.clock.advance(timedelta(minutes=31))  # approval_timeout is 30m
    assert bot.click(APPROVE_ACTION, posted.request_id, LEAD, posted.ts) == 200
    [ephemeral] = bot.slack.wait_for("chat.postEphemeral")
    assert ephemeral["user"] == LEAD and "expired" in text_of(ephemeral)
    [update] = bot.slack.wait_for("chat.update")
    assert all(b["type"] != "actions" for b in update["blocks"]) and "Expired" in text_of(update)
    assert bot.replicas("pay-api", "api") == 0 and bot.h.activation.slots() == []


def test_extend_and_deactivate_a_live_window(bot: Bot) -> None:
    bot.h.activation.activate("pay-api", "CC-PAY", ANA, timedelta(hours=2), "hotfix", LATE)
    assert "awake until 2026-12-02 01:00" in text_of(bot.command("extend pay-api 1h"))
    assert "unauthorized" in text_of(bot.command("deactivate pay-api", user=MALLORY))
    assert bot.replicas("pay-api", "api") == 3
    assert "window ended" in text_of(bot.command("deactivate pay-api"))
    assert bot.replicas("pay-api", "api") == 0 and bot.h.activation.slots() == []
    assert "not found" in text_of(bot.command("deactivate pay-api"))


def test_a_command_delivers_what_it_posted_before_its_reply_and_reads_nothing_else(
    bot: Bot,
) -> None:
    """The outbox is read after a command only when the command posted a notice: in a burst of
    `help`, `list` and `status`, one read per command would compete with the next acks."""
    before = bot.notifier.last_drain
    for text in ("help", "list", "status", "activate"):
        bot.command(text)
    assert bot.notifier.last_drain is before  # nothing posted, nothing read

    bot.h.activation.activate("pay-api", "CC-PAY", ANA, timedelta(hours=2), "hotfix", LATE)
    bot.notifier.drain()
    bot.slack.forget()
    reply = bot.command("deactivate pay-api")

    assert "window ended" in text_of(reply)
    assert bot.notifier.last_drain.delivered == 1
    methods = [method for method, _ in bot.slack.calls()]
    assert methods[0] == "chat.postMessage" and methods[1].startswith("response:"), methods
    [said] = bot.slack.calls("chat.postMessage")  # delivered before the reply was sent
    assert "pay-api" in said[1]["text"]


WORDS = st.sampled_from(
    [
        *("help", "status", "activate", "deactivate", "extend", "list", "schedule", "report"),
        *("2026-12-02", "2026-02-30", "21:00", "7:00", "2026-W49"),
        *("pay-api", "team-a", "nope", "2h", "90m", "0m", "13h", "1d"),
        *("CC-PAY", "CC-ALL", "CC-OFF", "why", "<@U1>", "&"),
    ]
)
TEXTS = st.one_of(
    st.lists(WORDS, max_size=6).map(" ".join),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=TEXTS, user=st.sampled_from([ANA, LEAD, ADMIN, MALLORY]))
def test_any_command_text_gets_a_message_never_an_error(bot: Bot, text: str, user: str) -> None:
    reply = bot.command(text, user=user)
    assert reply["response_type"] == "ephemeral" and reply["blocks"] and reply["text"]
    assert "Something went wrong" not in text_of(reply), text
