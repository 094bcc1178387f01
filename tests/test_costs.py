"""Savings and activation costs, checked to the cent against figures computed by hand.

Default rates (AWS Fargate us-east-1): 0.04048 per core-hour, 0.004445 per GiB-hour. The `shop`
snapshot (2 replicas x 500m CPU, 1 GiB) costs 1.0 x 0.04048 + 2.0 x 0.004445 = 0.04937 an hour.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import epoch
from core.config import Costs, load_config
from core.costs import DEFAULT_RATES, Rates, footprint, money
from core.errors import ConfigError
from core.models import (
    ActivityRecord,
    DesiredState,
    OperationType,
    WorkloadKind,
    WorkloadSnapshot,
)
from core.report import parse_week, summarize_week
from core.store.base import Store
from tests.builders import (
    activation_record,
    cronjob,
    daemonset,
    deployment,
    shutdown_record,
    team_namespace,
)
from tests.fake_kube import FakeKube
from tests.harness import MADRID, Harness, madrid, make_harness
from tests.test_kube_service import _kube

pytest_plugins = ["tests.store_fixtures"]

DAY = 86400

SHOP = [
    WorkloadSnapshot(
        kind=WorkloadKind.DEPLOYMENT, name="api", replicas=2, cpu_cores=0.5, memory_gib=1.0
    )
]


def test_the_footprint_and_its_hourly_cost() -> None:
    fp = footprint(SHOP)
    assert (fp.cpu_cores, fp.memory_gib, fp.pods) == (Decimal(1), Decimal(2), 2)
    assert fp.hourly_cost(DEFAULT_RATES) == Decimal("0.04937")
    assert Rates.from_config(Costs(cpu_core_hour=0.1, memory_gib_hour=0.01)).cpu_core_hour == (
        Decimal("0.1")
    )


@pytest.mark.parametrize(
    ("costs", "key"),
    [
        ({"currency": ""}, "costs.currency"),
        ({"currency": "dollars"}, "costs.currency"),
        ({"cpu_core_hour": -0.01}, "costs.cpu_core_hour"),
        ({"memory_gib_hour": "cheap"}, "costs.memory_gib_hour"),
        ({"cpu_hour": 0.04}, "costs.cpu_hour"),
    ],
)
def test_a_bad_costs_value_names_its_key(tmp_path: Path, costs: dict[str, Any], key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"costs": costs}))
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_config(path)


def test_a_night_with_an_activation_inside() -> None:
    week = parse_week("2026-W49", MADRID)
    records = [
        shutdown_record("shop", madrid(2026, 12, 1, 20), madrid(2026, 12, 2, 7), SHOP),  # 11 h
        activation_record(
            "shop", "CC-PAYMENTS", madrid(2026, 12, 1, 22), madrid(2026, 12, 2, 0, 30), "alice"
        ),
    ]
    summary = summarize_week(records, week, now=epoch(madrid(2026, 12, 9)))

    [shop] = summary.namespaces
    assert shop.asleep_hours == 8.5  # 11 h minus the 2.5 h awake
    assert shop.saved == 0.42  # 8.5 x 0.04937 = 0.419645
    assert shop.hourly_cost == 0.0494
    [cc] = summary.cost_centers
    assert (cc.cost_center, cc.activations, cc.hours, cc.cost) == ("CC-PAYMENTS", 1, 2.5, 0.12)
    [alice] = summary.top_requesters
    assert (alice.user_id, alice.activations, alice.cost) == ("alice", 1, 0.12)
    assert (summary.total_saved, summary.total_activation_cost) == (0.42, 0.12)
    assert summary.always_on_cost == 8.29  # 168 h x 0.04937 = 8.29416
    assert summary.saved_percent == 5.1
    assert summary.currency == "USD"
    daily = [(d.date, d.saved, d.spent) for d in summary.days]
    assert daily == [
        ("2026-11-30", 0.0, 0.0),
        ("2026-12-01", 0.10, 0.10),  # 20:00-22:00 asleep (0.09874); 22:00-24:00 awake
        ("2026-12-02", 0.32, 0.02),  # 00:30-07:00 asleep (0.320905); 00:00-00:30 awake
        ("2026-12-03", 0.0, 0.0),
        ("2026-12-04", 0.0, 0.0),
        ("2026-12-05", 0.0, 0.0),
        ("2026-12-06", 0.0, 0.0),
    ]


@pytest.mark.parametrize(
    ("label", "friday", "monday", "sunday_hours", "asleep", "saved", "always_on"),
    [
        # 25 October 2026: clocks go back, Sunday has 25 hours and the week 169.
        ("2026-W43", (2026, 10, 23), (2026, 10, 26), 25, 53, 2.62, 8.34),
        # 29 March 2026: clocks go forward, Sunday has 23 hours and the week 167.
        ("2026-W13", (2026, 3, 27), (2026, 3, 30), 23, 51, 2.52, 8.24),
    ],
)
def test_a_dst_weekend_counts_its_real_hours(
    label: str,
    friday: tuple[int, int, int],
    monday: tuple[int, int, int],
    sunday_hours: int,
    asleep: int,
    saved: float,
    always_on: float,
) -> None:
    week = parse_week(label, MADRID)
    records = [shutdown_record("shop", madrid(*friday, 20), madrid(*monday, 7), SHOP)]
    summary = summarize_week(records, week, now=epoch(madrid(*monday, 12)))

    [shop] = summary.namespaces
    assert shop.asleep_hours == asleep  # 4 h on Friday + 24 + the Sunday's real hours
    assert shop.saved == saved  # 53 x 0.04937 = 2.61661; 51 x 0.04937 = 2.51787
    assert summary.always_on_cost == always_on  # 169 x 0.04937 = 8.34353; 167 x = 8.24479
    assert summary.days[-1].hours == sunday_hours
    assert [d.saved for d in summary.days][-3:] == [0.20, 1.18, round(sunday_hours * 0.04937, 2)]


def _walk_the_schedule(h: Harness, start: datetime, end: datetime) -> None:
    """The 20:00 and 07:00 jobs of the real calendar, every edge from `start` to `end`."""
    at = start
    while True:
        at, state = h.service.calendar.next_transition(at)
        if at >= end:
            return
        if state is DesiredState.ASLEEP:
            assert h.service.shutdown(at=at).ok
        else:
            assert h.service.startup(at=at).ok


def test_a_holiday_week_sleeps_through_the_holiday(tmp_path: Path) -> None:
    # api 2 x (250m, 256Mi) + db 1 x (250m, 256Mi) + log-agent on 3 nodes x (100m, 128Mi):
    # 1.05 cores x 0.04048 + 1.125 GiB x 0.004445 = 0.047504625 an hour (cronjobs: nothing).
    h = make_harness(tmp_path, team_namespace("shop", {"api": 2}))
    _walk_the_schedule(h, madrid(2026, 11, 27, 19), madrid(2026, 12, 14, 8))

    normal = h.service.week_summary(parse_week("2026-W49", MADRID), madrid(2026, 12, 15))
    holiday = h.service.week_summary(parse_week("2026-W50", MADRID), madrid(2026, 12, 15))

    assert normal.namespaces[0].asleep_hours == 7 + 4 * 11 + 52  # 103
    assert normal.namespaces[0].saved == 4.89  # 103 x 0.047504625 = 4.892976375
    # Tuesday 8 December (Inmaculada Concepcion): Monday 20:00 to Wednesday 07:00 is one night.
    assert holiday.namespaces[0].asleep_hours == 7 + 35 + 11 + 11 + 52  # 116
    assert holiday.namespaces[0].saved == 5.51  # 116 x 0.047504625 = 5.5105365
    assert holiday.previous is not None
    assert (holiday.previous.week, holiday.previous.total_saved) == ("2026-W49", 4.89)


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        server.add_namespace("agents")
        agent = daemonset("agents", "collector")  # scheduled on 3 nodes
        agent["spec"]["template"]["spec"]["containers"][0]["resources"] = {
            "requests": {"cpu": "1", "memory": "2Gi"}
        }
        legacy = deployment("agents", "legacy", replicas=1)
        legacy["spec"]["template"]["spec"]["containers"][0].pop("resources")
        for obj in (agent, legacy, cronjob("agents", "cleanup")):
            server.add(obj)
        yield server


def test_a_daemonset_on_three_nodes_and_a_workload_without_requests(
    fake: FakeKube, tmp_path: Path
) -> None:
    h = make_harness(tmp_path, [], cluster=_kube(fake, tmp_path))
    assert h.service.shutdown(at=madrid(2026, 12, 1, 20)).ok
    assert h.service.startup(at=madrid(2026, 12, 2, 7)).ok

    [record] = [r for r in h.store.history() if r.operation_type is OperationType.AUTO_SHUTDOWN]
    fp = footprint(record.workloads)
    # 3 pods x (1 core, 2 GiB); `legacy` runs a pod with no request: counted, flagged, free.
    assert (fp.cpu_cores, fp.memory_gib, fp.pods) == (Decimal(3), Decimal(6), 4)
    assert fp.without_requests == ("Deployment/legacy",)
    summary = h.service.week_summary(parse_week("2026-W49", MADRID), madrid(2026, 12, 2, 12))
    [agents] = summary.namespaces
    assert agents.asleep_hours == 11
    assert agents.saved == 1.63  # 11 h x (3 x 0.04048 + 6 x 0.004445) = 11 x 0.14811 = 1.62921
    assert agents.without_requests == ["Deployment/legacy"]


def _scenario(h: Harness) -> None:
    _walk_the_schedule(h, madrid(2026, 11, 27, 19), madrid(2026, 12, 2, 8))
    h.activation.activate(
        "pay-api", "CC-PAY", "ana", timedelta(hours=2), "hotfix", madrid(2026, 11, 30, 22)
    )
    h.activation.deactivate("pay-api", "ana", madrid(2026, 11, 30, 23, 30))


def test_the_report_is_the_same_on_sqlite_and_dynamodb(
    sqlite_store: Store, dynamo_store: Store, tmp_path: Path
) -> None:
    objects = [*team_namespace("pay-api", {"api": 3}), *team_namespace("web", {"front": 2})]
    summaries = []
    for name, store in (("sqlite", sqlite_store), ("dynamo", dynamo_store)):
        (tmp_path / name).mkdir()
        h = make_harness(tmp_path / name, objects, store=store)
        _scenario(h)
        summaries.append(
            h.service.week_summary(parse_week("2026-W49", MADRID), madrid(2026, 12, 2, 12))
        )
    on_sqlite, on_dynamo = summaries
    assert on_sqlite == on_dynamo
    assert on_sqlite.total_saved > 0 and on_sqlite.total_activation_cost > 0
    assert [c.cost_center for c in on_sqlite.cost_centers] == ["CC-PAY"]


@st.composite
def nights_with_windows(draw: st.DrawFn) -> tuple[list[ActivityRecord], int]:
    """Non-overlapping nights of one namespace around 2026-W49 with windows nested inside."""
    week = parse_week("2026-W49", MADRID)
    cursor, records, awake = week.start - 2 * DAY, [], 0
    shapes = st.tuples(
        st.integers(0, DAY), st.integers(60, 3 * DAY), st.floats(0, 1), st.floats(0, 1)
    )
    for gap, length, at, share in draw(st.lists(shapes, min_size=1, max_size=8)):
        start = cursor + gap
        end = start + length
        records.append(shutdown_record("shop", _utc(start), _utc(end), SHOP))
        if draw(st.booleans()):
            opens = start + int(at * (length - 60))
            closes = opens + 60 + int(share * (end - opens - 60))
            records.append(activation_record("shop", "CC-A", _utc(opens), _utc(closes)))
            awake += max(0, min(closes, week.end) - max(opens, week.start))
        cursor = end
    return records, awake


@given(nights_with_windows())
@settings(max_examples=150, deadline=None)
def test_every_second_of_a_night_is_either_saved_or_charged(
    drawn: tuple[list[ActivityRecord], int],
) -> None:
    records, awake_seconds = drawn
    week = parse_week("2026-W49", MADRID)
    summary = summarize_week(records, week, now=week.end + DAY)
    night_seconds = sum(
        max(0, min(r.timestamp_end or 0, week.end) - max(r.timestamp_start, week.start))
        for r in records
        if r.operation_type is OperationType.AUTO_SHUTDOWN
    )
    asleep = summary.namespaces[0].asleep_hours if summary.namespaces else 0
    charged = sum(c.hours for c in summary.cost_centers)
    assert abs(asleep + charged - night_seconds / 3600) < 0.011  # hours are shown to 2 places
    assert abs(charged - awake_seconds / 3600) < 0.006
    hourly = footprint(SHOP).hourly_cost(DEFAULT_RATES)
    assert summary.total_saved == money(hourly * (night_seconds - awake_seconds) / 3600)
    assert summary.total_activation_cost == money(hourly * awake_seconds / 3600)
    # Days are rounded one by one: they add up to the total within half a cent each.
    assert abs(sum(d.saved for d in summary.days) - summary.total_saved) <= 0.005 * 7 + 1e-9
    assert summary.total_saved <= summary.always_on_cost


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
