"""Every endpoint x every role (none, viewer, operator, admin), and racing activations through
the API never exceed a cap."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from bot.api import routes
from bot.api.auth import Role
from tests.api_fixtures import served_api

ROLES = {"viewer": Role.VIEWER, "operator": Role.OPERATOR, "admin": Role.ADMIN}
VALUES = {
    "namespace": "team-a",
    "request_id": "r-00000000",
    "week": "2026-W49",
    "cost_center": "CC-ALL",
}


@pytest.mark.parametrize("role", [None, "viewer", "operator", "admin"])
def test_the_role_matrix(tmp_path: Path, role: str | None) -> None:
    with served_api(tmp_path) as api:
        for endpoint in routes.API.all:
            path = re.sub(r"{(\w+)}", lambda m: VALUES[m.group(1)], endpoint.path)
            if endpoint.path == "/calendar":
                path += "?start=2026-11-30T00:00&end=2026-12-07T00:00"
            body = {} if endpoint.method in ("POST", "PATCH") else None
            answer = api.call(endpoint.method, "/api/v1" + path, role, body)
            where = f"{endpoint.method} {endpoint.path} as {role}: {answer.status} {answer.text}"
            if role is None:
                assert answer.status == 401, where
            elif ROLES[role] < endpoint.role:
                assert answer.status == 403 and answer.json["error"] == "forbidden", where
            else:
                assert answer.status not in (401, 500, 503), where
                if answer.status >= 400:
                    assert answer.json["error"] != "forbidden", where


def test_racing_activations_never_exceed_the_cost_center_cap(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        statuses: list[int] = []

        def activate(namespace: str) -> None:
            answer = api.post(
                f"/namespaces/{namespace}/activate",
                {"cost_center": "CC-PAY", "reason": "race", "duration": "1h"},
                role="operator",
            )
            statuses.append(answer.status)

        names = ["pay-api", "pay-web", "pay-api", "pay-web"]
        threads = [threading.Thread(target=activate, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        held = [s for s in api.h.store.list_slots() if s.cost_center == "CC-PAY"]
    assert len(held) <= 2 and statuses.count(201) == len(held)
    assert set(statuses) <= {201, 409}
