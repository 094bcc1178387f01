"""Authorization that never answers Slack with a 500: `SlackAuth` and its gate.

Bolt's single-team authorization calls `auth.test` on the first request; when Slack's Web API
is down that call raises (a refused connection is no `SlackApiError`) and Slack gets an HTTP 500
after the SDK's retries, or a misleading "reinstall this app" for an HTTP 500 answer. Here:

- `SlackAuth.check()` calls `auth.test` (one try, `AUTH_TIMEOUT`: Slack waits 3 s for the ack)
  until it succeeds once, then keeps the answer for the process's life, as Bolt does.
- `AuthGate` (a `before_authorize` middleware) runs `check()` first. When it fails, the request
  is answered 200 with the reason: a slash command's body is shown to the person as an ephemeral
  reply ("namespace-ctl cannot reach Slack's Web API right now (auth.test: ...); try again in a
  minute"); a form submission keeps its modal open with the reason on its first field; a click
  is told through its `response_url` (best effort, in the background); an event is dropped
  (App Home is drawn again on the next visit). One WARNING per refused request, no traceback.
- `SlackAuth.bolt_authorize()` is the app's `authorize` function: the cached `auth.test` answer, so
  Bolt never calls Slack itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from bot.slack.health import TOKEN_REFUSED, SlackApiHealth, answered_down

log = logging.getLogger("namespace_ctl.slack.auth")
AUTH_TIMEOUT = 2  # seconds for auth.test: the ack must reach Slack within 3 s
RESPOND_TIMEOUT = 5
# Requests Bolt lets through without authorization (url_verification, ssl_check) or without
# auth.test (the app's uninstall events): the gate lets them through too.
_NO_AUTH_TYPES = frozenset({"url_verification", "ssl_check"})
_NO_AUTH_TEST_EVENTS = frozenset({"app_uninstalled", "tokens_revoked", "team_access_revoked"})


class SlackAuth:
    """The bot token's `auth.test`, cached once it succeeded. Thread-safe."""

    def __init__(
        self, client: WebClient, health: SlackApiHealth, timeout: int = AUTH_TIMEOUT
    ) -> None:
        self.token = client.token or ""
        self.health = health
        quiet = logging.getLogger("namespace_ctl.slack.auth.web")
        quiet.setLevel(logging.CRITICAL)  # each failure is logged once, by the gate
        self._client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=timeout,
            ssl=client.ssl,
            proxy=client.proxy,
            headers=client.headers,
            logger=quiet,
            retry_handlers=[],
        )
        self._lock = threading.Lock()
        self._answer: dict[str, Any] | None = None
        self._scopes: str | None = None

    def check(self) -> str | None:
        """None when the token is known good (now or before); otherwise why not, to tell the
        person (the next request tries again)."""
        with self._lock:
            if self._answer is not None:
                return None
        try:
            response = self._client.auth_test()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "error")
            status = getattr(exc.response, "status_code", 200)
            self.health.failed("auth.test", error, down=answered_down(exc))
            if error in TOKEN_REFUSED:
                return (
                    f"namespace-ctl's Slack token was refused (auth.test: {error}): an admin "
                    "must check SLACK_BOT_TOKEN"
                )
            where = f"HTTP {status}, {error}" if status != 200 else error
            return _cannot_reach(where)
        except OSError as exc:  # refused, unreachable, timed out (URLError is an OSError)
            reason = getattr(exc, "reason", None) or exc
            self.health.failed("auth.test", f"Slack unreachable: {reason}", down=True)
            return _cannot_reach(str(reason))
        self.health.succeeded("auth.test")
        with self._lock:
            self._answer = dict(response.data) if isinstance(response.data, dict) else {}
            self._scopes = response.headers.get("x-oauth-scopes")
        return None

    def authorize(
        self, enterprise_id: str | None, team_id: str | None, user_id: str | None
    ) -> AuthorizeResult:
        """Bolt's `authorize`: the bot token with what auth.test said about it (the gate ran
        `check()` first; without an answer, the token alone)."""
        with self._lock:
            answer, scopes = self._answer or {}, self._scopes
        return AuthorizeResult(
            enterprise_id=answer.get("enterprise_id") or enterprise_id,
            team_id=answer.get("team_id") or team_id,
            bot_user_id=answer.get("user_id"),
            bot_id=answer.get("bot_id"),
            bot_token=self.token,
            bot_scopes=scopes,
            user_id=user_id,
        )

    def bolt_authorize(self) -> Callable[..., AuthorizeResult]:
        """`authorize` as Bolt wants it: a plain function (Bolt passes arguments by the names of
        its parameters, and a bound method's `self` is one)."""

        def authorize(
            enterprise_id: str | None, team_id: str | None, user_id: str | None
        ) -> AuthorizeResult:
            return self.authorize(enterprise_id, team_id, user_id)

        return authorize


def _cannot_reach(why: str) -> str:
    return (
        f"namespace-ctl cannot reach Slack's Web API right now (auth.test: {why}); "
        "try again in a minute"
    )


class AuthGate(Middleware):
    """Before Bolt's authorization: a request is only handled once `auth.test` succeeded;
    otherwise it is answered 200 with the reason (never a 500)."""

    def __init__(self, auth: SlackAuth) -> None:
        self.auth = auth

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        body = req.body if isinstance(req.body, dict) else {}
        if _needs_no_auth(body):
            return next()
        why = self.auth.check()
        if why is None:
            return next()
        kind = "command" if "command" in body else str(body.get("type") or "request")
        log.warning("a Slack %s was answered without running it: %s", kind, why)
        return refusal(body, f":warning: {why}.")


def refusal(body: dict[str, Any], text: str) -> BoltResponse:
    """A 200 that tells the person `text` in the way Slack shows for this payload."""
    if "command" in body:
        return BoltResponse(status=200, body=text)  # shown as an ephemeral reply
    kind = body.get("type")
    if kind == "view_submission":
        view = body.get("view") if isinstance(body.get("view"), dict) else {}
        inputs = [
            b.get("block_id")
            for b in (view or {}).get("blocks") or []
            if isinstance(b, dict) and b.get("type") == "input" and b.get("block_id")
        ]
        if inputs:
            return BoltResponse(
                status=200, body={"response_action": "errors", "errors": {inputs[0]: text}}
            )
    if kind == "block_actions" and isinstance(body.get("response_url"), str):
        _tell_later(str(body["response_url"]), text)
    return BoltResponse(status=200, body="")


def _tell_later(response_url: str, text: str) -> None:
    def tell() -> None:
        try:
            WebhookClient(response_url, timeout=RESPOND_TIMEOUT).send(
                text=text, response_type="ephemeral", replace_original=False
            )
        except Exception as exc:  # Slack is down: nobody can be told
            log.warning("could not tell the clicker why: %s", exc)

    threading.Thread(target=tell, name="slack-auth-respond", daemon=True).start()


def _needs_no_auth(body: dict[str, Any]) -> bool:
    if body.get("type") in _NO_AUTH_TYPES:
        return True
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    return body.get("type") == "event_callback" and (event or {}).get("type") in (
        _NO_AUTH_TEST_EVENTS
    )
