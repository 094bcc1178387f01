"""Kubernetes Events (issue 15, item 3): `kubectl events -n NS` tells what namespace-ctl did.
One Event on the Namespace per sleep, wake and verified-ready or not-ready, one on each workload
that failed, reported by `namespace-ctl`; never a failed pass for an Event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.fake_kube import FakeKube, workload
from tests.harness import Harness, kube_harness, madrid

NIGHT = madrid(2026, 12, 14, 20)
MORNING = madrid(2026, 12, 15, 7)


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        for team in ("team-a", "team-b"):
            server.add(workload("Deployment", team, "web", replicas=2))
            server.add(workload("CronJob", team, "report"))
        yield server


@pytest.fixture
def harness(fake: FakeKube, tmp_path: Path) -> Iterator[Harness]:
    with kube_harness(fake, tmp_path, NIGHT) as h:
        yield h


def _seen(fake: FakeKube) -> list[tuple[str, str, str, str, str]]:
    """(namespace, involved kind/name, type, reason, message) of every Event created."""
    return [
        (
            e["metadata"]["namespace"],
            f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}",
            e["type"],
            e["reason"],
            e["message"],
        )
        for e in fake.events
    ]


def test_a_night_and_its_morning_as_kubectl_events_tells_them(
    fake: FakeKube, harness: Harness
) -> None:
    fake.inject("PATCH", r"/namespaces/team-b/cronjobs/report", 422, times=1)

    harness.service.reconcile(at=NIGHT)

    seen = sorted(_seen(fake))
    assert [r[:4] for r in seen] == [
        ("team-a", "Namespace/team-a", "Normal", "Slept"),
        ("team-b", "CronJob/report", "Warning", "SleepFailed"),
        ("team-b", "Namespace/team-b", "Normal", "Slept"),
    ]
    assert seen[0][4] == "2 workloads put to sleep by namespace-ctl (2 replicas)"
    assert "422" in seen[1][4]
    assert seen[2][4] == "1 workload put to sleep by namespace-ctl (2 replicas)"
    for created in fake.events:
        assert created["reportingComponent"] == "namespace-ctl"
        assert created["source"] == {"component": "namespace-ctl"}
        assert created["reportingInstance"]
        assert created["firstTimestamp"] == "2026-12-14T19:00:00Z"

    fake.events.clear()
    fake.hold_ready("Deployment", "team-b", "web", 0)
    harness.ctl.schedule.reconcile(at=MORNING)
    harness.ctl.schedule.follow_wakes(MORNING + timedelta(minutes=10))

    assert sorted(r[:4] for r in _seen(fake)) == [
        ("team-a", "Namespace/team-a", "Normal", "Ready"),
        ("team-a", "Namespace/team-a", "Normal", "Woken"),
        ("team-b", "Namespace/team-b", "Normal", "Woken"),
        ("team-b", "Namespace/team-b", "Warning", "NotReady"),
    ]
    (not_ready,) = [e for e in fake.events if e["reason"] == "NotReady"]
    assert "Deployment/web 0/2 ready (ImagePullBackOff)" in not_ready["message"]


def test_events_cost_one_request_per_namespace_changed(fake: FakeKube, harness: Harness) -> None:
    fake.reset_counters()

    result = harness.service.shutdown(at=NIGHT)

    changed = sum(1 for ns in result.namespaces if ns.changed)
    patched = sum(len(ns.outcomes) for ns in result.namespaces)
    assert fake.requests[("POST", "Event")] == changed == 2
    assert fake.requests[("PATCH", "Deployment")] + fake.requests[("PATCH", "CronJob")] == patched


def test_an_event_that_cannot_be_created_never_fails_the_pass(
    fake: FakeKube, harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("POST", r"/events", 500, times=10)

    result = harness.service.reconcile(at=NIGHT)

    assert result.ok and not fake.events
    assert fake.get("Deployment", "team-a", "web")["spec"]["replicas"] == 0  # type: ignore[index]
    assert "2 of 2 Kubernetes Events could not be created" in caplog.text


def test_a_dry_run_creates_no_event(fake: FakeKube, harness: Harness) -> None:
    harness.service.reconcile(dry_run=True, at=NIGHT)
    assert fake.events == []


def test_an_activation_is_an_event_on_its_namespace(fake: FakeKube, harness: Harness) -> None:
    harness.service.reconcile(at=NIGHT)
    fake.events.clear()
    late = NIGHT + timedelta(hours=1)

    harness.ctl.activations.activate("team-a", "CC-ALL", "U0LATE", timedelta(hours=1), "fix", late)

    assert [r[:4] for r in _seen(fake)] == [("team-a", "Namespace/team-a", "Normal", "Woken")]


@pytest.mark.parametrize(("level", "reasons"), [("failures", ["SleepFailed"]), ("none", [])])
def test_cluster_events_keeps_only_what_it_is_told(
    fake: FakeKube, harness: Harness, level: str, reasons: list[str]
) -> None:
    """`cluster.events: failures` keeps a mass sleep at one request per workload changed."""
    harness.service.events = level  # type: ignore[assignment]  # as wiring sets it from config
    fake.inject("PATCH", r"/namespaces/team-b/cronjobs/report", 422, times=1)
    fake.reset_counters()

    harness.service.reconcile(at=NIGHT)

    assert [e["reason"] for e in fake.events] == reasons
    assert fake.requests[("POST", "Event")] == len(reasons)
