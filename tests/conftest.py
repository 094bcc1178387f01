"""Shared test setup: everything stays on loopback."""

from __future__ import annotations

import pytest

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kubernetes client honours proxy variables, even for 127.0.0.1: tests never use one."""
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)


pytest_plugins = ["tests.store_fixtures"]
