"""The Slack user interface over real HTTP (signed requests into the served Bolt app, the Web API
answered by the recording fake): the activate form, bookings, the weekly report, the Extend
button, App Home, the app manifest, the seed's property 9, payload fuzzing and racing clicks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_bolt import BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier

from bot.slack import app as slack_app
from bot.slack.blocks import (
    ACTIVATE_VIEW,
    APPROVE_ACTION,
    COST_CENTER_FIELD,
    DENY_ACTION,
    DENY_REASON_FIELD,
    DENY_VIEW,
    DURATION_FIELD,
    EXTEND_ACTION,
    NAMESPACE_FIELD,
    REASON_FIELD,
)
from core.clock import epoch
from core.costs import DEFAULT_RATES, footprint, money
from core.models import OperationType, RequestStatus
from tests.fake_slack import TEAM_ID
from tests.harness import madrid
from tests.test_slack_bot import (
    ADMIN,
    ANA,
    APPROVALS,
    LATE,
    LEAD,
    MALLORY,
    SECRET,
    TEXTS,
    Bot,
    running_bot,
    text_of,
)

MANIFEST = Path(__file__).resolve().parent.parent / "slack-app-manifest.yml"
NOTICES = "C0NOTICES"
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_users = iter(range(1, 1_000_000))


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as running:
        yield running


def fresh_user() -> str:
    """A user nobody configured (a stranger), unique per example, to find what they were told."""
    return f"U0FUZZ{next(_users)}"


def input_block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    [block] = [b for b in view["blocks"] if b.get("block_id") == block_id]
    return block


def open_form(bot: Bot, text: str) -> tuple[dict[str, Any], str]:
    """Run a command that opens the activate form: the view and the command's name."""
    body, name = bot.command_body(text)
    assert bot.post(body)[0] == 200
    [reply] = bot.slack.wait_for(f"response:{name}")
    assert "form opened" in text_of(reply)
    return bot.opened_view(f"trigger-{name}"), name


# ---- the activate form ---------------------------------------------------------------------------


def test_missing_arguments_open_a_form_prefilled_with_what_was_given(bot: Bot) -> None:
    view, _ = open_form(bot, "activate pay-api 3h")
    assert view["type"] == "modal" and view["callback_id"] == ACTIVATE_VIEW
    ns = input_block(view, NAMESPACE_FIELD)["element"]
    assert ns["type"] == "static_select"
    assert [o["value"] for o in ns["options"]] == ["pay-api", "team-a"]
    assert ns["initial_option"]["value"] == "pay-api"
    assert input_block(view, DURATION_FIELD)["element"]["initial_value"] == "3h"
    cc = input_block(view, COST_CENTER_FIELD)["element"]
    assert [o["value"] for o in cc["options"]] == ["CC-ALL", "CC-PAY"]  # CC-OFF: unauthorized
    assert "initial_option" not in cc
    reason = input_block(view, REASON_FIELD)["element"]
    assert reason["multiline"] is True and "initial_value" not in reason
    assert bot.h.activation.requests() == []

    bare, _ = open_form(bot, "activate")
    assert "initial_option" not in input_block(bare, NAMESPACE_FIELD)["element"]
    assert input_block(bare, DURATION_FIELD)["element"]["initial_value"] == "2h"  # config
    given, _ = open_form(bot, "activate team-a CC-ALL")
    assert input_block(given, COST_CENTER_FIELD)["element"]["initial_option"]["value"] == "CC-ALL"


