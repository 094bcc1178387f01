"""`namespace-ctl report weekly [--week 2026-W49] [--json|--csv]`: the week's savings and who
spent what, from the audit log alone (no cluster)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from typing import Any

from bot.render import local
from core.app import NamespaceCtl
from core.config import Config
from core.report import Week, WeekSummary, iso_week, parse_week

EXIT_OK, EXIT_USAGE = 0, 2
CSV_COLUMNS = ("week", "section", "name", "activations", "hours", "amount", "currency")


def add_commands(commands: Any) -> None:
    report = commands.add_parser("report", help="reports from the audit log (`report weekly`)")
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    weekly = kinds.add_parser(
        "weekly", help="an ISO week: sleep and savings per namespace, activation costs"
    )
    weekly.add_argument("--week", help="YYYY-Www, e.g. 2026-W49 (default: this week so far)")
    output = weekly.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="the summary as JSON")
    output.add_argument("--csv", action="store_true", help="one row per figure, for spreadsheets")


def cmd_report(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    try:
        week = _week(args.week, args, config)
    except ValueError as exc:
        print(f"namespace-ctl: --week: {exc}", file=sys.stderr)
        return EXIT_USAGE
    summary = ctl.reports.week(week, args.instant)
    if args.json:
        print(json.dumps(summary.model_dump(mode="json"), indent=2))
    elif args.csv:
        write_csv(summary)
    else:
        print(render_summary(summary, config))
    return EXIT_OK


def _week(label: str | None, args: argparse.Namespace, config: Config) -> Week:
    return parse_week(label, config.zone) if label else iso_week(args.instant, config.zone)


def csv_rows(summary: WeekSummary) -> list[tuple[Any, ...]]:
    """Every figure of the summary, one row each, in `CSV_COLUMNS` order."""
    week, money = summary.week, summary.currency
    rows: list[tuple[Any, ...]] = [
        (week, "namespace", n.namespace, "", n.asleep_hours, n.saved, money)
        for n in summary.namespaces
    ]
    rows += [
        (week, "cost_center", c.cost_center, c.activations, c.hours, c.cost, money)
        for c in summary.cost_centers
    ]
    rows += [
        (week, "requester", r.user_id, r.activations, r.hours, r.cost, money)
        for r in summary.top_requesters
    ]
    rows += [(week, "day_saved", d.date, "", d.hours, d.saved, money) for d in summary.days]
    rows += [(week, "day_spent", d.date, "", d.hours, d.spent, money) for d in summary.days]
    rows += [
        (week, "total", "saved", "", summary.total_asleep_hours, summary.total_saved, money),
        (
            week,
            "total",
            "activation_cost",
            sum(c.activations for c in summary.cost_centers),
            summary.total_activation_hours,
            summary.total_activation_cost,
            money,
        ),
        (week, "total", "always_on_cost", "", "", summary.always_on_cost, money),
    ]
    return rows


def write_csv(summary: WeekSummary) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(summary))


def render_summary(summary: WeekSummary, config: Config) -> str:
    money = summary.currency
    lines = [
        f"Week {summary.week}: {local(summary.start, config)} to {local(summary.until, config)}",
        f"Saved {summary.total_saved:,.2f} {money} of {summary.always_on_cost:,.2f} {money} "
        f"always-on ({summary.saved_percent}%); activations cost "
        f"{summary.total_activation_cost:,.2f} {money}",
    ]
    if summary.previous is not None:
        before = summary.previous
        lines.append(
            f"Previous week {before.week}: saved {before.total_saved:,.2f} {money}, "
            f"activations {before.total_activation_cost:,.2f} {money}"
        )
    lines += ["", f"{'NAMESPACE':<32} {'ASLEEP H':>9} {'SAVED':>10}"]
    lines += [
        f"{n.namespace:<32} {n.asleep_hours:>9.1f} {n.saved:>10,.2f}"
        + (f"  (no requests: {', '.join(n.without_requests)})" if n.without_requests else "")
        for n in summary.namespaces
    ] or ["(none asleep)"]
    lines += ["", f"{'COST CENTER':<32} {'ACTIVATIONS':>11} {'HOURS':>7} {'COST':>10}"]
    lines += [
        f"{c.cost_center:<32} {c.activations:>11} {c.hours:>7.1f} {c.cost:>10,.2f}"
        for c in summary.cost_centers
    ] or ["(no activations)"]
    if summary.top_requesters:
        lines += [
            "",
            "Top requesters: "
            + ", ".join(
                f"{r.user_id} ({r.activations}, {r.cost:,.2f} {money})"
                for r in summary.top_requesters
            ),
        ]
    lines += ["", f"Failures: {len(summary.failures)}; drift corrected: {summary.drift_corrected}"]
    lines += [
        f"  {local(f.at, config)} {f.namespace} {f.operation}: {f.error}" for f in summary.failures
    ]
    return "\n".join(lines)


COMMANDS = {"report": cmd_report}
