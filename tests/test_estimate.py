"""`estimate`: a normal week's saving per namespace, hand-computed to the cent, read from the fake
API server through the real kubernetes client, and never a write.

The cluster (default rates: 0.04048 per CPU core-hour, 0.004445 per GiB-hour):
- shop: Deployment web, 2 replicas x (app 500m/1Gi, init 750m/256Mi): the init container wins on
  CPU, the app on memory: 2 x (0.75 cores, 1 GiB). DaemonSet agent 100m/128Mi on 3 nodes:
  0.3 cores, 0.375 GiB. CronJob report: nothing. Deployment legacy: 1 pod without requests
  (flagged, costs 0). Total 1.8 cores, 2.375 GiB, 6 pods:
  0.072864 + 0.010556875 = 0.083420875 an hour; x168 = 14.014707 -> 14.01;
  x103 = 8.592350125 -> 8.59; x128 = 10.677872 -> 10.68.
- team: Deployment api 1 x 250m/512Mi and DaemonSet node-cache 100m/128Mi on 3 nodes, asleep
  (shut down by the CLI; the DaemonSet controller then reports 0 pods scheduled):
  0.55 cores, 0.875 GiB, 4 pods: 0.022264 + 0.003889375 = 0.026153375 an hour;
  x168 = 4.393767 -> 4.39; x103 = 2.693797625 -> 2.69; x128 = 3.347632 -> 3.35.
- default: no workloads. kube-system, monitoring (config) and shared (annotated): excluded.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli import main
from core.clock import FrozenClock, parse_instant
from core.config import BusinessHours, load_config
from core.costs import DEFAULT_RATES
from core.estimate import estimate, normal_week, weekday_names
from core.models import WorkloadKind
from core.scaling.registry import strategy_for
from core.wiring import build_service
from tests.builders import cronjob, daemonset, deployment, namespace
from tests.fake_kube import FakeKube
from tests.harness import MADRID, madrid

NIGHT = "2026-12-01T20:00"
NOON = "2026-12-02T12:00"
HOLIDAY = "2026-12-08T12:00"  # la Inmaculada, a Tuesday: a normal week ignores holidays


def _containers(cpu: str, memory: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "main",
            "image": "registry.example/app:1",
            "resources": {"requests": {"cpu": cpu, "memory": memory}},
        }
    ]


def cluster_objects() -> list[dict[str, Any]]:
    web = deployment("shop", "web", 2)
    web["spec"]["template"]["spec"]["containers"] = _containers("500m", "1Gi")
    web["spec"]["template"]["spec"]["initContainers"] = _containers("750m", "256Mi")
    legacy = deployment("shop", "legacy", 1)
    del legacy["spec"]["template"]["spec"]["containers"][0]["resources"]
    api = deployment("team", "api", 1)
    api["spec"]["template"]["spec"]["containers"] = _containers("250m", "512Mi")
    return [
        namespace("shop"),
        web,
        daemonset("shop", "agent"),  # 100m / 128Mi, desiredNumberScheduled 3
        cronjob("shop", "report"),
        legacy,
        namespace("team"),
        api,
        daemonset("team", "node-cache"),
        namespace("default"),
        namespace("kube-system"),
        deployment("kube-system", "coredns", 2),
        namespace("monitoring"),
        deployment("monitoring", "prometheus", 1),
        namespace("shared", {"namespace-ctl.io/exclude": "true"}),
        deployment("shared", "vault", 3),
    ]


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as server:
        server.add_all(cluster_objects())
        yield server


def write_config(tmp_path: Path, port: int, **extra: Any) -> Path:
    """A config whose kubeconfig points the real client at 127.0.0.1:`port`."""
    kubeconfig = FakeKube(port=port).write_kubeconfig(tmp_path / "kubeconfig")  # not started
    config = {
        "timezone": "Europe/Madrid",
        "holidays": {"country": "ES"},
        "exclude_namespaces": ["monitoring"],
        "store": {"backend": "sqlite", "path": str(tmp_path / "audit.db")},
        "cluster": {"kubeconfig": str(kubeconfig), "request_timeout": 2, "retries": 0},
    } | extra
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run(
    capsys: pytest.CaptureFixture[str], config: Path, *args: str, now: str = NOON
) -> tuple[int, str, str]:
    code = main(["--config", str(config), "--now", now, *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def config(fake: FakeKube, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The config, with team put to sleep last night by the CLI; API counters then reset."""
    path = write_config(tmp_path, fake.port)
    code, _, err = run(capsys, path, "shutdown", "team", now=NIGHT)
    assert code == 0, err
    # The DaemonSet controller's view of an unschedulable DaemonSet: no pods wanted.
    fake.patch("DaemonSet", "team", "node-cache", {"status": {"desiredNumberScheduled": 0}})
    fake.reset_counters()
    return path


def estimate_json(capsys: pytest.CaptureFixture[str], config: Path, **kw: str) -> dict[str, Any]:
    code, out, err = run(capsys, config, "estimate", "--json", **kw)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


