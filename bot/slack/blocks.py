"""Block Kit rendering for every message the bot sends (no I/O, no Slack client here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.render import local
from core.activation import Opened
from core.config import Config, format_duration
from core.models import ActivationRequest, ActivationSlot, RequestStatus
from core.service import StatusReport

Block = dict[str, Any]

APPROVE_ACTION = "approve_request"
DENY_ACTION = "deny_request"
DECISION_BLOCK = "request_decision"
MAX_SECTION_TEXT = 2900  # Slack's limit is 3000 characters per section text

USAGE: dict[str, str] = {
    "help": "`/namespace help`: this help",
    "status": "`/namespace status [namespace]`: the schedule and each namespace's state",
    "activate": (
        "`/namespace activate <namespace> [duration] <cost-center> <reason...>`: ask a colleague "
        "to approve waking a namespace after hours (duration like `2h`, `90m`; default from config)"
    ),
    "deactivate": "`/namespace deactivate <namespace>`: end an activation window now",
    "extend": "`/namespace extend <namespace> <duration>`: make a live window longer",
    "list": "`/namespace list`: namespaces awake by activation, pending requests, bookings",
}


def section(text: str) -> Block:
    if len(text) > MAX_SECTION_TEXT:
        text = text[: MAX_SECTION_TEXT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def mention(user: str) -> str:
    return f"<@{user}>"


def escape(text: str) -> str:
    """Slack's three control characters in user-supplied text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def help_blocks() -> list[Block]:
    lines = ["*namespace-ctl*: dev namespaces sleep after business hours; wake one from here."]
    lines += [f"• {text}" for text in USAGE.values()]
    return [section("\n".join(lines))]


def usage_blocks(subcommand: str | None, problem: str) -> list[Block]:
    usage = USAGE.get(subcommand or "", "")
    text = f":warning: {escape(problem)}"
    text += f"\nUsage: {usage or USAGE['help'] + ' (every subcommand below)'}"
    blocks = [section(text)]
    if not usage:
        blocks += help_blocks()
    return blocks


def refusal_blocks(subcommand: str | None, message: str) -> list[Block]:
    blocks = [section(f":no_entry: {escape(message)}")]
    if subcommand in USAGE:
        blocks.append(context(f"Usage: {USAGE[subcommand]}"))
    return blocks


def error_blocks() -> list[Block]:
    return [
        section(
            ":boom: Something went wrong on our side; nothing was reported as changed. "
            "It has been logged: try again, or ask an admin to look at the logs."
        )
    ]


def status_blocks(report: StatusReport, config: Config, only: str | None = None) -> list[Block]:
    header = (
        f"*{'Business hours' if report.business_time else 'After hours'}* "
        f"({report.timezone}); next: *{report.next_state.value}* at "
        f"{local(report.next_transition, config)}"
    )
    rows = [n for n in report.namespaces if only is None or n.namespace == only]
    lines = []
    for n in sorted(rows, key=lambda n: n.namespace):
        if n.excluded:
            lines.append(f"• `{n.namespace}`: excluded ({escape(n.excluded)})")
            continue
        since = f", asleep since {local(n.asleep_since, config)}" if n.asleep_since else ""
        lines.append(
            f"• `{n.namespace}`: {n.state} ({n.sleeping}/{n.workloads} workloads asleep; "
            f"wanted {n.desired.value}{since})"
        )
    body = "\n".join(lines) or "no managed namespaces"
    return [section(header), section(body)]


def list_blocks(
    slots: list[ActivationSlot],
    pending: list[ActivationRequest],
    bookings: list[ActivationRequest],
    config: Config,
) -> list[Block]:
    awake = [
        f"• `{s.namespace}` for {mention(s.user_id)} ({escape(s.cost_center)}) until "
        f"{local(s.ends_at, config)}{'' if s.state.value == 'live' else ' (opening)'}"
        for s in slots
    ]
    waiting = [f"• {_request_line(r, config)}" for r in pending]
    booked = [f"• {_request_line(r, config)} from {local(r.starts_at, config)}" for r in bookings]
    return [
        section("*Awake by activation*\n" + ("\n".join(awake) or "none")),
        section("*Pending requests*\n" + ("\n".join(waiting) or "none")),
        section("*Bookings*\n" + ("\n".join(booked) or "none")),
    ]


