"""The notices' and Slack's Prometheus metrics, scraped over HTTP: pending notices, delivery
failures by reason, Slack's Web API up or down (deliveries and auth.test), notices expired; and
`namespace_ctl_last_successful_run_timestamp_seconds{job="drain-notices"}` standing still while
Slack is down and nothing gets through."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from flask import Flask
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.jobs import Intervals, Jobs
from bot.metrics import ServeMetrics, add_metrics
from bot.slack.app import (
    EVENTS_PATH,
    create_app,
    create_flask_app,
    notifier_of,
    slack_health_of,
)
from bot.slack.notifier import SlackNotifier, scheduled_drain
from core.clock import epoch
from tests.fake_slack import TEAM_ID, FakeSlack
from tests.harness import Harness, madrid, make_harness
from tests.test_metrics import http, scrape, value
from tests.test_notifier import SLACK, objects

NIGHT = madrid(2026, 12, 1, 20)
LATE = madrid(2026, 12, 1, 22)
FAILURES = "namespace_ctl_notice_delivery_failures_total"
LAST_RUN = "namespace_ctl_last_successful_run_timestamp_seconds"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def harness(tmp_path: Path, slack: FakeSlack, **slack_settings: object) -> Harness:
    return make_harness(
        tmp_path,
        objects(),
        at=NIGHT,
        slack=SLACK | {"api_base_url": slack.api_url} | slack_settings,
    )


def notifier_for(h: Harness, base_url: str) -> SlackNotifier:
    return SlackNotifier(h.outbox, WebClient(token="xoxb-t", base_url=base_url), h.config, h.clock)


def dead_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/api/"


def test_pending_failures_by_reason_and_slack_up(tmp_path: Path, slack: FakeSlack) -> None:
    h = harness(tmp_path, slack, notice_max_age="4h")
    notifier = notifier_for(h, slack.api_url)
    served = ServeMetrics(h.ctl, slack=notifier.health)
    with http(add_metrics(Flask("m"), served)) as url:
        samples = scrape(url)[1]
        assert value(samples, "namespace_ctl_notices_pending") == 0
        assert value(samples, FAILURES, reason="unreachable") == 0
        assert ("namespace_ctl_slack_api_up", frozenset()) not in samples  # unknown yet

        h.service.shutdown(at=NIGHT)
        h.activation.activate("team-a", "CC-ALL", "U0ANA", timedelta(hours=1), "x", LATE)
        pending = h.outbox.pending_count()
        assert pending >= 2
        slack.fail("service_unavailable", status=503)
        h.clock.set(LATE)
        assert notifier.drain() == 0
        samples = scrape(url)[1]
        assert value(samples, "namespace_ctl_notices_pending") == pending
        assert value(samples, FAILURES, reason="slack_error") == pending
        assert value(samples, "namespace_ctl_slack_api_up") == 0

        down = notifier_for(h, dead_url())
        down.health = notifier.health  # one process, one Slack
        assert down.drain(LATE + timedelta(minutes=5)) == 0
        samples = scrape(url)[1]
        assert value(samples, FAILURES, reason="unreachable") == 1  # the drain stops there
        assert value(samples, "namespace_ctl_slack_api_up") == 0

        slack.heal()
        assert notifier.drain(LATE + timedelta(hours=1)) == pending
        samples = scrape(url)[1]
        assert value(samples, "namespace_ctl_notices_pending") == 0
        assert value(samples, "namespace_ctl_slack_api_up") == 1
        assert value(samples, FAILURES, reason="other") == 0

        # Expired notices leave the pending count and are counted.
        slack.fail("service_unavailable", status=503)
        h.service.startup(at=LATE + timedelta(hours=1))
        notifier.drain(LATE + timedelta(hours=1))
        assert value(scrape(url)[1], "namespace_ctl_notices_pending") == 1
        slack.heal()
        notifier.drain(LATE + timedelta(hours=5, minutes=1))
        samples = scrape(url)[1]
        assert value(samples, "namespace_ctl_notices_pending") == 0
        assert value(samples, "namespace_ctl_notices_expired_total") == 1


def test_auth_test_failing_sets_slack_api_down(tmp_path: Path, slack: FakeSlack) -> None:
    h = harness(tmp_path, slack)
    app = create_app(h.ctl, h.config, "xoxb-t", "secret", h.clock)
    health = slack_health_of(app)
    assert health is notifier_of(app).health
    served = ServeMetrics(h.ctl, slack=health)
    client = create_flask_app(app).test_client()

    def command() -> str:
        body = urlencode(
            {
                "team_id": TEAM_ID,
                "user_id": "U0ANA",
                "command": "/namespace",
                "text": "help",
                "response_url": slack.response_url("help"),
            }
        )
        ts = str(int(time.time()))
        answer = client.post(
            EVENTS_PATH,
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers={
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": SignatureVerifier("secret").generate_signature(
                    timestamp=ts, body=body
                ),
            },
        )
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    slack.fail("internal_error", 500, {"auth.test"})
    assert "cannot reach Slack's Web API" in command()
    assert served.registry.get_sample_value("namespace_ctl_slack_api_up") == 0
    slack.heal()
    command()
    assert served.registry.get_sample_value("namespace_ctl_slack_api_up") == 1


def test_the_drain_job_does_not_succeed_while_slack_is_down(
    tmp_path: Path, slack: FakeSlack
) -> None:
    h = harness(tmp_path, slack)
    h.service.shutdown(at=NIGHT)  # a notice waiting
    h.clock.set(LATE)
    notifier = notifier_for(h, slack.api_url)
    served = ServeMetrics(h.ctl, slack=notifier.health)
    drained = scheduled_drain(notifier)
    runs: list[datetime] = []
    ran = threading.Condition()

    def drain(at: datetime) -> int:
        try:
            return drained(at)
        finally:
            with ran:
                runs.append(at)
                ran.notify_all()

    def wait_runs(count: int) -> None:
        with ran:
            assert ran.wait_for(lambda: len(runs) >= count, timeout=10), runs

    slack.fail("service_unavailable", status=503)
    jobs = Jobs(
        h.ctl,
        h.config,
        h.clock,
        drain=drain,
        observer=served,
        intervals=Intervals(drain=timedelta(seconds=0.05)),
    )
    jobs.start()
    try:
        # The first drain fails, the next ones find the notice backing off: none succeeds.
        wait_runs(5)
        assert served.registry.get_sample_value(LAST_RUN, {"job": "drain-notices"}) is None
        assert notifier.health.snapshot().up is False
        slack.heal()
        h.service.startup(at=LATE)  # a new notice, due at once: it gets through
        deadline = time.monotonic() + 10
        while served.registry.get_sample_value(LAST_RUN, {"job": "drain-notices"}) is None:
            assert time.monotonic() < deadline, runs
            time.sleep(0.05)
    finally:
        jobs.stop()
    last = served.registry.get_sample_value(LAST_RUN, {"job": "drain-notices"})
    assert last is not None and abs(last - epoch(LATE)) < 5


def test_a_drain_with_nothing_due_and_slack_up_succeeds(tmp_path: Path, slack: FakeSlack) -> None:
    h = harness(tmp_path, slack)
    notifier = notifier_for(h, slack.api_url)
    assert scheduled_drain(notifier)(NIGHT) == 0  # nothing to do is a success
    h.service.shutdown(at=NIGHT)
    assert scheduled_drain(notifier)(NIGHT) == 1