def test_the_form_creates_the_request_as_the_command_does(bot: Bot) -> None:
    view, name = open_form(bot, "activate pay-api 3h")
    values = {
        NAMESPACE_FIELD: "pay-api",
        DURATION_FIELD: "3h",
        COST_CENTER_FIELD: "CC-PAY",
        REASON_FIELD: "prod incident",
    }
    status, answer = bot.submit_view(view, values, ANA)
    assert status == 200 and answer == {}  # the modal closes
    [message] = bot.slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == APPROVALS)
    assert "prod incident" in text_of(message) and f"<@{LEAD}>" in text_of(message)
    [request] = bot.h.activation.requests([RequestStatus.PENDING])
    assert (request.namespace, request.cost_center, request.requester) == ("pay-api", "CC-PAY", ANA)
    assert request.duration_minutes == 180
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {e["value"] for e in buttons} == {request.request_id}
    # The requester is told where they typed the command, through its response_url.
    _, second = bot.slack.wait_for(f"response:{name}", count=2)
    assert second["response_type"] == "ephemeral"
    assert request.request_id in text_of(second) and APPROVALS in text_of(second)


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({REASON_FIELD: ""}, REASON_FIELD, "required"),
        ({DURATION_FIELD: "soon"}, DURATION_FIELD, "not a duration"),
        ({DURATION_FIELD: "13h"}, DURATION_FIELD, "invalid duration"),
        ({COST_CENTER_FIELD: "CC-OFF"}, COST_CENTER_FIELD, "unauthorized"),
        ({NAMESPACE_FIELD: "team-a"}, COST_CENTER_FIELD, "unauthorized for team-a"),
        ({NAMESPACE_FIELD: "nope"}, NAMESPACE_FIELD, "not found"),
    ],
)
def test_the_form_names_the_field_a_refusal_is_about(
    bot: Bot, change: dict[str, str], field: str, expected: str
) -> None:
    view, _ = open_form(bot, "activate")
    values = {
        NAMESPACE_FIELD: "pay-api",
        DURATION_FIELD: "2h",
        COST_CENTER_FIELD: "CC-PAY",
        REASON_FIELD: "prod incident",
    } | change
    status, answer = bot.submit_view(view, values, ANA)
    assert status == 200 and answer["response_action"] == "errors"
    assert list(answer["errors"]) == [field] and expected in answer["errors"][field]
    assert bot.h.activation.requests() == []
    assert bot.slack.calls("chat.postMessage") == []


def test_without_a_trigger_missing_arguments_get_the_usage(bot: Bot) -> None:
    reply = bot.command("activate pay-api 2h", with_trigger=False)  # e.g. the console
    assert "give a cost center and a reason" in text_of(reply) and "Usage" in text_of(reply)
    assert "which namespace" in text_of(bot.command("activate", with_trigger=False))
    assert bot.slack.calls("views.open") == []


# ---- deny ----------------------------------------------------------------------------------------


def test_a_stranger_clicking_deny_is_refused_at_once_without_a_form(bot: Bot) -> None:
    posted = bot.request_activation()
    payload, _ = bot.click_payload(DENY_ACTION, posted.request_id, MALLORY, posted.ts)
    assert bot.send_payload(payload)[0] == 200
    [told] = bot.slack.wait_for("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
    assert "unauthorized" in text_of(told)
    assert bot.slack.calls("views.open") == []
    assert bot.h.activation.requests()[0].status is RequestStatus.PENDING


def test_a_stranger_submitting_a_denial_is_refused_and_nothing_changes(bot: Bot) -> None:
    posted = bot.request_activation()
    payload, name = bot.click_payload(DENY_ACTION, posted.request_id, LEAD, posted.ts)
    assert bot.send_payload(payload)[0] == 200
    view = bot.opened_view(f"trigger-{name}")  # the approver's form, submitted by someone else
    status, answer = bot.submit_view(view, {DENY_REASON_FIELD: "because"}, MALLORY)
    assert status == 200 and answer["response_action"] == "update"
    assert "unauthorized" in text_of(answer["view"])
    assert bot.h.activation.requests()[0].status is RequestStatus.PENDING
    assert bot.slack.calls("chat.update") == []


def test_a_denial_submitted_after_expiry_marks_the_message_expired(bot: Bot) -> None:
    posted = bot.request_activation()
    payload, name = bot.click_payload(DENY_ACTION, posted.request_id, LEAD, posted.ts)
    assert bot.send_payload(payload)[0] == 200
    view = bot.opened_view(f"trigger-{name}")
    bot.h.clock.advance(timedelta(minutes=31))
    status, answer = bot.submit_view(view, {DENY_REASON_FIELD: "too late"}, LEAD)
    assert (
        status == 200
        and answer["response_action"] == "update"
        and "expired" in text_of(answer["view"])
    )
    [update] = bot.slack.wait_for("chat.update")
    assert "Expired" in text_of(update) and all(b["type"] != "actions" for b in update["blocks"])


# ---- schedule, list, report ----------------------------------------------------------------------


def test_schedule_books_a_window_ahead_for_approval(bot: Bot) -> None:
    posted = bot.request_activation("schedule pay-api 2026-12-02 21:00 2h CC-PAY release prep")
    assert "Booking" in text_of(posted.reply) and "from 2026-12-02 21:00" in text_of(posted.reply)
    assert "from *2026-12-02 21:00 CET*" in text_of(posted.message)
    [booking] = bot.h.activation.requests()
    assert booking.starts_at == epoch(madrid(2026, 12, 2, 21))
    assert (booking.duration_minutes, booking.reason) == (120, "release prep")

    assert bot.click(APPROVE_ACTION, booking.request_id, LEAD, posted.ts) == 200
    [told] = bot.slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == ANA)
    assert "approved" in text_of(told) and "starts by itself at 2026-12-02 21:00" in text_of(told)
    assert bot.replicas("pay-api", "api") == 0  # not now: at its start
    listing = text_of(bot.command("list"))
    assert (
        f"`{booking.request_id}` `pay-api`" in listing and "(approved) from 2026-12-02" in listing
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-02-30 21:00", "not a valid date and time"),
        ("2026/12/02 21:00", "is not a date: use YYYY-MM-DD"),
        ("2026-12-02 25:00", "not a valid date and time"),
        ("2026-12-02 9pm", "is not a time: use HH:MM"),
    ],
)
def test_schedule_with_a_bad_date_or_time_gets_the_usage(
    bot: Bot, when: str, expected: str
) -> None:
    reply = bot.command(f"schedule pay-api {when} 2h CC-PAY release prep")
    assert expected in text_of(reply) and "Usage: `/namespace schedule" in text_of(reply)
    assert bot.h.activation.requests() == []


