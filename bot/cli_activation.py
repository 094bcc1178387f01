"""CLI commands of after-hours activation and cost-center administration.

From the CLI an activation opens at once (the operator holds cluster credentials); every rule and
cap still applies. Refusals exit 1 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.render import local
from core import parse
from core.activation import Opened
from core.app import NamespaceCtl
from core.config import Config, format_duration
from core.models import ActivationRequest, ActivationSlot, CostCenterPermission, RequestStatus
from core.policy import Refusal, RefusalReason

Command = Callable[[NamespaceCtl, argparse.Namespace, Config], int]


def add_commands(commands: Any) -> None:
    """Register the activation subcommands on the CLI's subparsers."""
    activate = commands.add_parser("activate", help="wake a namespace now, after hours")
    _target(activate, cost_center=True)
    activate.add_argument("--for", dest="duration", help="window length, e.g. 2h (default: config)")
    activate.add_argument("--reason", required=True, help="why (recorded)")

    deactivate = commands.add_parser("deactivate", help="end a namespace's activation window now")
    _target(deactivate)

    extend = commands.add_parser("extend", help="make a live window longer")
    _target(extend)
    extend.add_argument("--for", dest="duration", required=True, help="extra time, e.g. 1h")

    request = commands.add_parser("request", help="ask for an activation (a colleague approves)")
    _target(request, cost_center=True)
    request.add_argument("--for", dest="duration", help="window length, e.g. 2h")
    request.add_argument("--reason", required=True, help="why (recorded)")
    request.add_argument("--at", help="a booking: start at this ISO-8601 time")

    requests = commands.add_parser("requests", help="pending requests (--all: every request)")
    requests.add_argument("--all", action="store_true")
    requests.add_argument("--json", action="store_true")

    for name, text in (
        ("approve", "approve a pending request"),
        ("deny", "deny a pending request"),
    ):
        decide = commands.add_parser(name, help=text)
        decide.add_argument("request_id", metavar="ID")
        decide.add_argument("--user", required=True)
        if name == "deny":
            decide.add_argument("--reason", required=True)

    book = commands.add_parser("book", help="book an activation for a future window")
    _target(book, cost_center=True)
    book.add_argument("--at", required=True, help="start, ISO-8601 (naive = configured zone)")
    book.add_argument("--for", dest="duration", help="window length, e.g. 2h")
    book.add_argument("--reason", required=True, help="why (recorded)")

    bookings = commands.add_parser("bookings", help="upcoming bookings, soonest first")
    bookings.add_argument("--json", action="store_true")

    cancel = commands.add_parser("cancel", help="withdraw a pending request or a booking")
    cancel.add_argument("request_id", metavar="ID")
    cancel.add_argument("--user", required=True)

    _costcenter_commands(commands)


def _target(parser: argparse.ArgumentParser, cost_center: bool = False) -> None:
    parser.add_argument("namespace", metavar="NS")
    if cost_center:
        parser.add_argument("--cost-center", required=True)
    parser.add_argument("--user", required=True, help="who does it (recorded)")


def _costcenter_commands(commands: Any) -> None:
    costcenter = commands.add_parser("costcenter", help="cost centers allowed to activate")
    actions = costcenter.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every cost center")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one cost center")
    show.add_argument("cost_center", metavar="CC")
    show.add_argument("--json", action="store_true")
    add = actions.add_parser("add", help="create a cost center")
    add.add_argument("cost_center", metavar="CC")
    add.add_argument("--max", type=int, help="max_concurrent_namespaces (default: global cap)")
    add.add_argument("--namespaces", nargs="*", default=[], metavar="PATTERN")
    add.add_argument("--unauthorized", action="store_true", help="create it revoked")
    setcap = actions.add_parser("set", help="set or clear its cap")
    setcap.add_argument("cost_center", metavar="CC")
    cap = setcap.add_mutually_exclusive_group(required=True)
    cap.add_argument("--max", type=int)
    cap.add_argument("--no-max", action="store_true", help="use the global cap")
    for name in ("authorize", "revoke"):
        actions.add_parser(name, help=f"{name} after-hours activation").add_argument(
            "cost_center", metavar="CC"
        )
    for name in ("add-namespace", "remove-namespace"):
        pattern = actions.add_parser(name, help="a namespace name or glob such as payments-*")
        pattern.add_argument("cost_center", metavar="CC")
        pattern.add_argument("pattern", metavar="PATTERN")


# ---- commands ------------------------------------------------------------------------------


