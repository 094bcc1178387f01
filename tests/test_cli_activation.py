"""The activation commands as an operator runs them, on the example config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from core.calendar_view import CalendarEvent
from core.clock import FrozenClock, parse_instant
from core.config import load_config
from core.wiring import build_app

LATE = "2026-12-01T22:00"


@pytest.fixture
def workdir(example_workdir: Path) -> Path:
    """The example cluster, asleep since Tuesday 20:00."""
    assert main(["--config", "examples/config.yaml", "--now", "2026-12-01T20:00", "shutdown"]) == 0
    return example_workdir


def run(capsys: pytest.CaptureFixture[str], *args: str, now: str = LATE) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(["--config", "examples/config.yaml", "--now", now, *args])
    except SystemExit as exit_:  # argparse: bad usage (2), --version (0)
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def history(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    _, out, _ = run(capsys, "history", "--json")
    return list(json.loads(out))


def test_activate_extend_deactivate(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "activate",
        "payments-api",
        "--cost-center",
        "CC-PAYMENTS",
        "--user",
        "U0ANA",
        "--for",
        "2h",
        "--reason",
        "incident 77",
    )
    assert code == 0 and "payments-api: awake for U0ANA (CC-PAYMENTS)" in out
    code, out, _ = run(capsys, "status", "--json")
    assert [a["namespace"] for a in json.loads(out)["activations"]] == ["payments-api"]
    code, out, _ = run(capsys, "extend", "payments-api", "--for", "1h", "--user", "U0ANA")
    assert code == 0 and "awake until 2026-12-02 01:00" in out
    code, _, _ = run(
        capsys, "deactivate", "payments-api", "--user", "U0ANA", now="2026-12-01T23:30"
    )
    assert code == 0
    ops = [
        (r["namespace_name"], r["operation_type"], r["duration_minutes"]) for r in history(capsys)
    ]
    assert ("payments-api", "manual_activation", 90) in ops
    assert ("payments-api", "manual_deactivation", 0) in ops


def calendar_tonight() -> list[CalendarEvent]:
    """Core's calendar for the night, read from the example store as a new process would."""
    config = load_config("examples/config.yaml", environ={})
    ctl = build_app(config, FrozenClock(parse_instant(LATE, config.zone)))
    try:
        return ctl.reports.calendar(
            parse_instant("2026-12-01T19:00", config.zone),
            parse_instant("2026-12-02T08:00", config.zone),
        )
    finally:
        ctl.services.store.close()


def test_activate_keeps_its_reason_for_history_and_calendar(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A direct activation has no request: its reason is kept on its `manual_activation` record
    (and its slot), so history and the calendar can tell why the window was opened."""
    code, _, err = run(
        capsys,
        *("activate", "payments-api", "--cost-center", "CC-PAYMENTS", "--user", "U0ANA"),
        *("--for", "1h", "--reason", "  incident 4711 "),
    )
    assert code == 0, err
    records = history(capsys)
    [record] = [r for r in records if r["operation_type"] == "manual_activation"]
    assert (record["namespace_name"], record["reason"]) == ("payments-api", "incident 4711")
    assert all(r["reason"] == "" for r in records if r is not record)  # the shutdowns
    code, out, _ = run(capsys, "history", "payments-api")
    assert code == 0 and out.count("reason:") == 1 and "    reason: incident 4711\n" in out
    [live] = [e for e in calendar_tonight() if e.kind == "activation"]
    assert (live.namespace, live.status, live.request_id, live.reason) == (
        "payments-api",
        "live",
        None,
        "incident 4711",
    )
    # Ended, the window is read from its record alone (no slot, no request).
    code, _, err = run(capsys, "deactivate", "payments-api", "--user", "U0ANA")
    assert code == 0, err
    [past] = [e for e in calendar_tonight() if e.kind == "activation"]
    assert (past.status, past.reason) == ("past", "incident 4711")


@pytest.mark.parametrize(
    ("duration", "code_wanted"), [("2x", 2), ("-1h", 2), ("0m", 2), ("2", 2), ("999h", 1)]
)
def test_malformed_durations_are_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], duration: str, code_wanted: int
) -> None:
    """A malformed duration is bad usage (2), named as a duration; one too long for
    `activation.max_duration` is a rule's refusal (1)."""
    before = history(capsys)
    code, _, err = run(
        capsys,
        "activate",
        "payments-api",
        "--cost-center",
        "CC-PAYMENTS",
        "--user",
        "U0ANA",
        f"--for={duration}",
        "--reason",
        "x",
    )
    assert code == code_wanted and duration.lstrip("-") in err, err
    assert ("--for" in err and "duration" in err) if code_wanted == 2 else ("invalid" in err)
    assert history(capsys) == before


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (
            ["activate", "nope", "--cost-center", "CC-DATA", "--user", "U", "--reason", "x"],
            "not found",
        ),
        (
            ["activate", "search", "--cost-center", "CC-GHOST", "--user", "U", "--reason", "x"],
            "unauthorized",
        ),
        (
            ["activate", "search", "--cost-center", "CC-GROWTH", "--user", "U", "--reason", "x"],
            "unauthorized",
        ),
        (["approve", "r-00000000", "--user", "U0PAYLEAD"], "not found"),
        (["deactivate", "search", "--user", "U"], "not found"),
        (["costcenter", "show", "CC-GHOST"], "not found"),
    ],
)
def test_refusals_exit_1(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str], word: str
) -> None:
    before = history(capsys)
    code, _, err = run(capsys, *args)
    assert code == 1 and word in err.lower()
    assert history(capsys) == before


