"""The console adapter: the real Bolt listeners driven from typed lines, Web API calls printed."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.console import Console, render_blocks
from core.app import NamespaceCtl
from core.clock import FrozenClock, parse_instant
from core.config import load_config
from core.models import RequestStatus
from core.wiring import build_app

CLI = [sys.executable, "-m", "bot.cli", "--config", "examples/config.yaml"]
NIGHT = "2026-12-01T22:00"  # a Tuesday, after hours


def cli(*args: str, stdin: str = "", now: str = NIGHT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
    return subprocess.run(
        [*CLI, "--now", now, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path.cwd(),
    )


def test_a_script_on_stdin_runs_the_approval_flow(example_workdir: Path) -> None:
    assert cli("shutdown", now="2026-12-01T20:00").returncode == 0
    script = "\n".join(
        [
            "# a comment, then a blank line",
            "",
            "/namespace status payments-api",
            "/as U0ANA",
            "/namespace activate payments-api 2h CC-PAYMENTS incident 77",
            "/click approve_request",  # the requester may not approve
            "/as U0PAYLEAD",
            "/click approve_request",
            "/namespace status payments-api",
        ]
    )
    run = cli("console", stdin=script + "\n")
    out = run.stdout
    assert run.returncode == 0, run.stderr
    assert "U0ADMIN01> /namespace status payments-api" in out  # slack.admins[0] by default
    assert "`payments-api`: asleep" in out
    posted = re.search(r"\[Approve\]\s+-> /click approve_request (r-[0-9a-f]+)", out)
    assert posted is not None, out
    request_id = posted.group(1)
    assert "[#dev-clusters-approvals] (message" in out
    assert f"[Deny]  -> /click deny_request {request_id}" in out
    assert "(only @U0ANA sees this)\n  | :no_entry: unauthorized" in out
    assert "(you are now @U0PAYLEAD)" in out
    assert "updated)" in out and "*Approved* by @U0PAYLEAD" in out
    assert "[DM to @U0ANA]" in out
    last_status = out.rsplit("U0PAYLEAD> /namespace status payments-api", 1)[1]
    assert "`payments-api`: awake" in last_status

    status = cli("status", "--json")
    activations = json.loads(status.stdout)["activations"]
    assert [(a["namespace"], a["user_id"]) for a in activations] == [("payments-api", "U0ANA")]


@dataclass
class Chat:
    con: Console
    out: io.StringIO
    ctl: NamespaceCtl

    def said(self) -> str:
        """What was printed since the last call."""
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text


@pytest.fixture
def chat(example_workdir: Path) -> Iterator[Chat]:
    config = load_config("examples/config.yaml", environ={})
    clock = FrozenClock(parse_instant("2026-12-01T20:00", config.zone))
    ctl = build_app(config, clock)
    ctl.services.namespaces.shutdown(at=clock.now())
    clock.set(parse_instant(NIGHT, config.zone))
    out = io.StringIO()
    con = Console(ctl, config, clock, out)
    yield Chat(con, out, ctl)
    con.close()
    ctl.services.store.close()


def test_deny_with_a_reason_through_the_form(chat: Chat) -> None:
    con, said = chat.con, chat.said
    con.handle("/as U0DATA1")
    con.handle("/namespace activate search 1h CC-DATA reindex")
    [request] = chat.ctl.approvals.requests([RequestStatus.PENDING])
    said()
    con.handle("/as U0DATALEAD")
    con.handle(f"/click deny_request {request.request_id}")
    form = said()
    assert '[form "Deny request" opened for @U0DATALEAD]' in form
    assert "deny_reason=..." in form and "/submit" in form
    con.handle('/submit deny_reason="not tonight, the cluster is being upgraded"')
    decided = said()
    assert "updated)" in decided and "Denied" in decided
    assert "not tonight, the cluster is being upgraded" in decided
    assert "[DM to @U0DATA1]" in decided
    after = chat.ctl.services.store.get_request(request.request_id)
    assert after is not None and after.status is RequestStatus.DENIED
    con.handle("/submit deny_reason=again")
    assert "(no form is open)" in said()


def test_console_lines_that_are_not_commands(chat: Chat) -> None:
    con, said = chat.con, chat.said
    assert con.handle("/help") and "/click ACTION_ID" in said()
    con.handle("/click approve_request r-nothing")
    assert "(no button approve_request r-nothing" in said()
    con.handle("hello")
    assert "try /namespace help" in said()
    con.handle("/as not a user")
    assert "usage: /as USER" in said()
    con.handle("/namespace frobnicate")
    assert "unknown subcommand" in said()
    con.handle("/home")
    home = said()
    assert "[App Home of @U0ADMIN01]" in home and "Next shutdown" in home
    assert con.handle("/quit") is False


def test_render_blocks_shows_what_a_person_reads_and_presses() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "hi <@U0ANA> in <#C1|general> &amp; co"},
            "accessory": {
                "type": "button",
                "text": {"type": "plain_text", "text": "Extend"},
                "action_id": "extend_window",
                "value": "payments-api",
            },
        },
        {"type": "divider"},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "a"}, {"type": "mrkdwn", "text": "b"}],
        },
    ]
    assert render_blocks(blocks) == [
        "== Title ==",
        "hi @U0ANA in #general & co",
        "[Extend]  -> /click extend_window payments-api",
        "-" * 40,
        "  a · b",
    ]


def test_activate_with_arguments_missing_opens_the_form(chat: Chat) -> None:
    con, said = chat.con, chat.said
    con.handle("/as U0DATA1")
    con.handle("/namespace activate ml-training")
    form = said()
    assert '[form "Wake a namespace" opened for @U0DATA1]' in form
    assert "activate_namespace=... (now: ml-training)" in form
    con.handle('/submit activate_cost_center=CC-DATA activate_reason="train a model"')
    posted = said()
    assert "[#dev-clusters-approvals]" in posted and "/click approve_request r-" in posted
    [request] = chat.ctl.approvals.requests([RequestStatus.PENDING])
    assert (request.namespace, request.cost_center, request.reason) == (
        "ml-training",
        "CC-DATA",
        "train a model",
    )
