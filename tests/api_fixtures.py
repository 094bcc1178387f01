"""The REST API served for real: waitress on 127.0.0.1, the front over a simulated cluster and a
SQLite file, bearer tokens of every role, and a small HTTP client that returns status, headers
and the decoded body."""

from __future__ import annotations

import hashlib
import http.client
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask

from bot.api import install_api
from bot.serve import HttpServer
from tests.builders import namespace, team_namespace
from tests.harness import Harness, madrid, make_harness

TOKENS = {"viewer": "tok-viewer-1", "operator": "tok-operator-1", "admin": "tok-admin-1"}
# The admin token's name is a Slack admin of TEST_CONFIG, so core lets it approve.
TOKEN_NAMES = {"viewer": "viewer-bot", "operator": "ana", "admin": "admin"}
NIGHT = madrid(2026, 12, 1, 22)  # a Tuesday after hours


def api_tokens() -> list[dict[str, str]]:
    return [
        {
            "name": TOKEN_NAMES[role],
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "role": role,
        }
        for role, token in TOKENS.items()
    ]


def cluster_objects() -> list[dict[str, Any]]:
    return [
        *team_namespace("pay-api"),
        *team_namespace("pay-web", {"web": 2}),
        *team_namespace("team-a", {"svc": 1}),
        *team_namespace("team-b", {"svc": 1}),
        *team_namespace("team-c", {"svc": 1}),
        namespace("monitoring"),
    ]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Api:
    h: Harness
    port: int

    def call(
        self,
        method: str,
        path: str,
        role: str | None = "admin",
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if role is not None:
            sent["Authorization"] = f"Bearer {TOKENS[role]}"
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, text)
        finally:
            connection.close()

    def get(self, path: str, role: str | None = "admin", **kw: Any) -> Answer:
        return self.call("GET", "/api/v1" + path, role, **kw)

    def post(self, path: str, body: Any = None, role: str | None = "admin", **kw: Any) -> Answer:
        return self.call("POST", "/api/v1" + path, role, body if body is not None else {}, **kw)


@contextmanager
def served_api(tmp_path: Path, at: datetime = NIGHT, **config: Any) -> Iterator[Api]:
    """`api=` keys are added to the tokens of every role (`api={"users": ...}`)."""
    api = {"tokens": api_tokens(), **config.pop("api", {})}
    h = make_harness(tmp_path, cluster_objects(), at=at, api=api, **config)
    h.service.shutdown(at=h.clock.now())
    server = HttpServer(install_api(Flask("api-test"), h.ctl), "127.0.0.1", 0)
    server.start()
    try:
        yield Api(h, server.port)
    finally:
        server.stop()
        h.store.close()
