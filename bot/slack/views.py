"""Modal submissions: the activate form and the deny-reason form (the modals are rendered in
`blocks`; `commands` and `actions` open them).

A submission is validated through core before it is acknowledged: a bad field or a refusal goes
back as `response_action: errors` under the field it concerns (the modal stays open); a refusal no
field explains replaces the modal with a notice. Only then does the work continue after the ack.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack import BotDeps, deps_of
from bot.slack import blocks as ui
from bot.slack.actions import announce_decision, as_dict, show_expired, user_of
from bot.slack.commands import Reply, post_request
from core.config import parse_duration
from core.policy import Refusal, RefusalReason

log = logging.getLogger("namespace_ctl.slack.views")
VIEW_IDS = (ui.ACTIVATE_VIEW, ui.DENY_VIEW)
REQUIRED = "required"


def field_values(view: dict[str, Any]) -> dict[str, str]:
    """Each input block's value (a select's chosen option or a text input's text), by block."""
    values: dict[str, str] = {}
    for block_id, actions in as_dict(as_dict(view.get("state")).get("values")).items():
        state = as_dict(as_dict(actions).get(ui.FIELD_ACTION))
        chosen = as_dict(state.get("selected_option")).get("value", state.get("value"))
        if isinstance(chosen, str):
            values[str(block_id)] = chosen.strip()
    return values


def metadata(view: dict[str, Any]) -> dict[str, str]:
    try:
        loaded = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in as_dict(loaded).items()}


def field_of(refusal: Refusal) -> str:
    """The form field a refusal is about."""
    message = str(refusal).lower()
    if refusal.reason is RefusalReason.INVALID:
        return ui.DURATION_FIELD if "duration" in message else ui.REASON_FIELD
    if refusal.reason is RefusalReason.UNAUTHORIZED:
        return ui.COST_CENTER_FIELD
    if refusal.reason is RefusalReason.LIMIT_EXCEEDED and "cost center" in message:
        return ui.COST_CENTER_FIELD
    return ui.NAMESPACE_FIELD


def _error_view() -> dict[str, Any]:
    return ui.notice_modal("Something went wrong", ui.error_blocks()[0]["text"]["text"])


# ---- the activate form -------------------------------------------------------------------------


def handle_activate(
    ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    deps = deps_of(context)
    view = as_dict(body.get("view"))
    user = user_of(body)
    values = field_values(view)
    fields = (ui.NAMESPACE_FIELD, ui.DURATION_FIELD, ui.COST_CENTER_FIELD, ui.REASON_FIELD)
    errors = {f: f"{REQUIRED}: fill this in" for f in fields if not values.get(f)}
    duration: timedelta | None = None
    if values.get(ui.DURATION_FIELD):
        try:
            duration = parse_duration(values[ui.DURATION_FIELD])
        except ValueError as exc:
            errors[ui.DURATION_FIELD] = str(exc)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        request = deps.ctl.approvals.request(
            values[ui.NAMESPACE_FIELD],
            values[ui.COST_CENTER_FIELD],
            user,
            duration,
            values[ui.REASON_FIELD],
            deps.clock.now(),
        )
    except Refusal as refusal:
        ack(response_action="errors", errors={field_of(refusal): str(refusal)})
        return
    except Exception:
        log.exception("the activate form of %s failed", user)
        ack(response_action="update", view=_error_view())
        return
    ack()
    meta = metadata(view)
    deps.later(
        lambda: tell_requester(client, user, meta, post_request(deps, request)),
        "posting an activation request",
    )


def tell_requester(client: WebClient, user: str, meta: dict[str, str], reply: Reply) -> None:
    """Through the command's response_url (ephemeral, where they typed it), else by DM."""
    url = meta.get("response_url", "")
    if url.startswith(("https://", "http://")):
        try:
            sent = WebhookClient(url).send(
                text=reply.text, blocks=reply.blocks, response_type="ephemeral"
            )
            if sent.status_code == 200:
                return
        except Exception:
            log.exception("could not answer %s through the command's response_url", user)
    try:
        client.chat_postMessage(channel=user, text=reply.text, blocks=reply.blocks)
    except Exception:
        log.exception("could not tell %s: %s", user, reply.text)


# ---- the deny-reason form ----------------------------------------------------------------------


def handle_deny(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    deps = deps_of(context)
    view = as_dict(body.get("view"))
    user = user_of(body)
    meta = metadata(view)
    request_id, channel, ts = (
        meta.get("request_id", ""),
        meta.get("channel", ""),
        meta.get("ts", ""),
    )
    reason = field_values(view).get(ui.DENY_REASON_FIELD, "")
    try:
        deps.ctl.approvals.deny(request_id, user, reason, deps.clock.now())
    except Refusal as refusal:
        _refused(deps, ack, client, refusal, channel, ts, request_id)
        return
    except Exception:
        log.exception("denying request %s by %s failed", request_id, user)
        ack(response_action="update", view=_error_view())
        return
    ack()
    deps.later(lambda: announce_decision(deps), "announcing a denial")


def _refused(
    deps: BotDeps,
    ack: Ack,
    client: WebClient,
    refusal: Refusal,
    channel: str,
    ts: str,
    request_id: str,
) -> None:
    if refusal.reason is RefusalReason.INVALID:
        ack(response_action="errors", errors={ui.DENY_REASON_FIELD: str(refusal)})
        return
    notice = ui.notice_modal("Not denied", f":no_entry: {ui.escape(str(refusal))}")
    ack(response_action="update", view=notice)
    if refusal.reason is RefusalReason.EXPIRED:
        deps.later(
            lambda: show_expired(deps, client, channel, ts, request_id), "marking a request expired"
        )


def register(app: App) -> None:
    app.view(ui.ACTIVATE_VIEW)(handle_activate)
    app.view(ui.DENY_VIEW)(handle_deny)
