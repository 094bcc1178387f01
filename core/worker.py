"""Passes over the cluster in a worker process, so the serving process never waits on them.

A mass pass spends its time in the converge's threads (JSON, HTTP, the strategies): in the
process that acks Slack and answers HTTP, they hold the GIL the acks need. `PassWorker` runs the
schedule's passes (`reconcile`, `housekeeping`) in one child process instead, started at the
first pass (so only a replica that runs passes, the leader, ever has one) and kept for the next.

The child builds its own front from the same configuration and the same product clock, and does
what the serving process did: it reads the cluster, patches, writes the records and posts the
notices to the store's outbox. What the serving process needs back travels over a pipe, in small
messages, so that no single unpickling holds its GIL for long:
- the pass's read of the cluster, compacted (`core.inventory.compact`) and in parts: `serve`
  answers status from it (`LastRead`), as when the pass ran in-process;
- the views our patches changed, in batches, as they come;
- each notice posted, so the serving process's notifier delivers it at once;
- the pass's result, or its exception.

A worker that dies mid-pass (killed, out of memory) fails that pass with `WorkerDied`; what it
did is in the cluster and the store, and the next pass (a new worker) is level-triggered and
finishes the rest. Nothing is lost: records are written before the first patch of a namespace.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, Literal, Protocol

from core.cluster.base import WorkloadObject
from core.errors import NamespaceCtlError
from core.inventory import Inventory, LastRead, NamespaceView, compact_view
from core.models import WorkloadKind
from core.notices import Notice

log = logging.getLogger("namespace_ctl.worker")

PassName = Literal["reconcile", "housekeeping", "assess_wakes"]
# A part of the read (or a batch of changed views) is about this many workloads: a few hundred
# KiB to unpickle, a millisecond or two of the serving process's GIL.
WORKLOADS_PER_MESSAGE = 500
PATCHED_FLUSH_SECONDS = 0.25
STOP_TIMEOUT = 10.0
WORKER_NICENESS = 10


class WorkerDied(NamespaceCtlError):
    """The worker process exited during a pass: the next pass (a new worker) finishes it."""


class WorkerFailed(NamespaceCtlError):
    """The pass raised in the worker something that cannot travel back as itself."""


class PassWorker:
    """The serving process's side: `run` sends one pass and blocks (GIL released) until its
    result, applying what the worker sends meanwhile. One pass at a time (callers hold the
    cluster lock already; a lock here too)."""

    def __init__(
        self, factory: HandlerFactory, reads: LastRead, posted: Callable[[Notice], None]
    ) -> None:
        self.factory = factory
        self.reads, self.posted = reads, posted
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self.started = 0  # worker processes started (a new one after each death)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def run(self, name: PassName, at: datetime, *args: Any) -> Any:
        with self._lock:
            conn = self._connection()
            try:
                conn.send((name, at, args))
                return self._follow(conn)
            except (EOFError, OSError) as exc:
                raise self._died(exc) from None

    def close(self) -> None:
        """Stop the worker (after its pass, if one is running: we hold the lock)."""
        with self._lock:
            conn, process = self._conn, self._process
            self._conn = self._process = None
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(None)
                conn.close()
            if process is not None:
                process.join(STOP_TIMEOUT)
                if process.is_alive():
                    process.kill()
                    process.join()

    # ---- inside run -------------------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is not None and self._process is not None and self._process.is_alive():
            return self._conn
        context = multiprocessing.get_context("spawn")  # no copy of our threads and locks
        ours, theirs = context.Pipe()
        process = context.Process(
            target=worker_main,
            args=(theirs, self.factory, logging.getLogger().getEffectiveLevel()),
            name="namespace-ctl-passes",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._conn, self._process = ours, process
        self.started += 1
        log.info("pass worker started (pid %s)", process.pid)
        return ours

    def _follow(self, conn: Connection) -> Any:
        parts: dict[str, NamespaceView] = {}
        while True:
            kind, payload = conn.recv()
            if kind == "read-part":
                parts.update(payload)
            elif kind == "read-end":
                self.reads.remember(Inventory(namespaces=dict(sorted(parts.items()))), payload)
                parts = {}
            elif kind == "views":
                self.reads.replace_views(payload)
            elif kind == "posted":
                self._tell_posted(payload)
            elif kind == "done":
                return payload
            elif kind == "failed":
                raise payload
            else:
                raise WorkerFailed(f"the pass worker sent an unknown message {kind!r}")

    def _tell_posted(self, notice: Notice) -> None:
        try:
            self.posted(notice)
        except Exception:
            log.exception("telling the notifier of notice %s failed", notice.notice_id)

    def _died(self, cause: BaseException) -> WorkerDied:
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        code = None
        if process is not None:
            process.join(STOP_TIMEOUT)
            code = process.exitcode
        return WorkerDied(
            f"the pass worker (pid {process.pid if process else '?'}) exited with code {code} "
            f"during the pass ({type(cause).__name__}); what it did is kept, and the next "
            "pass, in a new worker, finishes the rest"
        )


# ---- the worker process ---------------------------------------------------------------------


class ForwardedRead(LastRead):
    """The worker's `LastRead`: it keeps the pass's read current as `LastRead` does, and sends
    the serving process (which answers status from it) each namespace's view, compacted and
    with its status facts worked out here: the read in parts, then the views our patches
    changed, in batches."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn
        self._send_lock = threading.Lock()  # the converge's threads patch at once
        self._changed: set[str] = set()
        self._patches = 0
        self._first_change = 0.0

    def remember(self, inventory: Inventory, read_at: int) -> None:
        super().remember(inventory, read_at)
        part: dict[str, NamespaceView] = {}
        size = 0
        for name, view in inventory.namespaces.items():
            part[name] = _portable_view(view)
            size += 1 + len(view.workloads)
            if size >= WORKLOADS_PER_MESSAGE:
                self.send("read-part", part)
                part, size = {}, 0
        if part:
            self.send("read-part", part)
        self.send("read-end", read_at)

    def patched(self, kind: WorkloadKind, obj: WorkloadObject) -> None:
        super().patched(kind, obj)
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        with self._send_lock:
            if not self._changed:
                self._first_change = time.monotonic()
            self._changed.add(namespace)
            self._patches += 1
            due = time.monotonic() - self._first_change >= PATCHED_FLUSH_SECONDS
            if self._patches >= WORKLOADS_PER_MESSAGE or due:
                self._flush()

    def send(self, kind: str, payload: Any) -> None:
        with self._send_lock:
            self._flush()
            self.conn.send((kind, payload))

    def _flush(self) -> None:
        if not self._changed:
            return
        changed, self._changed, self._patches = self._changed, set(), 0
        latest = self.latest()
        if latest is None:
            return
        views = latest[0].namespaces
        self.conn.send(
            ("views", {name: _portable_view(views[name]) for name in changed if name in views})
        )


