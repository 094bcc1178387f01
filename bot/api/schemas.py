"""Request and answer bodies of `/api/v1`: the OpenAPI document is generated from these models.

Instants are ISO-8601 with their offset, in the configured zone; durations are texts like `2h`
(the same parser as the CLI and Slack). Unknown request fields are refused (422), so a typo in a
field name never goes unnoticed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from core.calendar_view import CalendarEvent
from core.models import ActivityRecord


def _iso_instant(value: object) -> object:
    """Only ISO-8601 texts (pydantic alone would read `0.5` as epoch seconds)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("use an ISO-8601 time, e.g. 2026-12-01T21:30 or 2026-12-01T21:30+01:00")
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO-8601 time: use e.g. 2026-12-01T21:30+01:00"
        ) from None


# A cost center's cap: far above any cluster's namespaces, within a store's integers.
MAX_CAP = 100_000

# Naive values are read in the configured zone by the handlers.
Instant = Annotated[datetime, BeforeValidator(_iso_instant)]


class Body(BaseModel):
    """A JSON request body: unknown fields and wrong types (`0` for false) are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Query parameters (texts, read as the fields' types); unknown ones are errors."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    error: str = Field(description="the reason word, e.g. `limit exceeded`, `not found`")
    message: str = Field(description="what was wrong and what to do, for people")
    field: str | None = Field(default=None, description="the field at fault, when there is one")


# ---- requests ---------------------------------------------------------------------------------


class ActFor(Body):
    user: str | None = Field(
        default=None, description="act for this user (operator and admin); default: the token"
    )


class ActivateBody(ActFor):
    cost_center: str = Field(min_length=1, description="who pays: a cost center authorized for it")
    duration: str | None = Field(default=None, description="e.g. 2h; default: the configured one")
    reason: str = Field(min_length=1, description="why (recorded)")


class ExtendBody(ActFor):
    duration: str = Field(description="extra time, e.g. 1h")


class RequestBody(ActFor):
    namespace: str
    cost_center: str = Field(min_length=1)
    duration: str | None = None
    reason: str = Field(min_length=1)
    starts_at: Instant | None = Field(
        default=None, description="a booking from this instant (naive: the configured zone)"
    )


class BookingBody(ActFor):
    namespace: str
    cost_center: str = Field(min_length=1)
    starts_at: Instant
    duration: str | None = None
    reason: str = Field(min_length=1)


class DenyBody(ActFor):
    reason: str = Field(min_length=1, description="told to the requester")


class CostCenterBody(Body):
    cost_center: str = Field(min_length=1, max_length=128)
    is_authorized: bool = True
    max_concurrent_namespaces: int | None = Field(default=None, ge=0, le=MAX_CAP)
    authorized_namespaces: list[str] = Field(default_factory=list)


class CostCenterPatch(Body):
    is_authorized: bool | None = None
    max_concurrent_namespaces: int | None = Field(
        default=None,
        ge=0,
        le=MAX_CAP,
        description="a cap of its own; null with clear_max: the global cap",
    )
    clear_max: bool = False
    add_namespaces: list[str] = Field(default_factory=list)
    remove_namespaces: list[str] = Field(default_factory=list)


class HistoryQuery(Query):
    namespace: str | None = None
    operation: (
        Literal["auto_shutdown", "auto_startup", "manual_activation", "manual_deactivation"] | None
    ) = None
    user: str | None = None
    since: Instant | None = None
    until: Instant | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: str | None = None


class RangeQuery(Query):
    start: Instant
    end: Instant


class FeedQuery(Query):
    start: Instant | None = None
    end: Instant | None = None


class ActForQuery(Query):
    user: str | None = Field(
        default=None, description="act for this user (operator and admin); default: the token"
    )


class RequestsQuery(Query):
    status: Literal["pending", "approved", "denied", "expired", "cancelled", "all"] = "pending"


# ---- answers ----------------------------------------------------------------------------------


class Me(BaseModel):
    name: str = Field(description="the token's name, or the user the proxy named")
    role: Literal["viewer", "operator", "admin"]
    via: Literal["token", "proxy"] = Field(
        description="a bearer token, or the header of an authenticating proxy"
    )
    may: list[str] = Field(
        description="the action words the role allows: read; activate, deactivate, extend, "
        "request, book, cancel (operator); approve, deny, cost_centers (admin)"
    )


class Window(BaseModel):
    namespace: str
    cost_center: str
    user: str
    starts_at: datetime
    until: datetime
    state: str = Field(description="claimed (being woken) or live")
    request_id: str = ""


class NamespaceOut(BaseModel):
    namespace: str
    state: str = Field(description="awake, asleep, partly asleep, idle or no workloads")
    desired: str = Field(description="what the schedule (or a window) wants now")
    workloads: int
    sleeping: int
    asleep_since: datetime | None
    window: Window | None
    hourly_cost: float
    currency: str
    readiness: str | None = Field(
        default=None,
        description='after a wake, until its pods are ready: "waking (3/5 ready)", or '
        '"not ready (1/3 ready)" past wake.ready_timeout',
    )


class ExcludedOut(BaseModel):
    namespace: str
    rule: str


class NamespaceList(BaseModel):
    at: datetime
    read_at: datetime = Field(
        description="when the cluster was read: the last pass, kept current with our patches"
    )
    timezone: str
    business_time: bool
    next_transition: datetime
    next_state: str
    namespaces: list[NamespaceOut]
    excluded: list[ExcludedOut]


class WorkloadOut(BaseModel):
    kind: str
    name: str
    sleeping: bool
    replicas: int = Field(description="the count it runs awake (the original while asleep)")
    cpu_cores: float
    memory_gib: float


class NamespaceDetail(NamespaceOut):
    workload_list: list[WorkloadOut]


class WorkloadFailure(BaseModel):
    workload: str
    error: str


class Activated(BaseModel):
    window: Window
    failed: list[WorkloadFailure]


class RequestOut(BaseModel):
    request_id: str
    namespace: str
    cost_center: str
    requester: str
    reason: str
    duration_minutes: int
    status: str
    created_at: datetime
    expires_at: datetime
    starts_at: datetime | None
    decided_by: str
    decided_at: datetime | None
    decision_reason: str
    started_at: datetime | None
    booking: bool


class RequestList(BaseModel):
    requests: list[RequestOut]


class Decision(BaseModel):
    request: RequestOut
    window: Window | None


class CostCenterOut(BaseModel):
    cost_center: str
    is_authorized: bool
    max_concurrent_namespaces: int | None
    authorized_namespaces: list[str]
    created_at: datetime
    updated_at: datetime


class CostCenterList(BaseModel):
    cost_centers: list[CostCenterOut]


class HistoryPage(BaseModel):
    records: list[ActivityRecord] = Field(description="newest first, the seed's attribute names")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: no more")


class CalendarOut(BaseModel):
    start: datetime
    end: datetime
    timezone: str
    events: list[CalendarEvent]