# ---- the normal week ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "awake", "asleep", "rule"),
    [
        (BusinessHours(), 65, 103, "Mon-Fri 07:00-20:00 Europe/Madrid, no holidays: 5 x 13 h"),
        (
            BusinessHours(start=time(8), end=time(18), weekdays=[1, 2, 3, 4]),
            40,
            128,
            "Mon-Thu 08:00-18:00 Europe/Madrid, no holidays: 4 x 10 h = 40 h awake; "
            "168 - 40 = 128 h asleep",
        ),
        (
            BusinessHours(start=time(7, 30), end=time(19, 15), weekdays=[7, 1, 3]),
            35.25,
            132.75,
            "Mon, Wed, Sun 07:30-19:15",
        ),
    ],
)
def test_a_normal_weeks_hours_follow_the_configured_rule(
    hours: BusinessHours, awake: float, asleep: float, rule: str
) -> None:
    week = normal_week(hours, MADRID, madrid(2026, 12, 2, 12))
    assert (week.awake_hours, week.asleep_hours) == (awake, asleep)
    assert rule in week.rule
    assert week.reference_week == "2026-W49"
    assert (week.timezone, week.weekdays) == ("Europe/Madrid", sorted(hours.weekdays))


@pytest.mark.parametrize(
    ("at", "reference"),
    [
        (madrid(2026, 10, 21, 12), "2026-W44"),  # W43 ends with the 25th's extra hour
        (madrid(2026, 3, 25, 12), "2026-W14"),  # W13 ends with the 29th's lost hour
        (madrid(2026, 12, 8, 12), "2026-W50"),  # a holiday week is still a normal week
    ],
)
def test_the_reference_week_has_no_dst_change(at: datetime, reference: str) -> None:
    week = normal_week(BusinessHours(), MADRID, at)
    assert (week.reference_week, week.asleep_hours) == (reference, 103)


def test_weekday_names() -> None:
    assert weekday_names([5, 4, 3, 2, 1]) == "Mon-Fri"
    assert weekday_names([1, 2, 4, 6, 7]) == "Mon-Tue, Thu, Sat-Sun"
    assert weekday_names([3]) == "Wed"


# ---- figures ------------------------------------------------------------------------------------


