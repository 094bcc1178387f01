"""Block Kit for the channel notices of `core.notices` (no I/O here).

Each notice renders from its own `facts` only (never the store or the cluster), so a notice
delivered hours late says what happened then. Request notices reuse the approval messages of
`blocks`; "activation ending" carries the Extend button (`EXTEND_ACTION`, value: the namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.render import local
from bot.slack.blocks import (
    EXTEND_ACTION,
    Block,
    approval_request_blocks,
    approval_request_text,
    context,
    decided_blocks,
    escape,
    extend_button,
    mention,
    report_blocks,
    requester_notice_blocks,
    section,
)
from core.config import Config
from core.models import ActivationRequest, Notice, NoticeKind
from core.notices import ESTIMATED_SAVING
from core.report import WeekSummary

__all__ = ["EXTEND_ACTION", "Message", "notice_message", "request_of"]

Message = tuple[str, list[Block]]  # (fallback text, blocks)
MAX_LINES = 20
HOW_OPENED = {
    "activated": "activated by an operator",
    "approved": "request approved",
    "booking": "booking started",
    "repaired": "completed after an interrupted start",
}


def notice_message(notice: Notice, config: Config) -> Message:
    """The channel message of a notice (for request notices: the approvals-channel message)."""
    return _RENDERERS[notice.kind](notice.facts, config)


def request_of(notice: Notice) -> ActivationRequest:
    return ActivationRequest.model_validate(notice.facts["request"])


# ---- schedule -----------------------------------------------------------------------------------


def _shutdown(facts: dict[str, Any], config: Config) -> Message:
    return _summary(facts, config, ":crescent_moon:", "Shutdown", "put to sleep")


def _startup(facts: dict[str, Any], config: Config) -> Message:
    return _summary(facts, config, ":sunrise:", "Startup", "woken")


def _summary(facts: dict[str, Any], config: Config, icon: str, title: str, verb: str) -> Message:
    count, workloads = facts["namespace_count"], facts["workloads"]
    replicas = facts.get("replicas")
    head = (
        f"{icon} *{title}*: {_plural(count, 'namespace')} {verb}, {_plural(workloads, 'workload')}"
    )
    head += f" ({_plural(replicas, 'replica')})" if replicas is not None else ""
    if facts.get("catch_up"):
        head += "\n_by the reconcile pass (following the schedule, catching up what was missed)_"
    blocks = [section(head)]
    lines = [
        f"• `{ns['namespace']}`: {_plural(ns['workloads'], 'workload')}"
        + (f", {_plural(ns['replicas'], 'replica')}" if ns.get("replicas") is not None else "")
        for ns in facts["namespaces"]
    ]
    if lines:
        blocks.append(section(_capped(lines, count)))
    if facts["failed_count"]:
        blocks.append(section(_failure_lines(facts)))
    skipped = [f"`{s['namespace']}` ({escape(s['reason'])})" for s in facts.get("skipped", [])]
    if skipped:
        blocks.append(context("Skipped: " + ", ".join(skipped)))
    saving = facts.get(ESTIMATED_SAVING)
    if saving:
        blocks.append(
            context(
                f"Estimated saving until {local(saving['until'], config)}: "
                f"{saving['amount']:,.2f} {escape(saving['currency'])}"
            )
        )
    text = f"{title}: {_plural(count, 'namespace')} {verb}, {_plural(workloads, 'workload')}"
    if facts["failed_count"]:
        text += f", {facts['failed_count']} failed"
    return text, blocks


def _failure(facts: dict[str, Any], config: Config) -> Message:
    admins = " ".join(mention(a) for a in config.slack.admins) or "(no slack.admins configured)"
    head = f":rotating_light: {admins} *{facts['operation']}*: "
    head += f"{_plural(facts['failed_count'], 'workload')} failed" if facts["failed_count"] else ""
    blocks = [section(head.rstrip(": "))]
    if facts["failed_count"]:
        blocks.append(section(_failure_lines(facts)))
    if facts.get("errors"):
        blocks.append(section("\n".join(f"• {escape(e)}" for e in facts["errors"])))
    blocks.append(context("The reconcile pass retries every few minutes; the audit log has it."))
    text = (
        f"namespace-ctl {facts['operation']}: {_plural(facts['failed_count'], 'workload')} failed"
    )
    return text, blocks


def _drift(facts: dict[str, Any], config: Config) -> Message:
    head = (
        f":leftwards_arrow_with_hook: *Drift corrected*: {_plural(facts['count'], 'workload')} "
        "scaled up while asleep put back to sleep; the new count is the one restored in the "
        "morning. After-hours work goes through `/namespace activate`."
    )
    lines = [
        f"• `{w['namespace']}` {escape(w['workload'])}"
        + (f": {escape(w['detail'])}" if w.get("detail") else "")
        for w in facts["workloads"]
    ]
    return f"Drift corrected: {_plural(facts['count'], 'workload')}", [
        section(head),
        section(_capped(lines, facts["count"])),
    ]


# ---- activations --------------------------------------------------------------------------------


def _started(facts: dict[str, Any], config: Config) -> Message:
    how = HOW_OPENED.get(facts.get("how", ""), facts.get("how", ""))
    request = f", request `{facts['request_id']}`" if facts.get("request_id") else ""
    text = (
        f":sunny: `{facts['namespace']}` is awake for {mention(facts['user'])} "
        f"({escape(facts['cost_center'])}) until {local(facts['ends_at'], config)}: "
        f"{_plural(facts['workloads'], 'workload')} woken ({how}{request})"
    )
    blocks = [section(text)]
    if facts["failed_count"]:
        blocks.append(section(_failure_lines(facts)))
    return f"{facts['namespace']} awake until {local(facts['ends_at'], config)}", blocks


def _ending(facts: dict[str, Any], config: Config) -> Message:
    text = (
        f":hourglass_flowing_sand: {mention(facts['user'])} `{facts['namespace']}` goes back to "
        f"sleep at {local(facts['ends_at'], config)}. Need longer? Extend it."
    )
    return f"{facts['namespace']} goes back to sleep soon", [
        section(text),
        extend_button(facts["namespace"]),
    ]


def _ended(facts: dict[str, Any], config: Config) -> Message:
    by = f" by {mention(facts['ended_by'])}" if facts.get("ended_by") else ""
    text = (
        f":zzz: `{facts['namespace']}`'s window ({mention(facts['user'])}, "
        f"{escape(facts['cost_center'])}) ended{by} at {local(facts['ended_at'], config)}; "
        "it follows the schedule again."
    )
    return f"{facts['namespace']}'s window ended", [section(text)]


def _cap(facts: dict[str, Any], config: Config) -> Message:
    scope = facts["scope"]
    where = "namespace-ctl" if scope == "global" else f"cost center *{escape(scope)}*"
    text = (
        f":no_entry: *Cap reached* for {where}: {facts['cap']} of {facts['cap']} namespaces awake "
        f"by activation, the last `{facts['namespace']}` for {mention(facts['user'])}. Further "
        "requests are refused until a window ends."
    )
    return f"activation cap reached ({scope})", [section(text)]


def _dropped(facts: dict[str, Any], config: Config) -> Message:
    r = ActivationRequest.model_validate(facts["request"])
    text = (
        f":wastebasket: Booking `{r.request_id}` of `{r.namespace}` for {mention(r.requester)} "
        f"({escape(r.cost_center)}) did not start: {escape(facts['why'])}"
    )
    return f"booking {r.request_id} did not start", [section(text)]


def _weekly(facts: dict[str, Any], config: Config) -> Message:
    summary = WeekSummary.model_validate(facts["summary"])
    return f"Weekly summary {summary.week}", report_blocks(summary, config)


# ---- requests (the approvals channel) -----------------------------------------------------------


def _opened(facts: dict[str, Any], config: Config) -> Message:
    r = ActivationRequest.model_validate(facts["request"])
    return approval_request_text(r), approval_request_blocks(r, config)


def _decided(facts: dict[str, Any], config: Config) -> Message:
    """The approvals message after the decision (buttons gone)."""
    r = ActivationRequest.model_validate(facts["request"])
    blocks = decided_blocks(r, config)
    window = facts.get("window")
    if window:
        blocks.append(context(_window_text(window, config)))
    return f"request {r.request_id} {r.status.value}", blocks


def requester_message(notice: Notice, config: Config) -> Message:
    """What the requester is told in a direct message once someone decided."""
    r = request_of(notice)
    blocks = requester_notice_blocks(r, config)
    window = notice.facts.get("window")
    if window:
        blocks.append(context(_window_text(window, config)))
    return f"request {r.request_id} {r.status.value}", blocks


def _window_text(window: dict[str, Any], config: Config) -> str:
    return f"`{window['namespace']}` is awake until {local(window['ends_at'], config)}"


# ---- helpers ------------------------------------------------------------------------------------


# ---- verified wake-ups --------------------------------------------------------------------------


def _hhmm(ts: int | None, config: Config) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, config.zone).strftime("%H:%M")


def _wake_verified(facts: dict[str, Any], config: Config) -> Message:
    """ "7 of 8 ready by 07:04; payments-api: Deployment/api 1/3 ready (ImagePullBackOff)"."""
    total, ready = facts["total"], facts["ready"]
    head = f"{ready} of {_plural(total, 'namespace')} ready"
    if facts.get("last_ready_at") is not None:
        head += f" by {_hhmm(facts['last_ready_at'], config)}"
    not_ready = [
        f"{n['namespace']}: {', '.join(n['workloads'])}" for n in facts.get("not_ready", [])
    ]
    text = "; ".join([head, *not_ready])
    icon = ":white_check_mark:" if ready == total else ":warning:"
    blocks = [
        section(
            f"{icon} *Wake verified*: {escape(head)} (woken {_hhmm(facts['woken_at'], config)})"
        )
    ]
    if not_ready:
        lines = [
            f"• `{n['namespace']}`: {escape(', '.join(n['workloads']))}" for n in facts["not_ready"]
        ]
        blocks.append(section("*Not ready*\n" + _capped(lines, total - ready)))
    return text, blocks


def _not_ready(facts: dict[str, Any], config: Config) -> Message:
    admins = " ".join(mention(a) for a in config.slack.admins) or "(no slack.admins configured)"
    namespace = facts["namespace"]
    head = (
        f":rotating_light: {admins} `{namespace}` is not ready at "
        f"{_hhmm(facts['deadline'], config)}, woken at {_hhmm(facts['woken_at'], config)}: "
        f"{facts['ready']} of {_plural(facts['total'], 'workload')} ready"
    )
    lines = [f"• {escape(w)}" for w in facts["workloads"]]
    blocks = [section(head), section(_capped(lines, len(lines)))]
    blocks.append(
        context(
            f"`kubectl describe pods -n {namespace}` and `kubectl events -n {namespace}` say more."
        )
    )
    text = f"{namespace} not ready: " + "; ".join(facts["workloads"])
    return text, blocks


def _namespace_ready(facts: dict[str, Any], config: Config) -> Message:
    namespace = facts["namespace"]
    if facts["ready"]:
        text = f"{namespace} is ready: every pod is up ({facts['seconds']} s after the wake)"
        return text, [
            section(
                f":white_check_mark: `{namespace}` is ready: every pod is up "
                f"({facts['seconds']} s after the wake)."
            )
        ]
    text = f"{namespace} is not ready: " + "; ".join(facts["workloads"])
    lines = "\n".join(f"• {escape(w)}" for w in facts["workloads"])
    return text, [section(f":warning: `{namespace}` is awake but not ready:\n{lines}")]


def _failure_lines(facts: dict[str, Any]) -> str:
    lines = [
        f"• `{f['namespace']}` {escape(f['workload'])}: {escape(f['error'])}"
        for f in facts["failures"]
    ]
    return "*Failed*\n" + _capped(lines, facts["failed_count"])


def _capped(lines: list[str], total: int) -> str:
    shown = lines[:MAX_LINES]
    if total > len(shown):
        shown.append(f"…and {total - len(shown)} more")
    return "\n".join(shown)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


_RENDERERS: dict[NoticeKind, Callable[[dict[str, Any], Config], Message]] = {
    NoticeKind.SHUTDOWN: _shutdown,
    NoticeKind.STARTUP: _startup,
    NoticeKind.FAILURE: _failure,
    NoticeKind.DRIFT: _drift,
    NoticeKind.ACTIVATION_STARTED: _started,
    NoticeKind.ACTIVATION_ENDING: _ending,
    NoticeKind.ACTIVATION_ENDED: _ended,
    NoticeKind.CAP_REACHED: _cap,
    NoticeKind.BOOKING_DROPPED: _dropped,
    NoticeKind.REQUEST_OPENED: _opened,
    NoticeKind.REQUEST_DECIDED: _decided,
    NoticeKind.REQUEST_EXPIRED: _decided,
    NoticeKind.WEEKLY_SUMMARY: _weekly,
    NoticeKind.WAKE_VERIFIED: _wake_verified,
    NoticeKind.NOT_READY: _not_ready,
    NoticeKind.NAMESPACE_READY: _namespace_ready,
}
