"""The printed report: plain-text tables from the results dict written to latest.json."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

STORE_READS = ("get_record", "open_records", "set_status", "close_record")
REQUESTS_TARGET = 1.05
SPEEDUP_TARGET = 10.0


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Columns sized to fit; the first `left` columns left-aligned, the others right-aligned."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _run_row(run: dict[str, Any]) -> list[str]:
    return [
        run["name"],
        str(run["concurrency"]),
        f"{run['workloads']:,}",
        f"{run['wall_s']:.2f}",
        f"{run['workloads_per_s']:,.0f}",
        f"{run['requests']:,}",
        f"{run['requests_per_workload']:.4f}",
        f"{run['cpu_s']:.2f}",
        f"{run['cpu_s_per_1k']:.3f}",
        f"{run['cpu_utilisation']:.2f}",
        f"{run['rss_before_run_mib']:.0f}",
        f"{run['peak_rss_mib']:.0f}",
        f"{run['fake_cpu_s']:.2f}",
        "yes" if run["verified"] else "NO",
    ]


def _phase_row(run: dict[str, Any]) -> list[str]:
    phases = run["phases"]
    lists = sum(phases.get(k, {}).get("wall_s", 0.0) for k in ("list_namespaces", "list_workloads"))
    writes = [phases[k] for k in ("add_record", "add_records") if k in phases]
    add = {"wall_s": sum(w["wall_s"] for w in writes), "calls": sum(w["calls"] for w in writes)}
    other = [v for k, v in phases.items() if k in STORE_READS]
    reads = {"wall_s": sum(v["wall_s"] for v in other), "calls": sum(v["calls"] for v in other)}
    converge_util = run["converge_cpu_s"] / run["converge_s"] if run["converge_s"] else 0.0
    bound = run["workloads"] / run["concurrency"] * 0.025
    return [
        run["name"],
        str(run["concurrency"]),
        f"{lists:.2f}",
        f"{add['wall_s']:.2f} ({add['calls']})",
        f"{run['to_first_patch_s']:.2f}",
        f"{run['converge_s']:.2f}",
        f"{bound:.2f}",
        f"{run['workloads'] / run['converge_s']:,.0f}",
        f"{converge_util:.2f}",
        f"{reads['wall_s']:.2f} ({reads['calls']})",
        f"{run['after_last_patch_s']:.2f}",
    ]


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def render(results: dict[str, Any]) -> str:
    machine = results["machine"]
    runs = results["table"]
    out = [
        "",
        f"namespace-ctl shutdown benchmark: fake API server in its own process, "
        f"{results['latency_s'] * 1000:.0f} ms per request; {machine['cpus']} CPUs, "
        f"Python {machine['python']}, kubernetes client {machine['kubernetes_client']}",
        "",
        table(
            [
                "run",
                "C",
                "workloads",
                "wall s",
                "wl/s",
                "requests",
                "req/wl",
                "CPU s",
                "CPU s/1k wl",
                "CPU/wall",
                "RSS at start MiB",
                "peak RSS MiB",
                "fake CPU s",
                "verified",
            ],
            [_run_row(r) for r in runs],
        ),
        "",
        "Where the wall time goes (seconds; 'C x 25 ms bound' = workloads / C x 25 ms, the "
        "fastest converge possible):",
        table(
            [
                "run",
                "C",
                "lists",
                "record writes (n)",
                "to 1st patch",
                "converge",
                "C x 25 ms bound",
                "patches/s",
                "CPU/wall in converge",
                "other store calls (n)",
                "after last patch",
            ],
            [_phase_row(r) for r in runs],
        ),
        "",
    ]
    baseline, large = results["baseline"], results["large"]
    small = next(r for r in results["sweep"] if r["concurrency"] == results["chosen_concurrency"])
    worst = max(r["requests_per_workload"] for r in runs)
    sweep = "; ".join(
        f"C={r['concurrency']}: " + "/".join(f"{s:.2f}" for s in r["converge_s_all"])
        for r in results["sweep"]
    )
    out += [
        f"Concurrency sweep on {small['namespaces']}x{small['per_namespace']}, "
        f"{results['repeat']} runs each (the table shows the median one), converge s: {sweep}. "
        f"Chosen C={results['chosen_concurrency']}: the smallest whose median converge time is "
        f"within {results['tolerance']:.0%} of the best.",
        f"Speed-up of {small['namespaces']}x{small['per_namespace']} at "
        f"C={small['concurrency']} over one request at a time: {baseline['wall_s']:.2f} s / "
        f"{small['wall_s']:.2f} s = {results['speedup']:.1f}x "
        f"(target >= {SPEEDUP_TARGET:.0f}x: {_mark(results['speedup'] >= SPEEDUP_TARGET)})",
        f"API requests per workload: at most {worst:.4f} (target <= {REQUESTS_TARGET}: "
        f"{_mark(worst <= REQUESTS_TARGET)}); {large['namespaces']}x{large['per_namespace']}: "
        + ", ".join(f"{k} {v:,}" for k, v in large["requests_by_kind"].items()),
        f"Verified: every Deployment read back from the fake at replicas 0 with "
        f"namespace-ctl.io/original-replicas=2, every outcome 'changed', one open auto_shutdown "
        f"record per namespace: {_mark(all(r['verified'] for r in results['runs']))}",
    ]
    for run in results["runs"]:
        for problem in run["problems"]:
            out.append(f"  PROBLEM {run['name']} C={run['concurrency']}: {problem}")
    if large.get("refresh_hook_us"):
        hook = large["refresh_hook_us"] * large["requests"] / 1e6
        out.append(
            f"Measured without the profiler: the kubeconfig token refresh hook costs "
            f"{large['refresh_hook_us']:.0f} us CPU per request with {large['environ_vars']} "
            f"environment variables = {hook:.2f} s of the {large['cpu_s']:.2f} CPU s of "
            f"{large['namespaces']}x{large['per_namespace']} ({hook / large['cpu_s']:.0%})"
        )
    if results.get("profile"):
        out += ["", *render_profile(results["profile"], large)]
    return "\n".join(_wrap(line) for line in out)


def _wrap(text: str, width: int = 100) -> str:
    """Prose wrapped at `width`; tables (their lines contain runs of spaces or dashes) kept."""
    if len(text) <= width or "  " in text or "---" in text:
        return text
    return textwrap.fill(text, width, subsequent_indent="  ", break_on_hyphens=False)


def render_profile(profile: dict[str, Any], large: dict[str, Any]) -> list[str]:
    run = profile["profiled_run"]
    calibration = profile["calibration_us"]
    out = [
        f"CPU profile of {large['namespaces']}x{large['per_namespace']} at "
        f"C={large['concurrency']} (separate pass; cProfile on all {run['threads_profiled']} "
        f"threads with a per-thread CPU clock; stats in {profile['path']}). Profiled: "
        f"{run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} CPU s. The profiler's cost "
        f"({calibration['a']:.2f} + {calibration['b']:.2f} us per call, measured) is taken out "
        f"and the rest scaled to the unprofiled run's {profile['unprofiled_cpu_s']:.2f} CPU s: "
        "rough estimates, still over-weighting code made of many tiny calls (compare the token "
        "hook here with its direct measurement above).",
        "",
        table(
            ["group", "what", "est. CPU s", "share"],
            [
                [g["group"], g["what"], f"{g['cpu_s']:.2f}", f"{g['share']:.0%}"]
                for g in sorted(profile["groups"], key=lambda g: g["cpu_s"], reverse=True)
            ],
            left=2,
        ),
        "",
        "Top functions by own CPU (est. s in the unprofiled run):",
        _functions(profile["top_own"], "own_s"),
        "",
        "Top functions by cumulative CPU (call chains shown once, at their outermost link):",
        _functions(profile["top_cumulative"], "cumulative_s"),
        "",
        "Selected (est. CPU s, cumulative):",
        table(
            ["", "calls/wl", "cumulative s", "own s"],
            [
                [
                    name,
                    f"{r['calls_per_workload']:g}",
                    f"{r['cumulative_s']:.2f}",
                    f"{r['own_s']:.2f}",
                ]
                for name, r in profile["selected"].items()
            ],
        ),
    ]
    return out


def _functions(rows: list[dict[str, Any]], key: str) -> str:
    other = "cumulative_s" if key == "own_s" else "own_s"
    return table(
        ["function", "group", "calls/wl", key.replace("_s", " s"), other.replace("_s", " s")],
        [
            [
                r["function"][:90],
                r["group"],
                f"{r['calls_per_workload']:g}",
                f"{r[key]:.2f}",
                f"{r[other]:.2f}",
            ]
            for r in rows
        ],
        left=2,
    )
