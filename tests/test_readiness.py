"""Verified wake-ups (issue 15, item 1): after a wake, `serve` follows the woken workloads until
their pods are ready, with cluster-wide lists; a namespace not ready by `wake.ready_timeout`
gets one notice naming each workload and why (from its pods), the wake one summary, /metrics a
histogram and a gauge, status "waking (n/m ready)". Against the fake API server, whose served
status follows the spec unless its pods are held back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import render_status
from bot.jobs import Jobs
from bot.metrics import ServeMetrics
from bot.slack.blocks import status_blocks
from bot.slack.notice_blocks import notice_message
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config
from core.models import Notice, NoticeKind
from core.readiness import pod_trouble
from core.wiring import build_app, run_passes_in_worker
from tests.fake_kube import FakeKube, workload
from tests.harness import TEST_CONFIG, madrid

NIGHT = madrid(2026, 12, 14, 20)
MORNING = madrid(2026, 12, 15, 7)
NO_ROOM = "0/3 nodes are available: 3 Insufficient cpu."


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        server.add(workload("Deployment", "team-a", "web", replicas=2))
        server.add(workload("Deployment", "team-b", "web", replicas=3))
        server.add(workload("CronJob", "team-b", "report"))
        server.add(workload("StatefulSet", "team-c", "db", replicas=1))
        server.add(workload("DaemonSet", "team-c", "agent"))
        yield server


def _config(fake: FakeKube, tmp_path: Path) -> Config:
    kubeconfig = fake.write_kubeconfig(tmp_path / "kubeconfig")
    return Config.model_validate(
        TEST_CONFIG
        | {
            "store": {"backend": "sqlite", "path": str(tmp_path / "audit.db")},
            "cluster": {"kubeconfig": str(kubeconfig), "retries": 0},
            "slack": {**TEST_CONFIG["slack"], "admins": ["U0ADMIN"]},
        }
    )


@pytest.fixture
def ctl(fake: FakeKube, tmp_path: Path) -> Iterator[NamespaceCtl]:
    front = build_app(_config(fake, tmp_path), Clock(NIGHT))
    front.schedule.serve_status_from_last_pass()
    yield front
    front.close()


def _notices(ctl: NamespaceCtl, kind: NoticeKind) -> list[Notice]:
    return [n for n in ctl.health.outbox.due(10**10, 500) if n.kind is kind]


def _readiness(ctl: NamespaceCtl, at: object) -> dict[str, str | None]:
    report = ctl.schedule.status(at)  # type: ignore[arg-type]
    return {n.namespace: n.readiness for n in report.namespaces}


def test_a_morning_followed_until_ready_or_its_deadline(fake: FakeKube, ctl: NamespaceCtl) -> None:
    ctl.schedule.reconcile(at=NIGHT)
    fake.hold_ready("Deployment", "team-b", "web", 1)  # ImagePullBackOff
    fake.hold_ready("StatefulSet", "team-c", "db", 0, "Unschedulable", NO_ROOM)
    metrics = ServeMetrics(ctl)
    jobs = Jobs(ctl, ctl.config, ctl.clock, observer=metrics)
    ctl.schedule.reconcile(at=MORNING)

    assert _readiness(ctl, MORNING) == {
        "team-a": "waking (0/1 ready)",
        "team-b": "waking (0/1 ready)",  # the CronJob has nothing to wait for
        "team-c": "waking (0/2 ready)",
    }
    # As Slack and the CLI show it.
    report = ctl.schedule.status(MORNING)
    slack = "\n".join(b["text"]["text"] for b in status_blocks(report, ctl.config))
    assert "• `team-b`: awake, waking (0/1 ready) (0/2 workloads asleep" in slack
    assert "• `team-c`: awake, waking (0/2 ready) (0/2 workloads asleep" in slack
    assert "waking (0/2 ready)" in render_status(report, ctl.config)
    fake.reset_counters()
    first = jobs.readiness_pass(MORNING + timedelta(minutes=1))

    assert first is not None
    assert [(w.namespace, s) for w, s in first.ready] == [("team-a", 60)]
    assert not first.not_ready and not first.wakes_done
    # One cluster-wide list per kind waited for; no read per workload, no pods before a deadline.
    assert dict(fake.requests) == {
        ("LIST", "Deployment"): 1,
        ("LIST", "StatefulSet"): 1,
        ("LIST", "DaemonSet"): 1,
        ("POST", "Event"): 1,  # team-a's Ready, on its Namespace
    }
    assert _readiness(ctl, MORNING) == {
        "team-a": None,
        "team-b": "waking (0/1 ready)",
        "team-c": "waking (1/2 ready)",  # the DaemonSet is up, the StatefulSet is not
    }

    fake.reset_counters()
    deadline = MORNING + timedelta(minutes=10)
    second = jobs.readiness_pass(deadline)

    assert second is not None
    assert {w.namespace for w, _ in second.not_ready} == {"team-b", "team-c"}
    # The pods of the two namespaces not ready, read once each, to say why.
    assert fake.requests[("LIST", "Pod")] == 2
    not_ready = {
        n.facts["namespace"]: n.facts["workloads"] for n in _notices(ctl, NoticeKind.NOT_READY)
    }
    assert not_ready == {
        "team-b": ["Deployment/web 1/3 ready (ImagePullBackOff)"],
        "team-c": [f"StatefulSet/db 0/1 ready (Pending: {NO_ROOM})"],
    }
    (summary,) = _notices(ctl, NoticeKind.WAKE_VERIFIED)
    text, _ = notice_message(summary, ctl.config)
    assert text == (
        "1 of 3 namespaces ready by 07:01; team-b: Deployment/web 1/3 ready (ImagePullBackOff); "
        f"team-c: StatefulSet/db 0/1 ready (Pending: {NO_ROOM})"
    )
    assert _readiness(ctl, deadline)["team-b"] == "not ready (0/1 ready)"
    page = metrics.exposition("text/plain")[0].decode()
    assert "namespace_ctl_wake_ready_seconds_count 1.0" in page
    assert 'namespace_ctl_wake_ready_seconds_bucket{le="60.0"} 1.0' in page
    assert "namespace_ctl_namespaces_not_ready 2.0" in page

    # Told once: the next check adds no notice; a namespace that comes up later clears.
    jobs.readiness_pass(deadline + timedelta(minutes=1))
    fake.release_ready("Deployment", "team-b", "web")
    jobs.readiness_pass(deadline + timedelta(minutes=2))

    assert len(_notices(ctl, NoticeKind.NOT_READY)) == 2
    assert _readiness(ctl, deadline)["team-b"] is None
    assert "namespace_ctl_namespaces_not_ready 1.0" in metrics.exposition("text/plain")[0].decode()


def test_nothing_woken_means_no_reads(fake: FakeKube, ctl: NamespaceCtl) -> None:
    ctl.schedule.reconcile(at=NIGHT)
    fake.reset_counters()

    assert ctl.schedule.follow_wakes(NIGHT + timedelta(minutes=1)) is None
    assert fake.total_requests == 0


def test_going_back_to_sleep_stops_the_follow(fake: FakeKube, ctl: NamespaceCtl) -> None:
    ctl.schedule.reconcile(at=NIGHT)
    fake.hold_ready("Deployment", "team-b", "web", 0)
    ctl.schedule.reconcile(at=MORNING)
    ctl.schedule.reconcile(at=MORNING + timedelta(hours=13))  # 20:00 again

    assert ctl.schedule.follow_wakes(MORNING + timedelta(hours=13, minutes=1)) is None
    assert not _notices(ctl, NoticeKind.NOT_READY)


def test_an_activations_requester_is_told_when_it_is_ready(
    fake: FakeKube, ctl: NamespaceCtl
) -> None:
    ctl.schedule.reconcile(at=NIGHT)
    late = NIGHT + timedelta(hours=1)
    ctl.activations.activate("team-a", "CC-ALL", "U0LATE", timedelta(hours=2), "release", late)

    settled = ctl.schedule.follow_wakes(late + timedelta(seconds=15))

    assert settled is not None and [w.namespace for w, _ in settled.ready] == ["team-a"]
    (told,) = _notices(ctl, NoticeKind.NAMESPACE_READY)
    assert (told.facts["user"], told.facts["ready"], told.facts["seconds"]) == ("U0LATE", True, 15)
    assert not _notices(ctl, NoticeKind.WAKE_VERIFIED)  # a wake of one: no channel summary


def test_the_checks_run_in_the_worker_and_settle_here(
    fake: FakeKube, ctl: NamespaceCtl, tmp_path: Path
) -> None:
    run_passes_in_worker(ctl, ctl.config)
    try:
        ctl.schedule.reconcile(at=NIGHT)
        fake.hold_ready("Deployment", "team-b", "web", 2)
        ctl.schedule.reconcile(at=MORNING)

        settled = ctl.schedule.follow_wakes(MORNING + timedelta(minutes=10))

        worker = ctl.schedule.worker
        assert worker is not None and worker.started == 1
        assert settled is not None
        assert sorted(w.namespace for w, _ in settled.ready) == ["team-a", "team-c"]
        assert [w.namespace for w, _ in settled.not_ready] == ["team-b"]
        assert ctl.schedule.namespaces_not_ready() == 1
    finally:
        ctl.schedule.stop_worker()


@pytest.mark.parametrize(
    ("pods", "why"),
    [
        ([], "no pods"),
        (
            [{"status": {"phase": "Running", "containerStatuses": [{"ready": True}]}}],
            "pods not ready",
        ),
        (
            [
                {
                    "status": {
                        "containerStatuses": [
                            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                        ]
                    }
                },
                {
                    "status": {
                        "containerStatuses": [
                            {"state": {"waiting": {"reason": "CrashLoopBackOff"}}}
                        ]
                    }
                },
                {"status": {"phase": "Pending"}},
            ],
            "CrashLoopBackOff; Pending",
        ),
    ],
)
def test_pod_trouble_says_why_in_kubectls_words(pods: list[dict[str, object]], why: str) -> None:
    assert pod_trouble(pods) == why  # type: ignore[arg-type]
