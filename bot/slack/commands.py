"""The `/namespace` slash command: parse the text, call a core use case, reply ephemerally.

Every request is acknowledged first (Slack wants an answer within 3 s); the work and the reply
(through the command's `response_url`) come after. Missing or malformed arguments get the usage;
a core `Refusal` gets its message (which holds the reason word) and the usage; anything else a
friendly error: never a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.render import local
from bot.slack import BotDeps, deps_of
from bot.slack import blocks as ui
from core.config import parse_duration
from core.models import RequestStatus
from core.policy import Refusal

log = logging.getLogger("namespace_ctl.slack.commands")
COMMAND = "/namespace"


class UsageError(Exception):
    """The command text does not fit its subcommand's usage."""

    def __init__(self, subcommand: str | None, problem: str) -> None:
        super().__init__(problem)
        self.subcommand = subcommand


@dataclass
class Invocation:
    """One slash command: who typed what, where."""

    user: str
    channel: str
    subcommand: str
    args: list[str] = field(default_factory=list)


@dataclass
class Reply:
    text: str
    blocks: list[ui.Block]


Handler = Callable[[BotDeps, Invocation, WebClient], Reply]


def parse(user: str, channel: str, text: str) -> Invocation:
    words = (text or "").split()
    if not words:
        return Invocation(user, channel, "help")
    return Invocation(user, channel, words[0].lower(), words[1:])


def _duration(subcommand: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(subcommand, str(exc)) from None


def _is_duration(text: str) -> bool:
    try:
        parse_duration(text)
    except ValueError:
        return False
    return True


# ---- subcommands -------------------------------------------------------------------------------


def cmd_help(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    return Reply("namespace-ctl help", ui.help_blocks())


def cmd_status(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) > 1:
        raise UsageError("status", "status takes at most one namespace")
    only = inv.args[0] if inv.args else None
    report = deps.ctl.namespaces.status(at=deps.clock.now())
    if only is not None and all(n.namespace != only for n in report.namespaces):
        raise UsageError("status", f"namespace {only} not found in the cluster")
    return Reply("namespace status", ui.status_blocks(report, deps.config, only))


def cmd_activate(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    args = list(inv.args)
    if not args:
        raise UsageError("activate", "which namespace? (a form for this is coming)")
    namespace = args.pop(0)
    duration = _duration("activate", args.pop(0)) if args and _is_duration(args[0]) else None
    if len(args) < 2:
        raise UsageError("activate", "give a cost center and a reason")
    cost_center, reason = args[0], " ".join(args[1:])
    at = deps.clock.now()
    request = deps.ctl.request(namespace, cost_center, inv.user, duration, reason, at)
    channel = deps.config.slack.approvals_channel
    try:
        client.chat_postMessage(
            channel=channel,
            text=ui.approval_request_text(request),
            blocks=ui.approval_request_blocks(request, deps.config),
        )
    except Exception:
        log.exception("could not post request %s to %s", request.request_id, channel)
        return Reply(
            "request saved, not posted",
            [
                ui.section(
                    f":warning: Request `{request.request_id}` is saved but could not be posted "
                    f"in {channel}: ask an approver to run "
                    f"`namespace-ctl approve {request.request_id} --user ...`."
                )
            ],
        )
    return Reply(
        f"request {request.request_id} sent for approval",
        [
            ui.section(
                f":hourglass_flowing_sand: Request `{request.request_id}` to wake "
                f"`{request.namespace}` sent to {channel} for approval; it expires "
                f"{local(request.expires_at, deps.config)}. You will be told here when someone "
                "decides."
            )
        ],
    )


def cmd_deactivate(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) != 1:
        raise UsageError("deactivate", "give exactly one namespace")
    slot = deps.ctl.deactivate(inv.args[0], inv.user, deps.clock.now())
    return Reply(
        f"{slot.namespace} window ended",
        [ui.section(f":zzz: `{slot.namespace}`: window ended; back on schedule.")],
    )


def cmd_extend(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) != 2:
        raise UsageError("extend", "give a namespace and a duration")
    duration = _duration("extend", inv.args[1])
    slot = deps.ctl.extend(inv.args[0], duration, inv.user, deps.clock.now())
    return Reply(
        f"{slot.namespace} extended",
        [
            ui.section(
                f":stopwatch: `{slot.namespace}` is awake until {local(slot.ends_at, deps.config)}."
            )
        ],
    )


def cmd_list(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if inv.args:
        raise UsageError("list", "list takes no arguments")
    pending = [r for r in deps.ctl.requests([RequestStatus.PENDING]) if not r.is_booking]
    blocks = ui.list_blocks(deps.ctl.slots(), pending, deps.ctl.bookings(), deps.config)
    return Reply("activations", blocks)


SUBCOMMANDS: dict[str, Handler] = {
    "help": cmd_help,
    "status": cmd_status,
    "activate": cmd_activate,
    "deactivate": cmd_deactivate,
    "extend": cmd_extend,
    "list": cmd_list,
}


def run(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    """Dispatch one invocation; every outcome is a reply, never an exception."""
    handler = SUBCOMMANDS.get(inv.subcommand)
    try:
        if handler is None:
            raise UsageError(None, f"unknown subcommand {inv.subcommand!r}")
        return handler(deps, inv, client)
    except UsageError as exc:
        return Reply(f"usage: {exc}", ui.usage_blocks(exc.subcommand, str(exc)))
    except Refusal as refusal:
        return Reply(str(refusal), ui.refusal_blocks(inv.subcommand, str(refusal)))
    except Exception:
        log.exception("/namespace %s by %s failed", inv.subcommand, inv.user)
        return Reply("something went wrong", ui.error_blocks())


# ---- the listener ------------------------------------------------------------------------------


def handle_namespace(
    ack: Ack,
    command: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
) -> None:
    ack()
    inv = parse(
        str(command.get("user_id", "")),
        str(command.get("channel_id", "")),
        str(command.get("text", "")),
    )
    reply = run(deps_of(context), inv, client)
    try:
        respond(text=reply.text, blocks=reply.blocks, response_type="ephemeral")
    except Exception:
        log.exception("could not answer /namespace through its response_url")
        if inv.channel and inv.user:
            client.chat_postEphemeral(
                channel=inv.channel, user=inv.user, text=reply.text, blocks=reply.blocks
            )


def register(app: App) -> None:
    app.command(COMMAND)(handle_namespace)
