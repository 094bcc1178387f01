"""Two `serve` processes, one Lease: the fake API server (Leases with resourceVersion conflicts),
one DynamoDB (moto's server, in this process, requests serialized) and a recording fake Slack.

Short timings (lease 4 s, renew deadline 3 s, retry 0.5 s) keep the suite fast; the default
timings' failover figures come from `bench/failover.py`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from core.config import StoreSettings, load_config
from core.errors import ConfigError
from core.models import OperationType
from core.store.factory import open_store
from tests.fake_kube import FakeKube, workload
from tests.fake_slack import TEAM_ID, FakeSlack, post_signed
from tests.store_fixtures import serialized_moto

SECRET = "le-signing-secret"
LEASE_NS, LEASE_NAME = "namespace-ctl", "namespace-ctl"
LEASE_S, RETRY_S = 4.0, 0.5
EDGE = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # a Tuesday's business end (UTC config)
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class World:
    fake: FakeKube
    slack: FakeSlack
    moto_url: str
    tmp: Path
    prefix: str

    def config(self, name: str, **extra: Any) -> Path:
        kubeconfig = self.fake.write_kubeconfig(self.tmp / f"kube-{name}.json", token=name)
        self.fake.accept_token(name)
        raw: dict[str, Any] = {
            "timezone": "UTC",
            "store": {
                "backend": "dynamodb",
                "region": "us-east-1",
                "endpoint_url": self.moto_url,
                "table_prefix": self.prefix,
            },
            "cluster": {"kubeconfig": str(kubeconfig), "retries": 1, "request_timeout": 2},
            "leader_election": {
                "enabled": True,
                "lease_duration": f"{LEASE_S:g}s",
                "renew_deadline": "3s",
                "retry_period": f"{RETRY_S:g}s",
            },
            "slack": {
                "api_base_url": self.slack.api_url,
                "notifications_channel": "#dev-clusters",
                "approvals_channel": "#approvals",
                "approvers": {"CC-DATA": ["U0LEAD"]},
            },
            "cost_centers": [{"cost_center": "CC-DATA", "authorized_namespaces": ["search"]}],
            **extra,
        }
        path = self.tmp / f"config-{name}.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return path

    def store(self) -> Any:
        settings = StoreSettings(
            backend="dynamodb",
            region="us-east-1",
            endpoint_url=self.moto_url,
            table_prefix=self.prefix,
        )
        return open_store(settings)

    def holder(self) -> str:
        lease = self.fake.lease(LEASE_NS, LEASE_NAME)
        return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with ExitStack() as stack:
        stack.enter_context(serialized_moto())
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        stack.callback(moto.stop)
        host, port = moto.get_host_and_port()
        fake = stack.enter_context(FakeKube())
        fake.add_namespace("search")
        fake.add(workload("Deployment", "search", "api", replicas=3))
        slack = stack.enter_context(FakeSlack())
        prefix = f"le{time.monotonic_ns() % 10**9}-"
        yield World(fake, slack, f"http://{host}:{port}", tmp_path, prefix)


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[str]
    url: str
    log: Path

    def lines(self, pattern: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if re.search(pattern, line)]


@contextmanager
def replicas(world: World, now: str, *names: str) -> Iterator[list[Replica]]:
    running: list[Replica] = []
    try:
        for name in names:
            running.append(start_replica(world, name, now))
        yield running
    finally:
        for replica in running:
            if replica.proc.poll() is None:
                replica.proc.kill()
            replica.proc.wait(10)


def start_replica(world: World, name: str, now: str) -> Replica:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
    env |= AWS_ENV | {
        "SLACK_BOT_TOKEN": "xoxb-le-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "POD_NAME": name,
        "POD_NAMESPACE": LEASE_NS,
    }
    log = world.tmp / f"{name}.log"
    command = [sys.executable, "-m", "bot.cli", "--config", str(world.config(name)), "--now", now]
    proc = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", "0", "--no-console"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    match = None
    while match is None:
        line = proc.stdout.readline()
        assert line, f"{name} ended early ({proc.wait(5)}): {log.read_text()[-2000:]}"
        match = re.match(r"\s+http:\s+127\.0\.0\.1:(\d+)", line)
    return Replica(name, proc, f"http://127.0.0.1:{match.group(1)}", log)


def get_json(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took; fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"not within {timeout}s: {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def shutdown_records(world: World) -> list[Any]:
    return [
        r
        for r in world.store().history("search")
        if r.operation_type is OperationType.AUTO_SHUTDOWN
    ]


def shutdown_notices(world: World) -> list[dict[str, Any]]:
    return [
        p
        for _, p in world.slack.calls("chat.postMessage")
        if p.get("channel") == "#dev-clusters" and "search" in json.dumps(p)
    ]


def replicas_of_api(world: World) -> int:
    deployment = world.fake.get("Deployment", "search", "api")
    assert deployment is not None
    return int(deployment["spec"]["replicas"])


def log_time(line: str) -> float:
    """The epoch seconds of a log line (`%(asctime)s`: local wall time, milliseconds)."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.timestamp()


# ---- the tests ----------------------------------------------------------------------------------


