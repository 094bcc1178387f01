"""The Bolt app factory (and the Flask app that serves it over HTTP at `/slack/events`)."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from flask import Flask, Response, jsonify, request
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from bot.slack import DEPS_KEY, BotDeps, actions, commands, home, views
from bot.slack import blocks as ui
from bot.slack.auth import AuthGate, SlackAuth
from bot.slack.health import SlackApiHealth
from bot.slack.notifier import SlackNotifier
from bot.slack.work import SlackWork
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config

log = logging.getLogger("namespace_ctl.slack")
EVENTS_PATH = "/slack/events"

# Every listener the app registers (slack-app-manifest.yml declares the commands and events).
COMMANDS = (commands.COMMAND,)
ACTIONS = actions.ACTION_IDS
VIEWS = views.VIEW_IDS
EVENTS = home.EVENT_TYPES

# Payload types a listener (or Bolt's own middleware) handles; any other is refused with 400.
_KNOWN_TYPES = (
    None,  # a slash command
    "block_actions",
    "view_submission",
    "view_closed",
    "event_callback",
    "url_verification",
    "app_rate_limited",
)
_VERIFIERS: weakref.WeakKeyDictionary[App, SignatureVerifier] = weakref.WeakKeyDictionary()
_DEPS: weakref.WeakKeyDictionary[App, BotDeps] = weakref.WeakKeyDictionary()


def create_app(
    ctl: NamespaceCtl,
    config: Config,
    token: str,
    signing_secret: str,
    clock: Clock,
    work: Executor | None = None,
    own_notices: bool = False,
) -> App:
    """A Bolt app over the use cases. Listeners run on the HTTP thread, ack first
    (`process_before_response` True) and hand what follows to `SlackWork` (its pools, acks
    first) or to `work` (the console passes an inline executor); the Web API is
    `config.slack.api_base_url` (a fake in tests), with Slack's rate limits retried.
    `own_notices`: the notifier delivers only the notices this process posts (the console:
    it must never consume a shared store's outbox)."""
    base_url = config.slack.api_base_url
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    client = WebClient(token=token, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    health = SlackApiHealth()
    auth = SlackAuth(client, health)

    app = App(
        name="namespace-ctl",
        # Bolt's own client holds no token: each request's client gets the bot token from
        # `authorize` (the cached auth.test), and `auth` answers when auth.test fails.
        client=WebClient(base_url=base_url, retry_handlers=list(client.retry_handlers)),
        signing_secret=signing_secret,
        # Listeners run on the HTTP server's thread and only ack there (each hands what follows
        # the ack to `work`): an ack then waits neither for Bolt's pool of 5 nor for its 10 ms
        # polling (bench/README.md, "listeners on HTTP thread": ack p50 halved in a burst).
        process_before_response=True,
        authorize=auth.bolt_authorize(),
        # After the signature check, before anything reads the body: malformed payloads, then
        # auth.test (first request only; a failure is answered 200 with the reason).
        before_authorize=Chain(PayloadGuard(client), AuthGate(auth)),
    )
    _VERIFIERS[app] = SignatureVerifier(signing_secret)
    notifier = SlackNotifier(
        ctl.health.outbox, client, config, clock, health=health, own_notices_only=own_notices
    )
    slack_work = SlackWork() if work is None else SlackWork.on(work)
    deps = BotDeps(ctl=ctl, config=config, clock=clock, notifier=notifier, work=slack_work)
    _DEPS[app] = deps

    def inject(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context[DEPS_KEY] = deps
        return next()

    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener: %r", error, exc_info=error)

    app.use(inject)
    app.error(on_error)
    commands.register(app)
    actions.register(app)
    views.register(app)
    home.register(app)
    actions.register_fallback(app)
    return app


class Chain(Middleware):
    """Several middlewares in one slot (Bolt's `before_authorize` takes one), in order."""

    def __init__(self, *middlewares: Middleware) -> None:
        self.middlewares = middlewares

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        def run(index: int) -> BoltResponse:
            if index == len(self.middlewares):
                return next()
            answer = self.middlewares[index].process(
                req=req, resp=resp, next=lambda: run(index + 1)
            )
            return resp if answer is None else answer  # None: Bolt's "stop here, as is"

        return run(0)


class PayloadGuard(Middleware):
    """Signed but malformed payloads get a 400 (and the clicker a word), never a 500 from
    Bolt's matchers reading fields that are not there. A `Middleware` subclass, not a function:
    Bolt builds a function's keyword arguments from the body (e.g. `actions[0]`) and would fail
    on the very payloads this refuses."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        body = req.body
        problem = malformed(body)
        if problem is None:
            return next()
        log.warning("refused a malformed Slack payload: %s", problem)
        if isinstance(body, dict) and body.get("type") == "block_actions":
            channel, _ = actions.where(body)
            text = f"namespace-ctl could not read that click ({problem})."
            user = actions.user_of(body)
            actions.tell_clicker(self.client, channel, user, [ui.section(text)], text)
        return BoltResponse(status=400, body={"error": f"malformed payload: {problem}"})


def malformed(body: Any) -> str | None:
    """Why a signed payload cannot be handled, or None when its shape is one we read."""
    if not isinstance(body, dict):
        return "not a JSON object"
    kind = body.get("type")
    if kind not in _KNOWN_TYPES:
        return f"unsupported type {str(kind)[:40]!r}"
    if kind == "block_actions":
        listed = body.get("actions")
        first = listed[0] if isinstance(listed, list) and listed else None
        if not isinstance(first, dict) or not isinstance(first.get("action_id"), str):
            return "no action"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        # Bolt's own matchers read `view.type` (workflow steps) as well as `callback_id`.
        if not isinstance(view, dict) or not all(
            isinstance(view.get(key), str) for key in ("callback_id", "type")
        ):
            return "no view"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "no event"
    return None


def work_pool_of(app: App) -> SlackWork:
    """Where the app's listeners run their work after the ack (to drain at shutdown)."""
    return _DEPS[app].work


def slack_health_of(app: App) -> SlackApiHealth:
    """What the app last learnt of Slack's Web API (for /metrics and /readyz)."""
    return _DEPS[app].notifier.health


def notifier_of(app: App) -> SlackNotifier:
    """The app's notifier (same Web API client): the serving process starts it and drains it
    from its jobs, so every delivery goes through one drain lock."""
    return _DEPS[app].notifier


def create_flask_app(app: App) -> Flask:
    """Slack at `/slack/events`, plus `/healthz`."""
    flask_app = Flask("namespace-ctl")
    handler = SlackRequestHandler(app)
    work = _DEPS[app].work

    @flask_app.post(EVENTS_PATH)
    def slack_events() -> Response | tuple[Response, int]:
        try:
            with work.answering():
                response: Response = handler.handle(request)
        except Exception:  # a body Bolt cannot even parse
            log.warning("unreadable request at %s", EVENTS_PATH, exc_info=True)
            verifier = _VERIFIERS.get(app)
            raw = request.get_data(as_text=True)
            if verifier is None or not verifier.is_valid_request(raw, dict(request.headers)):
                return jsonify(error="invalid request"), 401
            return jsonify(error="malformed payload"), 400
        return response

    @flask_app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return flask_app