def test_schedule_in_the_past_is_refused(bot: Bot) -> None:
    reply = bot.command("schedule pay-api 2026-12-01 21:00 2h CC-PAY release prep")
    assert "invalid booking" in text_of(reply) and "future" in text_of(reply)
    assert bot.h.activation.requests() == []


def test_report_shows_this_weeks_hours_asleep_and_activations(bot: Bot) -> None:
    bot.h.activation.activate("pay-api", "CC-PAY", ANA, timedelta(hours=2), "hotfix", LATE)
    bot.h.clock.set(madrid(2026, 12, 1, 23))  # shutdown at 20:00; pay-api awake since 22:00
    reply = text_of(bot.command("report"))
    assert "Week 2026-W49" in reply and "2026-11-30 00:00" in reply
    assert "`team-a`: 3.0 h" in reply and "`pay-api`: 2.0 h" in reply
    assert "*CC-PAY*: 1 activation, 1.0 h awake" in reply
    hourly = {
        r.namespace_name: footprint(r.workloads).hourly_cost(DEFAULT_RATES)
        for r in bot.h.store.open_records(OperationType.AUTO_SHUTDOWN)
    }
    assert f"`team-a`: 3.0 h, {money(hourly['team-a'] * 3):.2f} USD" in reply
    assert f"1.0 h awake, {money(hourly['pay-api']):.2f} USD" in reply  # its night's snapshot
    assert "always-on" in reply and f"<@{ANA}> (1," in reply
    earlier = text_of(bot.command("report 2026-W48"))
    assert "Week 2026-W48" in earlier and "none yet" in earlier


# ---- the Extend button ---------------------------------------------------------------------------


