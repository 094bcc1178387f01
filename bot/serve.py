"""`namespace-ctl serve`: the Bolt app, the in-process jobs and one HTTP server, until a signal.

Modes, from the environment (secrets never come from the config file):
- HTTP: `SLACK_BOT_TOKEN` and `SLACK_SIGNING_SECRET`: Slack posts to `/slack/events`.
- Socket Mode: `SLACK_BOT_TOKEN` and `SLACK_APP_TOKEN` (slack_bolt's builtin client, no public
  URL), connected in the background and retried with backoff while Slack is unreachable
  (`bot.slack.socket_mode`; `/readyz` shows its state, never unready for it); the HTTP server
  still serves `/healthz`, `/readyz` and `/metrics` (Prometheus, `bot.metrics`), as in every mode.
- Console: no Slack token: the same listeners driven from stdin (`bot.console`), for `make run`;
  when stdin ends (or `/quit`), serve stops. `--no-console`: scheduler and HTTP only.

The HTTP server is waitress (pure Python, no dependencies, a production WSGI server with a
thread pool). SIGTERM and SIGINT stop the Socket Mode client, the scheduler (waiting for a running
job) and the server, and exit 0.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import IO, Any

from flask import Flask, Response, jsonify
from slack_bolt import App
from waitress.server import create_server

from bot.api import MAX_BODY, install_api
from bot.console import Console
from bot.jobs import Intervals, Jobs, PassReport, no_drain, no_report, no_summary
from bot.metrics import ServeMetrics, add_metrics
from bot.slack.app import (
    EVENTS_PATH,
    create_app,
    create_flask_app,
    notifier_of,
    slack_health_of,
    work_pool_of,
)
from bot.slack.health import SlackApiHealth
from bot.slack.notifier import scheduled_drain
from bot.slack.socket_mode import SocketModeConnection
from bot.web import install_web
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config
from core.errors import NamespaceCtlError
from core.leader import AlwaysLeader, LeaderElector, Leadership
from core.wiring import build_elector, run_passes_in_worker

log = logging.getLogger("namespace_ctl.serve")
BOT_TOKEN, SIGNING_SECRET, APP_TOKEN = "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"
SERVER_THREADS = 8
FIRST_PASS_WAIT = 30.0  # seconds the console waits for the first reconcile before reading
# CPython's default (10) allows a full collection every 10 second-generation ones once the
# old objects grew by a quarter: during a 10,000-workload pass, a 100-350 ms GIL pause about
# every second, which the Slack acks queue behind (bench/README.md, "Full collections").
FULL_COLLECTION_THRESHOLD = 100


class Mode(StrEnum):
    HTTP = "HTTP (Slack posts to /slack/events)"
    SOCKET = "Socket Mode"
    CONSOLE = "console (no Slack tokens: type below; /help)"
    HEADLESS = "headless (no Slack tokens, no console: Slack calls print on stdout)"


class UsageError(Exception):
    """A Slack setting missing from the environment (exit 2)."""


def slack_mode(environ: Mapping[str, str], console: bool = True) -> Mode:
    bot, secret, app = (
        environ.get(name, "").strip() for name in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN)
    )
    if app:
        if not bot:
            raise UsageError(f"{APP_TOKEN} is set but {BOT_TOKEN} is not: Socket Mode needs both")
        return Mode.SOCKET
    if bot and secret:
        return Mode.HTTP
    if bot or secret:
        missing = SIGNING_SECRET if bot else BOT_TOKEN
        raise UsageError(
            f"{missing} is not set: HTTP mode needs {BOT_TOKEN} and {SIGNING_SECRET} "
            f"(add {APP_TOKEN} for Socket Mode; unset both for the console)"
        )
    return Mode.CONSOLE if console else Mode.HEADLESS


# ---- what the integrator wires ------------------------------------------------------------------


@dataclass
class JobHooks:
    """The callables the jobs call: the notifier's outbox drain and pass reports (shutdown and
    startup summaries), and the weekly summary. Defaults do nothing."""

    drain: Callable[[datetime], int] = no_drain
    weekly_summary: Callable[[datetime], None] = no_summary
    on_pass: Callable[[PassReport], None] = no_report


def job_hooks(ctl: NamespaceCtl, app: App) -> JobHooks:
    """The app's notifier drains the outbox (its Web API client prints on the console in
    console mode); the weekly summary is posted to the outbox like every notice."""
    notifier = notifier_of(app)

    def weekly_summary(at: datetime) -> None:
        ctl.reports.post_weekly_summary(at)
        notifier.drain(at)

    # A drain in which Slack was down and nothing got through is no successful run.
    return JobHooks(drain=scheduled_drain(notifier), weekly_summary=weekly_summary)


# ---- readiness ----------------------------------------------------------------------------------


def readiness(ctl: NamespaceCtl, jobs: Jobs) -> tuple[bool, dict[str, Any]]:
    """Ready when the store answers, the scheduler runs and (on the leader, or without leader
    election) a pass over the cluster has completed; otherwise the reasons. A follower runs no
    pass, so it is ready without one: it serves Slack and the API. The body names the leader."""
    reasons: list[str] = []
    try:
        ctl.health.check_store()
    except Exception as exc:
        reasons.append(f"store: {type(exc).__name__}: {exc}")
    health = jobs.health
    leading = jobs.leadership.is_leader()
    if health.completed_at is None and leading:
        why = f": {health.error}" if health.error else " yet"
        reasons.append(f"cluster: no reconcile pass has completed{why}")
    if not jobs.running:
        reasons.append("scheduler: not running")
    leader = _leader_body(jobs.leadership)
    if reasons:
        return False, {"status": "not ready", "reasons": reasons, **leader}
    last = health.completed_at.isoformat() if health.completed_at else None
    return True, {"status": "ready", "last_pass": last, **leader}


def _leader_body(leadership: Leadership) -> dict[str, Any]:
    if isinstance(leadership, AlwaysLeader):
        return {}
    return {"leader": {"holder": leadership.holder(), "this_replica": leadership.is_leader()}}


def add_readiness(
    flask_app: Flask,
    ctl: NamespaceCtl,
    jobs: Jobs,
    details: Callable[[], Mapping[str, Any]] | None = None,
) -> Flask:
    """`/readyz`; `details` adds informative lines to the body (never a reason)."""

    @flask_app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        ready, body = readiness(ctl, jobs)
        return jsonify({**body, **(details() if details else {})}), 200 if ready else 503

    return flask_app


def slack_readiness(
    mode: Mode, socket_mode: SocketModeConnection | None, health: SlackApiHealth
) -> Callable[[], dict[str, Any]]:
    """The `slack` line of /readyz: what Slack looks like from here, never a reason to be
    unready. A Slack outage must not make Kubernetes take the pod out of its Service or restart
    it: the jobs and the outbox do not need Slack, and in Socket Mode nothing comes through the
    Service anyway (/healthz, the liveness probe, never looks at Slack either)."""

    def details() -> dict[str, Any]:
        if socket_mode is not None:
            return {"slack": socket_mode.state()}
        if mode is Mode.HTTP:
            return {"slack": f"http mode: {health.describe()}"}
        return {}

    return details


# ---- the HTTP server ----------------------------------------------------------------------------


class HttpServer:
    """waitress on a thread, stoppable from another thread."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=SERVER_THREADS,
            ident="namespace-ctl",
            # Flask answers 413 above MAX_BODY itself (in the API's shape); waitress never
            # buffers more than four times that (its default is 1 GiB).
            max_request_body_size=4 * MAX_BODY,
        )
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        # Closing the sockets from the loop's own thread (a trigger thunk) ends its loop cleanly.
        server = self._server
        try:
            server.trigger.pull_trigger(lambda: _close_all(server._map))
        except OSError as exc:
            # The trigger's pipe is gone (seen twice in CI: EBADF on its write end, cause not
            # found): close the sockets from here; the loop ends on an empty map.
            log.warning("the HTTP server's trigger failed (%s): closing its sockets directly", exc)
            _close_all(server._map)
        self._thread.join(timeout)
        server.task_dispatcher.shutdown()


