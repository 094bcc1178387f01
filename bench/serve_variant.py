"""`python -m bench.serve_variant [OPTIONS] -- ARGS...`: `namespace-ctl ARGS...` with one part of
the Slack app's request path changed, for the ack-latency diagnosis only (`bot/` is unchanged;
the names `serve` looks up are replaced before it runs):

- `--server-threads N`: waitress with N threads (serve's `SERVER_THREADS`, 8).
- `--switch-interval S`: `sys.setswitchinterval(S)` (CPython's default is 0.005 s): how long
  a thread that wants the GIL waits before asking the holder to let go.
- `--gc-log`: log every collection of the oldest generation longer than 20 ms (its duration
  and what it collected) to stderr, to tell a collector pause from the rest.
- `--replies-not-deferred`: the listeners' ordinary work starts at once, as it did before
  `bot/slack/work.py` made it wait for the acks in flight (`MAX_DEFER_S` 0).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def replies_not_deferred() -> None:
    import bot.slack.work

    bot.slack.work.MAX_DEFER_S = 0.0


def census(top: int = 8) -> str:
    """The objects the collector tracks, and the most common types among them."""
    import gc
    from collections import Counter

    tracked = gc.get_objects()
    kinds = Counter(type(o).__name__ for o in tracked).most_common(top)
    return f"{len(tracked)} tracked: " + ", ".join(f"{name} {n}" for name, n in kinds)


def log_full_collections(threshold_s: float = 0.02) -> None:
    import gc
    import time

    started: dict[str, float] = {}

    def timed(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            started["at"] = time.perf_counter()
            return
        took = time.perf_counter() - started.pop("at", time.perf_counter())
        if took >= threshold_s:
            print(
                f"gc: full collection {took * 1000:.0f} ms, {info.get('collected')} collected,"
                f" {census()}",
                file=sys.stderr,
                flush=True,
            )

    gc.callbacks.append(timed)


WAITING = frozenset(
    {
        "wait",
        "select",
        "poll",
        "acquire",
        "sleep",
        "accept",
        "_recv",
        "recv",
        "readinto",
        "recv_into",
        "_wait_for_tstate_lock",
        "get",
        "_worker",
        "serve_forever",
        "handle_read",
    }
)


def sample_stacks(path: str, interval_s: float = 0.002) -> None:
    """Every `interval_s`, note where each thread that is not waiting is (its innermost three
    frames); at exit write the counts, most frequent first, to `path`, each with the
    perf_counter second of its first and last sample."""
    import atexit
    import threading
    import time
    from collections import Counter

    counts: Counter[str] = Counter()
    timeline: list[tuple[float, str]] = []
    me = threading.get_ident()

    def where(frame: Any) -> str:
        names = []
        while frame is not None and len(names) < 3:
            code = frame.f_code
            names.append(f"{code.co_filename.rsplit('/', 2)[-1]}:{code.co_name}:{frame.f_lineno}")
            frame = frame.f_back
        return " < ".join(names)

    def run() -> None:
        while True:
            time.sleep(interval_s)
            now = time.perf_counter()
            for ident, frame in sys._current_frames().items():
                if ident != me and frame.f_code.co_name not in WAITING:
                    at = where(frame)
                    counts[at] += 1
                    timeline.append((now, at))

    def write() -> None:
        with open(path, "w", encoding="utf-8") as out:
            for at, n in counts.most_common(60):
                out.write(f"{n:6d}  {at}\n")
            out.write("\n# timeline (second, where)\n")
            for now, at in timeline:
                out.write(f"{now:.3f} {at}\n")

    threading.Thread(target=run, name="stack-sampler", daemon=True).start()
    atexit.register(write)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_variant", description=__doc__)
    parser.add_argument("--server-threads", type=int)
    parser.add_argument("--switch-interval", type=float)
    parser.add_argument("--replies-not-deferred", action="store_true")
    parser.add_argument("--gc-log", action="store_true")
    parser.add_argument("--sample-stacks", metavar="FILE")
    parser.add_argument("cli", nargs=argparse.REMAINDER, help="-- then namespace-ctl's arguments")
    args = parser.parse_args(argv)
    import bot.serve
    from bot.cli import main as cli_main

    if args.server_threads:
        bot.serve.SERVER_THREADS = args.server_threads
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    if args.replies_not_deferred:
        replies_not_deferred()
    if args.gc_log:
        log_full_collections()
    if args.sample_stacks:
        sample_stacks(args.sample_stacks)
    return cli_main(args.cli[1:] if args.cli[:1] == ["--"] else args.cli)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
