"""Slash-command ack latency while the bot shuts down 10,000 workloads, and the bot's RSS.

    .venv/bin/python -m bench.ack_latency [--repeat 3] [--diagnose]

The bot is a real `namespace-ctl serve` subprocess in HTTP mode on 127.0.0.1, over the fake API
server (2,000 namespaces x 5 Deployments, 25 ms per request, its own process) and a recording
fake Slack Web API in this process (its `response_url`s time each ephemeral reply). `serve`
starts at 20:00 minus `--lead` seconds (product time, `--now`), so its first reconcile finds
everything awake as wanted; at 20:00 its `business-end` job shuts the 10,000 workloads down, in
the serving process, as in production. Once that shutdown has patched `BURST_AFTER_WRITES`
workloads, 50 signed `/namespace` commands are posted at once. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
from slack_sdk.signature import SignatureVerifier

from bench import fake
from tests.fake_slack import TEAM_ID, FakeSlack

RESULTS = fake.ROOT / "bench" / "results"
LATENCY = 0.025
NAMESPACES, PER_NAMESPACE = 2000, 5
COMMANDS = 50
MIX = ("help", "list", "status", "help", "list")  # 20 help, 20 list, 10 status in 50
TARGET_P99_S = 0.200
SECRET = "bench-signing-secret"
EDGE = "2026-12-01T20:00:00"  # Tuesday, Europe/Madrid: the business-end edge
NOON = "2026-12-01T12:00:00"  # business hours: no shutdown (the idle-burst diagnosis)
BURST_AFTER_WRITES = 1000  # fire the burst when the shutdown has patched this many workloads
IDLE_S = 3.0  # RSS sampled this long after readiness, before anything else happens
SAMPLE_S = 0.05
REPLY_TIMEOUT_S = 120.0
LEAD = 12.0  # seconds from serve's start (--now 19:59:48) to the 20:00 edge
OUT = RESULTS / "ack-latency.json"
PASS_LOG = re.compile(r"business end at \S+: (.*)")


@dataclass(frozen=True)
class Variant:
    """One kind of run: with the shutdown or not, which burst, which change to the request path."""

    name: str
    shutdown: bool = True
    mix: tuple[str, ...] = MIX
    commands: int = COMMANDS
    concurrency: int = 32  # cluster.concurrency: the converge pool (the default)
    passes: str = "auto"  # cluster.passes: `auto` is the worker process over a real API server
    # bench.serve_variant's changes; none: `namespace-ctl serve` as shipped.
    server_threads: int | None = None  # waitress (serve's SERVER_THREADS: 8)
    replies_not_deferred: bool = False  # listeners' work starts without waiting for the acks
    switch_interval: float | None = None  # sys.setswitchinterval (CPython's default: 0.005)
    gc_log: bool = False  # bench.serve_variant --gc-log: full collections in the bot's log
    sample_stacks: bool = False  # bench.serve_variant --sample-stacks: where the bot's threads run

    def launcher_options(self) -> list[str]:
        options = []
        if self.server_threads:
            options += ["--server-threads", str(self.server_threads)]
        if self.replies_not_deferred:
            options.append("--replies-not-deferred")
        if self.switch_interval:
            options += ["--switch-interval", str(self.switch_interval)]
        if self.gc_log:
            options.append("--gc-log")
        if self.sample_stacks:
            options += ["--sample-stacks", str(RESULTS / "ack-stacks.txt")]
        return options


HELP = ("help",)
MEASURED = Variant("mixed burst during shutdown")
QUIET = Variant("shutdown alone", commands=0)
DIAGNOSES = (
    Variant("mixed burst during shutdown, full collections logged", gc_log=True),
    Variant("mixed burst during shutdown, stacks sampled", sample_stacks=True),
    Variant("mixed burst during shutdown, passes in-process", passes="in-process"),
    Variant("shutdown alone, passes in-process", commands=0, passes="in-process"),
    Variant("help-only burst, no shutdown", shutdown=False, mix=HELP),
    Variant("mixed burst, no shutdown", shutdown=False),
    Variant("help-only burst during shutdown", mix=HELP),
    Variant("help-only burst during shutdown, C=8", mix=HELP, concurrency=8),
    Variant("mixed burst during shutdown, 32 server threads", server_threads=32),
    Variant("help-only burst during shutdown, GIL switch 1 ms", mix=HELP, switch_interval=0.001),
    Variant("mixed burst during shutdown, GIL switch 1 ms", switch_interval=0.001),
    Variant("mixed burst during shutdown, replies not deferred", replies_not_deferred=True),
)


# ---- the fake Slack: reply arrival times ---------------------------------------------------------


class TimedSlack(FakeSlack):
    """tests/fake_slack.FakeSlack that also notes when each response_url post arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, float] = {}

    def _record(self, method: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        if method.startswith("response:"):
            self.arrivals.setdefault(method.removeprefix("response:"), time.perf_counter())
        super()._record(method, params, answer)

    def wait_replies(self, names: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(name in self.arrivals for name in names):
                return
            time.sleep(0.05)


# ---- the bot's process ---------------------------------------------------------------------------


def write_config(tmp: Path, kubeconfig: Path, slack_api: str, variant: Variant) -> Path:
    concurrency, passes = variant.concurrency, variant.passes
    config = {
        "timezone": "Europe/Madrid",
        "holidays": {"country": "ES"},
        "store": {"backend": "sqlite", "path": str(tmp / "audit.db")},
        "cluster": {"kubeconfig": str(kubeconfig), "concurrency": concurrency, "passes": passes},
        "slack": {"api_base_url": slack_api},
    }
    path = tmp / "config.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def serve_command(config: Path, now: str, variant: Variant) -> list[str]:
    """`namespace-ctl serve` (the installed script), or through bench.serve_variant."""
    args = ["--config", str(config), "--now", now, "serve", "--host", "127.0.0.1", "--port", "0"]
    args.append("--no-console")
    options = variant.launcher_options()
    if options:
        return [sys.executable, "-m", "bench.serve_variant", *options, "--", *args]
    script = shutil.which("namespace-ctl", path=str(Path(sys.executable).parent))
    return [script, *args] if script else [sys.executable, "-m", "bot.cli", *args]


class ServeProcess:
    """The bot; its stdout (the banner) and stderr (the log) read by threads, lines timed."""

    def __init__(self, command: list[str], log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
        env |= {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET}
        self.log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            command,
            cwd=fake.ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started = time.perf_counter()
        self.lines: list[tuple[float, str]] = []
        self._changed = threading.Condition()
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._changed:
                self.lines.append((time.perf_counter(), line.rstrip("\n")))
                self.log.write(line)
                self._changed.notify_all()

    def wait_line(self, pattern: re.Pattern[str], timeout: float) -> tuple[float, re.Match[str]]:
        deadline = time.perf_counter() + timeout
        with self._changed:
            while True:
                for at, line in self.lines:
                    match = pattern.search(line)
                    if match:
                        return at, match
                left = deadline - time.perf_counter()
                if left <= 0 or self.process.poll() is not None:
                    tail = "\n".join(line for _, line in self.lines[-20:])
                    raise RuntimeError(f"serve never printed /{pattern.pattern}/:\n{tail}")
                self._changed.wait(min(left, 0.5))

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> int | None:
        """SIGTERM (serve stops its jobs and server and exits 0), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        return self.process.returncode


class RssSampler:
    """psutil RSS of a process every `SAMPLE_S`, on a thread; and of its children (the pass
    worker): their peak RSS and the CPU they used."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self.children_peak = 0
        self._children_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((time.perf_counter(), self.process.memory_info().rss))
                self._sample_children()
            except psutil.Error:
                return
            self._stop.wait(SAMPLE_S)

    def _sample_children(self) -> None:
        total = 0
        for child in self.process.children(recursive=True):
            try:
                total += child.memory_info().rss
                times = child.cpu_times()
                self._children_cpu[child.pid] = times.user + times.system
            except psutil.Error:
                continue
        self.children_peak = max(self.children_peak, total)

    def children_cpu_s(self) -> float:
        return float(sum(self._children_cpu.values()))

    def peak_mib(self, start: float, end: float) -> float:
        window = [rss for at, rss in self.samples if start <= at <= end]
        return max(window, default=0) / 2**20

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def high_water_mib(self) -> float:
        """The kernel's peak RSS of the process so far (VmHWM), which no sampling can miss."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class SchedClock:
    """What the kernel says each process did (`/proc/PID/task/*/schedstat`, summed over its
    threads): seconds on a CPU and seconds runnable but waiting for one (run-queue delay). Two
    readings around the burst tell a bot that lost its core from one that waited on itself."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids  # name -> pid; "worker" is found as the bot's children at each reading

    def read(self) -> dict[str, tuple[float, float]]:
        readings = {name: _schedstat(pid) for name, pid in self.pids.items()}
        try:
            children = psutil.Process(self.pids["bot"]).children(recursive=True)
        except psutil.Error:
            children = []
        worker = [_schedstat(child.pid) for child in children]
        readings["worker"] = (sum(r for r, _ in worker), sum(w for _, w in worker))
        readings["idle"] = (_machine_idle_s(), 0.0)
        return readings


def _machine_idle_s() -> float:
    """Seconds every CPU of the machine spent idle since boot (`/proc/stat`, 10 ms ticks)."""
    times = psutil.cpu_times()
    return float(times.idle + times.iowait)


def _schedstat(pid: int) -> tuple[float, float]:
    run = wait = 0
    for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            on_cpu, delay, _ = task.read_text().split()
        except (OSError, ValueError):
            continue  # a thread that ended between the listing and the read
        run, wait = run + int(on_cpu), wait + int(delay)
    return run / 1e9, wait / 1e9


def sched_delta(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], wall: float
) -> dict[str, Any]:
    """Per process: CPU and run-queue wait in the window, and the window's wall time."""
    out: dict[str, Any] = {"wall_s": wall}
    for name, (run, wait) in after.items():
        run0, wait0 = before.get(name, (0.0, 0.0))
        out[name] = {"cpu_s": run - run0, "runqueue_s": wait - wait0}
    return out


GC_SAMPLE = re.compile(r'^python_gc_collections_total\{generation="(\d)"\} (\S+)$', re.M)


def gc_collections(bot_url: str) -> dict[str, float]:
    """The bot's collections so far by generation (its /metrics), read at the burst's edges:
    a full collection inside the burst pauses every ack."""
    with urllib.request.urlopen(bot_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return {generation: float(count) for generation, count in GC_SAMPLE.findall(text)}


# ---- requests ------------------------------------------------------------------------------------


def http_status(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def wait_ready(bot_url: str, serve: ServeProcess, timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if serve.process.poll() is not None:
            raise RuntimeError(f"serve exited with {serve.process.returncode}")
        if http_status(bot_url + "/readyz") == 200:
            return time.perf_counter()
        time.sleep(0.1)
    raise RuntimeError(f"serve was not ready within {timeout:.0f} s")


@dataclass
class Command:
    index: int
    text: str
    name: str
    body: str
    sent: float = 0.0
    acked: float = 0.0
    status: int = 0
    error: str = ""


def slash_command(index: int, text: str, slack: TimedSlack, run_id: str) -> Command:
    """A signed `/namespace text` form body, as Slack posts it (tests/test_slack_bot.py)."""
    name = f"{run_id}-{index:03d}-{text}"
    fields = {
        "token": "legacy",
        "team_id": TEAM_ID,
        "team_domain": "fake",
        "channel_id": "C0GENERAL",
        "channel_name": "general",
        "user_id": f"U0USER{index:03d}",
        "user_name": f"user{index:03d}",
        "command": "/namespace",
        "text": text,
        "api_app_id": "A0APP",
        "response_url": slack.response_url(name),
        "trigger_id": f"trigger-{name}",
    }
    return Command(index, text, name, urlencode(fields))


def post_signed(url: str, command: Command) -> None:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=command.body)
    request = urllib.request.Request(
        url,
        data=command.body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or "",
        },
    )
    command.sent = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            command.status = int(response.status)
    except urllib.error.HTTPError as error:
        command.status = int(error.code)
    except OSError as error:
        command.error = f"{type(error).__name__}: {error}"
    command.acked = time.perf_counter()


def burst(bot_url: str, commands: list[Command]) -> None:
    """Post every command at once (one thread each, released together)."""
    gate = threading.Barrier(len(commands))

    def send(command: Command) -> None:
        gate.wait()
        post_signed(bot_url + "/slack/events", command)

    threads = [threading.Thread(target=send, args=(c,), daemon=True) for c in commands]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


# ---- one run -------------------------------------------------------------------------------------


@dataclass
class Marks:
    """perf_counter instants of one run (this process's clock)."""

    spawned: float = 0.0
    ready: float = 0.0
    idle_end: float = 0.0
    shutdown_start: float = 0.0
    first_write: float = 0.0
    burst_start: float = 0.0
    shutdown_end: float = 0.0
    end: float = 0.0
    writes_at_burst: int = 0
    shutdown_summary: str = ""
    writes: list[tuple[float, int]] = field(default_factory=list)
    acks_done: float = 0.0  # the last command's answer is in
    sched_at_burst: dict[str, tuple[float, float]] = field(default_factory=dict)
    sched_at_acks_done: dict[str, tuple[float, float]] = field(default_factory=dict)
    gc_at_burst: dict[str, float] = field(default_factory=dict)
    gc_at_acks_done: dict[str, float] = field(default_factory=dict)


class Run:
    def __init__(self, server: fake.FakeProcess, kubeconfig: Path, tmp: Path, lead: float) -> None:
        self.server, self.kubeconfig, self.tmp, self.lead = server, kubeconfig, tmp, lead

    def __call__(self, variant: Variant, run_id: str) -> dict[str, Any]:
        fake.load_scenario(self.server.url, NAMESPACES, PER_NAMESPACE)
        work = self.tmp / run_id
        work.mkdir()
        with TimedSlack() as slack:
            config = write_config(work, self.kubeconfig, slack.api_url, variant)
            now = self._start_time(variant)
            log = RESULTS / f"ack-serve-{run_id}.log"
            serve = ServeProcess(serve_command(config, now, variant), log)
            try:
                return self._measure(variant, run_id, serve, slack)
            finally:
                returncode = serve.stop()
                if returncode not in (0, None):
                    print(f"  serve exited with {returncode}; see {log}", file=sys.stderr)

    def _start_time(self, variant: Variant) -> str:
        if not variant.shutdown:
            return NOON
        start = datetime.fromisoformat(EDGE) - timedelta(seconds=self.lead)
        return start.isoformat(timespec="milliseconds")

    def _measure(
        self, variant: Variant, run_id: str, serve: ServeProcess, slack: TimedSlack
    ) -> dict[str, Any]:
        marks = Marks(spawned=serve.started)
        _, banner = serve.wait_line(re.compile(r"http:\s+[\d.]+:(\d+)"), timeout=60)
        bot_url = f"http://127.0.0.1:{banner.group(1)}"
        rss = RssSampler(serve.pid)
        assert self.server.process is not None
        clock = SchedClock({"bot": serve.pid, "fake_api": self.server.process.pid})
        clock.pids["bench"] = os.getpid()
        try:
            idle = self._idle(variant, run_id, bot_url, serve, slack, rss, marks)
            commands = [
                slash_command(i, variant.mix[i % len(variant.mix)], slack, run_id)
                for i in range(variant.commands)
            ]
            self._load(variant, bot_url, serve, slack, commands, marks, clock)
            under_load_from = marks.shutdown_start or marks.burst_start or marks.idle_end
            figures = {
                "variant": asdict(variant),
                "run": run_id,
                **idle,
                "rss_under_load_mib": rss.peak_mib(under_load_from, marks.end),
                "rss_hwm_mib": rss.high_water_mib(),
                "serve_cpu_s": rss.cpu_s() - idle["serve_cpu_at_idle_end_s"],
                "worker_cpu_s": rss.children_cpu_s() - idle["worker_cpu_at_idle_end_s"],
                "worker_rss_peak_mib": rss.children_peak / 2**20,
                "load_wall_s": marks.end - marks.idle_end,
                "shutdown": shutdown_figures(marks) if variant.shutdown else None,
                "commands": command_figures(commands, slack.arrivals, marks),
                "burst_sched": burst_sched(marks),
            }
        finally:
            rss.stop()
        figures["problems"] = self._problems(variant, commands, slack)
        return figures

    def _idle(
        self,
        variant: Variant,
        run_id: str,
        bot_url: str,
        serve: ServeProcess,
        slack: TimedSlack,
        rss: RssSampler,
        marks: Marks,
    ) -> dict[str, float]:
        """Ready (the first reconcile done), one warm-up command, then `IDLE_S` of nothing."""
        wait_ready(bot_url, serve, timeout=max(60.0, self.lead))
        self._warm_up(bot_url, slack, run_id)
        marks.ready = time.perf_counter()
        time.sleep(IDLE_S)
        marks.idle_end = time.perf_counter()
        if variant.shutdown and marks.idle_end - marks.spawned > self.lead - 1:
            raise RuntimeError(
                f"serve took {marks.ready - marks.spawned:.1f} s to be ready: the 20:00 edge "
                f"(--lead {self.lead:.0f} s) came before the idle sample; raise --lead"
            )
        return {
            "ready_after_s": marks.ready - marks.spawned,
            "rss_idle_mib": rss.peak_mib(marks.ready, marks.idle_end),
            "rss_hwm_idle_mib": rss.high_water_mib(),
            "serve_cpu_at_idle_end_s": rss.cpu_s(),
            "worker_cpu_at_idle_end_s": rss.children_cpu_s(),
        }

    def _load(
        self,
        variant: Variant,
        bot_url: str,
        serve: ServeProcess,
        slack: TimedSlack,
        commands: list[Command],
        marks: Marks,
        clock: SchedClock,
    ) -> None:
        """The burst, during the 20:00 shutdown or alone; returns when every reply is in."""

        def send_and_read() -> None:
            burst(bot_url, commands)
            marks.acks_done = time.perf_counter()
            marks.sched_at_acks_done = clock.read()
            marks.gc_at_acks_done = gc_collections(bot_url)

        sender = threading.Thread(target=send_and_read, daemon=True)

        def fire() -> None:
            marks.gc_at_burst = gc_collections(bot_url)
            marks.sched_at_burst = clock.read()
            marks.burst_start = time.perf_counter()
            sender.start()

        if variant.shutdown:
            self._through_shutdown(serve, fire if commands else None, marks)
        elif commands:
            fire()
        if sender.ident is not None:
            sender.join(timeout=120)
        slack.wait_replies([c.name for c in commands], REPLY_TIMEOUT_S)
        marks.end = time.perf_counter()

    def _problems(self, variant: Variant, commands: list[Command], slack: TimedSlack) -> list[str]:
        """Workloads not asleep after the shutdown, and commands never answered. A late ack
        (Bolt's 404 after 3 s) is a figure, not a problem: the reply still comes."""
        problems = []
        if variant.shutdown:
            asleep = fake.verify_asleep(self.server.url, NAMESPACES, PER_NAMESPACE)
            more = [f"... {len(asleep)} problems in all"] if len(asleep) > 5 else []
            problems += asleep[:5] + more
        silent = [c for c in commands if c.name not in slack.arrivals]
        problems += [
            f"/namespace {c.text} ({c.name}): HTTP {c.status} {c.error}".strip() + ", no reply"
            for c in silent[:5]
        ]
        return problems

    @staticmethod
    def _warm_up(bot_url: str, slack: TimedSlack, run_id: str) -> None:
        """One `/namespace help` first: a long-running bot has made its first request (Bolt's
        auth.test, imports on first use) long before 20:00."""
        command = slash_command(999, "help", slack, f"{run_id}-warm-up")
        post_signed(bot_url + "/slack/events", command)
        slack.wait_replies([command.name], timeout=30)
        if command.status != 200 or command.name not in slack.arrivals:
            raise RuntimeError(f"the warm-up command failed: HTTP {command.status} {command.error}")

    def _through_shutdown(
        self,
        serve: ServeProcess,
        fire: Callable[[], None] | None,
        marks: Marks,
    ) -> None:
        """Watch the fake's counters: the shutdown starts with the first API request after the
        idle window; the burst goes out at `BURST_AFTER_WRITES` patches; the shutdown ends with
        the business-end job's log line."""
        url = self.server.url
        base = fake.stats(url)
        deadline = time.perf_counter() + self.lead + 60
        while time.perf_counter() < deadline:
            stats, at = fake.stats(url), time.perf_counter()
            if not marks.shutdown_start and stats["total"] > base["total"]:
                marks.shutdown_start = at
            writes = stats["writes"] - base["writes"]
            marks.writes.append((at, writes))
            if writes and not marks.first_write:
                marks.first_write = at
            if fire and writes >= BURST_AFTER_WRITES and not marks.burst_start:
                marks.writes_at_burst = writes
                fire()
            if writes >= NAMESPACES * PER_NAMESPACE:
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("the 20:00 shutdown did not patch every workload in time")
        marks.shutdown_end, line = serve.wait_line(PASS_LOG, timeout=120)
        marks.shutdown_summary = line.group(1)


def shutdown_figures(marks: Marks) -> dict[str, Any]:
    last_write = next(at for at, n in marks.writes if n >= NAMESPACES * PER_NAMESPACE)
    return {
        "wall_s": marks.shutdown_end - marks.shutdown_start,
        "to_first_patch_s": marks.first_write - marks.shutdown_start,
        "patching_s": last_write - marks.first_write,
        "writes_at_burst": marks.writes_at_burst,
        "summary": marks.shutdown_summary,
    }


def burst_sched(marks: Marks) -> dict[str, Any] | None:
    if not marks.sched_at_acks_done:
        return None
    wall = marks.acks_done - marks.burst_start
    figures = sched_delta(marks.sched_at_burst, marks.sched_at_acks_done, wall)
    figures["bot_collections"] = {
        generation: count - marks.gc_at_burst.get(generation, 0.0)
        for generation, count in marks.gc_at_acks_done.items()
    }
    return figures


def command_figures(
    commands: list[Command], arrivals: dict[str, float], marks: Marks
) -> dict[str, Any]:
    if not commands:
        return {}
    # Every answered request counts, a late 404 (Bolt gave up waiting for the ack) too.
    acks = [c.acked - c.sent for c in commands if c.status]
    replies = [arrivals[c.name] - c.sent for c in commands if c.name in arrivals]
    by_kind = {}
    for kind in sorted({c.text for c in commands}):
        mine = [c for c in commands if c.text == kind]
        by_kind[kind] = {
            "n": len(mine),
            "ack": summary([c.acked - c.sent for c in mine if c.status]),
            "reply": summary([arrivals[c.name] - c.sent for c in mine if c.name in arrivals]),
        }
    last_ack = max(c.acked for c in commands)
    during = marks.shutdown_end == 0.0 or last_ack <= marks.shutdown_end
    return {
        "n": len(commands),
        "acked_200": sum(1 for c in commands if c.status == 200),
        "statuses": sorted({c.status for c in commands}),
        "replied": len(replies),
        "ack": summary(acks),
        "reply": summary(replies),
        "by_kind": by_kind,
        "all_acked_before_shutdown_end": during,
        # Replies are deferred while acks are in flight: one in before the last ack means the
        # gate opened mid-burst (bot/slack/work.py).
        "replies_before_last_ack": sum(
            1 for c in commands if arrivals.get(c.name, float("inf")) < last_ack
        ),
        "ack_samples_s": sorted(acks),
    }


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "p99": percentile(values, 0.99),
        "max": max(values, default=float("nan")),
    }


# ---- all runs ------------------------------------------------------------------------------------


def plan_runs(repeat: int, diagnose: bool, only: str | None = None) -> list[Variant]:
    """`repeat` runs of the burst during the shutdown and of the shutdown alone, interleaved
    (so drift on the shared machine hits both), then one run of each diagnosis; with `only`,
    `repeat` runs of each variant whose name holds that text."""
    if only:
        chosen = [v for v in (MEASURED, QUIET, *DIAGNOSES) if only in v.name]
        if not chosen:
            raise SystemExit(f"no variant's name holds {only!r}")
        return [v for _ in range(repeat) for v in chosen]
    plan = [v for _ in range(repeat) for v in (MEASURED, QUIET)]
    return plan + (list(DIAGNOSES) if diagnose else [])


def measure(
    server: fake.FakeProcess, tmp: Path, plan: list[Variant], lead: float
) -> dict[str, Any]:
    run = Run(server, fake.write_kubeconfig(tmp / "kubeconfig", server.url), tmp, lead)
    runs: list[dict[str, Any]] = []
    for index, variant in enumerate(plan):
        print(f"  ack latency: {variant.name:<44} ...", end="", file=sys.stderr, flush=True)
        figures = run(variant, f"r{index}")
        runs.append(figures)
        print(" " + one_line(figures), file=sys.stderr)
    measured = [r for r in runs if r["variant"]["name"] == MEASURED.name]
    pooled = [s for r in measured for s in r["commands"]["ack_samples_s"]]
    return {
        "namespaces": NAMESPACES,
        "per_namespace": PER_NAMESPACE,
        "commands": COMMANDS,
        "mix": list(MIX),
        "burst_after_writes": BURST_AFTER_WRITES,
        "target_p99_s": TARGET_P99_S,
        "pooled_ack": summary(pooled),
        "runs": runs,
    }


def one_line(figures: dict[str, Any]) -> str:
    parts = []
    if figures["commands"]:
        ack = figures["commands"]["ack"]
        parts.append(f"ack p50 {ack['p50'] * 1000:.0f} ms p99 {ack['p99'] * 1000:.0f} ms")
        parts.append(f"{figures['commands']['acked_200']}/{figures['commands']['n']} acked")
        parts.append(f"reply p99 {figures['commands']['reply']['p99']:.2f} s")
        parts.append(f"{figures['commands']['replies_before_last_ack']} replies before last ack")
    if figures["shutdown"]:
        parts.append(f"shutdown {figures['shutdown']['wall_s']:.1f} s")
    sched = figures.get("burst_sched")
    if sched:
        cells = [
            f"{name} {sched[name]['cpu_s'] * 1000:.0f}+{sched[name]['runqueue_s'] * 1000:.0f}"
            for name in ("bot", "worker", "fake_api", "bench")
        ]
        cells.append(f"idle {sched['idle']['cpu_s'] * 1000:.0f}")
        collections = sched.get("bot_collections", {})
        cells.append("bot gen-2 collections " + f"{collections.get('2', float('nan')):.0f}")
        parts.append(f"burst {sched['wall_s'] * 1000:.0f} ms: cpu+wait ms " + " ".join(cells))
    parts.append(f"RSS {figures['rss_idle_mib']:.0f}/{figures['rss_under_load_mib']:.0f} MiB")
    parts.append("verified" if not figures["problems"] else f"PROBLEMS {figures['problems']}")
    return ", ".join(parts)


# ---- the report ----------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:.0f}"


def render(results: dict[str, Any]) -> str:
    rows = [
        "Slash commands during a 10,000-workload shutdown (`namespace-ctl serve`, HTTP mode; "
        f"{results['commands']} commands: " + ", ".join(_mix_counts(results["mix"])) + ")",
        "",
        "| run | acked | ack p50 | p95 | p99 | max ms | reply p50 | p99 s | shutdown s "
        "| bot CPU s | worker CPU s | RSS idle | under load | HWM MiB | worker RSS MiB | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        rows.append(_row(run))
    pooled = results["pooled_ack"]
    measured = [r for r in results["runs"] if r["variant"]["name"] == MEASURED.name]
    quiet = [r for r in results["runs"] if r["variant"]["name"] == QUIET.name]
    verdict = "met" if pooled["p99"] < results["target_p99_s"] else "MISSED"
    rows += [
        "",
        f"Pooled ack latency over {len(measured)} runs ({len(measured) * COMMANDS} commands): "
        f"p50 {_ms(pooled['p50'])} ms, p95 {_ms(pooled['p95'])} ms, p99 {_ms(pooled['p99'])} ms, "
        f"max {_ms(pooled['max'])} ms; target p99 < {_ms(results['target_p99_s'])} ms: {verdict}.",
        "Shutdown wall time: with the burst "
        + _spread([r["shutdown"]["wall_s"] for r in measured])
        + " s; alone "
        + _spread([r["shutdown"]["wall_s"] for r in quiet])
        + " s.",
    ]
    kinds = _by_kind(measured)
    if kinds:
        rows.append("By command (pooled): " + "; ".join(kinds) + ".")
    return "\n".join(rows)


def _mix_counts(mix: list[str]) -> list[str]:
    return [f"{mix.count(k) * COMMANDS // len(mix)} {k}" for k in dict.fromkeys(mix)]


def _row(run: dict[str, Any]) -> str:
    commands, shutdown = run["commands"], run["shutdown"]
    name = run["variant"]["name"]
    if commands:
        ack, reply = commands["ack"], commands["reply"]
        cells = [
            f"{commands['acked_200']}/{commands['n']}",
            _ms(ack["p50"]),
            _ms(ack["p95"]),
            _ms(ack["p99"]),
            _ms(ack["max"]),
            f"{reply['p50']:.2f}",
            f"{reply['p99']:.2f}",
        ]
    else:
        cells = ["-"] * 7
    cells.append(f"{shutdown['wall_s']:.1f}" if shutdown else "-")
    cells += [
        f"{run['serve_cpu_s']:.1f}",
        f"{run.get('worker_cpu_s', 0.0):.1f}",
        f"{run['rss_idle_mib']:.0f}",
        f"{run['rss_under_load_mib']:.0f}",
        f"{run['rss_hwm_mib']:.0f}",
        f"{run.get('worker_rss_peak_mib', 0.0):.0f}",
        "yes" if not run["problems"] else "NO",
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[len(ordered) // 2]:.1f} (" + ", ".join(f"{v:.1f}" for v in ordered) + ")"


def _by_kind(runs: list[dict[str, Any]]) -> list[str]:
    out = []
    kinds = sorted({k for r in runs for k in r["commands"]["by_kind"]})
    for kind in kinds:
        acks: list[float] = []
        replies: list[float] = []
        for r in runs:
            entry = r["commands"]["by_kind"].get(kind)
            if entry:
                acks.append(entry["ack"]["p99"])
                replies.append(entry["reply"]["p99"])
        out.append(
            f"`{kind}` ack p99 {_ms(max(acks))} ms, reply p99 {max(replies):.1f} s (worst run)"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measured scenario")
    parser.add_argument(
        "--lead", type=float, default=LEAD, help="seconds from serve's start to the 20:00 edge"
    )
    parser.add_argument(
        "--diagnose", action="store_true", help="add one run of each diagnostic variant"
    )
    parser.add_argument("--only", help="run only the variants whose name holds this text")
    args = parser.parse_args(argv)
    plan = plan_runs(max(1, args.repeat), args.diagnose, args.only)
    RESULTS.mkdir(parents=True, exist_ok=True)
    fake_log = RESULTS / "fake-kube-ack.log"
    with (
        tempfile.TemporaryDirectory(prefix="nsctl-ack-") as tmp_name,
        fake.FakeProcess(LATENCY, log=fake_log) as server,
    ):
        results = measure(server, Path(tmp_name), plan, args.lead)
    OUT.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(render(results))
    print(f"\nwritten {OUT.relative_to(fake.ROOT)}")
    return 0 if all(not run["problems"] for run in results["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
