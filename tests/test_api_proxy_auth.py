"""Sign-in behind an authenticating proxy over real HTTP, `GET /me`, and their configuration.

The server listens on 127.0.0.1, so every request comes from 127.0.0.1: trusting
`127.0.0.1/32` makes the test client the proxy; trusting only `10.0.0.0/8` makes it anyone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.api import routes
from bot.api.auth import CHALLENGE, Role, trusted
from core.config import ApiSettings, load_config
from core.errors import ConfigError
from core.models import OperationType
from tests.api_fixtures import TOKEN_NAMES, served_api

HEADER = "X-Auth-Request-Email"
USERS = {
    "vera@example.com": "viewer",
    "ana.ops@example.com": "operator",
    "ana": "operator",  # the operator token's name too: a different caller
    "root@example.com": "admin",
}
BEHIND_PROXY = {"trusted_user_header": HEADER, "trusted_proxies": ["127.0.0.1/32"], "users": USERS}
ACTIVATE = {"cost_center": "CC-ALL", "reason": "debug", "duration": "30m"}
VIEWER_MAY = ["read"]
OPERATOR_MAY = [*VIEWER_MAY, "activate", "deactivate", "extend", "request", "book", "cancel"]
ADMIN_MAY = [*OPERATOR_MAY, "approve", "deny", "cost_centers"]


def as_user(user: str) -> dict[str, str]:
    return {HEADER: user}


# ---- signing in through the proxy ---------------------------------------------------------------


def test_a_user_of_api_users_signs_in_with_their_role(tmp_path: Path) -> None:
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        viewer = api.get("/me", role=None, headers=as_user("vera@example.com"))
        admin = api.get("/me", role=None, headers=as_user("root@example.com"))
        # An email matches ignoring case and is named as api.users spells it.
        cased = api.get("/me", role=None, headers=as_user("Ana.Ops@Example.COM"))
        listed = api.get("/namespaces", role=None, headers=as_user("vera@example.com"))
    assert viewer.status == 200, viewer.text
    assert viewer.json == {
        "name": "vera@example.com",
        "role": "viewer",
        "via": "proxy",
        "may": VIEWER_MAY,
    }
    assert admin.json["role"] == "admin" and admin.json["may"] == ADMIN_MAY
    assert cased.json["name"] == "ana.ops@example.com" and cased.json["role"] == "operator"
    assert listed.status == 200 and listed.json["namespaces"]


def test_an_unknown_user_without_a_default_role_is_403(tmp_path: Path) -> None:
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        me = api.get("/me", role=None, headers=as_user("eve@example.com"))
        write = api.post(
            "/namespaces/team-a/activate", ACTIVATE, role=None, headers=as_user("eve@example.com")
        )
        # Only emails match ignoring case: `ANA` is not the operator `ana`.
        shouted = api.get("/me", role=None, headers=as_user("ANA"))
        slots = api.h.store.list_slots()
    assert me.status == 403
    assert set(me.json) == {"error", "message"} and me.json["error"] == "forbidden"
    assert me.json["message"].startswith("eve@example.com has no role here")
    assert "api.users" in me.json["message"] and "api.default_role" in me.json["message"]
    assert write.status == 403 and write.json["error"] == "forbidden"
    assert shouted.status == 403 and shouted.json["message"].startswith("ANA has no role")
    assert slots == []


def test_a_default_role_of_viewer_reads_and_may_not_activate(tmp_path: Path) -> None:
    with served_api(tmp_path, api=BEHIND_PROXY | {"default_role": "viewer"}) as api:
        me = api.get("/me", role=None, headers=as_user("eve@example.com"))
        write = api.post(
            "/namespaces/team-a/activate", ACTIVATE, role=None, headers=as_user("eve@example.com")
        )
        # The proxy's admin is still an admin: api.users wins over the default.
        admin = api.get("/me", role=None, headers=as_user("root@example.com"))
        slots = api.h.store.list_slots()
    assert me.status == 200
    assert me.json == {"name": "eve@example.com", "role": "viewer", "via": "proxy", "may": ["read"]}
    assert write.status == 403 and write.json["error"] == "forbidden"
    assert "the viewer user 'eve@example.com'" in write.json["message"]
    assert "operator role" in write.json["message"] and "api.users" in write.json["message"]
    assert admin.json["role"] == "admin"
    assert slots == []


def test_an_operator_of_api_users_activates_and_is_the_user_recorded(tmp_path: Path) -> None:
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        opened = api.post(
            "/namespaces/team-a/activate",
            ACTIVATE,
            role=None,
            headers=as_user("ana.ops@example.com"),
        )
        # Acting for a user works as with an operator's token...
        for_bea = api.post(
            "/namespaces/team-b/activate",
            ACTIVATE | {"user": "bea"},
            role=None,
            headers=as_user("ana.ops@example.com"),
        )
        # ...and not for a viewer.
        by_viewer = api.post(
            "/namespaces/team-c/deactivate",
            {"user": "bea"},
            role=None,
            headers=as_user("vera@example.com"),
        )
        team_a = api.h.store.history("team-a")
        team_b = api.h.store.history("team-b")
    assert opened.status == 201, opened.text
    assert opened.json["window"]["user"] == "ana.ops@example.com"
    [activation] = [r for r in team_a if r.operation_type is OperationType.MANUAL_ACTIVATION]
    assert activation.user_id == "ana.ops@example.com"
    assert for_bea.status == 201 and for_bea.json["window"]["user"] == "bea"
    [for_bea_record] = [r for r in team_b if r.operation_type is OperationType.MANUAL_ACTIVATION]
    assert for_bea_record.user_id == "bea"
    assert by_viewer.status == 403 and by_viewer.json["error"] == "forbidden"


def test_a_change_signed_in_through_the_proxy_must_be_json(tmp_path: Path) -> None:
    """What a form of another site could send with the browser's proxy cookie."""
    form = as_user("ana.ops@example.com") | {"Content-Type": "text/plain"}
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        by_form = api.post("/namespaces/team-a/activate", ACTIVATE, role=None, headers=form)
        slots = api.h.store.list_slots()
        # A token is no cookie: its calls are as before, whatever the type.
        by_token = api.post(
            "/namespaces/team-a/activate",
            ACTIVATE,
            role="operator",
            headers={"Content-Type": "text/plain"},
        )
    assert by_form.status == 403 and by_form.json["error"] == "forbidden"
    assert "Content-Type: application/json" in by_form.json["message"]
    assert slots == []
    assert by_token.status == 201