def test_the_extend_button_gives_the_requester_an_hour_and_refuses_a_stranger(bot: Bot) -> None:
    opened = bot.h.activation.activate("pay-api", "CC-PAY", ANA, timedelta(hours=2), "hotfix", LATE)
    ends = opened.slot.ends_at
    payload, _ = bot.click_payload(EXTEND_ACTION, "pay-api", MALLORY, "1.0", channel=NOTICES)
    assert bot.send_payload(payload)[0] == 200
    [refused] = bot.slack.wait_for("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
    assert refused["channel"] == NOTICES and "unauthorized" in text_of(refused)
    assert bot.h.activation.slots()[0].ends_at == ends

    payload, _ = bot.click_payload(EXTEND_ACTION, "pay-api", ANA, "1.0", channel=NOTICES)
    assert bot.send_payload(payload)[0] == 200
    [told] = bot.slack.wait_for("chat.postEphemeral", where=lambda p: p["user"] == ANA)
    assert "awake until 2026-12-02 01:00" in text_of(told)
    assert bot.h.activation.slots()[0].ends_at == ends + 3600

    payload, _ = bot.click_payload(EXTEND_ACTION, "team-a", ANA, "1.0", channel=NOTICES)
    bot.send_payload(payload)
    bot.slack.wait_for("chat.postEphemeral", count=2, where=lambda p: p["user"] == ANA)
    assert "not found" in text_of(bot.slack.calls("chat.postEphemeral")[-1][1])


def test_an_unknown_button_gets_a_message(bot: Bot) -> None:
    payload, _ = bot.click_payload("launch_rockets", "x", MALLORY, "1.0")
    assert bot.send_payload(payload)[0] == 200
    [told] = bot.slack.wait_for("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
    assert "not one namespace-ctl knows" in text_of(told)


# ---- App Home ------------------------------------------------------------------------------------


def home_opened(user: str, tab: str = "home") -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM_ID,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": f"Ev{next(_users)}",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": tab},
    }


