"""`make demo`: one night of the example cluster on a simulated clock, as an operator sees it.

Runs the real use cases (the same ones the CLI and the bot call) over the simulated cluster from
examples/cluster.yaml and a SQLite file in a temporary directory; nothing else is touched.
The Slack transcript (requests, approvals, the weekly summary) joins this demo with the bot.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from bot.cli import render_history, render_result, render_status
from core.clock import FrozenClock
from core.cluster.simulated import SimulatedCluster
from core.config import load_config
from core.models import WorkloadKind, WorkloadRef
from core.wiring import build_service

EXAMPLES = Path(__file__).resolve().parent


def say(when: datetime, text: str) -> None:
    print(f"\n=== {when:%a %Y-%m-%d %H:%M %Z}: {text}")


def main() -> None:
    config = load_config(EXAMPLES / "config.yaml", environ={})
    with tempfile.TemporaryDirectory() as scratch:
        settings = config.store.model_copy(update={"path": str(Path(scratch) / "audit.db")})
        config = config.model_copy(update={"store": settings})
        cluster = SimulatedCluster.from_manifests([EXAMPLES / "cluster.yaml"])
        clock = FrozenClock(datetime(2026, 12, 1, 19, 55, tzinfo=config.zone))
        service = build_service(config, clock, cluster=cluster)

        say(clock.now(), "five minutes before the end of the day")
        print(render_status(service.status(), config))

        clock.set(datetime(2026, 12, 1, 20, 0, tzinfo=config.zone))
        say(clock.now(), "the 20:00 shutdown")
        print(render_result(service.shutdown(), config))

        clock.advance(timedelta(hours=3, minutes=10))
        api = WorkloadRef(
            kind=WorkloadKind.DEPLOYMENT, namespace="payments-api", name="payments-api"
        )
        cluster.set_replicas(api, 4)
        say(clock.now(), "someone runs `kubectl scale deploy payments-api --replicas 4`")
        clock.advance(timedelta(minutes=5))
        say(clock.now(), "reconcile puts it back to sleep (drift) and keeps 4 for the morning")
        print(render_result(service.reconcile(), config))

        clock.set(datetime(2026, 12, 2, 7, 40, tzinfo=config.zone))
        say(clock.now(), "the bot was down at 07:00; on restart, reconcile catches up")
        print(render_result(service.reconcile(), config))
        print(render_status(service.status(), config))

        say(clock.now(), "the audit log of payments-api")
        print(render_history(service.history("payments-api"), config))
        service.store.close()


if __name__ == "__main__":
    main()
