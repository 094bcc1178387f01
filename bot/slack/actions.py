"""Approve and Deny buttons on activation requests in the approvals channel.

Authorization is core's (an approver of the cost center or an admin, never the requester). On a
decision the original message is updated (buttons gone; decision, who, when) and the requester is
told by direct message; a refusal goes to the clicker only, as an ephemeral message.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.slack import BotDeps, deps_of
from bot.slack import blocks as ui
from core.activation import Opened
from core.models import ActivationRequest, RequestStatus
from core.policy import Refusal, RefusalReason

log = logging.getLogger("namespace_ctl.slack.actions")
# Denial reasons will come from a modal; until then every Slack denial carries this one.
DENY_REASON = "denied in Slack"


def _where(body: dict[str, Any]) -> tuple[str, str]:
    """The channel and timestamp of the message whose button was clicked."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
    ts = (body.get("message") or {}).get("ts") or container.get("message_ts", "")
    return str(channel), str(ts)


def _decide(body: dict[str, Any], client: WebClient, context: BoltContext, approve: bool) -> None:
    deps = deps_of(context)
    user = str((body.get("user") or {}).get("id", ""))
    actions = body.get("actions") or [{}]
    request_id = str(actions[0].get("value", ""))
    channel, ts = _where(body)
    try:
        at = deps.clock.now()
        opened: Opened | None = None
        if approve:
            request, opened = deps.ctl.approve(request_id, user, at)
        else:
            request = deps.ctl.deny(request_id, user, DENY_REASON, at)
    except Refusal as refusal:
        _tell_clicker(client, channel, user, ui.refusal_blocks(None, str(refusal)), str(refusal))
        if refusal.reason is RefusalReason.EXPIRED:
            _show_expired(deps, client, channel, ts, request_id)
        return
    except Exception:
        log.exception("deciding request %s by %s failed", request_id, user)
        _tell_clicker(client, channel, user, ui.error_blocks(), "something went wrong")
        return
    _update(deps, client, channel, ts, request, opened)
    try:
        client.chat_postMessage(
            channel=request.requester,
            text=f"request {request.request_id} {request.status.value}",
            blocks=ui.requester_notice_blocks(request, deps.config, opened),
        )
    except Exception:
        log.exception("could not tell %s about request %s", request.requester, request_id)


def _update(
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


def _show_expired(deps: BotDeps, client: WebClient, channel: str, ts: str, request_id: str) -> None:
    expired = [r for r in deps.ctl.requests([RequestStatus.EXPIRED]) if r.request_id == request_id]
    if expired:
        _update(deps, client, channel, ts, expired[0])


def _tell_clicker(
    client: WebClient, channel: str, user: str, blocks: list[ui.Block], text: str
) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
    except Exception:
        log.exception("could not tell %s: %s", user, text)


def handle_approve(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    _decide(body, client, context, approve=True)


def handle_deny(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    ack()
    _decide(body, client, context, approve=False)


def register(app: App) -> None:
    app.action(ui.APPROVE_ACTION)(handle_approve)
    app.action(ui.DENY_ACTION)(handle_deny)