class HeldWork(Executor):
    """A work pool that runs each job at once until `hold()`, then nothing until `release()`:
    what a listener does after its ack."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], Any]] = []
        self.holding = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs.append(lambda: fn(*args, **kwargs))
        if not self.holding:
            self.release()
        return Future()

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


def test_every_listener_answers_slack_before_its_work_runs(tmp_path: Path) -> None:
    """Listeners run on the HTTP thread (`process_before_response`): the HTTP answer to a
    command, a click and an event never waits for what follows the ack."""
    held = HeldWork()
    with running_bot(tmp_path, work=held) as bot:
        posted = bot.request_activation()
        before = len(bot.slack.calls())
        held.hold()
        body, name = bot.command_body("help")
        assert bot.post(body)[0] == 200
        payload, deny = bot.click_payload(DENY_ACTION, posted.request_id, LEAD, posted.ts)
        assert bot.send_payload(payload)[0] == 200
        unknown, _ = bot.click_payload("launch_rockets", "x", MALLORY, "1.0")
        assert bot.send_payload(unknown)[0] == 200
        assert bot.post_json(home_opened(ANA))[0] == 200
        assert len(held.jobs) == 4 and len(bot.slack.calls()) == before

        held.release()
        bot.slack.wait_for(f"response:{name}")
        assert bot.opened_view(f"trigger-{deny}")["callback_id"] == DENY_VIEW
        [told] = bot.slack.wait_for("chat.postEphemeral", where=lambda p: p["user"] == MALLORY)
        assert "not one namespace-ctl knows" in text_of(told)
        [published] = bot.slack.wait_for("views.publish")
        assert published["user_id"] == ANA


def test_replies_wait_for_the_acks_in_flight_and_forms_do_not(tmp_path: Path) -> None:
    """While another Slack request is being answered, a command's reply waits; the forms a
    click or an `activate` opens (their trigger_id is valid for 3 s) open at once."""
    with running_bot(tmp_path) as bot:
        assert bot.work is not None
        posted = bot.request_activation()
        with bot.work.answering():  # another request, still being answered
            body, name = bot.command_body("help")
            assert bot.post(body)[0] == 200
            payload, deny = bot.click_payload(DENY_ACTION, posted.request_id, LEAD, posted.ts)
            assert bot.send_payload(payload)[0] == 200
            assert bot.opened_view(f"trigger-{deny}")["callback_id"] == DENY_VIEW
            form, form_name = bot.command_body("activate pay-api")
            assert bot.post(form)[0] == 200
            assert bot.opened_view(f"trigger-{form_name}")["callback_id"] == ACTIVATE_VIEW
            assert not bot.slack.calls(f"response:{name}")  # both forms opened before it
        [reply] = bot.slack.wait_for(f"response:{name}")
        assert "namespace" in text_of(reply)


def test_app_home_shows_windows_requests_bookings_edges_and_the_week(bot: Bot) -> None:
    bot.h.activation.activate("team-a", "CC-ALL", LEAD, timedelta(hours=2), "db fix", LATE)
    bot.command("activate pay-api 1h CC-PAY prod incident")
    bot.command("schedule pay-api 2026-12-02 21:00 2h CC-PAY release prep")
    bot.h.clock.set(madrid(2026, 12, 1, 23))

    assert bot.post_json(home_opened(MALLORY, tab="messages"))[0] == 200
    assert bot.post_json(home_opened(ANA))[0] == 200
    [published] = bot.slack.wait_for("views.publish")
    assert published["user_id"] == ANA and published["view"]["type"] == "home"
    home = text_of(published["view"])
    assert "Next shutdown: *2026-12-02 20:00 CET*" in home
    assert "Next startup: *2026-12-02 07:00 CET*" in home
    assert "`team-a` until 2026-12-02 00:00 CET, CC-ALL, for <@U0LEAD>" in home
    assert "`pay-api` for 1h, CC-PAY, by <@U0ANA> (pending)" in home
    assert "`pay-api` from 2026-12-02 21:00 CET for 2h" in home
    assert "This week (2026-W49) so far*: 5.0 h asleep" in home  # pay-api 3h + team-a 2h
    time.sleep(0.2)  # the messages-tab event was handled before ANA's: it published nothing
    assert len(bot.slack.calls("views.publish")) == 1


# ---- the manifest --------------------------------------------------------------------------------


def _probe(kind: str, ident: str) -> BoltRequest:
    bodies: dict[str, dict[str, Any]] = {
        "command": {"command": ident, "text": "", "user_id": ANA, "team_id": TEAM_ID},
        "action": {
            "type": "block_actions",
            "user": {"id": ANA},
            "actions": [{"action_id": ident, "value": ""}],
        },
        "view": {
            "type": "view_submission",
            "user": {"id": ANA},
            "view": {"type": "modal", "callback_id": ident},
        },
        "event": {"type": "event_callback", "team_id": TEAM_ID, "event": {"type": ident}},
    }
    return BoltRequest(body=bodies[kind], mode="socket_mode")


def test_the_manifest_declares_what_the_app_listens_to(bot: Bot) -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    features, settings_ = manifest["features"], manifest["settings"]
    declared = {c["command"] for c in features["slash_commands"]}
    assert set(slack_app.COMMANDS) <= declared
    assert all(c["url"].endswith(slack_app.EVENTS_PATH) for c in features["slash_commands"])
    assert set(slack_app.EVENTS) <= set(settings_["event_subscriptions"]["bot_events"])
    assert settings_["event_subscriptions"]["request_url"].endswith(slack_app.EVENTS_PATH)
    assert settings_["interactivity"]["is_enabled"] is True  # buttons and modals
    assert settings_["interactivity"]["request_url"].endswith(slack_app.EVENTS_PATH)
    assert features["app_home"]["home_tab_enabled"] is True
    assert settings_["socket_mode_enabled"] is False
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "commands",
        "chat:write",
        "files:write",
    }

    # Every listener the app registered answers to one of the declared ids (or is the
    # catch-all for unknown buttons), so nothing it listens to is missing from the lists above.
    app = slack_app.create_app(bot.h.ctl, bot.h.config, "xoxb-test", SECRET, bot.h.clock)
    probes = [("command", c) for c in slack_app.COMMANDS]
    probes += [("action", a) for a in slack_app.ACTIONS] + [("view", v) for v in slack_app.VIEWS]
    probes += [("event", e) for e in slack_app.EVENTS] + [("action", "an-unknown-button")]
    matched: list[list[tuple[str, str]]] = [
        [p for p in probes if listener.matches(req=_probe(*p), resp=BoltResponse(status=200))]
        for listener in app._listeners
    ]
    assert all(matched), matched
    assert len(app._listeners) == len(probes)
    assert matched[-1] == [p for p in probes if p[0] == "action"]  # the catch-all, last


# ---- seed property 9: valid requests 200 with a message, invalid or forged 401 -------------------

SIGNINGS = ["valid", "forged", "stale", "wrong-secret", "missing"]


def _send(bot: Bot, body: str, signing: str) -> tuple[int, str]:
    now = int(time.time())
    if signing == "valid":
        return bot.post(body)
    if signing == "stale":
        return bot.post(body, timestamp=now - 6 * 60)
    if signing == "wrong-secret":
        sig = SignatureVerifier("not-the-secret").generate_signature(timestamp=str(now), body=body)
        return bot.post(body, signature=sig)
    if signing == "missing":
        return bot.post(body, signature="v0=")
    return bot.post(body, signature="v0=" + "ab" * 32)


@FUZZ
@given(
    kind=st.sampled_from(["command", "button"]),
    signing=st.sampled_from(SIGNINGS),
    text=TEXTS,
    action=st.sampled_from([APPROVE_ACTION, DENY_ACTION, EXTEND_ACTION, "something_else"]),
    value=st.sampled_from(["r-00000000", "pay-api", "", "team-a"]),
)
def test_property_9_valid_requests_get_200_and_a_message_forged_ones_401(
    bot: Bot, kind: str, signing: str, text: str, action: str, value: str
) -> None:
    user = fresh_user()
    if kind == "command":
        body, name = bot.command_body(text, user=user)
    else:
        payload, name = bot.click_payload(action, value, user, "1.0")
        body = urlencode({"payload": json.dumps(payload)})
    status, answer = _send(bot, body, signing)
    if signing != "valid":
        assert (status, json.loads(answer)) == (401, {"error": "invalid request"})
        assert bot.slack.calls(f"response:{name}") == []
        return
    assert status == 200
    if kind == "command":
        [reply] = bot.slack.wait_for(f"response:{name}")
        assert reply["response_type"] == "ephemeral" and reply["text"] and reply["blocks"]
    else:
        [told] = bot.slack.wait_for("chat.postEphemeral", where=lambda p: p["user"] == user)
        assert told["text"] and told["blocks"]


# ---- fuzzing interactive payloads: never a 500; the clicker is told ------------------------------

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
JUNK_DICT = st.dictionaries(st.sampled_from(["id", "ts", "channel_id", "x"]), JUNK, max_size=3)
OUR_ACTIONS = st.sampled_from([APPROVE_ACTION, DENY_ACTION, EXTEND_ACTION])
ACTION = st.fixed_dictionaries(
    {"action_id": st.one_of(OUR_ACTIONS, OUR_ACTIONS, st.text(max_size=12), JUNK)},
    optional={"value": st.sampled_from(["pay-api", "r-0"]) | st.text(max_size=12) | JUNK},
)
VALID_ACTIONS = st.lists(ACTION, min_size=1, max_size=2)
BUTTON = st.fixed_dictionaries(
    {
        "type": st.just("block_actions"),
        "actions": st.one_of(VALID_ACTIONS, VALID_ACTIONS, st.lists(ACTION | JUNK), JUNK),
    },
    optional={
        "channel": st.just({"id": APPROVALS}) | JUNK_DICT,
        "container": st.just({"channel_id": APPROVALS, "message_ts": "1.0"}) | JUNK_DICT,
        "message": st.just({"ts": "1.0"}) | JUNK_DICT,
        "trigger_id": st.text(max_size=8) | JUNK,
    },
)
FIELDS = st.sampled_from(
    [NAMESPACE_FIELD, DURATION_FIELD, COST_CENTER_FIELD, REASON_FIELD, DENY_REASON_FIELD]
)
FIELD_STATE = st.fixed_dictionaries(
    {},
    optional={
        "value": st.sampled_from(["pay-api", "CC-PAY", "2h", "why"]) | st.text(max_size=8) | JUNK,
        "selected_option": st.fixed_dictionaries({"value": st.text(max_size=8) | JUNK}) | JUNK,
    },
)
STATE = st.dictionaries(
    FIELDS | st.text(max_size=6), st.fixed_dictionaries({"value": FIELD_STATE}) | JUNK, max_size=5
)
OUR_VIEWS = st.sampled_from([ACTIVATE_VIEW, DENY_VIEW])
METADATA = st.dictionaries(st.sampled_from(["request_id", "channel", "ts", "response_url"]), JUNK)
VIEW = st.fixed_dictionaries(
    {
        "type": st.just("modal") | JUNK,
        "callback_id": st.one_of(OUR_VIEWS, OUR_VIEWS, st.text(max_size=8), JUNK),
    },
    optional={
        "private_metadata": st.text(max_size=30) | METADATA.map(json.dumps) | JUNK,
        "state": st.fixed_dictionaries({"values": STATE}) | JUNK,
    },
)
SUBMISSION = st.fixed_dictionaries(
    {"type": st.just("view_submission"), "view": st.one_of(VIEW, VIEW, JUNK)}
)


def told(bot: Bot, user: str, timeout: float = 5.0) -> dict[str, Any]:
    """The first message to `user`: ephemeral where they clicked, or a DM when there is no
    channel to answer in."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for method, params in bot.slack.calls():
            if (method, params.get("user")) == ("chat.postEphemeral", user) or (
                method,
                params.get("channel"),
            ) == ("chat.postMessage", user):
                return params
        time.sleep(0.02)
    raise AssertionError(f"{user} was told nothing within {timeout}s")


