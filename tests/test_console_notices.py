"""The console (`namespace-ctl console`, and `serve` without Slack tokens) prints the notices it
posted itself and never consumes the store's others: against a shared store, notices queued by
another process (a CLI `shutdown`, a serving replica) stay queued for the real Slack."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bot.console import Console
from bot.slack.app import notifier_of
from core.clock import FrozenClock, parse_instant
from core.config import load_config
from core.models import Notice
from core.store.sqlite import SqliteStore
from core.wiring import build_app

CLI = [sys.executable, "-m", "bot.cli", "--config", "examples/config.yaml"]
STORE = ".nsctl/namespace-ctl.db"
HEADLESS = ("--no-console",)


def cli(*args: str, stdin: str = "", now: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
    return subprocess.run(
        [*CLI, "--now", now, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def stored_notices() -> list[Notice]:
    store = SqliteStore(STORE)
    try:
        return [n for n in (store.get_notice(i) for i in _notice_ids(store)) if n is not None]
    finally:
        store.close()


def _notice_ids(store: SqliteStore) -> list[str]:
    # Every notice of the file, sent or not (a test's look, not a store operation).
    with contextlib.closing(sqlite3.connect(store.path)) as conn:
        return [row[0] for row in conn.execute("SELECT notice_id FROM notices ORDER BY at")]


def others_queued(now: str) -> list[str]:
    """Another process (a CLI shutdown) queues a real notice in the shared store."""
    assert cli("shutdown", now=now).returncode == 0
    queued = [n.notice_id for n in stored_notices() if n.sent_at is None]
    assert queued and any(i.startswith("shutdown:") for i in queued)
    return queued


def assert_untouched(ids: list[str]) -> None:
    by_id = {n.notice_id: n for n in stored_notices()}
    for notice_id in ids:
        notice = by_id[notice_id]
        assert notice.sent_at is None and notice.sent_ref == "", notice
        assert notice.attempts == 0, notice


def test_the_console_leaves_other_processes_notices_queued(example_workdir: Path) -> None:
    others = others_queued("2026-12-01T20:00")
    script = "/as U0ANA\n/namespace activate payments-api 2h CC-PAYMENTS incident 77\n"
    run = cli("console", stdin=script, now="2026-12-01T22:00")
    assert run.returncode == 0, run.stderr
    # Its own notice (the request's message) is shown...
    assert "[#dev-clusters-approvals] (message" in run.stdout
    # ...the other process's shutdown summary is not, and stays queued for Slack.
    assert "put to sleep" not in run.stdout
    assert_untouched(others)
    mine = [n for n in stored_notices() if n.notice_id.startswith("request:")]
    assert [n.sent_ref.split(":")[0] for n in mine] == ["#dev-clusters-approvals"]


def test_headless_serve_prints_its_own_notices_only(example_workdir: Path) -> None:
    others = others_queued("2026-12-01T20:00")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
    proc = subprocess.Popen(
        [
            *CLI,
            "--now",
            "2026-12-02T07:00",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *HEADLESS,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        out = ""
        deadline = time.monotonic() + 30
        while "woken" not in out:  # its first reconcile wakes everything: its own notice
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, out
            out += line
        time.sleep(1.0)  # a drain that would take the others' notices has had its chance
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=20)
        out += rest
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "put to sleep" not in out
    assert_untouched(others)


def test_a_notice_posted_before_the_console_started_is_not_the_consoles(
    example_workdir: Path,
) -> None:
    """In one process too: what the use cases posted before the console existed is not its."""
    config = load_config("examples/config.yaml", environ={})
    clock = FrozenClock(parse_instant("2026-12-01T20:00", config.zone))
    ctl = build_app(config, clock)
    try:
        ctl.services.namespaces.shutdown(at=clock.now())
        queued = [n.notice_id for n in ctl.services.namespaces.outbox.due(10**10)]
        assert queued
        out = io.StringIO()
        console = Console(ctl, config, clock, out)
        try:
            console.handle("/namespace status payments-api")
            assert "`payments-api`: asleep" in out.getvalue()
            ctl.services.namespaces.startup(at=clock.now())  # the console's own: printed
            assert notifier_of(console.app).drain() >= 1
            assert "woken" in out.getvalue() and "put to sleep" not in out.getvalue()
        finally:
            console.close()
        assert [n.notice_id for n in ctl.services.namespaces.outbox.due(10**10)] == queued
    finally:
        ctl.services.store.close()
