"""`make demo` runs and tells the story it promises: a week as the Slack channels see it."""

from __future__ import annotations

import io
import re
import runpy
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"


def _transcript() -> str:
    out = io.StringIO()
    runpy.run_path(str(DEMO))["main"](out)
    return out.getvalue()


def _between(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end)]


def test_the_week_as_the_channels_see_it() -> None:
    text = _transcript()
    shutdown = _between(text, "20:00 job puts", "not authorized")
    assert "*Shutdown*: 8 namespaces put to sleep, 25 workloads (37 replicas)" in shutdown
    assert "unauthorized for after-hours activation" in text  # the refused request
    approval = _between(text, "a request that is allowed", "wakes four more")
    assert "[#dev-clusters-approvals] (message" in approval
    assert "cannot approve or deny their own request" in approval
    assert "*Approved* by @U0PAYLEAD" in approval
    assert "[DM to @U0DEVANA]" in approval
    assert "`payments-api` is awake for @U0DEVANA (CC-PAYMENTS) until 2026-11-30 23:32" in approval
    cap = _between(text, "wakes four more", "scales a sleeping workload")
    assert "*Cap reached* for namespace-ctl: 5 of 5 namespaces" in cap
    assert "limit exceeded: 5 namespaces are already awake" in cap
    drift = _between(text, "scales a sleeping workload", "four windows end")
    assert "*Drift corrected*" in drift and "mobile-backend` Deployment/mobile-api" in drift
    assert drift.count("[Extend 1h]") == 4  # ending in 10 minutes, with the button
    assert "/click extend_window payments-api" in text
    ended = _between(text, "payments-api goes back to sleep", "Tuesday 07:00")
    assert "`payments-api`'s window (@U0DEVANA, CC-PAYMENTS) ended at 2026-11-30 23:32" in ended
    startup = _between(text, "Tuesday 07:00", "Friday 20:00")
    assert "*Startup*: 8 namespaces woken, 25 workloads (37 replicas)" in startup
    friday = _between(text, "Friday 20:00", "holiday in Madrid")
    assert "(38 replicas)" in friday  # the hand scale-up of Monday night became the count
    holiday = _between(text, "holiday in Madrid", "the weekly summary")
    assert "[#" not in holiday  # nothing woke, nothing was posted
    summary = text[text.index("the weekly summary") :]
    assert "[#dev-clusters] (message" in summary and "*Week 2026-W49*" in summary
    assert "• *CC-PAYMENTS*: 2 activations, 3.0 h awake" in summary
    # 63 h asleep minus its 2 h window; api 3 x (500m, 512Mi) + worker 2 x (250m, 384Mi) +
    # postgres 1 x (500m, 1Gi) = 2.5 cores x 0.04048 + 3.25 GiB x 0.004445 = 0.11564625 an hour.
    assert re.search(r"`payments-api`: 61\.0 h, 7\.05 USD", summary)  # 61 x = 7.05442125
    assert re.search(r"Saved \*[\d,]+\.\d\d USD\* of [\d,]+\.\d\d USD always-on", summary)
    assert "(no requests: Deployment/push-notifier)" in summary  # flagged, not priced
    assert re.search(
        r"\(chart uploaded in the thread of message [\d.]+: namespace-ctl-2026-W49\.png, "
        r"[\d,]+ bytes\)",
        summary,
    )