def cmd_activate(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    opened = ctl.activations.activate(
        args.namespace,
        args.cost_center,
        args.user,
        _duration(args.duration),
        _reason(args.reason),
        args.instant,
    )
    print(render_opened(opened, config))
    return 1 if opened.failed else 0


def cmd_deactivate(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    slot = ctl.activations.deactivate(args.namespace, args.user, args.instant)
    print(f"{slot.namespace}: window ended by {args.user}; back on schedule")
    return 0


def cmd_extend(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    duration = _duration(args.duration)
    assert duration is not None
    slot = ctl.activations.extend(args.namespace, duration, args.user, args.instant)
    print(f"{slot.namespace}: awake until {local(slot.ends_at, config)}")
    return 0


def cmd_request(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    starts = _instant(args.at, config) if args.at else None
    request = ctl.approvals.request(
        args.namespace,
        args.cost_center,
        args.user,
        _duration(args.duration),
        _reason(args.reason),
        args.instant,
        starts,
    )
    print(f"{request.request_id}: pending approval until {local(request.expires_at, config)}")
    return 0


def cmd_requests(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    requests = ctl.approvals.requests(None if args.all else [RequestStatus.PENDING])
    _print(args, [r.model_dump(mode="json") for r in requests], render_requests(requests, config))
    return 0


def cmd_approve(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    request, opened = ctl.approvals.approve(args.request_id, args.user, args.instant)
    print(f"{request.request_id}: approved by {args.user}")
    if opened is not None:
        print(render_opened(opened, config))
        return 1 if opened.failed else 0
    return 0


def cmd_deny(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    request = ctl.approvals.deny(args.request_id, args.user, _reason(args.reason), args.instant)
    print(f"{request.request_id}: denied by {args.user}: {request.decision_reason}")
    return 0


def cmd_book(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    booking = ctl.approvals.book(
        args.namespace,
        args.cost_center,
        args.user,
        _instant(args.at, config),
        _duration(args.duration),
        _reason(args.reason),
        args.instant,
    )
    print(
        f"{booking.request_id}: {booking.namespace} booked from {local(booking.starts_at, config)}"
    )
    return 0


def cmd_bookings(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    bookings = ctl.approvals.bookings()
    _print(args, [b.model_dump(mode="json") for b in bookings], render_requests(bookings, config))
    return 0


def cmd_cancel(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    request = ctl.approvals.cancel(args.request_id, args.user, args.instant)
    print(f"{request.request_id}: cancelled by {args.user}")
    return 0


def cmd_costcenter(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    name = getattr(args, "cost_center", "")
    if args.action == "list":
        rows = ctl.cost_centers.all()
        _print(args, [r.model_dump(mode="json") for r in rows], render_cost_centers(rows))
        return 0
    if args.action == "show":
        row = ctl.cost_centers.get(name)
        _print(args, row.model_dump(mode="json"), render_cost_centers([row]))
        return 0
    by_action: dict[str, dict[str, Any]] = {
        "add": {
            "create": True,
            "max_concurrent": getattr(args, "max", None),
            "add_namespaces": getattr(args, "namespaces", []),
            "authorized": not getattr(args, "unauthorized", False),
        },
        "set": {
            "max_concurrent": getattr(args, "max", None),
            "clear_max": getattr(args, "no_max", False),
        },
        "authorize": {"authorized": True},
        "revoke": {"authorized": False},
        "add-namespace": {"add_namespaces": [getattr(args, "pattern", "")]},
        "remove-namespace": {"remove_namespaces": [getattr(args, "pattern", "")]},
    }
    changes = by_action[args.action]
    if args.action == "add" and any(r.cost_center == name for r in ctl.cost_centers.all()):
        raise Refusal(
            RefusalReason.INVALID, f"invalid: cost center {name} already exists (use set)"
        )
    print(render_cost_centers([ctl.cost_centers.set(name, args.instant, **changes)]))
    return 0


COMMANDS: dict[str, Command] = {
    "activate": cmd_activate,
    "deactivate": cmd_deactivate,
    "extend": cmd_extend,
    "request": cmd_request,
    "requests": cmd_requests,
    "approve": cmd_approve,
    "deny": cmd_deny,
    "book": cmd_book,
    "bookings": cmd_bookings,
    "cancel": cmd_cancel,
    "costcenter": cmd_costcenter,
}


# ---- parsing and rendering -----------------------------------------------------------------


def _duration(text: str | None) -> timedelta | None:
    """`--for`: a bad duration is bad usage (exit 2), named by the shared parser."""
    return None if text is None else parse.duration(text, "--for")


def _instant(text: str, config: Config) -> datetime:
    return parse.instant(text, config.zone, "--at")


def _reason(text: str) -> str:
    return parse.reason(text, "--reason")


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def render_opened(opened: Opened, config: Config) -> str:
    slot = opened.slot
    lines = [
        f"{slot.namespace}: awake for {slot.user_id} ({slot.cost_center}) until "
        f"{local(slot.ends_at, config)}; {len(opened.outcomes)} workloads woken"
    ]
    lines += [f"  failed: {o.ref}: {o.error}" for o in opened.failed]
    return "\n".join(lines)


def render_slots(slots: list[ActivationSlot], config: Config) -> str:
    if not slots:
        return "no namespace awake by activation"
    return "\n".join(
        f"{s.namespace:<28} {s.cost_center:<14} {s.user_id:<12} until {local(s.ends_at, config)}"
        f"{'' if s.state.value == 'live' else ' (opening)'}"
        for s in slots
    )


def render_requests(requests: list[ActivationRequest], config: Config) -> str:
    if not requests:
        return "none"
    lines = []
    for r in requests:
        when = f"from {local(r.starts_at, config)} " if r.starts_at else ""
        decided = f" by {r.decided_by}" if r.decided_by else ""
        lines.append(
            f"{r.request_id}  {r.namespace:<24} {r.cost_center:<12} {r.requester:<12} "
            f"{when}for {format_duration(timedelta(minutes=r.duration_minutes))}  "
            f'{r.status.value}{decided}  "{r.reason}"'
        )
    return "\n".join(lines)


def render_cost_centers(rows: list[CostCenterPermission]) -> str:
    if not rows:
        return "no cost centers"
    return "\n".join(
        f"{r.cost_center:<16} {'authorized' if r.is_authorized else 'REVOKED':<10} "
        f"max {_cap(r)}  namespaces: {', '.join(r.authorized_namespaces) or '-'}"
        for r in rows
    )


def _cap(row: CostCenterPermission) -> str:
    return "global" if row.max_concurrent_namespaces is None else str(row.max_concurrent_namespaces)
