"""Socket Mode when Slack is unreachable at start: `serve` keeps running (jobs, HTTP, probes),
connects in the background with capped, jittered exponential backoff, and says so in /readyz.

`serve` runs as a process in Socket Mode against the fake Slack (`tests/fake_slack.py`), whose
`apps.connections.open` fails (HTTP 500) or whose port is closed, then answers with a URL of its
own minimal WebSocket server, over which a slash command is delivered and acknowledged."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fake_slack import SOCKET, TEAM_ID, FakeSlack
from tests.test_serve import clean_env, get, serving, wait_ready

SOCKET_ENV = {"SLACK_BOT_TOKEN": "xoxb-socket-test", "SLACK_APP_TOKEN": "xapp-socket-test"}


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def slack_state(url: str) -> str:
    status, body = get(url + "/readyz")
    assert status == 200, body  # Slack's state never makes the pod unready
    return str(body.get("slack", ""))


def attempt_of(state: str) -> int:
    match = re.search(r"attempt (\d+)", state)
    return int(match.group(1)) if match else 0


def second_attempt(url: str) -> str:
    """The Slack state once a second connection attempt is under way."""

    def seen() -> str | None:
        state = slack_state(url)
        return state if attempt_of(state) >= 2 else None

    return str(wait_until(seen, what="a second connection attempt"))


def dead_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_socket_mode_with_slack_refusing_connections_keeps_serving(example_workdir: Path) -> None:
    env = clean_env(**SOCKET_ENV, NSCTL_SLACK__API_BASE_URL=f"http://127.0.0.1:{dead_port()}/api/")
    with serving(env) as (proc, url):
        assert get(url + "/healthz") == (200, {"status": "ok"})
        ready = wait_ready(url)  # the first reconcile pass ran: jobs work without Slack
        assert str(ready["last_pass"]).startswith("2026-12-01T22:00")
        state = second_attempt(url)
        assert state.startswith("socket mode: connecting (attempt ")
        assert "last error:" in state and "apps.connections.open" in state
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "Traceback" not in err, err
    warnings = [
        line
        for line in err.splitlines()
        if "WARNING namespace_ctl.slack.socket_mode" in line and "cannot connect" in line
    ]
    assert len(warnings) >= 2 and all("attempt" in line for line in warnings), err


def test_socket_mode_connects_once_slack_answers_and_serves_commands(
    example_workdir: Path,
) -> None:
    with FakeSlack() as slack:
        slack.fail("internal_error", 500, {"apps.connections.open"})
        env = clean_env(**SOCKET_ENV, NSCTL_SLACK__API_BASE_URL=slack.api_url)
        with serving(env) as (proc, url):
            assert get(url + "/healthz") == (200, {"status": "ok"})
            wait_ready(url)
            state = second_attempt(url)
            assert "internal_error" in state, state
            # The jobs run meanwhile: the first pass's shutdown summary reached the channel.
            slack.wait_for("chat.postMessage", where=lambda p: p["channel"] == "#dev-clusters")

            slack.heal()
            wait_until(lambda: slack_state(url) == "socket mode: connected", what="connected")
            assert slack.sockets_open == 1
            slack.socket_send(
                {
                    "envelope_id": "env-1",
                    "type": "slash_commands",
                    "accepts_response_payload": True,
                    "payload": {
                        "team_id": TEAM_ID,
                        "channel_id": "C0GENERAL",
                        "user_id": "U0ANA",
                        "command": "/namespace",
                        "text": "status payments-api",
                        "response_url": slack.response_url("over-the-socket"),
                        "trigger_id": "trigger-socket",
                    },
                }
            )
            [ack] = slack.wait_for(SOCKET, where=lambda p: p.get("envelope_id") == "env-1")
            assert ack["envelope_id"] == "env-1"
            [reply] = slack.wait_for("response:over-the-socket", timeout=10)
            assert "`payments-api`: asleep" in json.dumps(reply)

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "Traceback" not in err, err
        assert "socket mode: connected" in err.lower() or "connected to slack" in err.lower()


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (7, 30.0, 60.0), (50, 30.0, 60.0)],
)
def test_backoff_doubles_from_one_second_to_a_jittered_minute(
    attempt: int, low: float, high: float
) -> None:
    from bot.slack.socket_mode import backoff_delay

    assert backoff_delay(attempt, random=lambda: 0.0) == low
    assert backoff_delay(attempt, random=lambda: 1.0) == high
    assert low <= backoff_delay(attempt) <= high
