"""Block Kit rendering for every message the bot sends (no I/O, no Slack client here)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.render import local
from core.activation import Opened
from core.config import Config, format_duration
from core.models import ActivationRequest, ActivationSlot, RequestStatus
from core.report import WeekSummary
from core.service import StatusReport

Block = dict[str, Any]

APPROVE_ACTION = "approve_request"
DENY_ACTION = "deny_request"
DECISION_BLOCK = "request_decision"
# The Extend button on "activation ending in 10 minutes" notices (value: the namespace).
EXTEND_ACTION = "extend_window"
EXTEND_BLOCK = "extend_window"
EXTEND_BY_HOURS = 1
MAX_SECTION_TEXT = 2900  # Slack's limit is 3000 characters per section text

USAGE: dict[str, str] = {
    "help": "`/namespace help`: this help",
    "status": "`/namespace status [namespace]`: the schedule and each namespace's state",
    "activate": (
        "`/namespace activate <namespace> [duration] <cost-center> <reason...>`: ask a colleague "
        "to approve waking a namespace after hours (duration like `2h`, `90m`; default from "
        "config); with arguments missing, a form opens"
    ),
    "deactivate": "`/namespace deactivate <namespace>`: end an activation window now",
    "extend": "`/namespace extend <namespace> <duration>`: make a live window longer",
    "list": "`/namespace list`: namespaces awake by activation, pending requests, bookings",
    "schedule": (
        "`/namespace schedule <namespace> <YYYY-MM-DD> <HH:MM> <duration> <cost-center> "
        "<reason...>`: book an after-hours window ahead (local time), approved like activate"
    ),
    "report": "`/namespace report [YYYY-Www]`: this week's hours asleep and activations so far",
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


def refusal_blocks(message: str) -> list[Block]:
    """A rule said no to a command whose syntax was right: the reason alone, no usage."""
    return [section(f":no_entry: {escape(message)}")]


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
        if n.window is not None:
            since = (
                f", awake by activation until {local(n.window.ends_at, config)} for "
                f"{mention(n.window.user_id)} ({escape(n.window.cost_center)})"
            )
        state = f"{n.state}, {n.readiness}" if n.readiness else n.state
        lines.append(
            f"• `{n.namespace}`: {state} ({n.sleeping}/{n.workloads} workloads asleep; "
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
    when = f" from *{local(r.starts_at, config)}*" if r.is_booking else ""
    return (
        f"{mention(r.requester)} asks to wake `{r.namespace}`{when} for *{duration}*, charged to "
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
        if r.is_booking:
            text += f" It starts by itself at {local(r.starts_at, config)}."
        if opened is not None:
            text += "\n" + opened_text(opened, config)
    else:
        text = f":x: Your request `{r.request_id}` to wake `{r.namespace}` was {r.status.value}"
        text += f" by {mention(r.decided_by)}" if r.decided_by else ""
        text += f": {escape(r.decision_reason)}" if r.decision_reason else "."
    return [section(text)]


def already_decided_text(r: ActivationRequest) -> str:
    """What a late click is told (the wording of core's refusal)."""
    who = f" by {r.decided_by}" if r.decided_by else ""
    return f"request {r.request_id} already decided: {r.status.value}{who}"


def extend_button(namespace: str) -> Block:
    """The Extend button for "activation ending" notices (one click: one more hour)."""
    return {
        "type": "actions",
        "block_id": EXTEND_BLOCK,
        "elements": [
            {
                "type": "button",
                "action_id": EXTEND_ACTION,
                "text": {"type": "plain_text", "text": f"Extend {EXTEND_BY_HOURS}h"},
                "value": namespace,
            }
        ],
    }


def hours(value: float) -> str:
    return f"{value:.1f} h"


def amount(value: float, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def report_blocks(summary: WeekSummary, config: Config, top: int = 25) -> list[Block]:
    """The week: what sleeping saved per namespace, what activations cost per cost center, who
    asked most, failures and drift, and the change from the week before."""
    money = summary.currency
    title = (
        f"*Week {summary.week}* ({local(summary.start, config)} to {local(summary.until, config)})"
    )
    headline = (
        f"Saved *{amount(summary.total_saved, money)}* of "
        f"{amount(summary.always_on_cost, money)} always-on ({summary.saved_percent}%); "
        f"after-hours activations cost *{amount(summary.total_activation_cost, money)}*"
    )
    asleep = sorted(summary.namespaces, key=lambda n: (-n.saved, -n.asleep_hours, n.namespace))
    lines = [
        f"• `{n.namespace}`: {hours(n.asleep_hours)}, {amount(n.saved, money)}"
        + (f" (no requests: {escape(', '.join(n.without_requests))})" if n.without_requests else "")
        for n in asleep[:top]
    ]
    if len(asleep) > top:
        lines.append(f"…and {len(asleep) - top} more")
    uses = [
        f"• *{escape(c.cost_center)}*: {c.activations} activation"
        f"{'' if c.activations == 1 else 's'}, {hours(c.hours)} awake, {amount(c.cost, money)}"
        for c in summary.cost_centers
    ]
    blocks = [
        section(f":bar_chart: {title}\n{headline}"),
        section(
            f"*Hours asleep* (total {hours(summary.total_asleep_hours)})\n"
            + ("\n".join(lines) or "none yet")
        ),
        section("*After-hours activations by cost center*\n" + ("\n".join(uses) or "none")),
    ]
    if summary.top_requesters:
        blocks.append(
            section(
                "*Top requesters*: "
                + ", ".join(
                    f"{mention(r.user_id)} ({r.activations}, {amount(r.cost, money)})"
                    for r in summary.top_requesters
                )
            )
        )
    blocks.append(context(_health_line(summary) + _change_line(summary)))
    return blocks


def _health_line(summary: WeekSummary) -> str:
    failed = ", ".join(sorted({f"`{f.namespace}`" for f in summary.failures}))
    failures = (
        f"{len(summary.failures)} failed operation{'' if len(summary.failures) == 1 else 's'}"
    )
    return (
        f"{failures}{f' ({failed})' if failed else ''}; "
        f"{summary.drift_corrected} workload{'' if summary.drift_corrected == 1 else 's'} "
        "put back to sleep after a manual scale-up"
    )


def _change_line(summary: WeekSummary) -> str:
    before = summary.previous
    if before is None:
        return ""
    if not (before.asleep_hours or before.total_activation_cost):
        return f" · nothing recorded in {before.week} to compare with"
    return (
        f" · vs {before.week}: saved {_change(summary.total_saved, before.total_saved)}, "
        f"activations {_change(summary.total_activation_cost, before.total_activation_cost)}"
        f" {summary.currency}"
    )


def _change(now: float, before: float) -> str:
    text = f"{now - before:+,.2f}"
    return f"{text} ({100 * (now - before) / before:+.0f}%)" if before else text


# ---- modals -------------------------------------------------------------------------------------

ACTIVATE_VIEW = "activate_request"
DENY_VIEW = "deny_request_reason"
FIELD_ACTION = "value"  # every input's action_id: the block_id names the field
NAMESPACE_FIELD = "activate_namespace"
DURATION_FIELD = "activate_duration"
COST_CENTER_FIELD = "activate_cost_center"
REASON_FIELD = "activate_reason"
DENY_REASON_FIELD = "deny_reason"
MAX_OPTIONS = 100  # Slack's limit for a static_select
MAX_OPTION_VALUE = 150


def plain(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _option(value: str) -> Block:
    return {"text": plain(value, 75), "value": value}


def choice_element(options: list[str], initial: str, placeholder: str) -> Block:
    """A static_select of `options`, or a text input when they do not fit one (none, too many,
    or the given value is not among them)."""
    options = [o for o in options if len(o) <= MAX_OPTION_VALUE]
    if 0 < len(options) <= MAX_OPTIONS and (not initial or initial in options):
        element: Block = {
            "type": "static_select",
            "action_id": FIELD_ACTION,
            "placeholder": plain(placeholder, 150),
            "options": [_option(o) for o in options],
        }
        if initial:
            element["initial_option"] = _option(initial)
        return element
    element = {"type": "plain_text_input", "action_id": FIELD_ACTION}
    if initial:
        element["initial_value"] = initial
    return element


def text_element(initial: str = "", multiline: bool = False, max_length: int = 0) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": FIELD_ACTION}
    if multiline:
        element["multiline"] = True
    if max_length:
        element["max_length"] = max_length
    if initial:
        element["initial_value"] = initial[:max_length] if max_length else initial
    return element


def input_block(block_id: str, label: str, element: Block, hint: str = "") -> Block:
    block: Block = {"type": "input", "block_id": block_id, "label": plain(label, 2000)}
    block["element"] = element
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def modal(
    callback_id: str, title: str, blocks: list[Block], submit: str = "", metadata: str = ""
) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title, 24),
        "close": plain("Cancel" if submit else "Close", 24),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain(submit, 24)
    if metadata:
        view["private_metadata"] = metadata
    return view


def activate_modal(
    config: Config,
    namespaces: list[str],
    cost_centers: list[str],
    given: dict[str, str],
    metadata: str,
) -> Block:
    """The form `/namespace activate` opens when arguments are missing, pre-filled with `given`
    (keys: namespace, duration, cost_center, reason)."""
    default = format_duration(config.activation.default_duration)
    limit = format_duration(config.activation.max_duration)
    blocks = [
        section("Wake a namespace after hours; a colleague approves it in the approvals channel."),
        input_block(
            NAMESPACE_FIELD,
            "Namespace",
            choice_element(namespaces, given.get("namespace", ""), "Choose a namespace"),
        ),
        input_block(
            DURATION_FIELD,
            "Duration",
            text_element(given.get("duration") or default, max_length=20),
            hint=f"Like 2h, 90m or 1h30m; at most {limit}.",
        ),
        input_block(
            COST_CENTER_FIELD,
            "Cost center",
            choice_element(cost_centers, given.get("cost_center", ""), "Who pays for it"),
        ),
        input_block(
            REASON_FIELD,
            "Reason",
            text_element(given.get("reason", ""), multiline=True, max_length=500),
            hint="Your approver reads this.",
        ),
    ]
    return modal(ACTIVATE_VIEW, "Wake a namespace", blocks, submit="Request", metadata=metadata)


def deny_modal(r: ActivationRequest, config: Config, metadata: str) -> Block:
    blocks = [
        section(request_summary(r, config)),
        input_block(
            DENY_REASON_FIELD,
            "Why not?",
            text_element(multiline=True, max_length=500),
            hint="The requester is told this reason.",
        ),
    ]
    return modal(DENY_VIEW, "Deny request", blocks, submit="Deny", metadata=metadata)


def notice_modal(title: str, text: str) -> Block:
    """A modal that only says something (what a submission turns into when it cannot go on)."""
    return modal("namespace_ctl_notice", title, [section(text)])