def _close_all(socket_map: dict[int, Any]) -> None:
    for dispatcher in list(socket_map.values()):
        with contextlib.suppress(OSError):
            dispatcher.close()
    socket_map.clear()


# ---- serve --------------------------------------------------------------------------------------


@dataclass
class Serve:
    ctl: NamespaceCtl
    config: Config
    clock: Clock
    host: str = "0.0.0.0"
    port: int = 3000
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    use_console: bool = True
    metrics_port: int | None = None  # None: /metrics on `port`
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> int:
        mode = slack_mode(self.environ, self.use_console)
        _configure_logging(mode)
        self.ctl.schedule.serve_status_from_last_pass()
        if self.config.cluster.passes_in_worker:
            run_passes_in_worker(self.ctl, self.config)
        console = None
        if mode in (Mode.CONSOLE, Mode.HEADLESS):
            console = Console(self.ctl, self.config, self.clock, self.out)
            app = console.app
        else:
            app = self._slack_app()
        hooks = job_hooks(self.ctl, app)
        notifier = notifier_of(app)
        notifier.start()  # delivers what the jobs and listeners post, as soon as they post it
        elector = self._elector()
        leadership: Leadership = elector or AlwaysLeader()
        notifier.may_deliver = leadership.is_leader  # followers leave the outbox to the leader
        metrics = ServeMetrics(self.ctl, leadership=leadership, slack=slack_health_of(app))
        jobs = Jobs(
            self.ctl,
            self.config,
            self.clock,
            drain=hooks.drain,
            weekly_summary=hooks.weekly_summary,
            on_pass=hooks.on_pass,
            observer=metrics,
            leadership=leadership,
            **self._election_timing(),
        )
        if elector is not None:
            elector.on_started = lambda: (jobs.start_catch_up(), notifier.kick())
        socket_mode = (
            SocketModeConnection(app, self.environ[APP_TOKEN]) if mode is Mode.SOCKET else None
        )
        slack_state = slack_readiness(mode, socket_mode, slack_health_of(app))
        flask_app = install_web(
            install_api(
                add_readiness(create_flask_app(app), self.ctl, jobs, slack_state),
                self.ctl,
                notify=notifier.kick,
            )
        )
        try:
            server, metrics_server = self._listen(flask_app, metrics)
        except NamespaceCtlError:
            if console is not None:
                console.close()
            raise
        server.start()
        if metrics_server is not None:
            metrics_server.start()
        try:
            jobs.start()
            if elector is not None:
                elector.start()
            if socket_mode is not None:
                socket_mode.start()  # connects in the background, retrying while Slack is down
            self._banner(mode, server.port, metrics_server.port if metrics_server else None)
            if mode is Mode.CONSOLE and console is not None:
                # The first line typed sees the cluster as the schedule wants it.
                jobs.health.wait_first_pass(FIRST_PASS_WAIT)
                threading.Thread(
                    target=self._console, args=(console,), name="console", daemon=True
                ).start()
            self.stopping.wait()
        finally:
            log.info("stopping")
            if socket_mode is not None:
                socket_mode.close()
            jobs.stop()
            if elector is not None:
                jobs.wait_idle()  # a catch-up pass ends before a successor may start one
                elector.stop(release=True)
            self.ctl.schedule.stop_worker()
            notifier.stop()
            server.stop()
            if metrics_server is not None:
                metrics_server.stop()
            # What listeners handed to the work pool after their ack ends before the store closes.
            work_pool_of(app).shutdown(wait=True)
            if console is not None:
                console.close()
        return 0

    def _elector(self) -> LeaderElector | None:
        if not self.config.leader_election.enabled:
            return None
        return build_elector(self.config, self.ctl)

    def _election_timing(self) -> dict[str, Any]:
        """With leader election, the leader polls the outbox every `retry_period` (a follower's
        listener writes notices the leader must deliver within seconds), and a new leader runs
        an edge it may have missed while the old one's Lease ran out."""
        settings = self.config.leader_election
        if not settings.enabled:
            return {}
        return {
            "intervals": Intervals(drain=min(Intervals().drain, settings.retry_period)),
            "catch_up_window": settings.lease_duration + 2 * settings.retry_period,
        }

    def _listen(
        self, flask_app: Flask, metrics: ServeMetrics
    ) -> tuple[HttpServer, HttpServer | None]:
        """The server on `port`, and `/metrics` on `metrics_port` when it is another port (else
        on the main server)."""
        wanted = self.metrics_port
        separate = wanted is not None and (wanted == 0 or wanted != self.port)  # 0: any free port
        if not separate:
            add_metrics(flask_app, metrics)
        server = self._server(flask_app, self.port, "--port")
        if not separate:
            return server, None
        assert self.metrics_port is not None
        try:
            metrics_server = self._server(
                add_metrics(Flask("metrics"), metrics), self.metrics_port, "--metrics-port"
            )
        except NamespaceCtlError:
            server.stop()
            raise
        return server, metrics_server

    def _server(self, flask_app: Flask, port: int, option: str) -> HttpServer:
        try:
            return HttpServer(flask_app, self.host, port)
        except OSError as exc:
            raise NamespaceCtlError(
                f"cannot listen on {self.host}:{port}: {exc.strerror or exc} "
                f"(choose another {option})"
            ) from None

    def _slack_app(self) -> App:
        # Socket Mode needs no signing secret; a random one keeps /slack/events closed.
        secret = self.environ.get(SIGNING_SECRET, "").strip() or secrets.token_hex(32)
        return create_app(self.ctl, self.config, self.environ[BOT_TOKEN], secret, self.clock)

    def _console(self, console: Console) -> None:
        try:
            console.run(self.stdin)
        finally:
            self.stopping.set()

    def _banner(self, mode: Mode, port: int, metrics_port: int | None) -> None:
        config = self.config
        store = config.store
        where = (
            store.path
            if store.backend == "sqlite"
            else f"{store.region} {store.endpoint_url or ''} prefix {store.table_prefix!r}".strip()
        )
        cluster = config.cluster
        target = (
            f"simulated {cluster.simulated}"
            if cluster.simulated
            else f"kubernetes {cluster.context or cluster.kubeconfig or '(in-cluster or default)'}"
        )
        now = self.clock.now().astimezone(config.zone)
        lines = [
            f"namespace-ctl serve: {mode.value}",
            f"  store:   {store.backend} {where}",
            f"  cluster: {target}",
            f"  http:    {self.host}:{port} (/healthz, /readyz"
            + ("" if metrics_port else ", /metrics")
            + (f", {EVENTS_PATH})" if mode is Mode.HTTP else ")"),
            *([f"  metrics: {self.host}:{metrics_port} (/metrics)"] if metrics_port else []),
            f"  web:     http://{_browsable(self.host)}:{port}/ (REST API under /api/v1)",
            f"  clock:   {now.isoformat(timespec='seconds')} ({config.timezone})",
            "  jobs:    business-hours edges, reconcile every 5 min, bookings every minute, "
            "notices every 30 s, weekly summary Monday 09:00",
        ]
        election = config.leader_election
        if election.enabled:
            lines.append(
                f"  leader:  Lease {election.name} (only the leader runs the jobs and delivers "
                "notices)"
            )
        print("\n".join(lines), file=self.out, flush=True)

    @staticmethod
    def tune_gc() -> None:
        """Full collections about ten times rarer (the process's; reference counting still
        frees every object outside a cycle at once)."""
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_THRESHOLD)

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop serving (main thread only, as Python requires)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stopping.set())


def _browsable(host: str) -> str:
    """The address a browser on this machine opens for a listening host."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _configure_logging(mode: Mode) -> None:
    """Logs to stderr; in console mode only warnings, so the chat stays readable."""
    level = logging.WARNING if mode is Mode.CONSOLE else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("waitress").setLevel(logging.WARNING)
