"""How hard `KubeCluster` may press on the API server: a rate limit and an adaptive concurrency.

- `RateLimiter`: a token bucket (`cluster.qps` per second, `cluster.burst` at once). The defaults
  sit above what a healthy server answers for one client (about 600 requests per second in
  `make bench`), so they only stop a runaway loop; lower them to share a small control plane.
- `AdaptiveLimit`: how many requests may be in flight, between 1 and `cluster.concurrency`.
  API Priority and Fairness answers 429 (with `Retry-After`) when a client's flow has more in
  flight than its seats: the limit then shrinks by a factor (multiplicative decrease, once per
  round trip however many 429s come back together) and grows by one per limit's worth of good
  answers (additive increase), so it settles just under the seats the server gives.

Both are shared by every thread of one `KubeCluster`; `Throttle.slot()` takes a token and a seat
for one request and gives the seat back when the answer is read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

Answer = Literal["good", "throttled", "other"]
DECREASE = 0.8  # a 429 keeps 80% of the limit: shallower than halving, so the mean stays high
PROBE_SLOWDOWN = 8.0


class RateLimiter:
    """A token bucket: `qps` tokens a second, at most `burst` saved up. Thread-safe."""

    def __init__(
        self,
        qps: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be > 0 and burst >= 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._at = clock()
        self.waited = 0.0  # seconds threads spent waiting for a token, in total

    def acquire(self) -> None:
        """Take one token, waiting for it if the bucket is empty (a token owed is reserved,
        so waiting threads are served in the order they came)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.qps)
            self._at = now
            self._tokens -= 1.0
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
            self.waited += wait
        if wait > 0:
            self._sleep(wait)


@dataclass
class AdaptiveLimit:
    """Requests in flight at once: AIMD between 1 and `ceiling`. Thread-safe."""

    ceiling: int
    clock: Callable[[], float] = time.monotonic
    limit: float = field(init=False)
    in_flight: int = field(default=0, init=False)
    decreases: int = field(default=0, init=False)
    lowest: float = field(init=False)
    _decreased_at: float = field(default=float("-inf"), init=False)
    _throttled_at: float | None = field(default=None, init=False)
    _ready: threading.Condition = field(default_factory=threading.Condition, init=False)

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("ceiling must be >= 1")
        self.limit = float(self.ceiling)
        self.lowest = self.limit

    def enter(self) -> float:
        """Wait for a seat; the instant the request starts (for `throttled`)."""
        with self._ready:
            while self.in_flight >= int(self.limit):
                self._ready.wait()
            self.in_flight += 1
            return self.clock()

    def leave(self, started: float, answer: Answer) -> None:
        """A good answer grows the limit, a 429 shrinks it; other failures leave it."""
        with self._ready:
            self.in_flight -= 1
            if answer == "throttled":
                self._decrease(started)
            elif answer == "good":
                self.limit = min(float(self.ceiling), self.limit + self._step())
            free = int(self.limit) - self.in_flight
            if free > 0:  # wake as many waiting threads as there are seats, not all of them
                self._ready.notify(free)

    def _step(self) -> float:
        """One seat per limit's worth of good answers; near the limit where the server last
        said 429, an eighth of that: probe slowly where it is known to push back."""
        step = 1.0 / self.limit
        if self._throttled_at is not None and self.limit + step > self._throttled_at - 1:
            step /= PROBE_SLOWDOWN
        return step

    def _decrease(self, started: float) -> None:
        # The 429s of requests sent before the last decrease answer a limit already cut.
        if started < self._decreased_at:
            return
        self._throttled_at = self.limit
        self.limit = max(1.0, self.limit * DECREASE)
        self.lowest = min(self.lowest, self.limit)
        self.decreases += 1
        self._decreased_at = self.clock()


class Throttle:
    """The rate limiter and the adaptive limit, together for each request."""

    def __init__(
        self,
        qps: float,
        burst: int,
        concurrency: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = RateLimiter(qps, burst, clock, sleep)
        self.seats = AdaptiveLimit(concurrency, clock)
        self._lock = threading.Lock()
        self.throttled = 0  # 429 answers seen

    @contextmanager
    def slot(self) -> Iterator[Seat]:
        """One request: a seat (waiting for one), then a token. Say what came back (`good`
        or `throttled`) before leaving the block; anything else leaves the limit as it is."""
        started = self.seats.enter()
        seat = Seat()
        try:
            self.rate.acquire()
            yield seat
        finally:
            if seat.answer == "throttled":
                with self._lock:
                    self.throttled += 1
            self.seats.leave(started, seat.answer)


@dataclass
class Seat:
    answer: Answer = "other"
