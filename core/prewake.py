"""Ready by opening time: wake each namespace early enough that it is ready at business start.

With `wake.lead_time` (a duration, or `auto`), the last stretch of a night that ends at a business
start S is each namespace's pre-wake window [S - lead, S). In it the reconcile neither sleeps
nor wakes the namespace on its own (a namespace woken early stays awake); the passes wake the
namespaces whose window has come, in waves: higher `namespace-ctl.io/wake-priority` first, at
most `wake.max_concurrent_namespaces` woken early and not yet ready at once (node autoscalers
are not hit by everything at the same instant). At S the business-start pass wakes whatever is
left. A night that does not end at the next instant of business time (a weekend, a holiday)
has no pre-wake window until its last stretch: the lead is counted back from the business
start itself.

`auto`: a namespace's lead is a high percentile of its last few wakes' seconds to ready (the
`ready_seconds` of its `auto_startup` records, verified by core.readiness), capped by
`wake.max_lead_time`; a namespace never verified has none (it wakes at S).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.calendar import BusinessCalendar
from core.clock import epoch
from core.config import WakeSettings
from core.inventory import NamespaceView
from core.models import DesiredState, HistoryQuery, OperationType
from core.scaling.registry import strategy_for
from core.store.base import Store

log = logging.getLogger("namespace_ctl.prewake")

WAKE_PRIORITY = "namespace-ctl.io/wake-priority"
AUTO_WAKES = 5  # the last few wakes' times to ready
AUTO_PERCENTILE = 0.9
AUTO_HISTORY = timedelta(days=21)  # how far back the last few are looked for


def priority(view: NamespaceView) -> int:
    """The namespace's `wake-priority` annotation (higher wakes first; 0 when absent or not an
    integer)."""
    raw = view.info.annotations.get(WAKE_PRIORITY, "")
    try:
        return int(raw.strip())
    except ValueError:
        return 0


def percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (a high one of few values is their maximum, or close to it)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class WakePlan:
    """The lead times of `wake.lead_time` and the waves of the pre-wake windows."""

    settings: WakeSettings
    calendar: BusinessCalendar
    store: Store
    # `auto` leads are read once per business start (one history read for every namespace).
    _auto: tuple[int, dict[str, timedelta]] | None = field(default=None, init=False)

    @property
    def enabled(self) -> bool:
        lead = self.settings.lead_time
        return lead == "auto" or (isinstance(lead, timedelta) and lead > timedelta(0))

    def longest_lead(self) -> timedelta:
        lead = self.settings.lead_time
        return (
            self.settings.max_lead_time
            if lead == "auto"
            else min(
                lead if isinstance(lead, timedelta) else timedelta(0), self.settings.max_lead_time
            )
        )

    def business_start_ahead(self, at: datetime) -> datetime | None:
        """The business start S when `at` is within the longest lead before it, else None."""
        if not self.enabled or self.calendar.is_business_time(at):
            return None
        start, state = self.calendar.next_transition(at)
        if state is not DesiredState.AWAKE or start - at > self.longest_lead():
            return None
        return start

    def lead(self, namespace: str, start: datetime) -> timedelta:
        lead = self.settings.lead_time
        if isinstance(lead, timedelta):
            return min(lead, self.settings.max_lead_time)
        return self._auto_leads(start).get(namespace, timedelta(0))

    def in_window(self, namespace: str, start: datetime, at: datetime) -> bool:
        lead = self.lead(namespace, start)
        return lead > timedelta(0) and start - lead <= at < start

    def wave(
        self, window: Sequence[NamespaceView], start: datetime, at: datetime
    ) -> list[NamespaceView]:
        """The namespaces of their pre-wake window to wake now: asleep ones, by priority, as
        many as the concurrency limit leaves room for (early-woken ones not ready yet take
        room)."""
        asleep = [v for v in window if v.sleeping_workloads()]
        limit = self.settings.max_concurrent_namespaces
        if limit is None:
            room = len(asleep)
        else:
            waking = sum(1 for v in window if not v.sleeping_workloads() and not _ready(v))
            room = max(0, limit - waking)
        ordered = sorted(asleep, key=lambda v: (-priority(v), v.name))
        return ordered[:room]

    def _auto_leads(self, start: datetime) -> dict[str, timedelta]:
        key = epoch(start)
        if self._auto is None or self._auto[0] != key:
            self._auto = (key, self._read_auto_leads(start))
        return self._auto[1]

    def _read_auto_leads(self, start: datetime) -> dict[str, timedelta]:
        since = epoch(start - AUTO_HISTORY)
        query = HistoryQuery(operation_type=OperationType.AUTO_STARTUP, since=since)
        seconds: dict[str, list[int]] = {}
        for record in self.store.history_page(query, limit=100_000):  # newest first
            if record.ready_seconds is None:
                continue
            recent = seconds.setdefault(record.namespace_name, [])
            if len(recent) < AUTO_WAKES:
                recent.append(record.ready_seconds)
        cap = self.settings.max_lead_time
        leads = {
            ns: min(timedelta(seconds=percentile(values, AUTO_PERCENTILE)), cap)
            for ns, values in seconds.items()
        }
        log.info("lead times for %s: %d namespaces learnt", start.isoformat(), len(leads))
        return leads


def _ready(view: NamespaceView) -> bool:
    for kind, obj in view.workloads:
        readiness = strategy_for(kind).readiness(obj)
        if readiness is not None and not readiness.done:
            return False
    return True