def _request_line(r: ActivationRequest, config: Config) -> str:
    duration = format_duration(timedelta(minutes=r.duration_minutes))
    return (
        f"`{r.request_id}` `{r.namespace}` for {duration}, {escape(r.cost_center)}, by "
        f"{mention(r.requester)}: {escape(r.reason)} ({r.status.value})"
    )


def request_summary(r: ActivationRequest, config: Config) -> str:
    duration = format_duration(timedelta(minutes=r.duration_minutes))
    return (
        f"{mention(r.requester)} asks to wake `{r.namespace}` for *{duration}*, charged to "
        f"*{escape(r.cost_center)}*.\n>{escape(r.reason)}"
    )


def approval_request_blocks(r: ActivationRequest, config: Config) -> list[Block]:
    """The message in the approvals channel, with Approve and Deny buttons."""
    approvers = config.slack.approvers.get(r.cost_center, []) or config.slack.admins
    who = " ".join(mention(a) for a in approvers) or "an admin"
    return [
        section(f":alarm_clock: *After-hours activation request* `{r.request_id}`"),
        section(request_summary(r, config)),
        context(f"Approvers: {who} · expires {local(r.expires_at, config)}"),
        {
            "type": "actions",
            "block_id": DECISION_BLOCK,
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "value": r.request_id,
                },
                {
                    "type": "button",
                    "action_id": DENY_ACTION,
                    "style": "danger",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "value": r.request_id,
                },
            ],
        },
    ]


def approval_request_text(r: ActivationRequest) -> str:
    return f"Activation request {r.request_id}: {r.namespace} for {r.requester} ({r.cost_center})"


def decided_blocks(
    r: ActivationRequest, config: Config, opened: Opened | None = None
) -> list[Block]:
    """The approvals message after a decision: no buttons; the decision, who and when."""
    icon = {
        RequestStatus.APPROVED: ":white_check_mark:",
        RequestStatus.DENIED: ":x:",
        RequestStatus.EXPIRED: ":hourglass:",
        RequestStatus.CANCELLED: ":wastebasket:",
    }.get(r.status, ":grey_question:")
    by = f" by {mention(r.decided_by)}" if r.decided_by and r.decided_by != "namespace-ctl" else ""
    decision = f"{icon} *{r.status.value.capitalize()}*{by} at {local(r.decided_at, config)}"
    if r.decision_reason and r.status is not RequestStatus.APPROVED:
        decision += f": {escape(r.decision_reason)}"
    blocks = [
        section(f"*After-hours activation request* `{r.request_id}`"),
        section(request_summary(r, config)),
        section(decision),
    ]
    if opened is not None:
        blocks.append(context(opened_text(opened, config)))
    return blocks


def opened_text(opened: Opened, config: Config) -> str:
    slot = opened.slot
    text = (
        f"`{slot.namespace}` is awake until {local(slot.ends_at, config)}; "
        f"{len(opened.outcomes)} workloads woken"
    )
    if opened.failed:
        text += f", {len(opened.failed)} failed: " + "; ".join(
            escape(f"{o.ref}: {o.error}") for o in opened.failed[:5]
        )
    return text


def requester_notice_blocks(
    r: ActivationRequest, config: Config, opened: Opened | None = None
) -> list[Block]:
    """What the requester is told once someone decided."""
    if r.status is RequestStatus.APPROVED:
        text = f":white_check_mark: Your request `{r.request_id}` to wake `{r.namespace}` was "
        text += f"approved by {mention(r.decided_by)}."
        if opened is not None:
            text += "\n" + opened_text(opened, config)
    else:
        text = f":x: Your request `{r.request_id}` to wake `{r.namespace}` was {r.status.value}"
        text += f" by {mention(r.decided_by)}" if r.decided_by else ""
        text += f": {escape(r.decision_reason)}" if r.decision_reason else "."
    return [section(text)]
