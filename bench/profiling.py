"""CPU profiles of every thread, and a summary grouped by where the time goes.

cProfile only sees the thread that enabled it, and converge patches from a thread pool: a
`threading.setprofile` hook gives each new thread its own profiler, and the stats are merged.
The timer is `time.thread_time` (CPU time of the calling thread), so a thread blocked on a socket
waiting out the API server's 25 ms counts nothing: the figures are CPU, not waiting.

A per-thread CPU clock is a system call, so profiling costs ~1.3 us per function call, which
inflates code made of many tiny calls (os.environ iteration, isinstance) far more than code in C.
`calibrate` measures that cost on this machine (a: charged to the callee's own time per call,
b: charged to the caller's own time per call it makes) and `summarize` subtracts it from every
function (gprof-style propagation for cumulative times), then scales the result to the CPU time
of the same scenario run without the profiler. The figures are estimates, good to +-30%.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

# (label, what it is).
GROUPS: tuple[tuple[str, str], ...] = (
    ("http", "urllib3, http.client (+ email header parsing), sockets"),
    ("kubernetes", "kubernetes client: API methods, param/header building, sanitize"),
    ("token hook", "kubeconfig refresh_api_key_hook per request -> urllib getproxies(os.environ)"),
    ("pydantic", "pydantic: validate_call on client methods, our result/record models"),
    ("json", "json encode/decode"),
    ("core", "our code in core/ (inventory, plans, snapshots, converge, kube adapter)"),
    ("sqlite", "SQLite store (core/store + sqlite3)"),
    ("threads", "thread pool, locks, queues, thread start"),
    ("other", "everything else (stdlib re, datetime, decimal, ...)"),
)
# By the file a function lives in; first match wins.
_FILE_RULES: tuple[tuple[str, str], ...] = (
    ("/kubernetes/config/", "token hook"),
    ("/urllib/request.py", "token hook"),
    ("/kubernetes/", "kubernetes"),
    ("/urllib3/", "http"),
    ("/http/client.py", "http"),
    ("/email/", "http"),
    ("/socket.py", "http"),
    ("/selectors.py", "http"),
    ("/ssl.py", "http"),
    ("/json/", "json"),
    ("/pydantic", "pydantic"),
    ("/sqlite3/", "sqlite"),
    ("/core/store/", "sqlite"),
    ("/core/", "core"),
    ("/concurrent/futures/", "threads"),
    ("/threading.py", "threads"),
    ("/queue.py", "threads"),
)
# Built-ins (file "~") recognised by name; other built-ins and frozen modules (`<frozen os>`)
# take the group of their callers.
_BUILTIN_RULES: tuple[tuple[str, str], ...] = (
    ("_socket", "http"),
    ("select.", "http"),
    ("_json", "json"),
    ("pydantic_core", "pydantic"),
    ("sqlite3", "sqlite"),
    ("_thread", "threads"),
    ("_queue", "threads"),
)
# Call-tree plumbing left out of the top lists (their cumulative time is all of the run).
_WRAPPERS = ("/threading.py", "/concurrent/futures/", "/bench/", "cProfile", "/queue.py")

Func = tuple[str, int, str]
Raw = dict[Func, Any]  # pstats: func -> (primitive calls, calls, own, cumulative, callers)


class AllThreads:
    """Profile the calling thread and every thread started while inside the `with`."""

    def __init__(self) -> None:
        self._profilers: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._main: cProfile.Profile | None = None

    def _new(self) -> cProfile.Profile:
        profiler = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profilers.append(profiler)
        profiler.enable()  # replaces the hook below for this thread
        return profiler

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        self._new()

    def __enter__(self) -> AllThreads:
        threading.setprofile(self._hook)
        self._main = self._new()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._main is not None
        self._main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        sys.setprofile(None)

    def dump(self, path: Path) -> int:
        """Merge every thread's stats into one pstats file; the number of threads profiled."""
        with self._lock:
            profilers = list(self._profilers)
        stats = pstats.Stats(profilers[0])
        for profiler in profilers[1:]:
            stats.add(profiler)
        stats.dump_stats(str(path))
        return len(profilers)


def _noop() -> None:
    pass


def _calls(n: int) -> None:
    for _ in range(n):
        _noop()


def calibrate(n: int = 200_000) -> dict[str, float]:
    """Seconds the profiler adds per call: `a` to the callee's own time, `b` to the caller's."""
    start = time.thread_time()
    _calls(n)
    bare = time.thread_time() - start
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    _calls(n)
    profiler.disable()
    raw: Raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    own = {func[2]: value[2] for func, value in raw.items()}
    return {"a": own["_noop"] / n, "b": max(0.0, (own["_calls"] - bare) / n)}


def _file_group(filename: str) -> str | None:
    if filename == "~" or filename.startswith("<frozen"):
        return None
    for needle, group in _FILE_RULES:
        if needle in filename:
            return group
    return "other"


