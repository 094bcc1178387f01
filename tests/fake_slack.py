"""A recording fake of Slack's Web API (and of `response_url`s) on 127.0.0.1.

`POST /api/<method>` with a form or JSON body is recorded as `(method, params)` and answered
`{"ok": true, ...}` with plausible fields; `POST /response/<id>` (a slash command's or a button's
`response_url`) is recorded as method `response:<id>`. Thread-safe; a context manager.
`fail(...)` makes Web API calls fail (Slack down or refusing) until `heal()`; those calls are
recorded apart, in `failed_calls()`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"

Call = tuple[str, dict[str, Any]]


class FakeSlack:
    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._answers: list[dict[str, Any]] = []
        self._failure: tuple[str, int, frozenset[str] | None] | None = None
        self._failed: list[Call] = []
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                params = _parse(raw, self.headers.get("Content-Type", ""))
                if self.path.startswith("/api/"):
                    method = self.path[len("/api/") :].split("?")[0]
                    failure = fake._failing(method, params)
                    if failure is not None:
                        self._send_json(failure[1], {"ok": False, "error": failure[0]})
                        return
                    answer = fake._answer(method, params)
                elif self.path.startswith("/response/"):
                    method = "response:" + self.path[len("/response/") :]
                    answer = {"ok": True}
                else:
                    self.send_error(404)
                    return
                fake._record(method, params, answer)
                self._send_json(200, answer)

            def _send_json(self, status: int, answer: dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str) -> str:
        return f"{self.url}/response/{name}"

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def forget(self) -> list[Call]:
        """Drop (and return) every call recorded so far: a test's setup leaves a clean slate."""
        with self._lock:
            calls, self._calls, self._answers = self._calls, [], []
        return calls

    # ---- fault injection ------------------------------------------------------------------------

    def fail(
        self, error: str = "service_unavailable", status: int = 503, methods: set[str] | None = None
    ) -> None:
        """Answer every Web API call (or those of `methods`) with `{"ok": false, "error": error}`
        and HTTP `status` until `heal()`."""
        with self._lock:
            self._failure = (error, status, frozenset(methods) if methods else None)

    def heal(self) -> None:
        with self._lock:
            self._failure = None

    def failed_calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._failed if method is None or c[0] == method]

    def _failing(self, method: str, params: dict[str, Any]) -> tuple[str, int] | None:
        with self._lock:
            failure = self._failure
            if failure is None or (failure[2] is not None and method not in failure[2]):
                return None
            self._failed.append((method, params))
            return failure[0], failure[1]

    # ---- recording ------------------------------------------------------------------------------

    def _record(self, method: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        with self._lock:
            self._calls.append((method, params))
            self._answers.append(answer)
            self._lock.notify_all()

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c[0] == method]

    def answer_to(self, params: dict[str, Any]) -> dict[str, Any]:
        """What the fake answered to the recorded call with these params (e.g. a message's ts)."""
        with self._lock:
            for (_, recorded), answer in zip(self._calls, self._answers, strict=True):
                if recorded is params:
                    return answer
        raise KeyError("no such call recorded")

    def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Block until `count` calls of `method` (matching `where`) were recorded; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [p for m, p in self._calls if m == method and (where is None or where(p))]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m for m, _ in self._calls]
                    raise AssertionError(f"no {count} x {method} within {timeout}s; saw {seen}")
                self._lock.wait(left)

    # ---- answers --------------------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel", "C0FAKE")
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake.slack.com/",
                "team": "fake",
                "user": "namespace-ctl",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts, **params}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": params.get("ts"), "text": ""}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1_700_000_000 + next(self._ts)}.000200"}
        if method in ("views.open", "views.publish", "views.update"):
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else dict(view or {})
            return {
                "ok": True,
                "view": {"id": f"V{next(self._ts):08d}", "team_id": TEAM_ID, **view},
            }
        return {"ok": True}


def _parse(raw: str, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        value = json.loads(raw or "{}")
        return value if isinstance(value, dict) else {"body": value}
    params: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
    for key in ("blocks", "attachments"):  # form-encoded JSON fields
        if isinstance(params.get(key), str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    return params


def post_signed(
    url: str,
    body: str,
    secret: str,
    content_type: str = "application/x-www-form-urlencoded",
    timestamp: int | None = None,
    signature: str | None = None,
) -> tuple[int, str]:
    """POST `body` to the bot as Slack would: signed with `secret` at `timestamp` (now by
    default) unless a `signature` is forced. Returns the HTTP status and the body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signed = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body) or ""
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or signed,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
