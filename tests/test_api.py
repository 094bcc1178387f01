"""The REST API over real HTTP (waitress on 127.0.0.1): resources, auth, errors, idempotency."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from core.models import OperationType, RequestStatus
from core.report import parse_week
from tests.api_fixtures import NIGHT, TOKEN_NAMES, served_api


def test_namespaces_show_state_window_and_cost_excluded_apart(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        assert (
            api.post(
                "/namespaces/pay-api/activate",
                {"cost_center": "CC-PAY", "reason": "incident 7", "duration": "1h"},
                role="operator",
            ).status
            == 201
        )
        answer = api.get("/namespaces", role="viewer")
    assert answer.status == 200
    body = answer.json
    rows = {n["namespace"]: n for n in body["namespaces"]}
    assert set(rows) == {"pay-api", "pay-web", "team-a", "team-b", "team-c"}
    assert rows["pay-web"]["state"] == "asleep" and rows["pay-web"]["desired"] == "asleep"
    assert rows["pay-web"]["asleep_since"] == "2026-12-01T22:00:00+01:00"
    assert rows["pay-web"]["hourly_cost"] > 0 and rows["pay-web"]["currency"] == "USD"
    awake = rows["pay-api"]
    assert awake["state"] == "awake" and awake["desired"] == "awake"
    assert awake["asleep_since"] is None
    assert awake["window"]["until"] == "2026-12-01T23:00:00+01:00"
    assert awake["window"]["user"] == "ana" and awake["window"]["cost_center"] == "CC-PAY"
    assert body["excluded"] == [{"namespace": "monitoring", "rule": "excluded by 'monitoring'"}]
    assert body["timezone"] == "Europe/Madrid" and body["business_time"] is False


def test_one_namespace_lists_its_workloads_with_their_original_counts(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        answer = api.get("/namespaces/pay-api", role="viewer")
        missing = api.get("/namespaces/nope", role="viewer")
        malformed = api.get("/namespaces/Not_A_Name", role="viewer")
    workloads = {(w["kind"], w["name"]): w for w in answer.json["workload_list"]}
    assert workloads[("Deployment", "api")]["replicas"] == 3
    assert workloads[("Deployment", "api")]["sleeping"] is True
    assert workloads[("StatefulSet", "db")]["replicas"] == 1
    assert missing.status == 404 and missing.json["error"] == "not found"
    assert "nope" in missing.json["message"]
    assert malformed.status == 422 and malformed.json["field"] == "namespace"


def test_activate_deactivate_extend_through_the_api(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        opened = api.post(
            "/namespaces/team-a/activate",
            {"cost_center": "CC-ALL", "reason": "debug", "duration": "30m", "user": "bea"},
            role="operator",
        )
        extended = api.post("/namespaces/team-a/extend", {"duration": "30m", "user": "bea"})
        ended = api.post("/namespaces/team-a/deactivate", {"user": "bea"}, role="operator")
        again = api.post("/namespaces/team-a/deactivate", {"user": "bea"}, role="operator")
        records = api.h.store.history("team-a")
    assert opened.status == 201 and opened.json["window"]["user"] == "bea"
    assert opened.json["window"]["until"] == "2026-12-01T22:30:00+01:00"
    assert extended.status == 200 and extended.json["until"] == "2026-12-01T23:00:00+01:00"
    assert ended.status == 200
    assert again.status == 404 and again.json["error"] == "not found"
    ops = [r.operation_type for r in records]
    assert OperationType.MANUAL_ACTIVATION in ops and OperationType.MANUAL_DEACTIVATION in ops
    assert {r.user_id for r in records if r.operation_type is not OperationType.AUTO_SHUTDOWN} == {
        "bea"
    }


def test_an_activations_reason_shows_in_history_and_the_calendar(tmp_path: Path) -> None:
    """POST .../activate keeps its `reason` on the `manual_activation` record: the history
    answer and the calendar tell why the window was opened."""
    with served_api(tmp_path) as api:
        opened = api.post(
            "/namespaces/team-a/activate",
            {"cost_center": "CC-ALL", "reason": "incident 4711", "duration": "1h"},
            role="operator",
        )
        found = api.get("/history?operation=manual_activation", role="viewer")
        shutdowns = api.get("/history?operation=auto_shutdown", role="viewer")
        tonight = api.get("/calendar?start=2026-12-01T19:00&end=2026-12-02T08:00", role="viewer")
    assert opened.status == 201, opened.text
    [record] = found.json["records"]
    assert (record["namespace_name"], record["reason"]) == ("team-a", "incident 4711")
    assert shutdowns.json["records"] and all(r["reason"] == "" for r in shutdowns.json["records"])
    [window] = [e for e in tonight.json["events"] if e["kind"] == "activation"]
    assert (window["namespace"], window["reason"]) == ("team-a", "incident 4711")


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"cost_center": "CC-OFF", "reason": "x"}, 403, "unauthorized"),
        ({"cost_center": "CC-NOPE", "reason": "x"}, 403, "unauthorized"),
        ({"cost_center": "CC-ALL", "reason": "x", "duration": "2"}, 422, "invalid"),
        ({"cost_center": "CC-ALL", "reason": "x", "duration": "99h"}, 422, "invalid"),
        ({"cost_center": "CC-ALL"}, 422, "invalid"),
        ({"cost_center": "CC-ALL", "reason": "   "}, 422, "invalid"),
        ({"cost_center": "CC-ALL", "reason": "x", "colour": "red"}, 422, "invalid"),
    ],
)
def test_activation_refusals_have_their_status_and_word(
    tmp_path: Path, body: dict[str, str], status: int, error: str
) -> None:
    with served_api(tmp_path) as api:
        answer = api.post("/namespaces/team-b/activate", body, role="operator")
        state = api.h.store.list_slots()
    assert (answer.status, answer.json["error"]) == (status, error), answer.text
    assert answer.json["message"]
    assert state == []  # nothing changed


def test_excluded_is_403_and_caps_are_409(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        excluded = api.post(
            "/namespaces/monitoring/activate", {"cost_center": "CC-ALL", "reason": "x"}
        )
        first = api.post("/namespaces/pay-api/activate", {"cost_center": "CC-PAY", "reason": "x"})
        twice = api.post("/namespaces/pay-api/activate", {"cost_center": "CC-PAY", "reason": "x"})
        api.post("/namespaces/pay-web/activate", {"cost_center": "CC-PAY", "reason": "x"})
    assert excluded.status == 403 and excluded.json["error"] == "excluded"
    assert first.status == 201
    assert twice.status == 409 and twice.json["error"] == "already active"


def test_business_hours_is_409(tmp_path: Path) -> None:
    with served_api(tmp_path, at=NIGHT.replace(hour=11)) as api:
        answer = api.post("/namespaces/team-a/activate", {"cost_center": "CC-ALL", "reason": "x"})
    assert answer.status == 409 and answer.json["error"] == "business hours"


def test_requests_are_approved_denied_and_cancelled_by_whom_core_allows(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        made = api.post(
            "/requests",
            {"namespace": "team-a", "cost_center": "CC-ALL", "reason": "late deploy"},
            role="operator",
        )
        rid = made.json["request_id"]
        own = api.post(f"/requests/{rid}/approve", {"user": "ana"})  # the requester: never
        listed = api.get("/requests", role="viewer")
        approved = api.post(f"/requests/{rid}/approve")
        twice = api.post(f"/requests/{rid}/approve")
        other = api.post(
            "/requests",
            {"namespace": "team-b", "cost_center": "CC-ALL", "reason": "y"},
            role="operator",
        ).json["request_id"]
        no_reason = api.post(f"/requests/{other}/deny", {})
        denied = api.post(f"/requests/{other}/deny", {"reason": "use staging"})
        third = api.post(
            "/requests",
            {"namespace": "team-c", "cost_center": "CC-ALL", "reason": "z"},
            role="operator",
        ).json["request_id"]
        cancelled = api.call("DELETE", f"/api/v1/requests/{third}", "operator")
        unknown = api.post("/requests/r-nope/approve")
        slots = {s.namespace for s in api.h.store.list_slots()}
    assert made.status == 201 and made.json["status"] == "pending"
    assert own.status == 403 and own.json["error"] == "unauthorized"
    assert [r["request_id"] for r in listed.json["requests"]] == [rid]
    assert approved.status == 200 and approved.json["request"]["status"] == "approved"
    assert approved.json["window"]["namespace"] == "team-a"
    assert twice.status == 409 and twice.json["error"] == "already decided"
    assert no_reason.status == 422 and no_reason.json["field"] == "reason"
    assert denied.status == 200 and denied.json["decision_reason"] == "use staging"
    assert cancelled.status == 200 and cancelled.json["status"] == RequestStatus.CANCELLED
    assert unknown.status == 404
    assert slots == {"team-a"}


def test_bookings_and_booking_requests(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        booked = api.post(
            "/bookings",
            {
                "namespace": "team-a",
                "cost_center": "CC-ALL",
                "reason": "release",
                "starts_at": "2026-12-02T21:00",
                "duration": "1h",
            },
            role="operator",
        )
        asked = api.post(
            "/requests",
            {
                "namespace": "team-b",
                "cost_center": "CC-ALL",
                "reason": "migration",
                "starts_at": "2026-12-03T21:00:00+01:00",
            },
            role="operator",
        )
        past = api.post(
            "/bookings",
            {
                "namespace": "team-c",
                "cost_center": "CC-ALL",
                "reason": "x",
                "starts_at": "2026-11-01T21:00",
            },
            role="operator",
        )
        listed = api.get("/bookings", role="viewer")
    assert booked.status == 201 and booked.json["status"] == "approved"
    assert booked.json["starts_at"] == "2026-12-02T21:00:00+01:00"
    assert asked.status == 201 and asked.json["status"] == "pending" and asked.json["booking"]
    assert past.status == 422 and past.json["error"] == "invalid"
    assert [b["namespace"] for b in listed.json["requests"]] == ["team-a", "team-b"]


def test_history_pages_newest_first_with_filters(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        api.post("/namespaces/team-a/activate", {"cost_center": "CC-ALL", "reason": "x"})
        pages, cursor = [], None
        while True:
            query = "/history?limit=2" + (f"&cursor={cursor}" if cursor else "")
            answer = api.get(query, role="viewer")
            assert answer.status == 200
            pages.append(answer.json["records"])
            cursor = answer.json["next_cursor"]
            if cursor is None:
                break
        everything = [r.seed_dict() for r in api.h.store.history()]
        only = api.get("/history?operation=manual_activation&user=admin", role="viewer")
        bad = api.get("/history?limit=0", role="viewer")
        forged = api.get("/history?cursor=bm9wZQ", role="viewer")
        unknown = api.get("/history?colour=red", role="viewer")
    flat = [record for page in pages for record in page]
    assert len(pages) == -(-len(everything) // 2) and all(len(p) <= 2 for p in pages)
    key = lambda r: (r["timestamp_start"], r["namespace_name"], r["operation_type"])  # noqa: E731
    assert sorted(flat, key=key, reverse=True) == flat
    assert sorted(map(key, flat)) == sorted(map(key, everything))
    assert [r["namespace_name"] for r in only.json["records"]] == ["team-a"]
    assert bad.status == 422 and bad.json["field"] == "limit"
    assert forged.status == 422 and forged.json["field"] == "cursor"
    assert unknown.status == 422


def test_weekly_report_json_csv_and_unknown_weeks(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        api.h.clock.set(NIGHT + timedelta(hours=12))
        api.h.service.startup(at=NIGHT + timedelta(hours=9))
        expected = api.h.service.week_summary(
            parse_week("2026-W49", api.h.config.zone), api.h.clock.now()
        ).model_dump(mode="json")
        as_json = api.get("/reports/weekly/2026-W49", role="viewer")
        as_csv = api.get("/reports/weekly/2026-W49", role="viewer", headers={"Accept": "text/csv"})
        no_week = api.get("/reports/weekly/2026-W54", role="viewer")
        malformed = api.get("/reports/weekly/last-week", role="viewer")
    assert as_json.json == expected  # the same figures as `report weekly --json`
    assert as_json.status == 200 and as_json.json["week"] == "2026-W49"
    assert as_json.json["total_saved"] > 0 and "saved_percent" in as_json.json
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0] == "week,section,name,activations,hours,amount,currency"
    assert no_week.status == 404 and malformed.status == 422


def test_cost_centers_admin_only(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        created = api.post(
            "/cost-centers",
            {
                "cost_center": "CC-NEW",
                "max_concurrent_namespaces": 1,
                "authorized_namespaces": ["team-*"],
            },
        )
        duplicate = api.post("/cost-centers", {"cost_center": "CC-NEW"})
        by_operator = api.post("/cost-centers", {"cost_center": "CC-X"}, role="operator")
        patched = api.call(
            "PATCH", "/api/v1/cost-centers/CC-NEW", "admin", {"is_authorized": False}
        )
        missing = api.call("PATCH", "/api/v1/cost-centers/CC-NOPE", "admin", {"clear_max": True})
        listed = api.get("/cost-centers", role="viewer")
    assert created.status == 201 and created.json["authorized_namespaces"] == ["team-*"]
    assert duplicate.status == 409
    assert by_operator.status == 403 and by_operator.json["error"] == "forbidden"
    assert patched.status == 200 and patched.json["is_authorized"] is False
    assert missing.status == 404
    assert "CC-NEW" in [c["cost_center"] for c in listed.json["cost_centers"]]


def test_auth_errors_and_hardening(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        none = api.get("/namespaces", role=None)
        wrong = api.get("/namespaces", role=None, headers={"Authorization": "Bearer guess"})
        basic = api.get("/namespaces", role=None, headers={"Authorization": "Basic YTpi"})
        malformed = api.call(
            "POST",
            "/api/v1/requests",
            "operator",
            raw=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        array = api.post("/requests", ["a"], role="operator")
        big = api.call("POST", "/api/v1/requests", "operator", raw=b"x" * (1024 * 1024 + 1))
        route = api.get("/nowhere")
        double_slash = api.post("/namespaces//activate", {"cost_center": "CC-ALL", "reason": "x"})
        method = api.call("PUT", "/api/v1/namespaces", "admin", {})
        cors = api.get("/namespaces", headers={"Origin": "https://evil.example"})
    for answer in (none, wrong, basic):
        assert answer.status == 401 and answer.headers["www-authenticate"].startswith("Bearer")
        assert set(answer.json) == {"error", "message"}
    assert malformed.status == 400 and malformed.json["error"] == "malformed"
    assert array.status == 422
    assert big.status == 413 and big.json["error"] == "too large"
    assert route.status == 404 and route.json["error"] == "not found"
    # Never an HTML redirect to another resource: a JSON error (werkzeug finds no POST there).
    assert double_slash.status in (404, 405) and "message" in double_slash.json
    assert method.status == 405 and method.json["error"] == "method not allowed"
    assert cors.status == 200
    assert not any(h.startswith("access-control-") for h in cors.headers)


def test_tokens_are_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    with served_api(tmp_path) as api:
        api.post("/namespaces/team-a/activate", {"cost_center": "CC-ALL", "reason": "x"})
        api.get("/namespaces", role=None, headers={"Authorization": "Bearer tok-wrong-secret"})
    text = caplog.text
    assert "api POST /api/v1/namespaces/team-a/activate by token admin: 201" in text
    assert "tok-admin-1" not in text and "tok-wrong-secret" not in text


def test_an_idempotency_key_retry_acts_once(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        body = {"namespace": "team-a", "cost_center": "CC-ALL", "reason": "retry me"}
        key = {"Idempotency-Key": "k-1"}
        first = api.post("/requests", body, role="operator", headers=key)
        again = api.post("/requests", body, role="operator", headers=key)
        other_body = api.post("/requests", body | {"reason": "else"}, role="operator", headers=key)
        other_token = api.post("/requests", body, role="admin", headers=key)
        pending = api.h.store.list_requests([RequestStatus.PENDING])
    assert first.status == 201 and again.status == 201
    assert again.json == first.json and again.headers.get("idempotent-replayed") == "true"
    assert other_body.status == 422
    # The key is the token's: another token's request with it is a request of its own.
    assert other_token.status == 201 and other_token.json["requester"] == TOKEN_NAMES["admin"]
    mine = [r for r in pending if r.requester == TOKEN_NAMES["operator"]]
    assert len(mine) == 1


def test_racing_idempotent_retries_act_once(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        body = {"cost_center": "CC-ALL", "reason": "race", "duration": "1h"}
        answers: list[int] = []

        def post() -> None:
            answer = api.post(
                "/namespaces/team-a/activate",
                body,
                role="operator",
                headers={"Idempotency-Key": "same"},
            )
            answers.append(answer.status)

        threads = [threading.Thread(target=post) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        activations = [
            r
            for r in api.h.store.history("team-a")
            if r.operation_type is OperationType.MANUAL_ACTIVATION
        ]
    assert len(activations) == 1
    assert answers.count(201) >= 1 and set(answers) <= {201, 409}
