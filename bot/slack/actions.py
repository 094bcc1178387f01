"""Buttons: Approve and Deny on activation requests, Extend on "activation ending" notices.

Authorization is core's (an approver of the cost center or an admin, never the requester; for
Extend, the window's owner, an approver or an admin). Approve is one click; Deny opens a modal
asking the reason (`views` handles its submission). On a decision the original message is updated
(buttons gone; decision, who, when) and the requester is told by direct message; a refusal goes
to the clicker only, as an ephemeral message. Any other button gets a message, never a 500.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.render import local
from bot.slack import BotDeps, deps_of
from bot.slack import blocks as ui
from core.activation import Opened
from core.models import ActivationRequest, RequestStatus
from core.policy import Refusal, RefusalReason

log = logging.getLogger("namespace_ctl.slack.actions")
# Registered last: any button no other listener took (an old message, a forged payload).
UNKNOWN_ACTION = re.compile(r".*")
ACTION_IDS = (ui.APPROVE_ACTION, ui.DENY_ACTION, ui.EXTEND_ACTION)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def user_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    return str(user.get("id") or "") if isinstance(user, dict) else ""


def where(body: dict[str, Any]) -> tuple[str, str]:
    """The channel and timestamp of the message whose button was clicked."""
    container = as_dict(body.get("container"))
    channel = as_dict(body.get("channel")).get("id") or container.get("channel_id") or ""
    ts = as_dict(body.get("message")).get("ts") or container.get("message_ts") or ""
    return str(channel), str(ts)


def clicked_value(body: dict[str, Any]) -> str:
    actions = body.get("actions")
    first = as_dict(actions[0]) if isinstance(actions, list) and actions else {}
    value = first.get("value")
    return value if isinstance(value, str) else ""


def tell_clicker(
    client: WebClient, channel: str, user: str, blocks: list[ui.Block], text: str
) -> None:
    """Ephemeral where the click happened; a direct message when there is no channel."""
    if not user:
        return
    try:
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
        else:
            client.chat_postMessage(channel=user, text=text, blocks=blocks)
    except Exception:
        log.exception("could not tell %s: %s", user, text)


def tell_refusal(client: WebClient, channel: str, user: str, refusal: Refusal) -> None:
    tell_clicker(client, channel, user, ui.refusal_blocks(str(refusal)), str(refusal))


def announce_decision(deps: BotDeps) -> None:
    """Core posted the decision to the outbox; deliver it now: the request's message is updated
    (buttons gone; the decision, who, when) and the requester gets a direct message."""
    deps.deliver_notices()


def update_message(
    deps: BotDeps,
    client: WebClient,
    channel: str,
    ts: str,
    request: ActivationRequest,
    opened: Opened | None = None,
) -> None:
    if not (channel and ts):
        return
    try:
        client.chat_update(
            channel=channel,
            ts=ts,
            text=f"request {request.request_id} {request.status.value}",
            blocks=ui.decided_blocks(request, deps.config, opened),
        )
    except Exception:
        log.exception("could not update the message of request %s", request.request_id)


def show_expired(deps: BotDeps, client: WebClient, channel: str, ts: str, request_id: str) -> None:
    request = deps.ctl.approvals.find(request_id)
    if request is not None and request.status is RequestStatus.EXPIRED:
        update_message(deps, client, channel, ts, request)


def refuse_decision(
    deps: BotDeps,
    client: WebClient,
    channel: str,
    ts: str,
    user: str,
    request_id: str,
    refusal: Refusal,
) -> None:
    """Tell the clicker why not; a request found expired gets its message updated to say so."""
    tell_refusal(client, channel, user, refusal)
    if refusal.reason is RefusalReason.EXPIRED:
        show_expired(deps, client, channel, ts, request_id)


# ---- the listeners -------------------------------------------------------------------------------


def handle_approve(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps = deps_of(context)
    deps.later(lambda: approve(deps, body, client), "approving a request")


def approve(deps: BotDeps, body: dict[str, Any], client: WebClient) -> None:
    """Approve (which wakes the namespace: seconds of work), after the click's ack."""
    user, request_id = user_of(body), clicked_value(body)
    channel, ts = where(body)
    try:
        deps.ctl.approvals.approve(request_id, user, deps.clock.now())
    except Refusal as refusal:
        refuse_decision(deps, client, channel, ts, user, request_id, refusal)
        return
    except Exception:
        log.exception("approving request %s by %s failed", request_id, user)
        tell_clicker(client, channel, user, ui.error_blocks(), "something went wrong")
        return
    announce_decision(deps)


def handle_deny(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """Ask the reason in a modal (the click's trigger_id is valid for 3 s); a request that is
    gone or decided is said so at once."""
    ack()
    deps = deps_of(context)
    deps.later(lambda: open_deny_form(deps, body, client), "opening a deny form", urgent=True)


def open_deny_form(deps: BotDeps, body: dict[str, Any], client: WebClient) -> None:
    user, request_id = user_of(body), clicked_value(body)
    channel, ts = where(body)
    try:
        request = deps.ctl.approvals.check_may_decide(request_id, user, deps.clock.now())
    except Refusal as refusal:
        refuse_decision(deps, client, channel, ts, user, request_id, refusal)
        return
    except Exception:
        log.exception("checking request %s for %s failed", request_id, user)
        tell_clicker(client, channel, user, ui.error_blocks(), "something went wrong")
        return
    try:
        metadata = json.dumps({"request_id": request_id, "channel": channel, "ts": ts})
        trigger = str(body.get("trigger_id") or "")
        client.views_open(trigger_id=trigger, view=ui.deny_modal(request, deps.config, metadata))
    except Exception:
        log.exception("opening the deny form of request %s for %s failed", request_id, user)
        tell_clicker(client, channel, user, ui.error_blocks(), "something went wrong")


def handle_extend(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """One more hour for the window of the namespace in the button's value."""
    ack()
    deps = deps_of(context)
    deps.later(lambda: extend(deps, body, client), "extending a window")


def extend(deps: BotDeps, body: dict[str, Any], client: WebClient) -> None:
    user, namespace = user_of(body), clicked_value(body)
    channel, _ = where(body)
    try:
        slot = deps.ctl.activations.extend(
            namespace, timedelta(hours=ui.EXTEND_BY_HOURS), user, deps.clock.now()
        )
    except Refusal as refusal:
        tell_refusal(client, channel, user, refusal)
        return
    except Exception:
        log.exception("extending %s by %s failed", namespace, user)
        tell_clicker(client, channel, user, ui.error_blocks(), "something went wrong")
        return
    text = f":stopwatch: `{slot.namespace}` is awake until {local(slot.ends_at, deps.config)}."
    tell_clicker(client, channel, user, [ui.section(text)], f"{slot.namespace} extended")


def handle_unknown(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    deps_of(context).later(lambda: tell_unknown(body, client), "answering an unknown button")


def tell_unknown(body: dict[str, Any], client: WebClient) -> None:
    channel, _ = where(body)
    text = (
        "That button is not one namespace-ctl knows (the message may be out of date): "
        "try `/namespace help`."
    )
    tell_clicker(client, channel, user_of(body), [ui.section(f":warning: {text}")], text)


def register(app: App) -> None:
    app.action(ui.APPROVE_ACTION)(handle_approve)
    app.action(ui.DENY_ACTION)(handle_deny)
    app.action(ui.EXTEND_ACTION)(handle_extend)


def register_fallback(app: App) -> None:
    """After every other listener module: Bolt runs the first listener that matches."""
    app.action(UNKNOWN_ACTION)(handle_unknown)
