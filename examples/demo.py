"""`make demo`: a week of the example cluster on a simulated clock, as the team's Slack sees it.

The real pieces run: the use cases over the simulated cluster of examples/cluster.yaml and a SQLite
file in a temporary directory, the Bolt app's listeners (driven like `namespace-ctl console`
drives them), the jobs' passes at their scheduled times and the notifier delivering the outbox.
Slack's Web API is the console's recorder: every message the channels would get is printed.
Nothing outside the temporary directory is touched.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from bot.console import Console
from bot.jobs import Jobs
from bot.serve import job_hooks
from core.app import NamespaceCtl
from core.clock import FrozenClock
from core.cluster.simulated import SimulatedCluster
from core.config import Config, load_config
from core.models import RequestStatus, WorkloadKind, WorkloadRef
from core.wiring import build_app

EXAMPLES = Path(__file__).resolve().parent
DEV, PAY_LEAD, DATA_LEAD, ADMIN = "U0DEVANA", "U0PAYLEAD", "U0DATALEAD", "U0ADMIN01"


class Week:
    """The demo's stage: one product clock driving the jobs, the chat and the notifier."""

    def __init__(self, config: Config, out: IO[str]) -> None:
        self.config, self.out = config, out
        self.clock = FrozenClock(self.local(2026, 11, 30, 19, 55))
        self.cluster = SimulatedCluster.from_manifests([EXAMPLES / "cluster.yaml"])
        self.ctl: NamespaceCtl = build_app(config, self.clock, cluster=self.cluster)
        self.console = Console(self.ctl, config, self.clock, out, user=DEV)
        hooks = job_hooks(self.ctl, self.console.app)
        self.jobs = Jobs(
            self.ctl,
            config,
            self.clock,
            drain=hooks.drain,
            weekly_summary=hooks.weekly_summary,
            on_pass=hooks.on_pass,
            offset=timedelta(0),
        )

    def local(self, *fields: int) -> datetime:
        return datetime(*fields, tzinfo=self.config.zone)  # type: ignore[misc]

    # ---- what happens ---------------------------------------------------------------------

    def at(self, when: datetime, what: str) -> None:
        self.clock.set(when)
        print(f"\n===== {when:%a %Y-%m-%d %H:%M %Z}: {what}", file=self.out, flush=True)

    def job(self, name: str) -> None:
        """A job's pass at the current product time, then the notices it left are delivered."""
        now = self.clock.now()
        if name == "bookings":
            self.jobs.bookings_pass(now)
        elif name == "weekly summary":
            self.jobs.weekly_summary(now)
        else:
            self.jobs.reconcile_pass(name, now)
        self.jobs.drain(now)

    def type(self, user: str, line: str) -> None:
        """A person types a line in Slack (a slash command or a click)."""
        self.console.switch_user(user) if user != self.console.user else None
        self.console.recorder.say(f"{user}> {line}")
        self.console.handle(line)
        self.jobs.drain(self.clock.now())

    def pending_request(self, namespace: str) -> str:
        for request in self.ctl.approvals.requests([RequestStatus.PENDING]):
            if request.namespace == namespace:
                return request.request_id
        raise LookupError(f"no pending request for {namespace}")

    def close(self) -> None:
        self.console.close()


def play(week: Week) -> None:
    local = week.local
    week.at(local(2026, 11, 30, 19, 55), "Monday, five minutes before the end of the day")
    week.type(DEV, "/namespace status")

    week.at(local(2026, 11, 30, 20, 0), "the 20:00 job puts every user namespace to sleep")
    week.job("business end")

    week.at(local(2026, 11, 30, 21, 30), "a request charged to a cost center not authorized")
    week.type(DEV, "/namespace activate growth-experiments 2h CC-GROWTH try the new funnel")

    week.at(local(2026, 11, 30, 21, 32), "a request that is allowed, then the approval")
    week.type(DEV, "/namespace activate payments-api 2h CC-PAYMENTS hotfix for ticket PAY-1432")
    request_id = week.pending_request("payments-api")
    week.type(DEV, f"/click approve_request {request_id}")
    week.type(PAY_LEAD, f"/click approve_request {request_id}")

    week.at(local(2026, 11, 30, 21, 40), "the operator wakes four more from the CLI: the cap")
    for namespace, cost_center in (
        ("checkout", "CC-PAYMENTS"),
        ("data-pipeline", "CC-DATA"),
        ("ml-training", "CC-DATA"),
        ("search", "CC-DATA"),
    ):
        week.ctl.activations.activate(
            namespace, cost_center, ADMIN, timedelta(hours=1), "load test", week.clock.now()
        )
    week.jobs.drain(week.clock.now())
    week.type(DEV, "/namespace activate payments-web 1h CC-PAYMENTS one more please")
    week.type(DEV, "/namespace list")

    week.at(local(2026, 11, 30, 22, 35), "someone scales a sleeping workload up by hand")
    api = WorkloadRef(kind=WorkloadKind.DEPLOYMENT, namespace="mobile-backend", name="mobile-api")
    week.cluster.set_replicas(api, 3)
    week.job("reconcile")

    week.at(local(2026, 11, 30, 22, 40), "the operator's four windows end by themselves")
    week.job("bookings")

    week.at(local(2026, 11, 30, 23, 25), "the reconcile pass: payments-api ends in 7 minutes")
    week.job("reconcile")
    week.at(local(2026, 11, 30, 23, 32), "the window is over: payments-api goes back to sleep")
    week.job("bookings")

    week.at(local(2026, 12, 1, 7, 0), "Tuesday 07:00: everything wakes, restored exactly")
    week.job("business start")

    week.at(local(2026, 12, 4, 20, 0), "Friday 20:00: asleep for the weekend")
    week.job("business end")
    week.at(local(2026, 12, 7, 7, 0), "Monday 7 December is a holiday in Madrid: nothing wakes")
    week.job("business start")
    week.at(local(2026, 12, 7, 9, 0), "Monday 09:00: the weekly summary")
    week.job("weekly summary")
    week.type(DEV, "/namespace report 2026-W49")


def main(out: IO[str] | None = None) -> None:
    config = load_config(EXAMPLES / "config.yaml", environ={})
    with tempfile.TemporaryDirectory() as scratch:
        store = config.store.model_copy(update={"path": str(Path(scratch) / "audit.db")})
        week = Week(config.model_copy(update={"store": store}), out or sys.stdout)
        try:
            play(week)
        finally:
            week.close()


if __name__ == "__main__":
    main()
