"""Replicas of `serve` for the leader-election tests and `bench/failover.py`: the fake API server
(Leases with resourceVersion conflicts), moto's DynamoDB server in this process (requests
serialized) and a recording fake Slack, and `serve` processes started against them."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from core.config import StoreSettings
from core.models import OperationType
from core.store.factory import open_store
from tests.fake_kube import FakeKube, workload
from tests.fake_slack import FakeSlack
from tests.store_fixtures import serialized_moto

SECRET = "le-signing-secret"
LEASE_NS, LEASE_NAME = "namespace-ctl", "namespace-ctl"
REPO = Path(__file__).resolve().parents[1]
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
    # lease_duration, renew_deadline, retry_period (the suite's short ones by default)
    timing: tuple[str, str, str] = field(default=("4s", "3s", "0.5s"))

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
            "leader_election": dict(
                zip(("lease_duration", "renew_deadline", "retry_period"), self.timing, strict=True),
                enabled=True,
            ),
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


@contextmanager
def replica_world(tmp: Path, timing: tuple[str, str, str] | None = None) -> Iterator[World]:
    """The servers the replicas share, with the namespace `search` (Deployment `api`, 3)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    saved = {name: os.environ.get(name) for name in AWS_ENV}
    os.environ.update(AWS_ENV)
    with ExitStack() as stack:
        stack.callback(_restore_env, saved)
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
        world = World(fake, slack, f"http://{host}:{port}", tmp, prefix)
        if timing is not None:
            world.timing = timing
        yield world


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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
        cwd=REPO,
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