def test_each_namespaces_week_to_the_cent(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = estimate_json(capsys, config)
    rows = {row["namespace"]: row for row in result["namespaces"]}
    assert [row["namespace"] for row in result["namespaces"]] == ["shop", "team", "default"]
    assert rows["shop"] == {
        "namespace": "shop",
        "source": "cluster",
        "workloads": 4,
        "pods": 6,
        "cpu_cores": 1.8,
        "memory_gib": 2.375,
        "hourly_cost": 0.0834,
        "always_on_cost": 14.01,
        "asleep_hours": 103,
        "saved": 8.59,
        "saved_percent": 61.3,
        "without_requests": ["Deployment/legacy"],
    }
    assert rows["team"] == {
        "namespace": "team",
        "source": "shutdown record",
        "workloads": 2,
        "pods": 4,
        "cpu_cores": 0.55,
        "memory_gib": 0.875,
        "hourly_cost": 0.0262,
        "always_on_cost": 4.39,
        "asleep_hours": 103,
        "saved": 2.69,
        "saved_percent": 61.3,
        "without_requests": [],
    }
    assert rows["default"]["workloads"] == 0
    assert (rows["default"]["always_on_cost"], rows["default"]["saved"]) == (0, 0)
    assert result["excluded"] == [
        {"namespace": "kube-system", "reason": "excluded by 'kube-system'"},
        {"namespace": "monitoring", "reason": "excluded by 'monitoring'"},
        {"namespace": "shared", "reason": "annotated namespace-ctl.io/exclude=true"},
    ]


def test_totals_are_sums_of_the_rounded_rows(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = estimate_json(capsys, config)
    assert result["currency"] == "USD"
    assert result["total_hourly_cost"] == 0.1096  # 0.0834 + 0.0262
    assert result["total_always_on_cost"] == 18.40  # 14.01 + 4.39
    assert result["total_saved"] == 11.28  # 8.59 + 2.69
    assert result["saved_percent"] == 61.3
    assert result["without_requests"] == 1
    assert result["rates"] == {
        "currency": "USD",
        "cpu_core_hour": 0.04048,
        "memory_gib_hour": 0.004445,
        "source": "AWS Fargate on-demand us-east-1",
    }
    assert result["week"]["asleep_hours"] == 103 and "Mon-Fri 07:00-20:00" in result["week"]["rule"]
    assert result["at"] == int(parse_instant(NOON, MADRID).timestamp())


def test_another_schedule_and_a_holiday_week(
    fake: FakeKube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path,
        fake.port,
        business_hours={"start": "08:00", "end": "18:00", "weekdays": [1, 2, 3, 4]},
    )
    result = estimate_json(capsys, path, now=HOLIDAY)
    assert result["week"]["asleep_hours"] == 128
    assert result["week"]["reference_week"] == "2026-W50"
    rows = {row["namespace"]: row for row in result["namespaces"]}
    assert (rows["shop"]["saved"], rows["shop"]["saved_percent"]) == (10.68, 76.2)
    # Nothing asleep here: the cluster's DaemonSet still schedules its 3 pods.
    assert (rows["team"]["source"], rows["team"]["saved"]) == ("cluster", 3.35)
    assert result["total_saved"] == 14.03  # 10.68 + 3.35
    assert result["saved_percent"] == 76.3  # 14.03 / 18.40 = 76.25 exactly: half up


def test_configured_rates_are_named_configured(
    fake: FakeKube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path, fake.port, costs={"cpu_core_hour": 0.05, "memory_gib_hour": 0.005}
    )
    result = estimate_json(capsys, path)
    assert result["rates"]["source"] == "configured"
    shop = next(row for row in result["namespaces"] if row["namespace"] == "shop")
    # 1.8 x 0.05 + 2.375 x 0.005 = 0.101875 an hour: x168 = 17.115 (half up), x103 = 10.493125
    assert (shop["hourly_cost"], shop["always_on_cost"], shop["saved"]) == (0.1019, 17.12, 10.49)


def test_a_sleeping_namespace_is_priced_from_its_shutdown_snapshot(config: Path) -> None:
    """The cluster alone would price team's sleeping DaemonSet at 0 pods."""
    settings = load_config(str(config))
    service = build_service(settings, FrozenClock(madrid(2026, 12, 2, 12)))
    daemonsets = service.cluster.list_workloads(WorkloadKind.DAEMONSET)
    [cache] = [obj for obj in daemonsets if obj["metadata"]["name"] == "node-cache"]
    assert strategy_for(WorkloadKind.DAEMONSET).snapshot(cache).replicas == 0
    at = madrid(2026, 12, 2, 12)
    result = estimate(
        service.cluster,
        service.store,
        service.exclusions,
        DEFAULT_RATES,
        normal_week(settings.business_hours, settings.zone, at),
        at,
    )
    team = next(row for row in result.namespaces if row.namespace == "team")
    assert (team.source, team.pods, team.saved) == ("shutdown record", 4, 2.69)
    service.store.close()


# ---- the command ---------------------------------------------------------------------------------


def test_the_table_total_notes_and_rates(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, config, "estimate")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert "Mon-Fri 07:00-20:00 Europe/Madrid" in lines[1] and "103 h asleep" in lines[1]
    header = next(line for line in lines if line.startswith("NAMESPACE"))
    table = lines[lines.index(header) : lines.index(header) + 5]
    assert [line.split()[0] for line in table] == ["NAMESPACE", "shop", "team*", "default", "TOTAL"]
    assert all(len(line.split("  no requests")[0]) == len(header) for line in table)
    assert table[1].split()[1:7] == ["6", "0.0834", "14.01", "103", "8.59", "61.3"]
    assert table[1].endswith("no requests: Deployment/legacy")
    assert table[2].split()[1:7] == ["4", "0.0262", "4.39", "103", "2.69", "61.3"]
    assert table[4].split()[1:6] == ["10", "0.1096", "18.40", "11.28", "61.3"]
    assert "1 workload(s) run pods without CPU or memory requests" in out
    assert "* asleep now: priced from its shutdown snapshot" in out
    assert "kube-system (excluded by 'kube-system')" in out
    assert "shared (annotated namespace-ctl.io/exclude=true)" in out
    assert lines[-1] == (
        "Rates: 0.04048 USD per CPU core-hour, 0.004445 USD per GiB-hour requested "
        "(AWS Fargate on-demand us-east-1)"
    )


def test_estimate_never_writes(
    config: Path, fake: FakeKube, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (fake.resource_version, {k: fake.objects(k) for k in ("Deployment", "DaemonSet")})
    _, history_before, _ = run(capsys, config, "history", "--json")
    fake.reset_counters()
    assert run(capsys, config, "estimate")[0] == 0
    assert run(capsys, config, "estimate", "--json")[0] == 0
    methods = {method for method, _ in fake.requests}
    assert methods == {"LIST"}  # reads only: no GET of one object needed, no PATCH/PUT/POST
    assert fake.total_requests == 2 * 5  # namespaces and 4 kinds, per run
    assert fake.writes == 0
    after = (fake.resource_version, {k: fake.objects(k) for k in ("Deployment", "DaemonSet")})
    assert after == before
    assert run(capsys, config, "history", "--json")[1] == history_before


def test_an_unreachable_cluster_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = write_config(tmp_path, port)
    code, out, err = run(capsys, path, "estimate", "--json")
    assert code == 1 and out == ""
    assert f"127.0.0.1:{port}" in err and "cannot connect" in err


def test_a_bad_config_is_bad_usage(
    fake: FakeKube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, fake.port, costs={"cpu_core_hour": -1})
    code, _, err = run(capsys, path, "estimate")
    assert code == 2 and "costs.cpu_core_hour" in err
    assert fake.total_requests == 0