def test_the_header_from_an_untrusted_address_is_ignored(tmp_path: Path) -> None:
    config = BEHIND_PROXY | {"trusted_proxies": ["10.0.0.0/8"]}
    with served_api(tmp_path, api=config) as api:
        me = api.get("/me", role=None, headers=as_user("root@example.com"))
        write = api.post(
            "/cost-centers",
            {"cost_center": "CC-NEW"},
            role=None,
            headers=as_user("root@example.com"),
        )
        centers = [p.cost_center for p in api.h.ctl.cost_centers.all()]
    assert me.status == 401 and me.json["error"] == "unauthenticated"
    assert me.headers["www-authenticate"] == CHALLENGE
    assert "api.trusted_proxies" in me.json["message"] and "127.0.0.1" in me.json["message"]
    assert write.status == 401 and write.headers["www-authenticate"] == CHALLENGE
    assert "CC-NEW" not in centers


def test_an_empty_header_or_no_header_config_is_no_credentials(tmp_path: Path) -> None:
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        empty = api.get("/me", role=None, headers=as_user("  "))
        # A proxy that appended its value to the client's: the server joins them with a comma.
        joined = api.get("/me", role=None, headers=as_user("root@example.com, vera@example.com"))
    (tmp_path / "off").mkdir()
    with served_api(tmp_path / "off", api={"users": USERS}) as api:
        off = api.get("/me", role=None, headers=as_user("root@example.com"))
    assert empty.status == 401 and empty.headers["www-authenticate"] == CHALLENGE
    assert joined.status == 401 and "several values" in joined.json["message"]
    assert off.status == 401 and off.headers["www-authenticate"] == CHALLENGE
    assert "proxy" not in off.json["message"]  # the feature is off: only tokens are offered


def test_a_bearer_token_wins_over_the_header(tmp_path: Path) -> None:
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        viewer_token = api.get("/me", role="viewer", headers=as_user("root@example.com"))
        write = api.post(
            "/cost-centers",
            {"cost_center": "CC-NEW"},
            role="viewer",
            headers=as_user("root@example.com"),
        )
        forged = api.get(
            "/me",
            role=None,
            headers={"Authorization": "Bearer not-a-token"} | as_user("root@example.com"),
        )
    assert viewer_token.json == {
        "name": TOKEN_NAMES["viewer"],
        "role": "viewer",
        "via": "token",
        "may": VIEWER_MAY,
    }
    assert write.status == 403
    assert forged.status == 401 and forged.json["message"] == "that token is not one of api.tokens"


