"""`namespace-ctl` (also the kubectl plugin `kubectl-namespace_ctl`).

Exit codes: 0 success, 1 a refused or failed operation (reason on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from bot import cli_activation, cli_estimate, cli_report
from bot.render import local
from core import parse
from core.activation import Housekeeping
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config, load_config
from core.errors import ConfigError, NamespaceCtlError, RefusedError
from core.models import ActivationSlot, ActivityRecord, OperationResult, OutcomeStatus
from core.service import NamespaceStatus, StatusReport
from core.wiring import build_app

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


GLOBAL_OPTIONS = ("--config", "--now")


class UsageError(Exception):
    """Bad usage (exit 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, with a hint when a global option was given after the command."""

    def error(self, message: str) -> NoReturn:
        if "unrecognized arguments" in message and any(
            option in message for option in GLOBAL_OPTIONS
        ):
            message += (
                f"\n  {' and '.join(GLOBAL_OPTIONS)} are global options: put them before the "
                "command, e.g. namespace-ctl --config FILE status"
            )
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="namespace-ctl",
        description="Put Kubernetes namespaces to sleep after business hours and wake them.",
    )
    parser.add_argument("--config", help="YAML config file (default: $NSCTL_CONFIG, else defaults)")
    parser.add_argument(
        "--now", help="pretend it is this ISO-8601 time at start (naive = configured zone)"
    )
    parser.add_argument("--version", action="version", version=f"namespace-ctl {_version()}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Parser
    )

    status = commands.add_parser(
        "status", help="state of every namespace (or one) and the schedule"
    )
    status.add_argument("namespace", nargs="?", metavar="NS", help="only this namespace")
    status.add_argument("--json", action="store_true", help="machine-readable output")

    for name, text in (
        ("shutdown", "put managed namespaces (or the named ones) to sleep now"),
        ("startup", "wake sleeping namespaces (or the named ones) now, restoring exactly"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("namespaces", nargs="*", metavar="NS")
        _operation_flags(cmd)

    reconcile = commands.add_parser(
        "reconcile", help="drive every namespace to the schedule's state now (catches up)"
    )
    _operation_flags(reconcile)

    history = commands.add_parser("history", help="the audit log, newest first")
    history.add_argument("namespace", nargs="?", metavar="NS")
    history.add_argument("--limit", type=_positive_int, help="at most this many records")
    history.add_argument("--json", action="store_true", help="records with the seed's names")
    cli_activation.add_commands(commands)
    cli_report.add_commands(commands)
    cli_estimate.add_commands(commands)

    serve = commands.add_parser(
        "serve",
        help="the bot: Slack (HTTP or Socket Mode) or the console, jobs, /healthz /readyz /metrics",
    )
    serve.add_argument("--port", type=_port, default=3000, help="HTTP port (default 3000)")
    serve.add_argument(
        "--metrics-port",
        type=_port,
        default=None,
        help="serve /metrics on this port instead (default: on --port), so it never faces Slack",
    )
    serve.add_argument(
        "--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0, every interface)"
    )
    serve.add_argument(
        "--no-console",
        action="store_true",
        help="without Slack tokens, run the jobs and the HTTP server only (no console on stdin)",
    )
    commands.add_parser("console", help="chat with the bot's Slack listeners on stdin, no Slack")
    return parser


def _version() -> str:
    try:
        return metadata.version("namespace-ctl")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _operation_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    cmd.add_argument("--json", action="store_true", help="machine-readable result")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config or os.environ.get("NSCTL_CONFIG"))
        clock = _clock(args.now, config)
        # The command's instant: `--now` exactly, so its records carry that timestamp.
        args.instant = clock.now()
        ctl = build_app(config, clock)
    except (ConfigError, UsageError) as exc:
        print(f"namespace-ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NamespaceCtlError as exc:
        print(f"namespace-ctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        return COMMANDS[args.command](ctl, args, config)
    except BrokenPipeError:  # `| head`: the reader left; not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except parse.InputError as exc:
        print(f"namespace-ctl: {exc.field}: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except RefusedError as exc:
        print(f"namespace-ctl: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except NamespaceCtlError as exc:
        print(f"namespace-ctl: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        ctl.close()


def _clock(now: str | None, config: Config) -> Clock:
    if now is None:
        return Clock()
    try:
        return Clock(parse.instant(now, config.zone, "--now"))
    except parse.InputError as exc:
        raise UsageError(f"--now: {exc.message}") from None


# ---- commands ------------------------------------------------------------------------------


def cmd_status(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    report = ctl.schedule.status(at=args.instant)
    slots = ctl.activations.live()
    if args.namespace is not None:
        report, slots = _only(report, slots, args.namespace)
    if args.json:
        _print_json(
            report.model_dump(mode="json") | {"activations": [s.model_dump() for s in slots]}
        )
    else:
        print(render_status(report, config))
        print("\nawake by activation:\n" + cli_activation.render_slots(slots, config))
    return EXIT_OK


def _only(
    report: StatusReport, slots: list[ActivationSlot], name: str
) -> tuple[StatusReport, list[ActivationSlot]]:
    rows = [n for n in report.namespaces if n.namespace == name]
    if not rows:
        raise RefusedError(
            f"namespace {name!r} not found in the cluster (`namespace-ctl status` lists them)"
        )
    shown = report.model_copy(update={"namespaces": rows})
    return shown, [s for s in slots if s.namespace == name]


def cmd_operation(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    if args.command == "reconcile":
        chores, result = ctl.schedule.reconcile(dry_run=args.dry_run, at=args.instant)
        _print_chores(chores, config)
    else:
        schedule = ctl.schedule
        run = schedule.shutdown if args.command == "shutdown" else schedule.startup
        result = run(args.namespaces, dry_run=args.dry_run, at=args.instant)
    if args.json:
        _print_json(result.model_dump(mode="json") | {"ok": result.ok})
    else:
        print(render_result(result, config))
    for outcome in result.failed_workloads():
        print(f"namespace-ctl: failed: {outcome.ref}: {outcome.error}", file=sys.stderr)
    for error in result.errors:
        print(f"namespace-ctl: failed: {error}", file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def _print_chores(chores: Housekeeping, config: Config) -> None:
    for slot in chores.ended:
        print(f"window ended: {slot.namespace} ({slot.user_id}, {slot.cost_center})")
    for request in chores.expired:
        print(f"request expired: {request.request_id} ({request.namespace})")
    for opened in chores.started:
        print("booking started: " + cli_activation.render_opened(opened, config))
    for booking, why in chores.refused_bookings:
        print(f"booking {booking.request_id} ({booking.namespace}) not started: {why}")
    for slot in chores.repaired:
        print(f"repaired a half-opened window: {slot.namespace}")


def cmd_history(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    records = ctl.reports.history(args.namespace, args.limit)
    if args.json:
        _print_json([record.seed_dict() for record in records])
    else:
        print(render_history(records, config))
    return EXIT_OK


def cmd_serve(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    from bot import serve

    server = serve.Serve(
        ctl,
        config,
        ctl.clock,
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        use_console=not args.no_console,
    )
    server.install_signal_handlers()
    server.tune_gc()
    try:
        return server.run()
    except serve.UsageError as exc:
        print(f"namespace-ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_console(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    from bot.console import run_console

    return run_console(ctl, config, ctl.clock, sys.stdin, sys.stdout)


COMMANDS: dict[str, Callable[[NamespaceCtl, argparse.Namespace, Config], int]] = {
    "status": cmd_status,
    "shutdown": cmd_operation,
    "startup": cmd_operation,
    "reconcile": cmd_operation,
    "history": cmd_history,
    "serve": cmd_serve,
    "console": cmd_console,
    **cli_activation.COMMANDS,
    **cli_report.COMMANDS,
    **cli_estimate.COMMANDS,
}


# ---- rendering -----------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def render_status(report: StatusReport, config: Config) -> str:
    phase = "business hours" if report.business_time else "after hours"
    lines = [
        f"{local(report.at, config)} ({report.timezone}): {phase}; "
        f"next: {report.next_state.value} at {local(report.next_transition, config)}",
        f"{'NAMESPACE':<28} {'STATE':<14} {'WANTED':<7} {'WORKLOADS':>9} {'ASLEEP':>6}  NOTE",
    ]
    for ns in report.namespaces:
        note = ns.excluded or _status_note(ns, config)
        wanted = "-" if ns.excluded else ns.desired.value
        lines.append(
            f"{ns.namespace:<28} {ns.state:<14} {wanted:<7} "
            f"{ns.workloads:>9} {ns.sleeping:>6}  {note}"
        )
    return "\n".join(lines)


def _status_note(ns: NamespaceStatus, config: Config) -> str:
    notes = [ns.readiness] if ns.readiness else []
    if ns.window is not None:
        notes.append(
            f"awake by activation until {local(ns.window.ends_at, config)} "
            f"({ns.window.user_id}, {ns.window.cost_center})"
        )
    elif ns.asleep_since:
        notes.append(f"asleep since {local(ns.asleep_since, config)}")
    return "; ".join(notes)


def render_result(result: OperationResult, config: Config) -> str:
    head = (
        f"{result.operation}{' (dry run)' if result.dry_run else ''} at {local(result.at, config)}"
    )
    lines = [head]
    for ns in result.namespaces:
        if ns.skipped_reason:
            lines.append(f"  {ns.namespace}: skipped ({ns.skipped_reason})")
            continue
        counts: dict[str, int] = {}
        for outcome in ns.outcomes:
            counts[outcome.status.value] = counts.get(outcome.status.value, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing"
        lines.append(f"  {ns.namespace} ({ns.action.value}): {summary}")
        for outcome in ns.outcomes:
            if outcome.status is not OutcomeStatus.UNCHANGED:
                lines.append(f"    {outcome.ref.kind.value}/{outcome.ref.name}: {outcome.detail}")
    if len(lines) == 1:
        lines.append("  nothing to do")
    changed = sum(
        1
        for ns in result.namespaces
        for o in ns.outcomes
        if o.status is not OutcomeStatus.UNCHANGED
    )
    lines.append(
        f"{len(result.namespaces)} namespaces, {changed} workloads acted on, "
        f"{len(result.failed_workloads())} failed"
    )
    return "\n".join(lines)


def render_history(records: list[ActivityRecord], config: Config) -> str:
    if not records:
        return "no records"
    lines = [
        f"{'START':<22} {'END':<22} {'MIN':>5} {'NAMESPACE':<24} "
        f"{'OPERATION':<20} {'STATUS':<9} USER"
    ]
    for r in records:
        minutes = "-" if r.duration_minutes is None else str(r.duration_minutes)
        line = (
            f"{local(r.timestamp_start, config):<22} {local(r.timestamp_end, config):<22} "
            f"{minutes:>5} {r.namespace_name:<24} {r.operation_type.value:<20} {r.status.value:<9} "
            f"{r.user_id}{' ' + r.cost_center if r.cost_center else ''}"
        )
        line += f"\n    reason: {r.reason}" if r.reason else ""
        lines.append(line + (f"\n    error: {r.error_message}" if r.error_message else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
