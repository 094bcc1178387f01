"""The notices' and Slack's Prometheus metrics, read at scrape time (`NoticeMetrics`, registered
by `bot.metrics.ServeMetrics`):

- `namespace_ctl_notices_pending`: notices neither delivered nor expired (one count the store
  serves from its index of pending notices: SQLite's partial index, DynamoDB's sparse one).
- `namespace_ctl_notice_delivery_failures_total{reason}`: failed delivery attempts by this
  process, `reason` one of `unreachable` (no answer from Slack), `slack_error` (Slack answered an
  error), `other`.
- `namespace_ctl_notices_expired_total`: notices this process gave up unsent, older than
  `slack.notice_max_age`.
- `namespace_ctl_slack_api_up`: 1 when the last Slack Web API call (a delivery, `auth.test`)
  found the API usable, 0 when it did not (no answer, HTTP 5xx, token refused); absent before
  the first call (unknown, not down).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.slack.health import FAILURE_REASONS, SlackApiHealth
from core.notices import Outbox

log = logging.getLogger("namespace_ctl.metrics")
PREFIX = "namespace_ctl_"


class NoticeMetrics(Collector):
    def __init__(self, outbox: Outbox, health: SlackApiHealth) -> None:
        self.outbox = outbox
        self.health = health

    def describe(self) -> list[Metric]:
        # Without this the registry would call `collect` (a store read) at registration.
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        pending, failures, expired, up = self._families()
        state = self.health.snapshot()
        for reason in FAILURE_REASONS:
            failures.add_metric([reason], state.failures.get(reason, 0))
        yield failures
        expired.add_metric([], state.expired)
        yield expired
        if state.up is not None:
            up.add_metric([], 1.0 if state.up else 0.0)
            yield up
        try:
            count = self.outbox.pending_count()
        except Exception:
            log.exception("counting the pending notices for /metrics failed")
            return
        pending.add_metric([], count)
        yield pending

    @staticmethod
    def _families() -> tuple[
        GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily
    ]:
        return (
            GaugeMetricFamily(
                f"{PREFIX}notices_pending", "Notices in the outbox neither delivered nor expired"
            ),
            CounterMetricFamily(
                f"{PREFIX}notice_delivery_failures",
                "Failed notice deliveries by this process, by reason",
                labels=["reason"],
            ),
            CounterMetricFamily(
                f"{PREFIX}notices_expired",
                "Notices given up unsent by this process (older than slack.notice_max_age)",
            ),
            GaugeMetricFamily(
                f"{PREFIX}slack_api_up",
                "1 if the last Slack Web API call found the API usable, else 0",
            ),
        )