def test_a_proxy_user_and_a_token_of_the_same_name_keep_their_idempotency_keys_apart(
    tmp_path: Path,
) -> None:
    key = {"Idempotency-Key": "k-1"}
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        by_token = api.post("/namespaces/team-a/activate", ACTIVATE, role="operator", headers=key)
        by_user = api.post(
            "/namespaces/team-b/activate", ACTIVATE, role=None, headers=key | as_user("ana")
        )
    assert by_token.status == 201 and by_user.status == 201, by_user.text
    assert "idempotent-replayed" not in by_user.headers
    assert by_user.json["window"]["namespace"] == "team-b"


def test_a_proxy_sign_in_is_logged_with_the_user(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="namespace_ctl.api")
    with served_api(tmp_path, api=BEHIND_PROXY) as api:
        api.get("/me", role=None, headers=as_user("vera@example.com"))
        api.post("/namespaces/team-a/activate", ACTIVATE, role=None, headers=as_user("ana"))
    signed_in = [r for r in caplog.records if r.levelname == "DEBUG" and "proxy user" in r.message]
    assert [r.getMessage() for r in signed_in] == [
        "api GET /api/v1/me by proxy user vera@example.com (viewer) from 127.0.0.1",
        "api POST /api/v1/namespaces/team-a/activate by proxy user ana (operator) from 127.0.0.1",
    ]
    assert "api POST /api/v1/namespaces/team-a/activate by proxy user ana: 201" in caplog.text


def test_the_peer_is_matched_as_an_address() -> None:
    api = ApiSettings.model_validate(
        {"trusted_user_header": HEADER, "trusted_proxies": ["10.0.0.0/8", "fd00::/8"]}
    )
    assert trusted("10.1.2.3", api) and trusted("fd00::1", api)
    assert trusted("::ffff:10.1.2.3", api)  # IPv4-mapped, as a dual-stack socket reports it
    assert not trusted("11.0.0.1", api) and not trusted("::1", api)
    assert not trusted(None, api) and not trusted("", api) and not trusted("unix:/x", api)


# ---- GET /me with tokens ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "may"), [("viewer", VIEWER_MAY), ("operator", OPERATOR_MAY), ("admin", ADMIN_MAY)]
)
def test_me_with_a_token_of_each_role(tmp_path: Path, role: str, may: list[str]) -> None:
    with served_api(tmp_path) as api:
        me = api.get("/me", role=role)
        none = api.get("/me", role=None)
    assert me.status == 200
    assert me.json == {"name": TOKEN_NAMES[role], "role": role, "via": "token", "may": may}
    assert none.status == 401 and none.headers["www-authenticate"] == CHALLENGE


# The action word of every endpoint that changes something (`GET`s are `read`).
WORDS = {
    ("POST", "/namespaces/{namespace}/activate"): "activate",
    ("POST", "/namespaces/{namespace}/deactivate"): "deactivate",
    ("POST", "/namespaces/{namespace}/extend"): "extend",
    ("POST", "/requests"): "request",
    ("POST", "/bookings"): "book",
    ("DELETE", "/requests/{request_id}"): "cancel",
    ("POST", "/requests/{request_id}/approve"): "approve",
    ("POST", "/requests/{request_id}/deny"): "deny",
    ("POST", "/cost-centers"): "cost_centers",
    ("PATCH", "/cost-centers/{cost_center}"): "cost_centers",
}


def test_may_names_exactly_what_the_endpoints_roles_allow() -> None:
    for endpoint in routes.API.all:
        word = "read" if endpoint.method == "GET" else WORDS[(endpoint.method, endpoint.path)]
        where = f"{endpoint.method} {endpoint.path} ({endpoint.role.word})"
        assert word in endpoint.role.may, where
        below = [r for r in Role if r < endpoint.role]
        assert all(word not in r.may for r in below), where
    declared = {
        word for e in routes.API.all if e.method != "GET" for word in [WORDS[(e.method, e.path)]]
    }
    assert set(Role.ADMIN.may) == declared | {"read"}


