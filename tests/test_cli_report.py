"""`namespace-ctl report weekly`: JSON with DESIGN's fields, CSV, text, and bad weeks."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli import main
from core.costs import DEFAULT_RATES, footprint, money, percent
from core.models import ActivityRecord, OperationType
from tests.test_cli import run


@pytest.fixture
def a_night(example_workdir: Path, capsys: pytest.CaptureFixture[str]) -> list[ActivityRecord]:
    """The example cluster asleep Tuesday 20:00 to Wednesday 07:00 (11 h) in 2026-W49."""
    assert run(capsys, "--now", "2026-12-01T20:00", "shutdown")[0] == 0
    assert run(capsys, "--now", "2026-12-02T07:00", "startup")[0] == 0
    code, out, _ = run(capsys, "history", "--json")
    assert code == 0
    return [
        r
        for r in (ActivityRecord.model_validate(item) for item in json.loads(out))
        if r.operation_type is OperationType.AUTO_SHUTDOWN
    ]


def week_49(capsys: pytest.CaptureFixture[str], output: str) -> str:
    """`report weekly --week 2026-W49` in `output` form, after the week (it must succeed)."""
    code, out, _ = run(
        capsys, "--now", "2026-12-09T09:00", "report", "weekly", "--week", "2026-W49", output
    )
    assert code == 0
    return out


def test_json_has_designs_fields_and_each_nights_saving(
    a_night: list[ActivityRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    out = week_49(capsys, "--json")
    report = json.loads(out)
    assert {"week", "currency", "total_saved", "total_activation_cost"} <= report.keys()
    assert (report["week"], report["currency"]) == ("2026-W49", "USD")
    expected = {
        r.namespace_name: money(footprint(r.workloads).hourly_cost(DEFAULT_RATES) * 11)
        for r in a_night
    }
    rows = {n["namespace"]: n for n in report["namespaces"]}
    assert {name: row["saved"] for name, row in rows.items()} == expected
    assert {row["asleep_hours"] for row in rows.values()} == {11}
    assert set(rows["payments-api"]) >= {"namespace", "asleep_hours", "saved"}
    assert report["total_saved"] == float(sum(Decimal(str(v)) for v in expected.values()))
    assert report["total_saved"] > 0
    assert report["saved_percent"] == percent(report["total_saved"], report["always_on_cost"])
    assert report["cost_centers"] == [] and report["total_activation_cost"] == 0
    assert len(report["days"]) == 7 and report["previous"]["week"] == "2026-W48"


def test_csv_rows_add_up_to_the_totals(
    a_night: list[ActivityRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    out = week_49(capsys, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "week",
        "section",
        "name",
        "activations",
        "hours",
        "amount",
        "currency",
    ]
    namespaces = [r for r in rows if r["section"] == "namespace"]
    assert len(namespaces) == len(a_night)
    [total] = [r for r in rows if (r["section"], r["name"]) == ("total", "saved")]
    assert Decimal(total["amount"]) == sum(Decimal(r["amount"]) for r in namespaces)
    assert {r["currency"] for r in rows} == {"USD"}


def test_the_text_report_and_the_current_week_by_default(
    a_night: list[ActivityRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--now", "2026-12-02T12:00", "report", "weekly")
    assert code == 0
    assert out.startswith("Week 2026-W49:")
    assert "payments-api" in out and "always-on" in out


@pytest.mark.parametrize("week", ["2026-49", "2026-W54", "last"])
def test_a_bad_week_is_bad_usage_and_says_the_form(
    example_workdir: Path, capsys: pytest.CaptureFixture[str], week: str
) -> None:
    code, _, err = run(capsys, "report", "weekly", "--week", week)
    assert code == 2
    assert "--week" in err and ("YYYY-Www" in err or "not a week" in err)


def test_json_and_csv_together_is_bad_usage(example_workdir: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--config", "examples/config.yaml", "report", "weekly", "--json", "--csv"])
    assert exit_.value.code == 2