def _portable_view(view: NamespaceView) -> NamespaceView:
    """The view compacted and packed, its facts worked out: the serving process never works
    them out for a whole read, and unpickles each view's workloads as one bytes object."""
    return compact_view(view).packed()


class PassHandler(Protocol):
    """What the worker process runs the requests with (built in the child by the factory
    `core.wiring.pass_handler`: the front over the same configuration and clock)."""

    def handle(self, name: PassName, at: datetime, args: tuple[Any, ...]) -> Any: ...

    def close(self) -> None: ...


# Builds the child's handler around its ForwardedRead; must pickle (a module-level function,
# or a functools.partial of one): the child is spawned.
HandlerFactory = Callable[["ForwardedRead"], PassHandler]


def worker_main(conn: Connection, factory: HandlerFactory, log_level: int) -> None:
    """The child: build the handler, then run each request until told to stop (None) or the
    serving process is gone (EOF)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the parent stops us
    # A pass is background work: when the cores are busy, the serving process's acks and
    # answers go first (the pass only takes longer).
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s [passes]: %(message)s"
    )
    reads = ForwardedRead(conn)
    handler = factory(reads)
    try:
        while True:
            try:
                request = conn.recv()
            except EOFError:
                return
            if request is None:
                return
            name, at, args = request
            reads.send(*_run(handler, name, at, args))
    finally:
        handler.close()


def _run(
    handler: PassHandler, name: PassName, at: datetime, args: tuple[Any, ...]
) -> tuple[str, Any]:
    try:
        value = handler.handle(name, at, args)
    except Exception as exc:
        log.exception("the %s pass at %s failed", name, at.isoformat())
        return "failed", _portable(exc)
    return "done", value


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else one that says what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return WorkerFailed(f"the pass failed in the worker: {text}")
