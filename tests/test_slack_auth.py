"""HTTP mode while Slack's `auth.test` fails: Slack never gets a 500, the person is told why,
and the bot works again once Slack answers. Signed requests over loopback HTTP into the real
Flask app; the fake Slack Web API fails `auth.test` (HTTP 500, `ok: false`) or is not there."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from werkzeug.serving import make_server

from bot.slack.app import create_app, create_flask_app, notifier_of
from tests.fake_slack import FakeSlack
from tests.harness import make_harness
from tests.test_slack_bot import LATE, SECRET, Bot, _objects, running_bot


def test_a_command_while_auth_test_fails_is_answered_200_saying_why(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        bot.slack.fail("internal_error", 500, {"auth.test"})
        body, name = bot.command_body("status")
        started = time.monotonic()
        status, text = bot.post(body)
        assert status == 200
        assert time.monotonic() - started < 2.5  # well within Slack's 3 s
        assert "cannot reach Slack's Web API right now" in text
        assert "auth.test: HTTP 500, internal_error" in text and "try again in a minute" in text
        assert "reinstall" not in text
        assert bot.slack.calls(f"response:{name}") == []  # the listener did not run

        bot.slack.heal()
        reply = bot.command("status pay-api")  # the next one works
        assert "`pay-api`: asleep" in json.dumps(reply)
        assert len(bot.slack.calls("auth.test")) == 1
        bot.command("status pay-api")
        assert len(bot.slack.calls("auth.test")) == 1  # the answer is kept


def test_a_refused_token_is_named(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        bot.slack.fail("invalid_auth", 200, {"auth.test"})
        body, _ = bot.command_body("status")
        status, text = bot.post(body)
        assert status == 200
        assert "token was refused (auth.test: invalid_auth)" in text
        assert "SLACK_BOT_TOKEN" in text


def test_a_click_and_a_form_while_auth_test_fails_are_told_why(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        bot.slack.fail("service_unavailable", 503, {"auth.test"})
        payload, name = bot.click_payload("approve_request", "r-1", "U0LEAD", "1.0")
        status, _ = bot.send_payload(payload)
        assert status == 200
        [told] = bot.slack.wait_for(f"response:{name}")
        assert "cannot reach Slack's Web API" in told["text"]
        assert told["response_type"] == "ephemeral" and told["replace_original"] is False

        view = {
            "callback_id": "deny_request",
            "blocks": [{"type": "input", "block_id": "reason", "element": {"type": "x"}}],
        }
        status, answer = bot.submit_view(view, {}, "U0LEAD")
        assert status == 200 and answer["response_action"] == "errors"
        assert "cannot reach Slack's Web API" in answer["errors"]["reason"]


def test_slack_unreachable_is_answered_200_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    with FakeSlack() as slack:  # only for the response_urls
        h = make_harness(tmp_path, _objects(), at=LATE, slack={"api_base_url": dead})
        app = create_app(h.ctl, h.config, "xoxb-test-token", SECRET, h.clock)
        server = make_server("127.0.0.1", 0, create_flask_app(app), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            bot = Bot(h, slack, f"http://127.0.0.1:{server.server_port}", notifier_of(app))
            body, _ = bot.command_body("status")
            started = time.monotonic()
            status, text = bot.post(body)
            assert status == 200, text
            assert time.monotonic() - started < 2.5
            assert "cannot reach Slack's Web API right now (auth.test:" in text
            assert "Connection refused" in text
        finally:
            server.shutdown()
            thread.join(timeout=5)
