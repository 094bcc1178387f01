"""Two `serve` processes, one Lease: the fake API server (Leases with resourceVersion conflicts),
one DynamoDB (moto's server, in this process, requests serialized) and a recording fake Slack
(`tests/replicas.py`).

Short timings (lease 4 s, renew deadline 3 s, retry 0.5 s) keep the suite fast; the default
timings' failover figures come from `bench/failover.py`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest

from core.config import load_config
from core.errors import ConfigError
from tests.fake_slack import TEAM_ID, post_signed
from tests.replicas import (
    SECRET,
    World,
    get_json,
    log_time,
    metric,
    replica_world,
    replicas,
    replicas_of_api,
    shutdown_notices,
    shutdown_records,
    wait_until,
)

LEASE_S, RETRY_S = 4.0, 0.5
EDGE = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # a Tuesday's business end (UTC config)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with replica_world(tmp_path) as world:
        yield world


# ---- the tests ----------------------------------------------------------------------------------


def test_one_pass_per_edge_a_follower_click_and_sigterm_handover(world: World) -> None:
    with replicas(world, "2026-12-01T19:59:52", "replica-a") as running:
        wait_until(lambda: world.holder() == "replica-a", 10, "replica-a leads")
        with replicas(world, "2026-12-01T19:59:54", "replica-b") as more:
            a, b = running[0], more[0]
            status, body = get_json(b.url + "/readyz")
            assert status == 200, body  # a follower is ready without running a pass
            # Ready can come before its elector's first read of the Lease (holder None then).
            wait_until(
                lambda: get_json(b.url + "/readyz")[1]["leader"]["holder"] is not None,
                10,
                "replica-b reads the Lease",
            )
            status, body = get_json(b.url + "/readyz")
            assert status == 200, body
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
