"""`namespace-ctl estimate [--json]`: what a normal week under the current config would save, per
namespace and in total, read from the configured cluster (never changed)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.render import local
from core.app import NamespaceCtl
from core.config import Config
from core.estimate import Estimate, NamespaceEstimate

EXIT_OK = 0
ASLEEP_MARK = "*"


def add_commands(commands: Any) -> None:
    cmd = commands.add_parser(
        "estimate",
        help="read-only: what a normal week under this config would save, per namespace",
    )
    cmd.add_argument("--json", action="store_true", help="the estimate as JSON")


def cmd_estimate(ctl: NamespaceCtl, args: argparse.Namespace, config: Config) -> int:
    result = ctl.reports.estimate(args.instant)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print(render_estimate(result, config))
    return EXIT_OK


_HEADER = (
    f"{'NAMESPACE':<30} {'PODS':>5} {'PER HOUR':>9} {'ALWAYS ON':>10} "
    f"{'ASLEEP H':>8} {'SAVED':>10} {'%':>5}"
)


def _row(ns: NamespaceEstimate) -> str:
    name = ns.namespace + (ASLEEP_MARK if ns.source == "shutdown record" else "")
    line = (
        f"{name:<30} {ns.pods:>5} {ns.hourly_cost:>9.4f} {ns.always_on_cost:>10,.2f} "
        f"{ns.asleep_hours:>8g} {ns.saved:>10,.2f} {ns.saved_percent:>5.1f}"
    )
    if ns.without_requests:
        line += f"  no requests: {', '.join(ns.without_requests)}"
    return line


def render_estimate(result: Estimate, config: Config) -> str:
    money = result.currency
    lines = [
        f"Estimate at {local(result.at, config)}: a normal week under the current config",
        f"Schedule: {result.week.rule}",
        f"Amounts in {money}: an hour awake, a week always on, the week's saving",
        "",
        _HEADER,
    ]
    lines += [_row(ns) for ns in result.namespaces] or ["(no managed namespaces)"]
    lines.append(
        f"{'TOTAL':<30} {sum(ns.pods for ns in result.namespaces):>5} "
        f"{result.total_hourly_cost:>9.4f} {result.total_always_on_cost:>10,.2f} "
        f"{'':>8} {result.total_saved:>10,.2f} {result.saved_percent:>5.1f}"
    )
    lines += ["", *_notes(result)]
    rates = result.rates
    lines.append(
        f"Rates: {rates.cpu_core_hour:g} {money} per CPU core-hour, "
        f"{rates.memory_gib_hour:g} {money} per GiB-hour requested ({rates.source})"
    )
    return "\n".join(lines)


def _notes(result: Estimate) -> list[str]:
    notes = []
    if result.without_requests:
        notes.append(
            f"{result.without_requests} workload(s) run pods without CPU or memory requests: "
            "they count as 0 here, so the figures are a floor (set requests to price them)"
        )
    if any(ns.source == "shutdown record" for ns in result.namespaces):
        notes.append(
            f"{ASLEEP_MARK} asleep now: priced from its shutdown snapshot (what it runs awake)"
        )
    if result.excluded:
        notes.append(
            "Excluded (never put to sleep, no figures): "
            + ", ".join(f"{ex.namespace} ({ex.reason})" for ex in result.excluded)
        )
    return notes


COMMANDS = {"estimate": cmd_estimate}
