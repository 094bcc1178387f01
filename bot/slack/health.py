"""What the process last learnt of Slack's Web API: `SlackApiHealth`.

The notifier and the authorization gate (`bot.slack.auth`) report every call's outcome here;
`/metrics` (`namespace_ctl_slack_api_up`, `namespace_ctl_notice_delivery_failures_total`,
`namespace_ctl_notices_expired_total`) and `/readyz`'s `slack` line read it. No Prometheus here:
plain numbers behind a lock.

"Down" means Slack's Web API cannot be used now: no answer at all (refused, unreachable, timed
out), an HTTP 5xx, or our token refused (`invalid_auth`, ...). Any other error Slack answers
(`channel_not_found`, `message_not_found`) shows the API is up.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError

# `namespace_ctl_notice_delivery_failures_total{reason}`: a closed set (low cardinality).
UNREACHABLE = "unreachable"  # no answer from Slack (refused, DNS, timeout)
SLACK_ERROR = "slack_error"  # Slack answered with an error
OTHER = "other"  # anything else (rendering, waiting for another notice)
FAILURE_REASONS = (UNREACHABLE, SLACK_ERROR, OTHER)
# Errors that mean our token cannot be used: nothing works until someone fixes it.
TOKEN_REFUSED = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
)


def answered_down(exc: SlackApiError) -> bool:
    """Whether an error Slack answered means the Web API is not usable (5xx, token refused)."""
    status = getattr(exc.response, "status_code", 200)
    error = exc.response.get("error") if hasattr(exc.response, "get") else None
    return (isinstance(status, int) and status >= 500) or error in TOKEN_REFUSED


@dataclass(frozen=True)
class HealthSnapshot:
    up: bool | None  # None: no call yet
    method: str  # of the last call
    error: str  # of the last call; "" when it succeeded
    failures: dict[str, int] = field(default_factory=dict)
    expired: int = 0


class SlackApiHealth:
    """Thread-safe; one per Bolt app (shared by its notifier and its authorization)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._up: bool | None = None
        self._method = ""
        self._error = ""
        self._failures: Counter[str] = Counter({reason: 0 for reason in FAILURE_REASONS})
        self._expired = 0

    def succeeded(self, method: str) -> None:
        with self._lock:
            self._up, self._method, self._error = True, method, ""

    def failed(self, method: str, error: str, *, down: bool) -> None:
        """A call failed; `down`: the Web API is not usable (else Slack answered: it is up)."""
        with self._lock:
            self._up, self._method, self._error = not down, method, error

    def delivery_failed(self, reason: str) -> None:
        with self._lock:
            self._failures[reason if reason in FAILURE_REASONS else OTHER] += 1

    def notice_expired(self) -> None:
        with self._lock:
            self._expired += 1

    def snapshot(self) -> HealthSnapshot:
        with self._lock:
            return HealthSnapshot(
                self._up, self._method, self._error, dict(self._failures), self._expired
            )

    def describe(self) -> str:
        """One line for /readyz."""
        state = self.snapshot()
        if state.up is None:
            return "web api: not called yet"
        if state.up:
            outcome = f": {state.error}" if state.error else " ok"
            return f"web api: up (last call {state.method}{outcome})"
        return f"web api: down ({state.method}: {state.error})"
