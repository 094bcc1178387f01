"""The Slack listeners' work after the ack (bot/slack/work.py): ordinary work waits for the
Slack requests being answered (at most `max_defer_s`); trigger-bound work never waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bot.console import InlineExecutor
from bot.slack.work import QUIET_S, SlackWork

SETTLE_S = 0.3  # long enough for a job that was free to start to have started (> QUIET_S)


class Started:
    """A job that notes it ran, and how many Slack requests were being answered then."""

    def __init__(self, work: SlackWork) -> None:
        self.work = work
        self.ran = threading.Event()
        self.answering_then = -1

    def __call__(self) -> None:
        self.answering_then = self.work._answering
        self.ran.set()


@pytest.fixture
def work() -> Iterator[SlackWork]:
    pools = SlackWork(max_defer_s=30.0)
    yield pools
    pools.shutdown(wait=True)


def test_ordinary_work_starts_only_once_every_request_in_flight_is_answered(
    work: SlackWork,
) -> None:
    job = Started(work)
    with work.answering():
        with work.answering():
            work.submit(job)
            assert not job.ran.wait(SETTLE_S)
        assert not job.ran.wait(SETTLE_S)  # one request is still being answered
    assert job.ran.wait(5) and job.answering_then == 0


def test_a_request_arriving_just_after_the_last_answer_defers_the_work_again(
    work: SlackWork,
) -> None:
    """A burst reaches the app in waves: a gap shorter than QUIET_S does not end it."""
    job = Started(work)
    with work.answering():
        work.submit(job)
    time.sleep(QUIET_S / 5)  # the server parsing the next wave
    with work.answering():
        assert not job.ran.wait(SETTLE_S)
    assert job.ran.wait(5) and job.answering_then == 0


def test_work_after_a_quiet_spell_does_not_wait_again(work: SlackWork) -> None:
    """Only the quiet since the last answer counts: queued jobs do not each wait QUIET_S."""
    with work.answering():
        pass
    time.sleep(QUIET_S * 2)
    assert work.wait_for_acks() < QUIET_S / 2


def test_work_submitted_with_nothing_in_flight_starts_at_once(work: SlackWork) -> None:
    job = Started(work)
    work.submit(job)
    assert job.ran.wait(5) and job.answering_then == 0


def test_urgent_work_starts_while_requests_are_being_answered(work: SlackWork) -> None:
    job = Started(work)
    with work.answering():
        work.submit(job, urgent=True)
        assert job.ran.wait(5) and job.answering_then == 1


def test_ordinary_work_waits_no_longer_than_max_defer() -> None:
    work = SlackWork(max_defer_s=0.2)
    job = Started(work)
    try:
        with work.answering():
            work.submit(job)
            assert job.ran.wait(5)  # a stream of requests never starves the replies
            assert job.answering_then == 1
    finally:
        work.shutdown(wait=True)


def test_urgent_work_does_not_queue_behind_busy_ordinary_pool(work: SlackWork) -> None:
    gate = threading.Event()
    for _ in range(8):  # twice the ordinary pool: every thread busy, four more queued
        work.submit(gate.wait)
    job = Started(work)
    work.submit(job, urgent=True)
    try:
        assert job.ran.wait(5)
    finally:
        gate.set()


def test_work_on_one_inline_executor_is_never_deferred() -> None:
    """The console runs listeners' work on the thread that is answering: no wait for itself."""
    work = SlackWork.on(InlineExecutor())
    job = Started(work)
    with work.answering():
        work.submit(job)
        assert job.ran.is_set() and job.answering_then == 1
    work.shutdown(wait=True)


def test_shutdown_runs_what_was_queued() -> None:
    work = SlackWork(max_defer_s=30.0)
    jobs = [Started(work) for _ in range(10)]
    for job in jobs:
        work.submit(job)
    work.shutdown(wait=True)
    assert all(job.ran.is_set() for job in jobs)
