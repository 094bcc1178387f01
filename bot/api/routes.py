"""The resources of `/api/v1`: each handler reads its call, calls the front, shapes the answer."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.api import schemas as s
from bot.api.auth import Role
from bot.api.errors import ApiError, not_found
from bot.api.registry import Answer, Call, Endpoints
from bot.cli_report import CSV_COLUMNS, csv_rows
from core import parse
from core.activation import Opened
from core.calendar_view import MAX_RANGE
from core.estimate import Estimate
from core.ics import to_ics
from core.models import (
    ActivationRequest,
    ActivationSlot,
    CostCenterPermission,
    HistoryQuery,
    OperationType,
    RequestStatus,
)
from core.report import WeekSummary
from core.service import NamespaceStatus, StatusReport

API = Endpoints()
NOT_FOUND, CONFLICT, INVALID, FORBIDDEN = 404, 409, 422, 403
_WEEK_FORM = re.compile(r"^\d{4}-W\d{2}$")
FEED_BEFORE, FEED_AFTER = timedelta(days=30), timedelta(days=60)


# ---- shaping ------------------------------------------------------------------------------------


def _at(ts: int | None, zone: ZoneInfo) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, zone)


def _when(ts: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, zone)


def _window(slot: ActivationSlot, zone: ZoneInfo) -> s.Window:
    return s.Window(
        namespace=slot.namespace,
        cost_center=slot.cost_center,
        user=slot.user_id,
        starts_at=_when(slot.claimed_at, zone),
        until=_when(slot.ends_at, zone),
        state=slot.state.value,
        request_id=slot.request_id,
    )


def _namespace(row: NamespaceStatus, zone: ZoneInfo, currency: str) -> s.NamespaceOut:
    return s.NamespaceOut(
        namespace=row.namespace,
        state=row.state,
        desired=row.desired.value,
        workloads=row.workloads,
        sleeping=row.sleeping,
        asleep_since=_at(row.asleep_since, zone),
        window=_window(row.window, zone) if row.window else None,
        hourly_cost=row.hourly_cost,
        currency=currency,
        readiness=row.readiness,
    )


def _request(r: ActivationRequest, zone: ZoneInfo) -> s.RequestOut:
    return s.RequestOut(
        request_id=r.request_id,
        namespace=r.namespace,
        cost_center=r.cost_center,
        requester=r.requester,
        reason=r.reason,
        duration_minutes=r.duration_minutes,
        status=r.status.value,
        created_at=_when(r.created_at, zone),
        expires_at=_when(r.expires_at, zone),
        starts_at=_at(r.starts_at, zone),
        decided_by=r.decided_by,
        decided_at=_at(r.decided_at, zone),
        decision_reason=r.decision_reason,
        started_at=_at(r.started_at, zone),
        booking=r.is_booking,
    )


def _cost_center(p: CostCenterPermission, zone: ZoneInfo) -> s.CostCenterOut:
    return s.CostCenterOut(
        cost_center=p.cost_center,
        is_authorized=p.is_authorized,
        max_concurrent_namespaces=p.max_concurrent_namespaces,
        authorized_namespaces=p.authorized_namespaces,
        created_at=_when(p.created_at, zone),
        updated_at=_when(p.updated_at, zone),
    )


def _activated(opened: Opened, zone: ZoneInfo) -> s.Activated:
    return s.Activated(
        window=_window(opened.slot, zone),
        failed=[s.WorkloadFailure(workload=str(o.ref), error=o.error or "") for o in opened.failed],
    )


def _local(at: datetime, zone: ZoneInfo) -> datetime:
    """A naive instant is read in the configured zone (as the CLI's `--at`)."""
    return at if at.tzinfo else at.replace(tzinfo=zone)


def _duration(text: str | None) -> timedelta | None:
    return None if text is None else parse.duration(text, "duration")


def _namespace_arg(call: Call) -> str:
    return parse.namespace_name(call.path["namespace"], "namespace")


# ---- the caller ---------------------------------------------------------------------------------


@API.add(
    "GET",
    "/me",
    Role.VIEWER,
    "Who is calling (a token or a proxy's user), their role and what it allows",
    answer=s.Me,
)
def me(call: Call) -> Answer:
    who = call.principal
    return Answer(s.Me(name=who.name, role=who.role.word, via=who.via, may=who.role.may))


# ---- namespaces ---------------------------------------------------------------------------------


@API.add(
    "GET",
    "/namespaces",
    Role.VIEWER,
    "Every namespace: state, what the schedule wants, its window, its cost per hour",
    answer=s.NamespaceList,
)
def list_namespaces(call: Call) -> Answer:
    report = call.ctl.schedule.status(call.ctl.now())
    return Answer(_namespace_list(report, call))


def _namespace_list(report: StatusReport, call: Call) -> s.NamespaceList:
    zone, money = call.ctl.config.zone, call.ctl.config.costs.currency
    return s.NamespaceList(
        at=_when(report.at, zone),
        read_at=_when(report.read_at, zone),
        timezone=report.timezone,
        business_time=report.business_time,
        next_transition=_when(report.next_transition, zone),
        next_state=report.next_state.value,
        namespaces=[_namespace(n, zone, money) for n in report.namespaces if not n.excluded],
        excluded=[
            s.ExcludedOut(namespace=n.namespace, rule=n.excluded)
            for n in report.namespaces
            if n.excluded
        ],
    )


@API.add(
    "GET",
    "/namespaces/{namespace}",
    Role.VIEWER,
    "One namespace, with its workloads and the counts they run awake",
    answer=s.NamespaceDetail,
    errors=(NOT_FOUND, INVALID),
)
def get_namespace(call: Call) -> Answer:
    zone, money = call.ctl.config.zone, call.ctl.config.costs.currency
    detail = call.ctl.schedule.namespace(_namespace_arg(call), call.ctl.now())
    row = _namespace(detail.status, zone, money)
    workloads = [
        s.WorkloadOut(
            kind=w.kind.value,
            name=w.name,
            sleeping=w.sleeping,
            replicas=w.replicas,
            cpu_cores=w.cpu_cores,
            memory_gib=w.memory_gib,
        )
        for w in detail.workloads
    ]
    return Answer(s.NamespaceDetail(**row.model_dump(), workload_list=workloads))


@API.add(
    "POST",
    "/namespaces/{namespace}/activate",
    Role.OPERATOR,
    "Wake the namespace now for a window, charged to a cost center (every rule and cap)",
    answer=s.Activated,
    status=201,
    body=s.ActivateBody,
    errors=(FORBIDDEN, NOT_FOUND, CONFLICT, INVALID),
)
def activate(call: Call) -> Answer:
    body: s.ActivateBody = call.body
    opened = call.ctl.activations.activate(
        _namespace_arg(call),
        body.cost_center,
        call.principal.acting_for(body.user),
        _duration(body.duration),
        parse.reason(body.reason),
        call.ctl.now(),
    )
    return Answer(_activated(opened, call.ctl.config.zone), status=201)


@API.add(
    "POST",
    "/namespaces/{namespace}/deactivate",
    Role.OPERATOR,
    "End the namespace's window now: back to the schedule",
    answer=s.Window,
    body=s.ActFor,
    errors=(FORBIDDEN, NOT_FOUND, INVALID),
)
def deactivate(call: Call) -> Answer:
    body: s.ActFor = call.body
    slot = call.ctl.activations.deactivate(
        _namespace_arg(call), call.principal.acting_for(body.user), call.ctl.now()
    )
    return Answer(_window(slot, call.ctl.config.zone))


@API.add(
    "POST",
    "/namespaces/{namespace}/extend",
    Role.OPERATOR,
    "Make the namespace's live window longer",
    answer=s.Window,
    body=s.ExtendBody,
    errors=(FORBIDDEN, NOT_FOUND, INVALID),
)
def extend(call: Call) -> Answer:
    body: s.ExtendBody = call.body
    duration = parse.duration(body.duration, "duration")
    slot = call.ctl.activations.extend(
        _namespace_arg(call), duration, call.principal.acting_for(body.user), call.ctl.now()
    )
    return Answer(_window(slot, call.ctl.config.zone))


# ---- requests and bookings ---------------------------------------------------------------------


@API.add(
    "GET",
    "/requests",
    Role.VIEWER,
    "Activation requests (default: pending), newest first",
    answer=s.RequestList,
    query=s.RequestsQuery,
    errors=(INVALID,),
)
def list_requests(call: Call) -> Answer:
    query: s.RequestsQuery = call.query
    statuses = None if query.status == "all" else [RequestStatus(query.status)]
    found = sorted(
        call.ctl.approvals.requests(statuses), key=lambda r: (-r.created_at, r.request_id)
    )
    zone = call.ctl.config.zone
    return Answer(s.RequestList(requests=[_request(r, zone) for r in found]))


@API.add(
    "POST",
    "/requests",
    Role.OPERATOR,
    "Ask for an activation (with starts_at: a booking), posted to the approvals channel",
    answer=s.RequestOut,
    status=201,
    body=s.RequestBody,
    errors=(FORBIDDEN, NOT_FOUND, CONFLICT, INVALID),
)
def create_request(call: Call) -> Answer:
    body: s.RequestBody = call.body
    zone = call.ctl.config.zone
    created = call.ctl.approvals.request(
        parse.namespace_name(body.namespace),
        body.cost_center,
        call.principal.acting_for(body.user),
        _duration(body.duration),
        parse.reason(body.reason),
        call.ctl.now(),
        starts_at=_local(body.starts_at, zone) if body.starts_at else None,
    )
    call.notify()
    return Answer(_request(created, zone), status=201)


@API.add(
    "GET",
    "/requests/{request_id}",
    Role.VIEWER,
    "One request",
    answer=s.RequestOut,
    errors=(NOT_FOUND,),
)
def get_request(call: Call) -> Answer:
    found = call.ctl.approvals.get(call.path["request_id"])
    return Answer(_request(found, call.ctl.config.zone))


@API.add(
    "POST",
    "/requests/{request_id}/approve",
    Role.ADMIN,
    "Approve a pending request (never its requester); an immediate one opens its window",
    answer=s.Decision,
    body=s.ActFor,
    errors=(FORBIDDEN, NOT_FOUND, CONFLICT, INVALID),
)
def approve(call: Call) -> Answer:
    body: s.ActFor = call.body
    zone = call.ctl.config.zone
    decided, opened = call.ctl.approvals.approve(
        call.path["request_id"], call.principal.acting_for(body.user), call.ctl.now()
    )
    call.notify()
    window = _window(opened.slot, zone) if opened else None
    return Answer(s.Decision(request=_request(decided, zone), window=window))


@API.add(
    "POST",
    "/requests/{request_id}/deny",
    Role.ADMIN,
    "Deny a pending request, with a reason told to the requester",
    answer=s.RequestOut,
    body=s.DenyBody,
    errors=(FORBIDDEN, NOT_FOUND, CONFLICT, INVALID),
)
def deny(call: Call) -> Answer:
    body: s.DenyBody = call.body
    decided = call.ctl.approvals.deny(
        call.path["request_id"],
        call.principal.acting_for(body.user),
        parse.reason(body.reason),
        call.ctl.now(),
    )
    call.notify()
    return Answer(_request(decided, call.ctl.config.zone))


@API.add(
    "DELETE",
    "/requests/{request_id}",
    Role.OPERATOR,
    "Withdraw a pending request or a booking not started (its requester or an admin)",
    answer=s.RequestOut,
    query=s.ActForQuery,
    errors=(FORBIDDEN, NOT_FOUND, CONFLICT),
)
def cancel(call: Call) -> Answer:
    query: s.ActForQuery = call.query
    decided = call.ctl.approvals.cancel(
        call.path["request_id"], call.principal.acting_for(query.user), call.ctl.now()
    )
    call.notify()
    return Answer(_request(decided, call.ctl.config.zone))


@API.add(
    "GET",
    "/bookings",
    Role.VIEWER,
    "Bookings pending or approved and not yet started, soonest first",
    answer=s.RequestList,
)
def list_bookings(call: Call) -> Answer:
    zone = call.ctl.config.zone
    return Answer(
        s.RequestList(requests=[_request(r, zone) for r in call.ctl.approvals.bookings()])
    )


@API.add(
    "POST",
    "/bookings",
    Role.OPERATOR,
    "Book a future window, approved at once (as the CLI's `book`); it starts by itself",
    answer=s.RequestOut,
    status=201,
    body=s.BookingBody,
    errors=(FORBIDDEN, NOT_FOUND, CONFLICT, INVALID),
)
def create_booking(call: Call) -> Answer:
    body: s.BookingBody = call.body
    zone = call.ctl.config.zone
    booked = call.ctl.approvals.book(
        parse.namespace_name(body.namespace),
        body.cost_center,
        call.principal.acting_for(body.user),
        _local(body.starts_at, zone),
        _duration(body.duration),
        parse.reason(body.reason),
        call.ctl.now(),
    )
    return Answer(_request(booked, zone), status=201)


# ---- history, reports, calendar ----------------------------------------------------------------


@API.add(
    "GET",
    "/history",
    Role.VIEWER,
    "The audit log, newest first, filtered, a page at a time (`cursor` from the last page)",
    answer=s.HistoryPage,
    query=s.HistoryQuery,
    errors=(INVALID,),
)
def history(call: Call) -> Answer:
    query: s.HistoryQuery = call.query
    zone = call.ctl.config.zone
    filters = HistoryQuery(
        namespace=query.namespace,
        operation_type=OperationType(query.operation) if query.operation else None,
        user_id=query.user,
        since=int(_local(query.since, zone).timestamp()) if query.since else None,
        until=int(_local(query.until, zone).timestamp()) if query.until else None,
    )
    after = _decode_cursor(query.cursor) if query.cursor else None
    records = call.ctl.reports.history_page(filters, query.limit + 1, after)
    page, more = records[: query.limit], len(records) > query.limit
    last = page[-1] if page else None
    cursor = (
        _encode_cursor((last.timestamp_start, last.namespace_name, last.operation_type.value))
        if more and last
        else None
    )
    return Answer(s.HistoryPage(records=page, next_cursor=cursor))


def _encode_cursor(key: tuple[int, str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[int, str, str]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        ts, namespace, operation = json.loads(raw)
        if not isinstance(ts, int) or not isinstance(namespace, str):
            raise ValueError("bad cursor")
        return ts, namespace, OperationType(operation).value
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(
            INVALID,
            "invalid",
            "query.cursor: not a cursor this API gave: start again without it",
            "cursor",
        ) from None


@API.add(
    "GET",
    "/reports/weekly/{week}",
    Role.VIEWER,
    "An ISO week's sleep, savings and activation costs (JSON, or CSV with Accept: text/csv)",
    answer=WeekSummary,
    errors=(NOT_FOUND, INVALID),
    other_media=("text/csv",),
)
def weekly_report(call: Call) -> Answer:
    label = call.path["week"]
    if not _WEEK_FORM.match(label):
        raise ApiError(INVALID, "invalid", f"week {label!r}: use YYYY-Www, e.g. 2026-W49", "week")
    try:
        week = parse.week(label, call.ctl.config.zone)
    except parse.InputError:
        raise not_found(f"week {label!r} is not a week of that year") from None
    summary = call.ctl.reports.week(week, call.ctl.now())
    if "text/csv" in call.accept:
        return Answer(text=_csv(summary), media_type="text/csv")
    return Answer(summary)


def _csv(summary: WeekSummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_rows(summary))
    return out.getvalue()


@API.add(
    "GET",
    "/estimate",
    Role.VIEWER,
    "What a normal week under the current config would save, per namespace (read-only)",
    answer=Estimate,
)
def estimate(call: Call) -> Answer:
    return Answer(call.ctl.reports.estimate(call.ctl.now()))


@API.add(
    "GET",
    "/calendar",
    Role.VIEWER,
    "What a calendar shows for [start, end): sleep, windows, bookings, pending requests",
    answer=s.CalendarOut,
    query=s.RangeQuery,
    errors=(INVALID,),
)
def calendar(call: Call) -> Answer:
    query: s.RangeQuery = call.query
    zone = call.ctl.config.zone
    start, end = _range(_local(query.start, zone), _local(query.end, zone))
    events = call.ctl.reports.calendar(start, end)
    return Answer(s.CalendarOut(start=start, end=end, timezone=str(zone), events=events))


@API.add(
    "GET",
    "/calendar.ics",
    Role.VIEWER,
    "The calendar as an iCalendar feed (default: 30 days back to 60 ahead)",
    answer=None,
    query=s.FeedQuery,
    errors=(INVALID,),
    other_media=("text/calendar",),
)
def calendar_feed(call: Call) -> Answer:
    query: s.FeedQuery = call.query
    zone, now = call.ctl.config.zone, call.ctl.now()
    start = _local(query.start, zone) if query.start else now - FEED_BEFORE
    end = _local(query.end, zone) if query.end else start + FEED_BEFORE + FEED_AFTER
    start, end = _range(start, end)
    events = call.ctl.reports.calendar(start, end)
    return Answer(
        text=to_ics(events, "namespace-ctl", now),
        media_type="text/calendar",
        headers={"Content-Disposition": 'inline; filename="namespace-ctl.ics"'},
    )


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if end <= start:
        raise ApiError(INVALID, "invalid", "query.end: must be after start", "end")
    if end - start > MAX_RANGE:
        raise ApiError(INVALID, "invalid", "query.end: a range of at most 92 days", "end")
    return start, end


# ---- cost centers -------------------------------------------------------------------------------


@API.add(
    "GET",
    "/cost-centers",
    Role.VIEWER,
    "Every cost center: authorized or not, its cap, the namespaces it may wake",
    answer=s.CostCenterList,
)
def list_cost_centers(call: Call) -> Answer:
    zone = call.ctl.config.zone
    rows = [_cost_center(p, zone) for p in call.ctl.cost_centers.all()]
    return Answer(s.CostCenterList(cost_centers=rows))


@API.add(
    "POST",
    "/cost-centers",
    Role.ADMIN,
    "Create a cost center",
    answer=s.CostCenterOut,
    status=201,
    body=s.CostCenterBody,
    errors=(FORBIDDEN, CONFLICT, INVALID),
)
def create_cost_center(call: Call) -> Answer:
    body: s.CostCenterBody = call.body
    name = body.cost_center
    if any(p.cost_center == name for p in call.ctl.cost_centers.all()):
        raise ApiError(CONFLICT, "already exists", f"cost center {name!r} exists: PATCH it instead")
    created = call.ctl.cost_centers.set(
        name,
        call.ctl.now(),
        authorized=body.is_authorized,
        max_concurrent=body.max_concurrent_namespaces,
        add_namespaces=body.authorized_namespaces,
        create=True,
    )
    return Answer(_cost_center(created, call.ctl.config.zone), status=201)


@API.add(
    "PATCH",
    "/cost-centers/{cost_center}",
    Role.ADMIN,
    "Change a cost center: authorize or revoke, its cap, its namespaces",
    answer=s.CostCenterOut,
    body=s.CostCenterPatch,
    errors=(FORBIDDEN, NOT_FOUND, INVALID),
)
def patch_cost_center(call: Call) -> Answer:
    body: s.CostCenterPatch = call.body
    changed = call.ctl.cost_centers.set(
        call.path["cost_center"],
        call.ctl.now(),
        authorized=body.is_authorized,
        max_concurrent=body.max_concurrent_namespaces,
        clear_max=body.clear_max,
        add_namespaces=body.add_namespaces,
        remove_namespaces=body.remove_namespaces,
    )
    return Answer(_cost_center(changed, call.ctl.config.zone))
