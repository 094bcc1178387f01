"""The CLI as a user runs it: exit codes, messages, JSON, on the example config."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path

import pytest

from bot.cli import main
from core.config import load_config

NIGHT = "2026-12-01T20:00"
MORNING = "2026-12-02T07:00"


@pytest.fixture
def workdir(example_workdir: Path) -> Path:
    return example_workdir


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", "examples/config.yaml", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_night_from_the_command_line(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--now", NIGHT, "shutdown")
    assert code == 0
    assert "8 namespaces, 25 workloads acted on, 0 failed" in out

    code, out, _ = run(capsys, "--now", "2026-12-01T23:00", "status", "--json")
    status = json.loads(out)
    by_ns = {ns["namespace"]: ns for ns in status["namespaces"]}
    assert by_ns["payments-api"]["state"] == "asleep"
    assert by_ns["monitoring"]["state"] == "awake" and by_ns["monitoring"]["excluded"]

    code, out, _ = run(capsys, "--now", MORNING, "reconcile", "--json")
    assert code == 0 and json.loads(out)["ok"] is True

    code, out, _ = run(capsys, "history", "payments-api", "--json")
    records = json.loads(out)
    assert [r["operation_type"] for r in records] == ["auto_startup", "auto_shutdown"]
    shutdown = records[1]
    assert shutdown["duration_minutes"] == 660 and shutdown["status"] == "completed"
    assert set(shutdown) >= {
        "namespace_name",
        "timestamp_start",
        "timestamp_end",
        "duration_minutes",
        "cost_center",
        "user_id",
        "operation_type",
        "status",
        "error_message",
    }


def test_dry_run_writes_nothing(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--now", NIGHT, "shutdown", "--dry-run")
    assert code == 0 and "planned" in out and "(dry run)" in out
    code, out, _ = run(capsys, "history", "--json")
    assert json.loads(out) == []
    code, out, _ = run(capsys, "--now", NIGHT, "status", "--json")
    assert all(ns["sleeping"] == 0 for ns in json.loads(out)["namespaces"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shutdown", "no-such-namespace"], "'no-such-namespace' not found"),
        (["startup", "kube-system"], "excluded"),
        (["shutdown", "monitoring"], "excluded"),
    ],
)
def test_refusals_exit_1_and_change_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, "--now", NIGHT, *args)
    assert code == 1 and message in err
    _, out, _ = run(capsys, "history", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("timezone: Mars/Olympus\n", "timezone: unknown time zone 'Mars/Olympus'"),
        ("business_hours:\n  strat: '07:00'\n", "business_hours.strat: unknown key"),
        ("business_hours:\n  start: '25:00'\n", "business_hours.start"),
        ("store:\n  backend: mongo\n", "store.backend"),
        ("holidays:\n  country: XX\n", "holidays.country"),
        ("activation:\n  max_duration: 2x\n", "activation.max_duration"),
        ("limits: [1, 2]\n", "limits"),
        ("- just\n- a list\n", "mapping"),
        ("cluster:\n  simulated: missing.yaml\n", "missing.yaml"),
    ],
)
def test_a_bad_config_is_bad_usage_naming_the_key(
    workdir: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    (workdir / "bad.yaml").write_text(config, encoding="utf-8")
    code = main(["--config", "bad.yaml", "status"])
    _, err = capsys.readouterr()
    assert code == 2
    assert message in err


def test_env_overrides_are_validated_too(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSCTL_CLUSTER__CONCURRENCY", "0")
    code, _, err = run(capsys, "status")
    assert code == 2 and "cluster.concurrency" in err


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("NSCTL_LIMITS__MAX_ACTIVE_NAMESPACES", "abc", "limits.max_active_namespaces"),
        ("NSCTL_LIMTS__X", "1", "limts"),
        ("NSCTL_BUSINESS_HOURS__START", "[unclosed", None),
    ],
)
def test_a_bad_env_override_names_the_variable(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    key: str | None,
) -> None:
    """Issue 15: they were reported as errors "in examples/config.yaml" alone."""
    monkeypatch.setenv(variable, value)
    code, _, err = run(capsys, "status")
    assert code == 2 and "Traceback" not in err
    assert f"environment variable {variable}" in err
    if key is not None:
        line = next(line for line in err.splitlines() if line.strip().startswith(f"{key}:"))
        assert line.endswith(f"(set by the environment variable {variable})")


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ('start: "07:00+02:00"', "business_hours.start: 07:00+02:00 has a UTC offset"),
        ('end: "20:00-05:00"', "business_hours.end: 20:00-05:00 has a UTC offset"),
        ("start: 25:00", "business_hours.start: 25:00 is not a time of day: use 00:00 to 23:59"),
        ("end: 24:00", "business_hours.end: 24:00 is not a time of day: use 00:00 to 23:59"),
        ('end: "24:00"', "business_hours.end: 24:00 is not a time of day: use 00:00 to 23:59"),
        ('start: "07:00:30"', "business_hours.start: 07:00:30 has seconds: use HH:MM"),
        ("weekdays: [1, 1, 2]", "business_hours: weekdays lists 1 more than once"),
    ],
)
def test_bad_business_hours_are_bad_usage_naming_the_key(
    workdir: Path, capsys: pytest.CaptureFixture[str], hours: str, message: str
) -> None:
    """Issue 15: an offset crashed with a TypeError (or was ignored at both ends), 25:00 was
    read as 01:00, 24:00 said "start must be before end", repeated weekdays were accepted."""
    (workdir / "hours.yaml").write_text(f"business_hours:\n  {hours}\n", encoding="utf-8")
    code = main(["--config", "hours.yaml", "status"])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err
    assert message in err


def test_unquoted_business_hours_still_read_as_times(workdir: Path) -> None:
    (workdir / "hours.yaml").write_text(
        "business_hours:\n  start: 08:30\n  end: 23:59\n", encoding="utf-8"
    )
    hours = load_config(workdir / "hours.yaml", environ={}).business_hours
    assert (hours.start, hours.end) == (time(8, 30), time(23, 59))


def test_malformed_manifests_name_the_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "examples" / "cluster.yaml").write_text(
        "kind: Deployment\nspec: [\n", encoding="utf-8"
    )
    code, _, err = run(capsys, "status")
    assert code == 2 and "cluster.yaml" in err


@pytest.mark.parametrize(
    "args", [["--now", "yesterday", "status"], ["history", "--limit", "-3"], []]
)
def test_bad_arguments_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        code = main(["--config", "examples/config.yaml", *args])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err
