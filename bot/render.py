"""Rendering shared by the CLI's commands."""

from __future__ import annotations

from datetime import UTC, datetime

from core.config import Config


def local(ts: int | None, config: Config) -> str:
    """An epoch timestamp as the team reads it: in the configured zone."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone(config.zone).strftime("%Y-%m-%d %H:%M %Z")
