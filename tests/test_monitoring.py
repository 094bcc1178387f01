"""manifests/monitoring: every metric name in the alert rules and the dashboard queries is one
namespace-ctl exports, so a typo or a renamed metric fails here instead of silently never alerting.

What "exported" means: the families and samples of a real scrape of `ServeMetrics` after a pass
(built as tests/test_metrics.py builds it). The four metrics being added alongside the manifests
count only once the source of bot/ declares them (as `"namespace_ctl_<name>"` or
`f"{PREFIX}<name>"`); once they are registered, the scrape finds them anyway.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.jobs import Jobs
from bot.metrics import ServeMetrics
from tests.builders import deployment, namespace, team_namespace
from tests.harness import madrid, make_harness
from tests.kustomize import MANIFESTS, ROOT, build, of_kind, one

NEW_METRICS = (
    "namespace_ctl_leader",
    "namespace_ctl_notices_pending",
    "namespace_ctl_notice_delivery_failures_total",
    "namespace_ctl_slack_api_up",
)
ALERTS = {
    "NamespaceCtlPassFailed",
    "NamespaceCtlReconcileStale",
    "NamespaceCtlNoticesUndelivered",
    "NamespaceCtlSlackApiDown",
    "NamespaceCtlNoLeader",
    "NamespaceCtlNamespacesNotWoken",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
KEYWORDS |= {"and", "or", "unless", "offset", "inf", "nan"}
LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, label names, label
    values, ranges and Grafana variables left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    text = LABEL_LISTS.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if match.group(0).lower() not in KEYWORDS:
            names.add(match.group(0))
    return names


def matchers(expr: str) -> dict[str, set[str]]:
    """Label names used in selectors, by metric name."""
    found: dict[str, set[str]] = {}
    for name, inside in SELECTOR.findall(expr):
        labels = {m for m in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", inside)}
        found.setdefault(name, set()).update(labels)
    return found


def rule_expressions() -> dict[str, str]:
    rule = one(build("monitoring"), "PrometheusRule", "namespace-ctl")
    return {r["alert"]: r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads((MANIFESTS / "monitoring" / "dashboard.json").read_text())
    return {
        f"{p['title']} {t['refId']}": t["expr"]
        for p in panels(dashboard)
        for t in p.get("targets", [])
    }


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], dict[str, set[str]]]:
    """Names (families and samples) and label names of a real scrape after passes and jobs."""
    tmp_path = tmp_path_factory.mktemp("scrape")
    monday_end = madrid(2026, 11, 30, 20)
    objects = [*team_namespace("pay-api", {"api": 3}), *team_namespace("team-a", {"app": 2})]
    objects += [namespace("monitoring"), deployment("monitoring", "prometheus", 1)]
    h = make_harness(tmp_path, objects, at=monday_end)
    served = ServeMetrics(h.ctl, monotonic=lambda: 0.0)
    jobs = Jobs(h.ctl, h.config, h.clock, observer=served, offset=timedelta(0))
    jobs.reconcile_pass("business end", monday_end)
    served.pass_failed("reconcile", monday_end, 0.5)
    for job in ("reconcile", "business-start", "business-end", "bookings"):
        served.job_succeeded(job, monday_end)
    body, _ = served.exposition("")
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(body.decode()):
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
            labels.setdefault(family.name, set()).update(sample.labels)
    h.store.close()
    return names, labels


def declared_in_bot(name: str) -> bool:
    """`name` is declared in bot/'s source: `"namespace_ctl_x"` or `f"{PREFIX}x"` (a counter
    declared without its `_total`, as prometheus_client appends it)."""
    base = name.removeprefix("namespace_ctl_").removesuffix("_total")
    pattern = re.compile(r"(?:namespace_ctl_|\{PREFIX\})" + re.escape(base) + r"(?:_total)?[\"']")
    return any(
        pattern.search(path.read_text(encoding="utf-8")) for path in (ROOT / "bot").rglob("*.py")
    )


def exported(scraped: tuple[set[str], dict[str, set[str]]]) -> set[str]:
    names, _ = scraped
    return names | {n for n in NEW_METRICS if declared_in_bot(n)}


def test_the_name_extraction_sees_through_promql() -> None:
    expr = (
        'sum by (operation) (increase(foo_total{status="failed", job=~"a|b"}[15m])) > 0\n'
        "and on() time() - max(bar_seconds) < 4 * 3600 or absent(baz) unless qux offset 5m"
    )
    assert metric_names(expr) == {"foo_total", "bar_seconds", "baz", "qux"}
    assert metric_names("rate(x_bucket[$__rate_interval])") == {"x_bucket"}
    assert matchers(expr) == {"foo_total": {"status", "job"}}


def test_the_alerts_are_all_there() -> None:
    rule = one(build("monitoring"), "PrometheusRule", "namespace-ctl")
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    for r in rules:
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]
    by_name = {r["alert"]: r for r in rules}
    assert by_name["NamespaceCtlNoLeader"]["for"] == "2m"
    assert by_name["NamespaceCtlNoticesUndelivered"]["for"] == "30m"
    assert "900" in by_name["NamespaceCtlReconcileStale"]["expr"]  # 15 minutes


@pytest.mark.parametrize(
    "source", ["rules", "dashboard"], ids=["prometheusrule", "grafana-dashboard"]
)
def test_every_metric_used_is_exported(
    source: str, scraped: tuple[set[str], dict[str, set[str]]]
) -> None:
    expressions = rule_expressions() if source == "rules" else dashboard_expressions()
    assert expressions
    known = exported(scraped)
    _, labels = scraped
    problems = []
    for where, expr in expressions.items():
        used = metric_names(expr)
        if not used:
            problems.append(f"{where}: no metric in {expr!r}")
        for name in sorted(used - known):
            problems.append(f"{where}: {name} is not exported by namespace-ctl")
        for name, used_labels in matchers(expr).items():
            extra = used_labels - labels.get(name, used_labels)  # known for what was scraped
            if extra:
                problems.append(f"{where}: {name} has no label {sorted(extra)}")
    scraped_names = sorted(n for n in known if not n.endswith(("_created", "_bucket")))
    assert not problems, "\n".join([*problems, f"(exported: {scraped_names})"])


def test_new_metrics_are_only_allowed_when_the_bot_declares_them() -> None:
    assert not declared_in_bot("namespace_ctl_notices_pendin")  # a typo is not found
    assert declared_in_bot("namespace_ctl_operations_total")  # declared without _total


def test_the_dashboard_is_one_configmap_for_the_grafana_sidecar() -> None:
    objects = build("monitoring")
    (config_map,) = of_kind(objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = config_map["data"].values()
    dashboard = json.loads(content)
    assert dashboard == json.loads((MANIFESTS / "monitoring" / "dashboard.json").read_text())
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert Path(MANIFESTS / "monitoring" / "kustomization.yaml").exists()