def test_me_is_in_the_openapi_document(tmp_path: Path) -> None:
    with served_api(tmp_path) as api:
        doc = api.get("/openapi.json", role=None).json
    operation = doc["paths"]["/api/v1/me"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Me"}
    assert set(doc["components"]["schemas"]["Me"]["required"]) == {"name", "role", "via", "may"}
    assert "403" in operation["responses"]  # a proxy's user may have no role


# ---- the configuration --------------------------------------------------------------------------


def test_the_proxy_keys_default_to_off() -> None:
    api = load_config(None, environ={}).api
    assert api.trusted_user_header is None and api.trusted_proxies == []
    assert api.users == {} and api.default_role == "none"


def test_the_proxy_keys_are_read_and_networks_normalized(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    api = {
        "trusted_user_header": "x-forwarded-email",
        "trusted_proxies": ["10.1.2.3/8", "127.0.0.1/32", "fd00::/8", "::1"],
        "users": {"ana@example.com": "admin"},
        "default_role": "viewer",
    }
    path.write_text(yaml.safe_dump({"api": api}))
    read = load_config(path, environ={}).api
    assert [str(n) for n in read.trusted_proxies] == [
        "10.0.0.0/8",
        "127.0.0.1/32",
        "fd00::/8",
        "::1/128",
    ]
    assert read.proxy_user("ANA@example.com") == ("ana@example.com", "admin")
    assert read.proxy_user("bob@example.com") == ("bob@example.com", "viewer")
    env = {"NSCTL_API__TRUSTED_PROXIES": "[192.168.0.0/16]", "NSCTL_API__DEFAULT_ROLE": "operator"}
    overridden = load_config(path, environ=env).api
    assert [str(n) for n in overridden.trusted_proxies] == ["192.168.0.0/16"]
    assert overridden.default_role == "operator"


PROXIES = {"trusted_user_header": HEADER, "trusted_proxies": ["127.0.0.1/32"]}


@pytest.mark.parametrize(
    ("api", "named"),
    [
        (PROXIES | {"trusted_proxies": ["10.0.0.300/8"]}, ["api.trusted_proxies", "10.0.0.300/8"]),
        (
            PROXIES | {"trusted_proxies": ["not-a-network"]},
            ["api.trusted_proxies", "not-a-network"],
        ),
        (PROXIES | {"trusted_proxies": ["10.0.0.0/33"]}, ["api.trusted_proxies", "10.0.0.0/33"]),
        (PROXIES | {"trusted_proxies": ["fd00::/200"]}, ["api.trusted_proxies", "fd00::/200"]),
        (PROXIES | {"trusted_proxies": [8]}, ["api.trusted_proxies", "8"]),
        (PROXIES | {"trusted_proxies": "10.0.0.0/8"}, ["api.trusted_proxies", "list"]),
        (PROXIES | {"trusted_user_header": "X Auth"}, ["api.trusted_user_header", "X Auth"]),
        (PROXIES | {"trusted_user_header": "X-Email:"}, ["api.trusted_user_header", "X-Email:"]),
        (PROXIES | {"trusted_user_header": ""}, ["api.trusted_user_header", "''"]),
        (PROXIES | {"trusted_user_header": "X_Email"}, ["api.trusted_user_header", "underscore"]),
        (
            PROXIES | {"trusted_user_header": "authorization"},
            ["api.trusted_user_header", "must not be Authorization"],
        ),
        (
            {"trusted_user_header": HEADER},
            ["api.trusted_user_header", "api.trusted_proxies", "empty"],
        ),
        (
            {"trusted_user_header": HEADER, "trusted_proxies": []},
            ["api.trusted_user_header", "api.trusted_proxies", "empty"],
        ),
        ({"users": {"ana": "superuser"}}, ["api.users.ana", "'viewer', 'operator' or 'admin'"]),
        ({"users": {"ana": "none"}}, ["api.users.ana"]),
        (
            {"users": {"ana@example.com": "viewer", "Ana@Example.com": "admin"}},
            ["api.users", "Ana@Example.com", "ana@example.com", "differ only in case"],
        ),
        ({"default_role": "root"}, ["api.default_role", "'none', 'viewer'"]),
        ({"trusted_user_headers": HEADER}, ["api.trusted_user_headers", "unknown key"]),
    ],
)
def test_a_bad_proxy_value_names_its_key(
    tmp_path: Path, api: dict[str, Any], named: list[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"api": api}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    for text in named:
        assert re.search(re.escape(text), str(caught.value)), (text, str(caught.value))
