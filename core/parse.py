"""The parsers every adapter shares (CLI, Slack, REST API): one input, one answer everywhere.

Each raises `InputError` naming the field and the accepted form; adapters turn it into their own
"bad usage" (exit 2, the Slack usage line, HTTP 422) with the same words.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.clock import parse_instant
from core.config import parse_duration
from core.report import Week, parse_week

NAMESPACE_MAX = 63
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_BARE_NUMBER = re.compile(r"^\d+(\.\d+)?$")


class InputError(ValueError):
    """Input that does not fit its form; `field` names what was wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def duration(text: str, field: str = "duration") -> timedelta:
    """`30m`, `2h`, `1h30m`, `1d`. A bare number is refused with the unit it lacks."""
    cleaned = str(text).strip()
    if _BARE_NUMBER.match(cleaned):
        raise InputError(
            field,
            f"{cleaned!r} is not a duration: give its unit, e.g. {cleaned}h or {cleaned}m",
        )
    try:
        return parse_duration(cleaned)
    except ValueError as exc:
        raise InputError(field, str(exc)) from None


def looks_like_duration(text: str) -> bool:
    """A word meant as a duration (it starts with a digit): parse it with `duration`, which
    names it a bad duration, rather than read it as the next argument (a cost center)."""
    return bool(text) and text[0].isdigit()


def instant(text: str, zone: ZoneInfo, field: str = "at") -> datetime:
    """ISO-8601; a naive time is read in the configured zone."""
    try:
        return parse_instant(str(text), zone)
    except ValueError as exc:
        raise InputError(field, str(exc)) from None


def week(text: str, zone: ZoneInfo, field: str = "week") -> Week:
    """`YYYY-Www`, e.g. 2026-W49."""
    try:
        return parse_week(str(text), zone)
    except ValueError as exc:
        raise InputError(field, str(exc)) from None


def namespace_name(text: str, field: str = "namespace") -> str:
    """A Kubernetes namespace name (an RFC 1123 label)."""
    name = str(text).strip()
    if len(name) > NAMESPACE_MAX or not _DNS_LABEL.match(name):
        raise InputError(
            field,
            f"{name!r} is not a namespace name: lowercase letters, digits and '-', "
            f"at most {NAMESPACE_MAX} characters",
        )
    return name


def reason(text: str, field: str = "reason") -> str:
    """Why an activation is wanted (or a denial given): required, not blank."""
    cleaned = str(text).strip()
    if not cleaned:
        raise InputError(field, "a reason is required: say why, in a few words")
    return cleaned
