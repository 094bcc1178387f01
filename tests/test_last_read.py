"""`serve` answers status from what the last pass read, kept current with our own patches: a
page load, an API call or a scrape never lists the cluster on its own (issue 14). The CLI still
reads the cluster at every `status`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from bot.api import install_api
from bot.serve import HttpServer
from core.cluster.kube import KubeCluster
from core.config import ClusterSettings
from core.service import LAST_PASS_MAX_AGE
from tests.api_fixtures import Api, api_tokens
from tests.fake_kube import FakeKube, workload
from tests.harness import Harness, madrid, make_harness

NIGHT = madrid(2026, 12, 1, 20)
TEAMS = ("team-a", "team-b", "team-c")


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        for team in TEAMS:
            server.add(workload("Deployment", team, "web", replicas=2))
            server.add(workload("StatefulSet", team, "db", replicas=1))
        yield server


@pytest.fixture
def harness(fake: FakeKube, tmp_path: Path) -> Iterator[Harness]:
    settings = ClusterSettings(kubeconfig=str(fake.write_kubeconfig(tmp_path / "kubeconfig")))
    cluster = KubeCluster(settings)
    h = make_harness(tmp_path, [], at=NIGHT, cluster=cluster, api={"tokens": api_tokens()})
    yield h
    cluster.close()


def _states(h: Harness) -> dict[str, str]:
    return {n.namespace: n.state for n in h.ctl.schedule.status(h.clock.now()).namespaces}


def test_serve_status_after_a_pass_reads_nothing_and_shows_our_patches(
    fake: FakeKube, harness: Harness
) -> None:
    harness.ctl.schedule.serve_status_from_last_pass()
    assert harness.service.shutdown(at=NIGHT).ok
    fake.reset_counters()

    report = harness.ctl.schedule.status(harness.clock.now())
    detail = harness.ctl.schedule.namespace("team-a", harness.clock.now())
    managed = harness.ctl.schedule.managed_namespaces()

    assert fake.total_requests == 0
    assert {n.namespace: n.state for n in report.namespaces} == dict.fromkeys(TEAMS, "asleep")
    assert report.read_at <= report.at
    # What each runs awake, read from the annotation our patch wrote (the read had none).
    assert {w.name: (w.sleeping, w.replicas) for w in detail.workloads} == {
        "web": (True, 2),
        "db": (True, 1),
    }
    assert managed == frozenset(TEAMS)


def test_a_change_by_someone_else_shows_at_the_next_pass(fake: FakeKube, harness: Harness) -> None:
    harness.ctl.schedule.serve_status_from_last_pass()
    harness.clock.set(NIGHT - timedelta(hours=8))  # a business day: nothing to do
    harness.service.reconcile(at=harness.clock.now())
    fake.add(workload("Deployment", "team-b", "worker"))  # created behind namespace-ctl's back

    def workloads() -> int:
        report = harness.ctl.schedule.status(harness.clock.now())
        return next(n.workloads for n in report.namespaces if n.namespace == "team-b")

    assert workloads() == 2  # as the last pass read it
    harness.clock.advance(timedelta(minutes=5))
    harness.service.reconcile(at=harness.clock.now())
    fake.reset_counters()
    assert workloads() == 3 and fake.total_requests == 0


def test_a_read_older_than_the_max_age_is_read_again(fake: FakeKube, harness: Harness) -> None:
    """A follower replica runs no pass: its answers must not grow old forever."""
    harness.ctl.schedule.serve_status_from_last_pass()
    assert harness.service.shutdown(at=NIGHT).ok
    harness.clock.advance(timedelta(seconds=LAST_PASS_MAX_AGE + 1))
    fake.reset_counters()
    report = harness.ctl.schedule.status(harness.clock.now())
    assert fake.total_requests > 0 and report.read_at == report.at
    fake.reset_counters()
    harness.ctl.schedule.status(harness.clock.now())
    assert fake.total_requests == 0  # that read is the new last one


def test_the_cli_reads_the_cluster_at_every_status(fake: FakeKube, harness: Harness) -> None:
    assert harness.service.shutdown(at=NIGHT).ok
    fake.reset_counters()
    harness.ctl.schedule.status(harness.clock.now())
    assert fake.total_requests > 0


def test_a_pass_still_using_its_views_is_not_changed_under_it(
    fake: FakeKube, harness: Harness
) -> None:
    """The last read keeps its own lists: our patches replace entries there, not in the
    views a pass iterates."""
    harness.ctl.schedule.serve_status_from_last_pass()
    view = harness.service.namespace_view("team-c")
    assert view is not None
    before = list(view.workloads)
    assert harness.service.shutdown(["team-c"], at=NIGHT).ok
    assert view.workloads == before
    assert _states(harness)["team-c"] == "asleep"


def test_get_namespaces_over_http_lists_the_cluster_never(fake: FakeKube, harness: Harness) -> None:
    harness.ctl.schedule.serve_status_from_last_pass()
    assert harness.service.shutdown(at=NIGHT).ok
    server = HttpServer(install_api(Flask("last-read"), harness.ctl), "127.0.0.1", 0)
    server.start()
    try:
        api = Api(harness, server.port)
        fake.reset_counters()
        listed = [api.get("/namespaces", role="viewer") for _ in range(5)]
        one = api.get("/namespaces/team-a", role="viewer")
    finally:
        server.stop()
    assert fake.total_requests == 0
    assert all(answer.status == 200 for answer in listed) and one.status == 200
    assert {n["state"] for n in listed[-1].json["namespaces"]} == {"asleep"}
    assert listed[-1].json["read_at"] == "2026-12-01T20:00:00+01:00"  # the shutdown's read
