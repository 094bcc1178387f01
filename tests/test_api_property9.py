"""The seed's Property 9 over real HTTP: for any request, a correct status code with a message.

Hypothesis crafts requests to every endpoint and to paths that do not exist: any method, path
segments valid and not, query strings, JSON bodies of the right shape with wrong values, bodies
that are not JSON, every role's token, none and forged ones. Whatever it sends:
- the answer is never a 5xx (a crafted request never causes a fault);
- every 4xx body is exactly `{"error", "message"[, "field"]}` with a word that belongs to its
  status and a sentence;
- 401 says `WWW-Authenticate: Bearer`, and no request without a valid token succeeds but the
  OpenAPI document; a viewer's token never changes anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.api import routes
from bot.api.registry import Endpoint
from tests.api_fixtures import TOKENS, Answer, Api, served_api

# The words each status may carry (errors.py, registry.py, routes.py).
WORDS = {
    400: {"malformed"},
    401: {"unauthenticated"},
    403: {"forbidden", "unauthorized", "excluded"},
    404: {"not found"},
    405: {"method not allowed"},
    409: {
        "limit exceeded",
        "already active",
        "already decided",
        "business hours",
        "expired",
        "already exists",
        "in progress",
        "refused",
    },
    413: {"too large"},
    422: {"invalid"},
}
ENDPOINTS = routes.API.all
METHODS = ["GET", "POST", "PATCH", "DELETE", "PUT"]

texts = st.text(max_size=12)
segments = {
    "namespace": st.one_of(
        st.sampled_from(["pay-api", "team-a", "team-b", "monitoring", "nope", "Not_A_Name"]),
        texts,
    ),
    "request_id": st.one_of(st.sampled_from(["r-nope", "0", ""]), texts),
    "week": st.one_of(st.sampled_from(["2026-W49", "2026-W54", "2026-W00", "last-week"]), texts),
    "cost_center": st.one_of(st.sampled_from(["CC-ALL", "CC-PAY", "CC-NOPE"]), texts),
}
# Values a field may be sent: right-looking ones, wrong types, edge cases.
field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    texts,
    st.sampled_from(
        ["2", "30m", "99h", "1h", "CC-ALL", "CC-OFF", "team-a", "pay-api", "2026-12-01T23:00"]
    ),
    st.sampled_from(["2026-02-30T00:00", "2026-12-02T21:00+01:00", "yesterday", "-1h"]),
    st.lists(st.sampled_from(["team-*", "*", "", "Bad_Glob"]), max_size=3),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6,
)
tokens = st.one_of(
    st.sampled_from([*TOKENS]).map(lambda role: f"Bearer {TOKENS[role]}"),
    st.none(),
    st.sampled_from(["Bearer ", "Bearer guess", "Basic YTpi", "bearer tok-admin-1", "tok-admin-1"]),
)


def _fields(model: Any) -> list[str]:
    return list(model.model_fields) if model is not None else []


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    endpoint: Endpoint | None = draw(st.one_of(st.none(), st.sampled_from(ENDPOINTS)))
    path = "/nowhere/" + quote(draw(texts), safe="") if endpoint is None else endpoint.path
    for name, strategy in segments.items():
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", quote(draw(strategy), safe=""))
    method = draw(st.sampled_from(METHODS)) if draw(st.booleans()) or not endpoint else None
    query_fields = [*_fields(endpoint.query if endpoint else None), "colour"]
    body_fields = [*_fields(endpoint.body if endpoint else None), "colour"]
    query = draw(st.dictionaries(st.sampled_from(query_fields), texts, max_size=3))
    body = draw(
        st.one_of(
            st.dictionaries(st.sampled_from(body_fields), field_values, max_size=5),
            json_values.map(json.dumps),
            st.binary(max_size=20),
            st.none(),
        )
    )
    return {
        "method": method or (endpoint.method if endpoint else "GET"),
        "path": "/api/v1" + path + (f"?{urlencode(query)}" if query else ""),
        "body": body,
        "authorization": draw(tokens),
        "accept": draw(st.sampled_from([None, "application/json", "text/csv", "*/*"])),
        "idempotency_key": draw(st.one_of(st.none(), st.sampled_from(["k", "", "x" * 300]))),
    }


def _send(api: Api, req: dict[str, Any]) -> Answer:
    headers = {}
    for header, key in (
        ("Authorization", "authorization"),
        ("Accept", "accept"),
        ("Idempotency-Key", "idempotency_key"),
    ):
        if req[key] is not None:
            headers[header] = req[key]
    body = req["body"]
    raw = None
    if isinstance(body, dict):
        raw = json.dumps(body).encode()
    elif isinstance(body, str):
        raw = body.encode()
    elif isinstance(body, bytes):
        raw = body
    if raw is not None:
        headers["Content-Type"] = "application/json"
    return api.call(req["method"], req["path"], role=None, headers=headers, raw=raw)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    path: Path = tmp_path_factory.mktemp("property9")
    with served_api(path) as served:
        yield served


def _valid_token(authorization: str | None) -> bool:
    """The auth scheme's name is case-insensitive (RFC 7235); the token is not."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and token in TOKENS.values()


@given(req=requests())
@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # reproducible in CI; explore more with another seed locally
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_property_9_every_answer_has_its_status_and_a_message(
    api: Api, req: dict[str, Any]
) -> None:
    answer = _send(api, req)
    assert answer.status < 500, (req, answer.status, answer.text)
    if answer.status < 400:
        assert answer.status in (200, 201), (req, answer.status)
        openapi = req["path"].split("?")[0] == "/api/v1/openapi.json"
        assert _valid_token(req["authorization"]) or openapi, req
        assert req["method"] == "GET" or not (req["authorization"] or "").endswith(TOKENS["viewer"])
        return
    assert answer.headers["content-type"].startswith("application/json"), req
    body = answer.json
    assert isinstance(body, dict) and {"error", "message"} <= set(body), answer.text
    assert set(body) <= {"error", "message", "field"}, answer.text
    assert body["error"] in WORDS[answer.status], (req, answer.status, body)
    assert isinstance(body["message"], str) and body["message"].strip(), body
    if answer.status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")