@pytest.mark.parametrize(
    "args",
    [
        ["activate", "search", "--cost-center", "CC-DATA", "--user", "U"],
        ["activate", "search", "--cost-center", "CC-DATA", "--user", "U", "--reason", "  "],
        ["activate", "search", "--cost-center", "CC-DATA", "--reason", "x"],
        ["status", "--config", "x"],
    ],
)
def test_missing_or_malformed_arguments_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    before = history(capsys)
    code, _, err = run(capsys, *args)
    assert code == 2, err
    if "--config" in args:
        assert "global options" in err
    assert history(capsys) == before


def test_status_of_one_namespace_and_version(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "status", "search")
    assert code == 0 and "search" in out
    assert "payments-api" not in out
    code, _, err = run(capsys, "status", "no-such-ns")
    assert code == 1 and "not found" in err
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("namespace-ctl ")


def test_request_approve_and_deny(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "request",
        "checkout",
        "--cost-center",
        "CC-PAYMENTS",
        "--user",
        "U0ANA",
        "--reason",
        "black friday",
    )
    request_id = out.split(":")[0]
    code, out, _ = run(capsys, "requests", "--json")
    assert [r["request_id"] for r in json.loads(out)] == [request_id]
    code, _, err = run(capsys, "approve", request_id, "--user", "U0ANA")
    assert code == 1 and "unauthorized" in err
    code, out, _ = run(capsys, "approve", request_id, "--user", "U0PAYLEAD")
    assert code == 0 and "approved by U0PAYLEAD" in out and "checkout: awake" in out
    code, _, err = run(capsys, "deny", request_id, "--user", "U0PAYSRE", "--reason", "no")
    assert code == 1 and "already decided: approved by U0PAYLEAD" in err
    _, out, _ = run(
        capsys,
        "request",
        "payments-web",
        "--cost-center",
        "CC-PAYMENTS",
        "--user",
        "U0BOB",
        "--reason",
        "demo",
    )
    other = out.split(":")[0]
    code, out, _ = run(capsys, "deny", other, "--user", "U0PAYSRE", "--reason", "use staging")
    assert code == 0 and "denied" in out
    code, _, err = run(capsys, "approve", other, "--user", "U0PAYLEAD", now="2026-12-01T23:00")
    assert code == 1 and "denied by U0PAYSRE" in err


def test_bookings_and_cost_centers(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "book",
        "search",
        "--cost-center",
        "CC-DATA",
        "--user",
        "U0ANA",
        "--at",
        "2026-12-02T21:00",
        "--for",
        "1h",
        "--reason",
        "reindex",
    )
    assert code == 0, out
    booking = out.split(":")[0]
    code, out, _ = run(capsys, "bookings", "--json")
    assert [b["request_id"] for b in json.loads(out)] == [booking]
    code, out, _ = run(capsys, "reconcile", now="2026-12-02T21:00")
    assert "booking started: search: awake" in out
    code, out, _ = run(capsys, "costcenter", "add", "CC-NEW", "--max", "1", "--namespaces", "ml-*")
    assert code == 0 and "CC-NEW" in out and "max 1" in out
    code, out, _ = run(capsys, "costcenter", "revoke", "CC-NEW")
    assert "REVOKED" in out
    code, out, _ = run(capsys, "costcenter", "list", "--json")
    names = {c["cost_center"]: c for c in json.loads(out)}
    assert set(names) == {"CC-PAYMENTS", "CC-DATA", "CC-GROWTH", "CC-NEW"}
    assert names["CC-NEW"]["is_authorized"] is False
    code, _, err = run(capsys, "costcenter", "add", "CC-NEW")
    assert code == 1 and "already exists" in err