def _clicker(payload: Any) -> str | None:
    """Who a payload says clicked, when it is a click someone could be told about."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    user = payload.get("user")
    return user["id"] if isinstance(user, dict) and isinstance(user.get("id"), str) else None


@settings(FUZZ, max_examples=80)
@given(
    payload=st.one_of(BUTTON, BUTTON, SUBMISSION, SUBMISSION, JUNK),
    garbage=st.one_of(st.none(), st.none(), st.none(), st.text(max_size=20)),
    with_user=st.sampled_from([True, True, True, False]),
)
def test_fuzzed_buttons_and_views_never_get_a_500_and_the_clicker_is_told(
    bot: Bot, payload: Any, garbage: str | None, with_user: bool
) -> None:
    user = fresh_user()
    if with_user and isinstance(payload, dict):
        payload["user"] = {"id": user, "team_id": TEAM_ID}
    raw = garbage if garbage is not None else json.dumps(payload)
    status, answer = bot.post(urlencode({"payload": raw}))
    assert status in (200, 400, 404), (status, answer)
    event(f"status {status}" + (f": {answer[:40]}" if status == 400 else ""))
    if garbage is None and status == 200 and _clicker(payload) == user:
        assert told(bot, user)["text"]
    submitted = isinstance(payload, dict) and payload.get("type") == "view_submission"
    if submitted and status == 200 and answer.strip():
        assert json.loads(answer)["response_action"] in ("errors", "update")


def test_unreadable_payloads_get_400_when_signed_and_401_when_not(bot: Bot) -> None:
    for raw in ("{not json", "[1, 2]", "5", '"text"'):
        body = urlencode({"payload": raw})
        assert bot.post(body)[0] == 400, raw
        assert bot.post(body, signature="v0=" + "00" * 32)[0] == 401, raw
    assert bot.post('{"type": "block_actions", "actions": [}')[0] == 400


# ---- racing clicks -------------------------------------------------------------------------------


def test_two_approvers_clicking_at_once_approve_once(bot: Bot) -> None:
    posted = bot.request_activation()
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def click(user: str) -> None:
        payload, _ = bot.click_payload(APPROVE_ACTION, posted.request_id, user, posted.ts)
        body = urlencode({"payload": json.dumps(payload)})
        barrier.wait()
        statuses[user] = bot.post(body)[0]

    threads = [threading.Thread(target=click, args=(u,)) for u in (LEAD, ADMIN)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert statuses == {LEAD: 200, ADMIN: 200}

    [loser_told] = bot.slack.wait_for("chat.postEphemeral")
    loser = loser_told["user"]
    winner = ADMIN if loser == LEAD else LEAD
    assert f"already decided: approved by {winner}" in text_of(loser_told)
    bot.slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == ANA)  # winner's end
    [update] = bot.slack.calls("chat.update")
    assert f"<@{winner}>" in text_of(update[1])
    [request] = bot.h.activation.requests()
    assert (request.status, request.decided_by) == (RequestStatus.APPROVED, winner)
    assert len(bot.h.activation.slots()) == 1
    activations = [
        r
        for r in bot.h.service.history("pay-api")
        if r.operation_type is OperationType.MANUAL_ACTIVATION
    ]
    assert len(activations) == 1
    assert bot.replicas("pay-api", "api") == 3
