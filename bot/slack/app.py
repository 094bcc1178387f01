"""The Bolt app factory (and the Flask app that serves it over HTTP at `/slack/events`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.adapter.flask import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.slack import DEPS_KEY, BotDeps, actions, commands
from core.activation import ActivationService
from core.clock import Clock
from core.config import Config

log = logging.getLogger("namespace_ctl.slack")
EVENTS_PATH = "/slack/events"


def create_app(
    ctl: ActivationService, config: Config, token: str, signing_secret: str, clock: Clock
) -> App:
    """A Bolt app over the use cases. Listeners run after the ack (`process_before_response`
    False); the Web API is `config.slack.api_base_url` (a fake in tests), with Slack's rate
    limits retried."""
    base_url = config.slack.api_base_url
    client = WebClient(token=token, base_url=base_url if base_url.endswith("/") else base_url + "/")
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    app = App(
        name="namespace-ctl",
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        token_verification_enabled=False,  # auth.test on the first request, not at start
    )
    deps = BotDeps(ctl=ctl, config=config, clock=clock)

    def inject(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context[DEPS_KEY] = deps
        return next()

    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener: %r", error, exc_info=error)

    app.use(inject)
    app.error(on_error)
    commands.register(app)
    actions.register(app)
    return app


def create_flask_app(app: App) -> Flask:
    """Slack at `/slack/events`, plus `/healthz`."""
    flask_app = Flask("namespace-ctl")
    handler = SlackRequestHandler(app)

    @flask_app.post(EVENTS_PATH)
    def slack_events() -> Response:
        response: Response = handler.handle(request)
        return response

    @flask_app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return flask_app
