"""`namespace-ctl serve` as a process: HTTP mode against the fake Slack Web API, the console mode
of `make run`, readiness, bad settings, SIGTERM."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urlencode

import pytest
import yaml
from flask import Flask

from bot.jobs import Jobs
from bot.serve import FULL_COLLECTION_THRESHOLD, Mode, Serve, UsageError, add_readiness, slack_mode
from core.app import NamespaceCtl
from core.clock import epoch, parse_instant
from core.config import load_config
from core.models import OperationType
from core.store.sqlite import SqliteStore
from tests.fake_slack import TEAM_ID, FakeSlack, post_signed
from tests.harness import madrid, make_harness

SECRET = "serve-test-secret"
CLI = [sys.executable, "-m", "bot.cli", "--config", "examples/config.yaml"]
NIGHT = "2026-12-01T22:00"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
    return env | extra


@contextmanager
def serving(
    env: dict[str, str], *args: str, stdin: int | IO[str] = subprocess.DEVNULL
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`serve --port 0` on loopback; yields the process and its base URL (from the banner)."""
    proc = subprocess.Popen(
        [*CLI, "--now", NIGHT, "serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        banner = ""
        while "http:" not in banner:
            line = proc.stdout.readline()
            assert line, f"serve ended early: {proc.wait(5)} {proc.stderr.read()}"  # type: ignore[union-attr]
            banner += line
        match = re.search(r"http:\s+127\.0\.0\.1:(\d+)", banner)
        assert match is not None, banner
        yield proc, f"http://127.0.0.1:{match.group(1)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_ready(url: str, timeout: float = 20.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = get(url + "/readyz")
        if status == 200:
            return body
        assert status == 503 and body["status"] == "not ready", body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def signed_command(url: str, text: str, response_url: str, timestamp: int) -> int:
    body = urlencode(
        {
            "team_id": TEAM_ID,
            "channel_id": "C0GENERAL",
            "user_id": "U0ANA",
            "command": "/namespace",
            "text": text,
            "response_url": response_url,
        }
    )
    return post_signed(url + "/slack/events", body, SECRET, timestamp=timestamp)[0]


def test_serve_makes_full_collections_rarer_and_keeps_the_young_thresholds() -> None:
    before = gc.get_threshold()
    try:
        Serve.tune_gc()
        assert gc.get_threshold() == (before[0], before[1], FULL_COLLECTION_THRESHOLD)
        assert before[2] < FULL_COLLECTION_THRESHOLD
    finally:
        gc.set_threshold(*before)


def test_http_mode_serves_slack_health_and_readiness_and_stops_on_sigterm(
    example_workdir: Path,
) -> None:
    with FakeSlack() as slack:
        env = clean_env(
            SLACK_BOT_TOKEN="xoxb-serve-test",
            SLACK_SIGNING_SECRET=SECRET,
            NSCTL_SLACK__API_BASE_URL=slack.api_url,
        )
        with serving(env) as (proc, url):
            assert get(url + "/healthz") == (200, {"status": "ok"})
            ready = wait_ready(url)
            assert str(ready["last_pass"]).startswith("2026-12-01T22:00")
            # The first pass caught up the night's shutdown: the channel hears it at once.
            [notice] = slack.wait_for(
                "chat.postMessage", where=lambda p: p["channel"] == "#dev-clusters"
            )
            assert "*Shutdown*: 8 namespaces put to sleep" in json.dumps(notice)
            assert "by the reconcile pass" in json.dumps(notice)

            assert signed_command(url, "status", slack.response_url("now"), int(time.time())) == 200
            [reply] = slack.wait_for("response:now")
            assert "`payments-api`: asleep" in json.dumps(reply)
            # `--now` shifts the product's clock only: a signature stamped with it is stale.
            pretend = epoch(parse_instant(NIGHT, load_config("examples/config.yaml").zone))
            assert signed_command(url, "status", slack.response_url("stale"), pretend) == 401

            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            assert time.monotonic() - started < 5
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()

    # The first reconcile's records carry the product time (`--now`), not the wall clock.
    store = SqliteStore(".nsctl/namespace-ctl.db")
    try:
        shutdowns = [r for r in store.history() if r.operation_type is OperationType.AUTO_SHUTDOWN]
    finally:
        store.close()
    assert shutdowns and all(abs(r.timestamp_start - pretend) < 60 for r in shutdowns)


def test_metrics_port_moves_metrics_off_the_slack_port(example_workdir: Path) -> None:
    env = clean_env(SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SECRET)
    with serving(env, "--metrics-port", "0") as (proc, url):
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(r"\s+metrics:\s+127\.0\.0\.1:(\d+) \(/metrics\)", line)
        assert match is not None, line
        wait_ready(url)
        with urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/metrics") as response:
            assert b"namespace_ctl_leader 1.0" in response.read()
        try:
            urllib.request.urlopen(url + "/metrics", timeout=5)
            raise AssertionError("/metrics still answers on the Slack port")
        except urllib.error.HTTPError as error:
            assert error.code == 404


def test_make_run_serves_the_console_on_stdin_until_eof(example_workdir: Path) -> None:
    """What `make run` does with no Slack tokens: the scheduler, /healthz and /readyz, and the
    console; the banner says so; at the end of stdin it stops with 0."""
    read, write = os.pipe()
    with os.fdopen(read) as stdin, serving(clean_env(), stdin=stdin) as (proc, url):
        assert get(url + "/healthz")[0] == 200
        wait_ready(url)
        with os.fdopen(write, "w") as typed:
            typed.write("/namespace status checkout\n")
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "U0ADMIN01> /namespace status checkout" in out
    assert "[#console] (only you see this)" in out and "`checkout`: asleep" in out


def test_banner_names_the_mode_store_cluster_and_port(example_workdir: Path) -> None:
    proc = subprocess.run(
        [*CLI, "--now", NIGHT, "serve", "--host", "127.0.0.1", "--port", "0"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "namespace-ctl serve: console (no Slack tokens" in proc.stdout
    assert "store:   sqlite .nsctl/namespace-ctl.db" in proc.stdout
    assert "cluster: simulated examples/cluster.yaml" in proc.stdout
    assert re.search(r"http:\s+127\.0\.0\.1:\d+ \(/healthz, /readyz, /metrics\)", proc.stdout)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
        ({"NSCTL_TIMEZONE": "Mars/Olympus"}, "timezone: unknown time zone"),
    ],
)
def test_bad_settings_exit_2_naming_them(
    example_workdir: Path, env: dict[str, str], named: str
) -> None:
    proc = subprocess.run(
        [*CLI, "serve", "--port", "0"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(**env),
    )
    assert proc.returncode == 2 and named in proc.stderr, proc.stderr


def test_slack_mode_from_the_environment() -> None:
    both = {"SLACK_BOT_TOKEN": "xoxb", "SLACK_SIGNING_SECRET": "s"}
    assert slack_mode(both) is Mode.HTTP
    assert slack_mode(both | {"SLACK_APP_TOKEN": "xapp"}) is Mode.SOCKET
    assert slack_mode({"SLACK_BOT_TOKEN": "xoxb", "SLACK_APP_TOKEN": "xapp"}) is Mode.SOCKET
    assert slack_mode({}) is Mode.CONSOLE
    assert slack_mode({"SLACK_BOT_TOKEN": " "}, console=False) is Mode.HEADLESS
    with pytest.raises(UsageError, match="SLACK_SIGNING_SECRET"):
        slack_mode({"SLACK_BOT_TOKEN": "xoxb"})


def test_readyz_says_why_it_is_not_ready(tmp_path: Path) -> None:
    h = make_harness(tmp_path, [], at=madrid(2026, 12, 1, 22))
    jobs = Jobs(h.ctl, h.config, h.clock, offset=timedelta(0))
    client = add_readiness(Flask("t"), h.ctl, jobs).test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    reasons = answer.get_json()["reasons"]
    assert reasons == [
        "cluster: no reconcile pass has completed yet",
        "scheduler: not running",
    ]
    jobs.reconcile_pass("reconcile", h.clock.now())
    jobs.start()
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 200 and answer.get_json()["status"] == "ready"
        broken = NamespaceCtl(
            replace(h.activation, namespaces=replace(h.service, store=BrokenStore()))
        )
        answer = add_readiness(Flask("b"), broken, jobs).test_client().get("/readyz")
        assert answer.status_code == 503
        assert answer.get_json()["reasons"] == ["store: OSError: disk gone"]
    finally:
        jobs.stop()


class BrokenStore:
    def get_cost_center(self, name: str) -> None:
        raise OSError("disk gone")


def test_the_deployment_serves_with_probes_and_slack_secrets() -> None:
    base = Path(__file__).resolve().parents[1] / "manifests" / "base"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    assert {"deployment.yaml", "service.yaml"} <= set(kustomization["resources"])
    deployment = yaml.safe_load((base / "deployment.yaml").read_text())
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert "command" not in container  # the image's ENTRYPOINT is namespace-ctl
    assert container["args"] == [
        "--config",
        "/etc/namespace-ctl/config.yaml",
        "serve",
        "--port",
        "3000",
        "--metrics-port",
        "9090",
        "--no-console",
    ]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(secrets) == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    assert [n for n, ref in secrets.items() if ref.get("optional")] == ["SLACK_APP_TOKEN"]
    slack, metrics = yaml.safe_load_all((base / "service.yaml").read_text())
    assert slack["spec"]["ports"] == [
        {"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert [p["name"] for p in metrics["spec"]["ports"]] == ["metrics"]


def test_an_http_server_stops_even_when_its_trigger_is_gone() -> None:
    """CI saw EBADF on waitress's trigger pipe at stop (twice, cause unknown): stop still stops."""
    import errno
    import os

    from flask import Flask

    from bot.serve import HttpServer

    server = HttpServer(Flask("trigger-test"), "127.0.0.1", 0)
    server.start()

    def gone() -> None:  # what CI saw: its write end already closed
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    server._server.trigger._physical_pull = gone

    server.stop(timeout=5)

    assert not server._thread.is_alive()
