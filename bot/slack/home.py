"""App Home: on `app_home_opened`, publish the user's Home tab: namespaces awake by activation,
pending requests, upcoming bookings, the next shutdown and startup, this week's hours asleep."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.render import local
from bot.slack import BotDeps, deps_of
from bot.slack import blocks as ui
from core.clock import epoch
from core.config import format_duration
from core.models import ActivationRequest, DesiredState, RequestStatus
from core.report import WeekSummary, iso_week

log = logging.getLogger("namespace_ctl.slack.home")
HOME_OPENED = "app_home_opened"
EVENT_TYPES = (HOME_OPENED,)
EDGE_WORDS = {DesiredState.ASLEEP: "shutdown", DesiredState.AWAKE: "startup"}
MAX_LINES = 15  # per section: the Home tab is a glance, `/namespace list` has everything


def next_edges(deps: BotDeps, at: datetime) -> dict[DesiredState, datetime]:
    """The next shutdown (ASLEEP) and the next startup (AWAKE) after `at`."""
    return deps.ctl.schedule.next_edges(at)


def _lines(items: list[str]) -> str:
    shown = items[:MAX_LINES]
    if len(items) > MAX_LINES:
        shown.append(f"…and {len(items) - MAX_LINES} more (`/namespace list`)")
    return "\n".join(shown) or "none"


def _request_line(r: ActivationRequest, deps: BotDeps) -> str:
    duration = format_duration(timedelta(minutes=r.duration_minutes))
    when = f" from {local(r.starts_at, deps.config)}" if r.is_booking else ""
    return (
        f"• `{r.namespace}`{when} for {duration}, {ui.escape(r.cost_center)}, by "
        f"{ui.mention(r.requester)} ({r.status.value})"
    )


def home_view(deps: BotDeps, at: datetime, week: WeekSummary) -> dict[str, Any]:
    config = deps.config
    edges = next_edges(deps, at)
    awake = [
        f"• `{s.namespace}` until {local(s.ends_at, config)}, {ui.escape(s.cost_center)}, "
        f"for {ui.mention(s.user_id)}"
        for s in deps.ctl.activations.live()
    ]
    pending = [
        _request_line(r, deps)
        for r in deps.ctl.approvals.requests([RequestStatus.PENDING])
        if not r.is_booking
    ]
    booked = [_request_line(r, deps) for r in deps.ctl.approvals.bookings()]
    asleep = sorted(week.namespaces, key=lambda n: (-n.asleep_hours, n.namespace))
    slept = [f"• `{n.namespace}`: {ui.hours(n.asleep_hours)}" for n in asleep]
    blocks = [
        {"type": "header", "text": ui.plain("namespace-ctl", 150)},
        ui.section(
            "\n".join(
                f"Next {EDGE_WORDS[state]}: *{local(epoch(when), config)}*"
                for state, when in sorted(edges.items(), key=lambda edge: edge[1])
            )
        ),
        {"type": "divider"},
        ui.section("*Awake by activation*\n" + _lines(awake)),
        ui.section("*Pending requests*\n" + _lines(pending)),
        ui.section("*Upcoming bookings*\n" + _lines(booked)),
        {"type": "divider"},
        ui.section(
            f"*This week ({week.week}) so far*: {ui.hours(week.total_asleep_hours)} asleep, "
            f"{ui.amount(week.total_saved, week.currency)} saved, "
            f"{ui.amount(week.total_activation_cost, week.currency)} spent on activations\n"
            + _lines(slept)
        ),
        ui.context("`/namespace help` lists the commands; `/namespace report` has the week."),
    ]
    return {"type": "home", "blocks": blocks}


def handle_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    user = event.get("user")
    if not isinstance(user, str) or not user or event.get("tab", "home") != "home":
        return
    deps = deps_of(context)
    deps.later(lambda: publish_home(deps, client, user), "publishing a Home tab")


def publish_home(deps: BotDeps, client: WebClient, user: str) -> None:
    try:
        at = deps.clock.now()
        week = deps.ctl.reports.week(iso_week(at, deps.config.zone), at)
        client.views_publish(user_id=user, view=home_view(deps, at, week))
    except Exception:
        log.exception("could not publish the Home tab of %s", user)


def register(app: App) -> None:
    app.event(HOME_OPENED)(handle_home_opened)
