"""Polite to API Priority and Fairness: the token bucket, the adaptive limit, and a mass sleep
against a fake API server that answers 429 above a number of requests in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cluster import kube
from core.cluster.kube import KubeCluster
from core.cluster.throttle import (
    DECREASE,
    PROBE_SLOWDOWN,
    AdaptiveLimit,
    RateLimiter,
    Throttle,
)
from core.config import ClusterSettings, load_config
from core.errors import ClusterUnavailableError, ConfigError
from core.models import WorkloadKind, WorkloadRef
from tests.fake_kube import FakeKube, workload
from tests.harness import make_harness
from tests.test_kube_service import NIGHT

WEB = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="team-a", name="web")
PATCH_WEB = r"/namespaces/team-a/deployments/web$"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# ---- the token bucket ---------------------------------------------------------------------------


def test_a_burst_goes_at_once_then_one_token_per_1_over_qps() -> None:
    clock = FakeClock()
    bucket = RateLimiter(qps=10, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == []
    bucket.acquire()
    bucket.acquire()
    assert clock.slept == pytest.approx([0.1, 0.1])
    assert bucket.waited == pytest.approx(0.2)


def test_an_idle_bucket_saves_up_no_more_than_its_burst() -> None:
    clock = FakeClock()
    bucket = RateLimiter(qps=10, burst=2, clock=clock, sleep=clock.sleep)
    clock.now += 3600
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == pytest.approx([0.1])


def test_waiting_threads_are_owed_tokens_in_turn() -> None:
    """Three threads on an empty bucket wait 1, 2 and 3 intervals: the rate holds."""
    clock = FakeClock()
    waits: list[float] = []
    bucket = RateLimiter(qps=4, burst=1, clock=clock, sleep=waits.append)
    bucket.acquire()
    threads = [threading.Thread(target=bucket.acquire) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0.25, 0.5, 0.75])


# ---- the adaptive limit -------------------------------------------------------------------------


def test_a_429_cuts_the_limit_once_per_round_trip_and_good_answers_grow_it() -> None:
    clock = FakeClock()
    seats = AdaptiveLimit(ceiling=10, clock=clock)
    started = [seats.enter() for _ in range(3)]
    clock.now += 0.05
    for start in started:  # three 429s of requests sent together: one cut
        seats.leave(start, "throttled")
    assert seats.limit == pytest.approx(10 * DECREASE) and seats.decreases == 1
    clock.now += 0.05
    later = seats.enter()
    seats.leave(later, "throttled")  # sent after the cut: a second one
    assert seats.limit == pytest.approx(10 * DECREASE**2) and seats.decreases == 2
    cut = seats.limit  # 6.4; the server last pushed back at 8
    for _ in range(3):  # one seat per limit's worth of good answers, up to a seat below 8
        seats.leave(seats.enter(), "good")
    assert seats.limit == pytest.approx(cut + sum(1 / x for x in _limits(cut, 3)))
    near = seats.limit
    for _ in range(7):  # then an eighth of that: probing where it said 429
        seats.leave(seats.enter(), "good")
    assert near < seats.limit < near + 7 / near / PROBE_SLOWDOWN + 1e-9
    for _ in range(2000):
        seats.leave(seats.enter(), "good")
    assert seats.limit == 10  # it grows again, and never above the ceiling


def _limits(start: float, steps: int) -> list[float]:
    values = [start]
    for _ in range(steps - 1):
        values.append(values[-1] + 1 / values[-1])
    return values


def test_the_limit_never_falls_below_one_and_others_leave_it() -> None:
    clock = FakeClock()
    seats = AdaptiveLimit(ceiling=4, clock=clock)
    for _ in range(30):
        clock.now += 1
        seats.leave(seats.enter(), "throttled")
    assert seats.limit == 1.0
    seats.leave(seats.enter(), "other")  # a 500 or a timeout says nothing about seats
    assert seats.limit == 1.0


def test_no_more_requests_in_flight_than_the_limit() -> None:
    throttle = Throttle(qps=10_000, burst=10_000, concurrency=3)
    peak = [0]
    lock = threading.Lock()
    busy = [0]

    def request() -> None:
        with throttle.slot() as seat:
            with lock:
                busy[0] += 1
                peak[0] = max(peak[0], busy[0])
            time.sleep(0.01)
            with lock:
                busy[0] -= 1
            seat.answer = "good"

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] == 3 and throttle.seats.in_flight == 0


# ---- KubeCluster against the fake ---------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        server.add(workload("Deployment", "team-a", "web", replicas=3))
        yield server


def _cluster(fake: FakeKube, tmp_path: Path, **settings: Any) -> KubeCluster:
    values: dict[str, Any] = {
        "kubeconfig": str(fake.write_kubeconfig(tmp_path / "kubeconfig")),
        "request_timeout": 2.0,
        **settings,
    }
    return KubeCluster(ClusterSettings(**values), backoff_base=0.01, backoff_cap=0.05)


def test_a_429_does_not_spend_the_retry_budget(fake: FakeKube, tmp_path: Path) -> None:
    kube_cluster = _cluster(fake, tmp_path, retries=0)
    fake.inject("PATCH", PATCH_WEB, 429, times=4, retry_after=0.01)
    patched = kube_cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    assert patched["spec"]["replicas"] == 0
    assert fake.count("PATCH", "Deployment") == 5 and fake.writes == 1
    assert kube_cluster.throttle.throttled == 4
    # A 503 still spends it: retries=0 is one attempt.
    fake.inject("PATCH", PATCH_WEB, 503)
    with pytest.raises(ClusterUnavailableError, match="HTTP 503"):
        kube_cluster.patch_workload(WEB, {"spec": {"replicas": 3}})
    kube_cluster.close()


def test_a_request_throttled_past_its_patience_gives_up(
    fake: FakeKube, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "THROTTLED_PATIENCE", 0.05)
    kube_cluster = _cluster(fake, tmp_path, retries=1)
    fake.inject("PATCH", PATCH_WEB, 429, times=100, retry_after=0.02)
    with pytest.raises(ClusterUnavailableError, match="HTTP 429") as info:
        kube_cluster.patch_workload(WEB, {"spec": {"replicas": 0}})
    assert "overloaded" in str(info.value)
    # 0.05 s of 429s (3 waits of 0.02), then the one retry of the budget.
    assert fake.count("PATCH", "Deployment") == 5 and fake.writes == 0
    kube_cluster.close()


def test_a_mass_sleep_under_a_seat_limit_fails_nothing(fake: FakeKube, tmp_path: Path) -> None:
    """16 threads against a server that admits 4 requests in flight and answers the rest 429
    `Retry-After: 0.05`: every workload sleeps, and the client learns to stay near 4."""
    teams = [f"team-{i:02d}" for i in range(12)]
    for team in teams:
        for name in ("api", "web", "worker"):
            fake.add(workload("Deployment", team, name, replicas=2))
    fake.latency = 0.01
    fake.max_in_flight = 4
    fake.throttle_retry_after = 0.05
    kube_cluster = _cluster(fake, tmp_path, concurrency=16, retries=1)
    h = make_harness(tmp_path, [], cluster=kube_cluster)

    result = h.service.shutdown(at=NIGHT)

    assert result.ok, result.failed_workloads()
    assert fake.throttled > 0
    assert kube_cluster.throttle.throttled == fake.throttled
    assert kube_cluster.throttle.seats.decreases >= 1
    assert kube_cluster.throttle.seats.lowest < 16
    for team in teams:
        for name in ("api", "web", "worker"):
            obj = fake.get("Deployment", team, name)
            assert obj is not None and obj["spec"]["replicas"] == 0
    kube_cluster.close()


# ---- the configuration --------------------------------------------------------------------------


def test_the_defaults_are_a_ceiling_in_the_hundreds() -> None:
    cluster = load_config(None, environ={}).cluster
    assert cluster.qps == 900 and cluster.burst == 1800


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"qps": 0}, "cluster.qps"),
        ({"qps": "fast"}, "cluster.qps"),
        ({"burst": 0}, "cluster.burst"),
    ],
)
def test_a_bad_rate_names_its_key(tmp_path: Path, values: dict[str, Any], key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"cluster": values}))
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path, environ={})
