"""Delivers the outbox of channel notices (`core.notices`) to Slack.

`drain()` sends every due notice: most go to `slack.notifications_channel`; a request opened goes
to `slack.approvals_channel` with Approve and Deny buttons (its message is later updated when the
request is decided or expires: found through that notice's `sent_ref`); a decision is also a
direct message to the requester. A delivered notice records where it went (`<channel>:<ts>`).

Slack being down never blocks anything: a failed delivery is counted on the notice and retried
later with backoff (the outbox's), never dropped. An error Slack returns for one notice does not
stop the others; an unreachable Slack ends the drain (the rest wait for the next one). One drain
runs at a time; `kick()` asks the background thread (`start()`) for one now, e.g. right after a
notice is posted. A notice older than `slack.notice_max_age` is expired instead of posted late
(`Outbox.expire`). Every outcome is told to `health` (`bot.slack.health`: /metrics, /readyz);
`drain_report()` says what one drain did, and `scheduled_drain` turns a drain in which Slack was
down and nothing got through into a job that did not succeed (`bot.jobs.JobIncomplete`).

`own_notices_only` (the console, `serve` without Slack tokens): the drain delivers only the
notices posted through this process's outbox since the notifier was made, never the shared
store's others (a CLI's, a serving replica's), which must reach the real Slack.

The weekly summary also gets its chart (`chart.render_week_chart`), uploaded with
`files_upload_v2` in the thread of its message once that message is posted and the notice marked
delivered, so a failed upload can never post the message twice. An upload that fails is queued
as a notice of its own (`weekly-chart:<week>`, the thread in its facts) and retried by later
drains with the outbox's backoff; an upload Slack refuses for good (no `files:write` scope, a bad
token) is logged and dropped: the message stands without its chart.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.jobs import JobIncomplete
from bot.slack import notice_blocks
from bot.slack.blocks import Block
from bot.slack.chart import chart_alt_text, render_week_chart
from bot.slack.health import OTHER, SLACK_ERROR, UNREACHABLE, SlackApiHealth, answered_down
from core.clock import Clock, epoch
from core.config import Config
from core.models import Notice, NoticeKind
from core.notices import Outbox, request_notice_id
from core.report import WeekSummary

log = logging.getLogger("namespace_ctl.slack.notifier")
BATCH = 50
MAX_BATCHES = 20  # per drain: a huge backlog is sent over several drains
# A Slack user id (a direct message can go there); the CLI's --user may be any name.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHART_THREAD = "chart_thread"  # facts key of a chart upload to retry: `<channel>:<ts>`
# Upload errors that retrying cannot cure: the message is left without its chart.
CHART_REFUSALS = frozenset(
    {
        "missing_scope",
        "not_allowed_token_type",
        "no_permission",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
    }
)


class NotYet(Exception):
    """The notice depends on another one not delivered yet (e.g. the request's message)."""


class ChartNotUploaded(Exception):
    """The chart upload failed in a way a later attempt may cure (Slack's error, an HTTP error
    from the upload URL)."""


class ChartRefused(Exception):
    """Slack refuses the upload for good (see `CHART_REFUSALS`)."""


class _Result(Enum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    WAITING = "waiting"  # for another notice of the batch
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    EXPIRED = "expired"  # older than slack.notice_max_age: given up, kept


@dataclass
class DrainReport:
    """What one drain did. `slack_down`: some attempt found Slack's Web API unusable (no
    answer, an HTTP 5xx, the token refused)."""

    delivered: int = 0
    failed: int = 0
    expired: int = 0
    slack_down: bool = False

    def count(self, results: list[_Result]) -> None:
        self.delivered += results.count(_Result.DELIVERED)
        self.failed += results.count(_Result.FAILED) + results.count(_Result.UNREACHABLE)
        self.expired += results.count(_Result.EXPIRED)


class SlackNotifier:
    def __init__(
        self,
        outbox: Outbox,
        client: WebClient,
        config: Config,
        clock: Clock,
        *,
        health: SlackApiHealth | None = None,
        own_notices_only: bool = False,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.config = config
        self.clock = clock
        self.health = health or SlackApiHealth()
        self.last_drain = DrainReport()
        self._drain_lock = threading.Lock()
        self._down = False  # during a drain: Slack was found down
        # The ids this process posted (own_notices_only), until delivered or expired.
        self._own: set[str] | None = None
        self._own_lock = threading.Lock()
        if own_notices_only:
            self._own = set()
            outbox.on_post(self._posted_here)
        # Leader election: only the leader delivers (a follower's drain sends nothing).
        self.may_deliver: Callable[[], bool] = lambda: True
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- delivery ---------------------------------------------------------------------------

    def drain(self, now: datetime | None = None) -> int:
        """Deliver every notice due at `now` (the product clock's now by default); return how
        many were delivered. Never raises for a delivery problem."""
        return self.drain_report(now).delivered

    def drain_report(self, now: datetime | None = None) -> DrainReport:
        """`drain`, saying what it did (also kept as `last_drain`)."""
        if not self.may_deliver():
            return DrainReport()
        with self._drain_lock:
            ts = epoch(now or self.clock.now())
            report = DrainReport()
            self._down = False
            for _ in range(MAX_BATCHES):
                due = self._due(ts, BATCH)
                results = self._deliver_all(due, ts)
                report.count(results)
                if _Result.UNREACHABLE in results or len(due) < BATCH:
                    break
            report.slack_down = self._down
            self.last_drain = report
            return report

    def _due(self, ts: int, limit: int) -> list[Notice]:
        if self._own is None:
            return self.outbox.due(ts, limit)
        with self._own_lock:
            ids = sorted(self._own)
        due: list[Notice] = []
        for notice_id in ids:
            notice = self.outbox.get(notice_id)
            if notice is None or not notice.pending:
                with self._own_lock:
                    self._own.discard(notice_id)
            elif notice.next_attempt_at <= ts:
                due.append(notice)
        due.sort(key=lambda n: (n.at, n.sequence, n.notice_id))
        return due[:limit]

    def _posted_here(self, notice: Notice) -> None:
        assert self._own is not None
        with self._own_lock:
            self._own.add(notice.notice_id)

    def _deliver_all(self, notices: list[Notice], ts: int) -> list[_Result]:
        """Deliver in order; a notice waiting for another of the same batch (a decision whose
        request message comes later in the batch) gets one more try at the end."""
        results: list[_Result] = []
        waiting: list[Notice] = []
        for notice in notices:
            result = self._deliver(notice, ts, may_wait=True)
            if result is _Result.UNREACHABLE:
                return [*results, result]
            if result is _Result.WAITING:
                waiting.append(notice)
            else:
                results.append(result)
        for notice in waiting:
            results.append(self._deliver(notice, ts))
            if results[-1] is _Result.UNREACHABLE:
                break
        return results

    def _deliver(self, notice: Notice, ts: int, may_wait: bool = False) -> _Result:
        # Re-read: another drain (or an eventually consistent index) may be behind.
        current = self.outbox.get(notice.notice_id)
        if current is None or not current.pending:
            return _Result.SKIPPED
        max_age = int(self.config.slack.notice_max_age.total_seconds())
        if self.outbox.expire(current, ts, max_age):
            self.health.notice_expired()
            return _Result.EXPIRED
        method = f"notice {current.notice_id}"
        try:
            ref = self._send(current)
        except SlackApiError as exc:
            error = f"Slack: {exc.response.get('error')}"
            self._failed(current, error, ts, SLACK_ERROR, down=answered_down(exc))
            return _Result.FAILED
        except NotYet as exc:
            if may_wait:
                return _Result.WAITING
            self._failed(current, str(exc), ts, OTHER)
            return _Result.FAILED
        except ChartNotUploaded as exc:
            self._failed(current, str(exc), ts, SLACK_ERROR)
            return _Result.FAILED
        except OSError as exc:  # refused, unreachable, timed out (URLError is an OSError)
            self._failed(current, f"Slack unreachable: {exc}", ts, UNREACHABLE, down=True)
            return _Result.UNREACHABLE
        except Exception as exc:
            log.exception("notice %s could not be rendered or sent", current.notice_id)
            self._failed(current, f"{type(exc).__name__}: {exc}", ts, OTHER)
            return _Result.FAILED
        self.health.succeeded(method)
        marked = self.outbox.delivered(current.notice_id, ts, ref)
        if marked and current.kind is NoticeKind.WEEKLY_SUMMARY and not _is_chart(current):
            self._chart_for(current, ref, ts)
        return _Result.DELIVERED

    def _failed(
        self, notice: Notice, error: str, ts: int, reason: str, down: bool | None = None
    ) -> None:
        """Count the failed attempt on the notice and in `health` (`down`: what it says of
        Slack's Web API; None: nothing, e.g. a notice waiting for another)."""
        self.outbox.failed(notice.notice_id, error, ts)
        self.health.delivery_failed(reason)
        if down is not None:
            self.health.failed(f"notice {notice.notice_id}", error, down=down)
        if down:
            self._down = True

    def _send(self, notice: Notice) -> str:
        """Send one notice; return where it went (`<channel>:<ts>`)."""
        if _is_chart(notice):
            return self._retry_chart(notice)
        slack = self.config.slack
        text, blocks = notice_blocks.notice_message(notice, self.config)
        if notice.kind is NoticeKind.REQUEST_OPENED:
            return self._post(slack.approvals_channel, text, blocks)
        if notice.kind is NoticeKind.REQUEST_DECIDED:
            return self._decided(notice, text, blocks)
        if notice.kind is NoticeKind.REQUEST_EXPIRED:
            ref = self._update_request_message(notice, text, blocks)
            return ref or self._post(slack.approvals_channel, text, blocks)
        if notice.kind is NoticeKind.NAMESPACE_READY:
            user = str(notice.facts.get("user") or "")
            # Its requester, by DM; someone who is no Slack user (a CLI name) hears nothing.
            return self._post(user, text, blocks) if SLACK_USER_ID.match(user) else ""
        return self._post(slack.notifications_channel, text, blocks)

    def _decided(self, notice: Notice, text: str, blocks: list[Block]) -> str:
        """The approvals message updated (buttons gone), then the requester told (unless they
        decided themselves, e.g. cancelled, or are no Slack user, e.g. a CLI name)."""
        ref = self._update_request_message(notice, text, blocks)
        request = notice_blocks.request_of(notice)
        if request.decided_by == request.requester or not SLACK_USER_ID.match(request.requester):
            return ref or ""
        dm_text, dm_blocks = notice_blocks.requester_message(notice, self.config)
        return self._post(request.requester, dm_text, dm_blocks)

    def _update_request_message(self, notice: Notice, text: str, blocks: list[Block]) -> str | None:
        """chat.update the request's approvals message; None when it was never announced here."""
        request = notice_blocks.request_of(notice)
        opened = self.outbox.get(request_notice_id(request.request_id))
        if opened is None or opened.expired:  # never announced here (or given up unsent)
            return None
        if not opened.sent or ":" not in opened.sent_ref:
            raise NotYet(f"the message of request {request.request_id} is not posted yet")
        channel, ts = opened.sent_ref.split(":", 1)
        self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return opened.sent_ref

    def _post(self, channel: str, text: str, blocks: list[Block]) -> str:
        response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        return f"{response.get('channel') or channel}:{response.get('ts') or ''}"

    # ---- the weekly chart -------------------------------------------------------------------

    def _chart_for(self, notice: Notice, thread: str, ts: int) -> None:
        """Upload the chart of a weekly summary just posted (at `thread`); never raises: a
        failure is queued for retry as a notice of its own, a refusal is logged."""
        summary = WeekSummary.model_validate(notice.facts["summary"])
        try:
            self._upload_chart(summary, thread)
        except ChartRefused as exc:
            log.warning("weekly chart %s not uploaded: %s", summary.week, exc)
        except Exception as exc:  # Slack down or erring: the message stands, the chart waits
            retry = Notice(
                notice_id=f"weekly-chart:{summary.week}",
                kind=NoticeKind.WEEKLY_SUMMARY,
                at=ts,
                facts={"summary": notice.facts["summary"], CHART_THREAD: thread},
            )
            self.outbox.post(retry)
            self.outbox.failed(retry.notice_id, f"chart: {exc}", ts)

    def _retry_chart(self, notice: Notice) -> str:
        summary = WeekSummary.model_validate(notice.facts["summary"])
        thread = str(notice.facts[CHART_THREAD])
        try:
            self._upload_chart(summary, thread)
        except ChartRefused as exc:
            log.warning("weekly chart %s given up: %s", summary.week, exc)
            return f"not uploaded: {exc}"
        return thread

    def _upload_chart(self, summary: WeekSummary, thread: str) -> None:
        """files_upload_v2 (getUploadURLExternal, the bytes, completeUploadExternal) into the
        thread of the summary's message. An unreachable Slack raises OSError."""
        channel, message_ts = thread.split(":", 1)
        try:
            self.client.files_upload_v2(
                channel=channel,
                thread_ts=message_ts,
                file=render_week_chart(summary),
                filename=f"namespace-ctl-{summary.week}.png",
                title=f"Saved vs spent per day, {summary.week}",
                alt_txt=chart_alt_text(summary),
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if error in CHART_REFUSALS:
                needed = (
                    " (the app needs the files:write scope)" if error == "missing_scope" else ""
                )
                raise ChartRefused(f"Slack: {error}{needed}") from exc
            raise ChartNotUploaded(f"Slack: {error}") from exc
        except (urllib.error.HTTPError, SlackRequestError) as exc:  # Slack answered: not "down"
            raise ChartNotUploaded(f"upload: {exc}") from exc

    # ---- the background thread --------------------------------------------------------------

    def kick(self) -> None:
        """Ask for a drain now (from any thread; returns at once). Only with `start()`."""
        self._wanted.set()

    def start(self) -> None:
        """Drain whenever kicked, in a daemon thread; every notice posted kicks it."""
        if self._thread is not None:
            return
        self.outbox.on_post(lambda _notice: self.kick())
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._stopping.is_set():
                return
            self._wanted.clear()
            try:
                self.drain()
            except Exception:  # e.g. the store is unreachable: the next kick or job tries again
                log.exception("draining the notices failed")


def scheduled_drain(notifier: SlackNotifier) -> Callable[[datetime], int]:
    """The `drain-notices` job: a drain that raises `JobIncomplete` when nothing got through
    while Slack is down (this drain's attempts failed that way, or it attempted nothing because
    every pending notice is backing off after such a failure), so the job's last successful run
    (a metric alerts watch) does not advance while the notices wait."""

    def drain(at: datetime) -> int:
        report = notifier.drain_report(at)
        if report.delivered == 0 and _stuck(notifier, report):
            raise JobIncomplete(
                f"no notice delivered ({report.failed} attempts failed): Slack's Web API is down "
                f"({notifier.health.snapshot().error}); the notices wait in the outbox"
            )
        return report.delivered

    return drain


def _stuck(notifier: SlackNotifier, report: DrainReport) -> bool:
    if report.failed:
        return report.slack_down
    return notifier.health.snapshot().up is False and notifier.outbox.pending_count() > 0


def _is_chart(notice: Notice) -> bool:
    """A chart upload waiting for a retry (its message was delivered already)."""
    return notice.kind is NoticeKind.WEEKLY_SUMMARY and CHART_THREAD in notice.facts
