"""The `/namespace` slash command: parse the text, call a core use case, reply ephemerally.

Every request is acknowledged first (Slack wants an answer within 3 s); the work and the reply
(through the command's `response_url`) come after. `activate` with arguments missing opens a
form (the `views` module takes its submission); other missing or malformed arguments get the
usage; a core `Refusal` gets its message (which holds the reason word) and the usage; anything
else a friendly error: never a 500. `post_request` is the one place a request is posted for
approval.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.render import local
from bot.slack import BotDeps, deps_of
from bot.slack import blocks as ui
from core import parse as parsers
from core.models import ActivationRequest, CostCenterPermission, RequestStatus
from core.policy import Refusal
from core.report import iso_week, parse_week

log = logging.getLogger("namespace_ctl.slack.commands")
COMMAND = "/namespace"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^\d{2}:\d{2}$")


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
    trigger_id: str = ""  # lets the command open a modal (valid for 3 s)
    response_url: str = ""


@dataclass
class Reply:
    text: str
    blocks: list[ui.Block]


Handler = Callable[[BotDeps, Invocation, WebClient], Reply]


def parse(
    user: str, channel: str, text: str, trigger_id: str = "", response_url: str = ""
) -> Invocation:
    words = (text or "").split()
    if not words:
        return Invocation(user, channel, "help", [], trigger_id, response_url)
    return Invocation(user, channel, words[0].lower(), words[1:], trigger_id, response_url)


def _duration(subcommand: str, text: str) -> timedelta:
    try:
        return parsers.duration(text)
    except parsers.InputError as exc:
        raise UsageError(subcommand, exc.message) from None


# ---- subcommands -------------------------------------------------------------------------------


def cmd_help(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    return Reply("namespace-ctl help", ui.help_blocks())


def cmd_status(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) > 1:
        raise UsageError("status", "status takes at most one namespace")
    only = inv.args[0] if inv.args else None
    report = deps.ctl.schedule.status(at=deps.clock.now())
    if only is not None and all(n.namespace != only for n in report.namespaces):
        raise UsageError("status", f"namespace {only} not found in the cluster")
    return Reply("namespace status", ui.status_blocks(report, deps.config, only))


def cmd_activate(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    given = _activate_arguments(inv.args)
    if _needs_form(given):
        if _open_activate_modal(deps, inv, client, given):
            return Reply(
                "a form opened",
                [ui.section(":memo: A form opened: fill in what is missing and press *Request*.")],
            )
        if "namespace" not in given:
            raise UsageError("activate", "which namespace?")
        raise UsageError("activate", "give a cost center and a reason")
    duration = _duration("activate", given["duration"]) if "duration" in given else None
    at = deps.clock.now()
    request = deps.ctl.approvals.request(
        given["namespace"], given["cost_center"], inv.user, duration, given["reason"], at
    )
    return post_request(deps, request)


def opens_a_form(inv: Invocation) -> bool:
    """Whether the command opens a modal with its trigger_id (valid for 3 s)."""
    return inv.subcommand == "activate" and _needs_form(_activate_arguments(inv.args))


def _needs_form(given: dict[str, str]) -> bool:
    return not given.get("cost_center") or not given.get("reason")


def _activate_arguments(args: list[str]) -> dict[str, str]:
    """`<namespace> [duration] [cost-center] [reason...]`, as far as given."""
    rest = list(args)
    given: dict[str, str] = {}
    if rest:
        given["namespace"] = rest.pop(0)
    if rest and parsers.looks_like_duration(rest[0]):
        given["duration"] = rest.pop(0)
    if rest:
        given["cost_center"] = rest.pop(0)
    if rest:
        given["reason"] = " ".join(rest)
    return given


def _open_activate_modal(
    deps: BotDeps, inv: Invocation, client: WebClient, given: dict[str, str]
) -> bool:
    """Open the activate form with the command's trigger; False when that is not possible."""
    if not inv.trigger_id:
        return False
    cost_centers = [p for p in deps.ctl.cost_centers.all() if p.is_authorized]
    metadata = json.dumps({"channel": inv.channel, "response_url": inv.response_url})
    view = ui.activate_modal(
        deps.config,
        activatable_namespaces(deps, cost_centers),
        [p.cost_center for p in cost_centers],
        given,
        metadata,
    )
    try:
        client.views_open(trigger_id=inv.trigger_id, view=view)
    except Exception:
        log.exception("could not open the activate form for %s", inv.user)
        return False
    return True


def activatable_namespaces(deps: BotDeps, cost_centers: list[CostCenterPermission]) -> list[str]:
    """Managed namespaces that some authorized cost center lists (one namespace list call)."""
    return deps.ctl.cost_centers.activatable_namespaces(cost_centers)


