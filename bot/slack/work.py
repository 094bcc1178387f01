"""Where the Slack listeners' work runs after the ack, acks first.

Every listener acks on the HTTP thread and hands what follows (a report, a wake, a Web API call)
to `SlackWork`. In one interpreter that work competes with the next acks for the same lock, so
during a burst of commands an ack waits behind replies that Slack would accept half an hour
later (bench/README.md, "Acks before replies"). Ordinary work therefore waits to start while
Slack requests are being answered, at most `MAX_DEFER_S`. Work bound to a click's or a
command's `trigger_id` (a modal Slack accepts only within 3 s) starts at once, on a pool of
its own, so slow reports never hold it either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager

WORK_THREADS = 4  # ordinary work at once (each may list the cluster or wake a namespace)
URGENT_THREADS = 2  # trigger-bound work at once: opening a modal is one Web API call
MAX_DEFER_S = 1.0  # the longest ordinary work waits for the acks in flight to be answered
# A burst reaches the app in waves (the server parses the next requests while the last ones are
# answered), so none in flight is not yet the end of it: work starts after this much quiet.
QUIET_S = 0.05


class SlackWork:
    """Two executors (ordinary and urgent) and a count of the Slack requests being answered."""

    def __init__(
        self,
        ordinary: Executor | None = None,
        urgent: Executor | None = None,
        max_defer_s: float | None = None,
    ) -> None:
        self.ordinary = ordinary or ThreadPoolExecutor(WORK_THREADS, "slack-work")
        self.urgent = urgent or ThreadPoolExecutor(URGENT_THREADS, "slack-urgent")
        self.max_defer_s = MAX_DEFER_S if max_defer_s is None else max_defer_s
        self._answering = 0
        self._last_answered = float("-inf")  # monotonic instant the last request was answered
        self._quiet = threading.Condition()

    @classmethod
    def on(cls, executor: Executor) -> SlackWork:
        """All work on one executor, never deferred (the console runs it inline, on the very
        thread that is answering: waiting for that answer would only add `max_defer_s`)."""
        return cls(executor, executor, max_defer_s=0.0)

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one Slack request: ordinary work waits until none is left."""
        with self._quiet:
            self._answering += 1
        try:
            yield
        finally:
            with self._quiet:
                self._answering -= 1
                if not self._answering:
                    self._last_answered = time.monotonic()
                    self._quiet.notify_all()

    def submit(self, job: Callable[[], None], urgent: bool = False) -> Future[None]:
        if urgent:
            return self.urgent.submit(job)
        return self.ordinary.submit(self._after_acks, job)

    def _after_acks(self, job: Callable[[], None]) -> None:
        self.wait_for_acks()
        job()

    def wait_for_acks(self) -> float:
        """Block until no Slack request has been answered for `QUIET_S`, at most `max_defer_s`;
        the wait."""
        started = time.monotonic()
        deadline = started + self.max_defer_s
        with self._quiet:
            while (left := deadline - time.monotonic()) > 0:
                if self._answering:
                    self._quiet.wait(left)
                    continue
                quiet_for = time.monotonic() - self._last_answered
                if quiet_for >= QUIET_S:
                    break
                self._quiet.wait(min(QUIET_S - quiet_for, left))
        return time.monotonic() - started

    def shutdown(self, wait: bool = True) -> None:
        """Both pools (what is queued still runs when `wait`)."""
        self.ordinary.shutdown(wait=wait)
        if self.urgent is not self.ordinary:
            self.urgent.shutdown(wait=wait)