def test_one_pass_per_edge_a_follower_click_and_sigterm_handover(world: World) -> None:
    with replicas(world, "2026-12-01T19:59:52", "replica-a") as running:
        wait_until(lambda: world.holder() == "replica-a", 10, "replica-a leads")
        with replicas(world, "2026-12-01T19:59:54", "replica-b") as more:
            a, b = running[0], more[0]
            status, body = get_json(b.url + "/readyz")
            assert status == 200, body  # a follower is ready without running a pass
            assert body["leader"] == {"holder": "replica-a", "this_replica": False}
            assert metric(a.url, "namespace_ctl_leader") == 1.0
            assert metric(b.url, "namespace_ctl_leader") == 0.0

            wait_until(lambda: replicas_of_api(world) == 0, 20, "the 20:00 shutdown")
            wait_until(lambda: len(shutdown_notices(world)) >= 1, 10, "the shutdown notice")
            time.sleep(2 * RETRY_S + 1)  # room for a second pass or notice, which must not come
            [record] = shutdown_records(world)
            assert record.timestamp_start == int(EDGE.timestamp())
            assert len(shutdown_notices(world)) == 1
            assert b.lines("business end") == []  # the follower ran no pass

            # A click on the follower: its use case writes the request, the leader posts it.
            text = "activate search 1h CC-DATA reindex tonight"
            form = urlencode(
                {
                    "team_id": TEAM_ID,
                    "channel_id": "C0GENERAL",
                    "user_id": "U0ANA",
                    "command": "/namespace",
                    "text": text,
                    "response_url": world.slack.response_url("click"),
                }
            )
            clicked = time.monotonic()
            assert post_signed(b.url + "/slack/events", form, SECRET)[0] == 200
            world.slack.wait_for(
                "chat.postMessage", timeout=5, where=lambda p: p.get("channel") == "#approvals"
            )
            delivered_in = time.monotonic() - clicked
            assert delivered_in < 5, delivered_in

            # SIGTERM: the Lease is released, the follower leads within about retry_period.
            a.proc.send_signal(signal.SIGTERM)
            took = wait_until(lambda: world.holder() == "replica-b", 5, "replica-b takes over")
            assert a.proc.wait(15) == 0
            assert took < LEASE_S, took  # a release, not an expiry
            assert b.lines("started leading")


def test_sigkill_of_the_leader_before_the_edge_the_other_runs_the_pass(world: World) -> None:
    with replicas(world, "2026-12-01T19:59:50", "replica-a", "replica-b") as (a, b):
        wait_until(lambda: world.holder() in ("replica-a", "replica-b"), 10, "a leader")
        leader, other = (a, b) if world.holder() == "replica-a" else (b, a)
        wait_until(lambda: get_json(other.url + "/readyz")[0] == 200, 15, "the follower ready")
        assert replicas_of_api(world) == 3
        killed = time.monotonic()
        leader.proc.kill()
        leader.proc.wait(5)
        took = wait_until(lambda: world.holder() == other.name, 10, "the other leads")
        assert took <= LEASE_S + 2 * RETRY_S + 1.0, took
        wait_until(lambda: replicas_of_api(world) == 0, 20, "the 20:00 shutdown")
        wait_until(lambda: len(shutdown_notices(world)) >= 1, 10, "the shutdown notice")
        time.sleep(1.5)
        [record] = shutdown_records(world)
        assert record.timestamp_start == int(EDGE.timestamp())  # the edge's time, not the takeover
        assert len(shutdown_notices(world)) == 1
        assert time.monotonic() - killed < 30


def test_a_leader_cut_off_from_the_api_server_stops_before_another_starts(world: World) -> None:
    with replicas(world, "2026-12-01T12:00", "replica-a") as running:
        wait_until(lambda: world.holder() == "replica-a", 10, "replica-a leads")
        with replicas(world, "2026-12-01T12:00", "replica-b") as more:
            a, b = running[0], more[0]
            wait_until(lambda: get_json(b.url + "/readyz")[0] == 200, 15, "replica-b ready")
            world.fake.refuse_token("replica-a", 503)
            wait_until(lambda: world.holder() == "replica-b", 15, "replica-b takes over")
            wait_until(lambda: bool(b.lines("started leading")), 5, "replica-b's log line")
            [stopped] = a.lines("replica-a stopped leading")
            [started] = b.lines("replica-b started leading")
            assert log_time(stopped) < log_time(started), (stopped, started)
            assert metric(a.url, "namespace_ctl_leader") == 0.0
            assert metric(b.url, "namespace_ctl_leader") == 1.0
            body = get_json(a.url + "/readyz")[1]
            assert body["leader"]["this_replica"] is False, body
            # Healed, the old leader follows: it does not take the Lease back.
            world.fake.refuse_token("replica-a", None)
            time.sleep(LEASE_S / 2)
            assert world.holder() == "replica-b"


def test_leader_election_on_sqlite_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("leader_election:\n  enabled: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="replicas need a shared store"):
        load_config(config, environ={})
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "serve", "--no-console"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert "leader_election.enabled needs store.backend: dynamodb" in done.stderr
    assert "replicas need a shared store" in done.stderr
