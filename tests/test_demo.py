"""`make demo` runs and tells the story it promises."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"


def test_demo_transcript(capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(DEMO), run_name="__main__")
    out = capsys.readouterr().out
    assert "8 namespaces, 25 workloads acted on, 0 failed" in out
    assert "payments-api (sleep): 1 drift, 3 unchanged" in out
    assert "Deployment/payments-api: replicas 0 -> 4" in out  # the latest intent wins
    assert "payments-api             auto_shutdown        completed" in out