def post_request(deps: BotDeps, request: ActivationRequest) -> Reply:
    """Deliver the new request's (or booking's) message to the approvals channel (core posted
    it to the outbox) and word the requester's reply. The one place a request is announced (the
    command, the form and `schedule` use it)."""
    deps.deliver_notices()
    channel = deps.config.slack.approvals_channel
    what = "Booking" if request.is_booking else "Request"
    if not deps.ctl.approvals.is_announced(request.request_id):
        return Reply(
            "request saved, not posted yet",
            [
                ui.section(
                    f":warning: {what} `{request.request_id}` is saved, but Slack did not take "
                    f"its message for {channel} yet: namespace-ctl keeps retrying. An approver "
                    f"can also run `namespace-ctl approve {request.request_id} --user ...`."
                )
            ],
        )
    when = f" from {local(request.starts_at, deps.config)}" if request.is_booking else ""
    return Reply(
        f"request {request.request_id} sent for approval",
        [
            ui.section(
                f":hourglass_flowing_sand: {what} `{request.request_id}` to wake "
                f"`{request.namespace}`{when} sent to {channel} for approval; it expires "
                f"{local(request.expires_at, deps.config)}. You will get a direct message when "
                "someone decides."
            )
        ],
    )


def cmd_deactivate(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) != 1:
        raise UsageError("deactivate", "give exactly one namespace")
    slot = deps.ctl.activations.deactivate(inv.args[0], inv.user, deps.clock.now())
    return Reply(
        f"{slot.namespace} window ended",
        [ui.section(f":zzz: `{slot.namespace}`: window ended; back on schedule.")],
    )


def cmd_extend(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) != 2:
        raise UsageError("extend", "give a namespace and a duration")
    duration = _duration("extend", inv.args[1])
    slot = deps.ctl.activations.extend(inv.args[0], duration, inv.user, deps.clock.now())
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
    pending = [r for r in deps.ctl.approvals.requests([RequestStatus.PENDING]) if not r.is_booking]
    blocks = ui.list_blocks(
        deps.ctl.activations.live(), pending, deps.ctl.approvals.bookings(), deps.config
    )
    return Reply("activations", blocks)


def cmd_schedule(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) < 6:
        raise UsageError("schedule", "give a namespace, date, time, duration, cost center, reason")
    namespace, day, clock, length, cost_center, *reason = inv.args
    starts_at = _local_start(day, clock, deps)
    duration = _duration("schedule", length)
    at = deps.clock.now()
    request = deps.ctl.approvals.request(
        namespace, cost_center, inv.user, duration, " ".join(reason), at, starts_at=starts_at
    )
    return post_request(deps, request)


def _local_start(day: str, clock: str, deps: BotDeps) -> datetime:
    """`YYYY-MM-DD` and `HH:MM` in the configured zone."""
    if not _DATE_RE.match(day):
        raise UsageError("schedule", f"{day!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-24")
    if not _TIME_RE.match(clock):
        raise UsageError("schedule", f"{clock!r} is not a time: use HH:MM (24h), e.g. 21:30")
    try:
        return datetime.combine(
            date.fromisoformat(day), time.fromisoformat(clock), deps.config.zone
        )
    except ValueError as exc:
        raise UsageError("schedule", f"{day} {clock} is not a valid date and time: {exc}") from None


def cmd_report(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    if len(inv.args) > 1:
        raise UsageError("report", "report takes at most one week, like 2026-W49")
    now = deps.clock.now()
    zone = deps.config.zone
    try:
        week = parse_week(inv.args[0], zone) if inv.args else iso_week(now, zone)
    except ValueError as exc:
        raise UsageError("report", str(exc)) from None
    summary = deps.ctl.reports.week(week, now)
    return Reply(f"week {summary.week}", ui.report_blocks(summary, deps.config))


SUBCOMMANDS: dict[str, Handler] = {
    "help": cmd_help,
    "status": cmd_status,
    "activate": cmd_activate,
    "deactivate": cmd_deactivate,
    "extend": cmd_extend,
    "list": cmd_list,
    "schedule": cmd_schedule,
    "report": cmd_report,
}


def run(deps: BotDeps, inv: Invocation, client: WebClient) -> Reply:
    """Dispatch one invocation; every outcome is a reply, never an exception."""
    handler = SUBCOMMANDS.get(inv.subcommand)
    posted_before = deps.notifier.outbox.posted
    try:
        if handler is None:
            raise UsageError(None, f"unknown subcommand {inv.subcommand!r}")
        reply = handler(deps, inv, client)
    except UsageError as exc:
        return Reply(f"usage: {exc}", ui.usage_blocks(exc.subcommand, str(exc)))
    except Refusal as refusal:
        return Reply(str(refusal), ui.refusal_blocks(str(refusal)))
    except Exception:
        log.exception("/namespace %s by %s failed", inv.subcommand, inv.user)
        return Reply("something went wrong", ui.error_blocks())
    # What the command posted (e.g. a window ended by `deactivate`), delivered before the reply;
    # a command that posted nothing (help, list, status) does not read the outbox: in a burst of
    # fifty, fifty reads would compete with the next acks.
    if deps.notifier.outbox.posted != posted_before:
        deps.deliver_notices()
    return reply


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
        str(command.get("trigger_id", "")),
        str(command.get("response_url", "")),
    )
    deps = deps_of(context)
    deps.later(
        lambda: answer(deps, inv, respond, client),
        f"/namespace {inv.subcommand}",
        urgent=opens_a_form(inv),
    )


def answer(deps: BotDeps, inv: Invocation, respond: Respond, client: WebClient) -> None:
    """The work of one command, after its ack: run it and answer the person ephemerally."""
    reply = run(deps, inv, client)
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