class _Graph:
    """The call graph of a profile, with the profiler's own cost taken out of every function."""

    def __init__(self, raw: Raw, a: float, b: float) -> None:
        self.raw = raw
        self.a = a
        self.callees: dict[Func, list[tuple[Func, float]]] = defaultdict(list)
        outgoing: dict[Func, int] = defaultdict(int)
        for func, (_, _, _, _, callers) in raw.items():
            for caller, (_, calls, _, edge_cumulative) in callers.items():
                self.callees[caller].append((func, edge_cumulative))
                outgoing[caller] += calls
        self.own = {
            func: max(0.0, value[2] - value[1] * a - outgoing[func] * b)
            for func, value in raw.items()
        }
        self._cumulative: dict[Func, float] = {}
        self._groups: dict[Func, str] = {}

    def cumulative(self, func: Func, active: frozenset[Func] = frozenset()) -> float:
        """Own time plus, for each callee, the profiled time spent in it from here times the
        callee's ratio of corrected to profiled cumulative time (recursion cut)."""
        if func in self._cumulative:
            return self._cumulative[func]
        active = active | {func}
        total = self.own[func]
        for callee, edge_cumulative in self.callees[func]:
            if callee in active:
                continue
            profiled = self.raw[callee][3]
            ratio = self.cumulative(callee, active) / profiled if profiled > 0 else 1.0
            total += edge_cumulative * min(1.0, ratio)
        self._cumulative[func] = total  # a cut recursion makes it a slight underestimate
        return total

    def _own_group(self, func: Func) -> str | None:
        filename, _, name = func
        found = _file_group(filename)
        if found is None and filename == "~":
            found = next((g for needle, g in _BUILTIN_RULES if needle in name), None)
        return found

    def group(self, func: Func, depth: int = 0) -> str:
        """The group of `func`; a built-in's (or frozen module's) is its busiest caller's."""
        if func in self._groups:
            return self._groups[func]
        found = self._own_group(func)
        if found is None:
            callers = self.raw[func][4]
            if not callers or depth > 8:
                found = "other"
            else:
                busiest = max(callers, key=lambda caller: callers[caller][2])
                found = self.group(busiest, depth + 1)
        self._groups[func] = found
        return found

    def split(self, func: Func) -> dict[str, float]:
        """The corrected own time of `func` by group: a built-in's (or frozen module's) is
        shared among its callers' groups by the time it spent under each."""
        own = self.own[func]
        found = self._own_group(func)
        callers = self.raw[func][4]
        if found is not None or not callers:
            return {found or "other": own}
        weights: dict[str, float] = defaultdict(float)
        for caller, (_, calls, edge_own, _) in callers.items():
            weights[self.group(caller)] += max(0.0, edge_own - calls * self.a)
        total = sum(weights.values())
        if total <= 0:
            return {self.group(func): own}
        return {group: own * weight / total for group, weight in weights.items()}


def label(func: Func) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


def summarize(
    path: Path, workloads: int, calibration: dict[str, float], unprofiled_cpu: float, top: int = 12
) -> dict[str, Any]:
    """Groups and top functions, in estimated CPU seconds of the unprofiled run."""
    raw: Raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    graph = _Graph(raw, calibration["a"], calibration["b"])
    profiled = sum(value[2] for value in raw.values())
    corrected = sum(graph.own.values())
    scale = unprofiled_cpu / corrected if corrected else 0.0
    groups: dict[str, float] = defaultdict(float)
    for func in raw:
        for group, seconds in graph.split(func).items():
            groups[group] += seconds * scale

    def row(func: Func) -> dict[str, Any]:
        calls = raw[func][1]
        return {
            "function": label(func),
            "group": graph.group(func),
            "calls_per_workload": round(calls / workloads, 2),
            "own_s": round(graph.own[func] * scale, 3),
            "cumulative_s": round(graph.cumulative(func) * scale, 3),
            "profiled_own_s": round(raw[func][2], 3),
        }

    shown = [f for f in raw if not any(w in f[0] or w in f[2] for w in _WRAPPERS)]
    by_own = sorted(shown, key=lambda f: graph.own[f], reverse=True)[:top]
    by_cumulative: list[Func] = []
    for func in sorted(shown, key=graph.cumulative, reverse=True):
        # A call chain (A calls B calls C, once each) shows once: its outermost link.
        if any(
            abs(raw[func][1] - raw[prev][1]) <= 0.01 * raw[prev][1]
            and graph.cumulative(func) >= 0.9 * graph.cumulative(prev)
            for prev in by_cumulative
        ):
            continue
        by_cumulative.append(func)
        if len(by_cumulative) == top:
            break
    return {
        "profiled_cpu_s": round(profiled, 3),
        "after_overhead_removed_s": round(corrected, 3),
        "unprofiled_cpu_s": round(unprofiled_cpu, 3),
        "calibration_us": {k: round(v * 1e6, 3) for k, v in calibration.items()},
        "groups": [
            {
                "group": name,
                "what": what,
                "cpu_s": round(groups.get(name, 0.0), 3),
                "share": round(groups.get(name, 0.0) / unprofiled_cpu, 4) if unprofiled_cpu else 0,
            }
            for name, what in GROUPS
        ],
        "top_own": [row(f) for f in by_own],
        "top_cumulative": [row(f) for f in by_cumulative],
        "selected": {name: row(func) for name, func in _selected(raw).items()},
    }


_SELECTED = {
    "service._shutdown_record (snapshots, main thread)": ("/core/service.py", "_shutdown_record"),
    "service._settle_shutdown_record": ("/core/service.py", "_settle_shutdown_record"),
    "inventory.read_inventory": ("/core/inventory.py", "read_inventory"),
    "converge.converge_one": ("/core/scaling/converge.py", "converge_one"),
    "converge.plan_for": ("/core/scaling/converge.py", "plan_for"),
    "kube._read_json": ("/core/cluster/kube.py", "_read_json"),
    "kubeconfig refresh hook": ("/kubernetes/config/kube_config.py", "_refresh_api_key"),
    "sqlite add_records": ("/core/store/sqlite.py", "add_records"),
}


def _selected(raw: Raw) -> dict[str, Func]:
    found = {}
    for name, (part, function) in _SELECTED.items():
        for func in raw:
            if part in func[0] and func[2] == function:
                found[name] = func
                break
    return found
