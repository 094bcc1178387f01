"""A recording fake of Slack's Web API (and of `response_url`s) on 127.0.0.1.

`POST /api/<method>` with a form or JSON body is recorded as `(method, params)` and answered
`{"ok": true, ...}` with plausible fields; `POST /response/<id>` (a slash command's or a button's
`response_url`) is recorded as method `response:<id>`. Thread-safe; a context manager.
`fail(...)` makes Web API calls fail (Slack down or refusing) until `heal()`; those calls are
recorded apart, in `failed_calls()`.

File uploads as `files_upload_v2` makes them: `files.getUploadURLExternal` answers an upload URL
on this server (`/upload/<file id>`), the bytes POSTed there are recorded as pseudo-method
`UPLOAD`, and `files.completeUploadExternal` shares them: each shared file is in `uploads`, with
its bytes. `fail_uploads(...)` makes one step of that (or all) fail until `heal()`.

Socket Mode: `apps.connections.open` answers a `ws://` URL on this server, where a minimal
WebSocket server (RFC 6455 handshake, pings answered) accepts slack_sdk's builtin client;
`socket_send(envelope)` pushes an envelope (e.g. a slash command) to the newest connection and
every frame the client sends back (acks) is recorded as pseudo-method `socket`.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"

Call = tuple[str, dict[str, Any]]
UPLOAD = "upload"  # the POST of a file's bytes to its upload URL (not a Web API method)
UPLOAD_STEPS = ("files.getUploadURLExternal", UPLOAD, "files.completeUploadExternal")
SOCKET = "socket"  # a text frame the Socket Mode client sent (an envelope's ack)
SOCKET_PATH = "/socket-mode"
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class Upload:
    """A file whose bytes were uploaded; `channel` etc. are set once it is shared."""

    file_id: str
    filename: str
    length: int
    data: bytes = b""
    title: str = ""
    channel: str = ""
    thread_ts: str = ""
    initial_comment: str = ""
    shared: bool = False


class FakeSlack:
    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._answers: list[dict[str, Any]] = []
        self._failure: tuple[str, int, frozenset[str] | None] | None = None
        self._failed: list[Call] = []
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        self._files: dict[str, Upload] = {}
        self._sockets: list[socket.socket] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith(SOCKET_PATH) or "Sec-WebSocket-Key" not in self.headers:
                    self.send_error(404)
                    return
                accept = base64.b64encode(
                    hashlib.sha1((self.headers["Sec-WebSocket-Key"] + _WS_GUID).encode()).digest()
                ).decode()
                self.wfile.write(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
                )
                self.wfile.flush()
                self.close_connection = True
                fake._serve_socket(self.connection, self.rfile)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.startswith("/upload/"):
                    self._upload(self.path[len("/upload/") :], body)
                    return
                raw = body.decode("utf-8")
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

            def _upload(self, file_id: str, data: bytes) -> None:
                params = {"file_id": file_id, "length": len(data)}
                failure = fake._failing(UPLOAD, params)
                if failure is not None:
                    self._send_text(failure[1], failure[0])
                elif not fake._received(file_id, data):
                    self._send_text(404, "no such upload")
                else:
                    fake._record(UPLOAD, params, {"ok": True})
                    self._send_text(200, f"OK - {len(data)}")

            def _send_text(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # Socket Mode connections end with the fake
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---- Socket Mode ----------------------------------------------------------------------------

    @property
    def sockets_open(self) -> int:
        """Socket Mode connections open now."""
        with self._lock:
            return len(self._sockets)

    def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push `envelope` (a JSON text frame) to the newest Socket Mode connection."""
        with self._lock:
            if not self._sockets:
                raise AssertionError("no Socket Mode connection is open")
            sock = self._sockets[-1]
        sock.sendall(_ws_frame(0x1, json.dumps(envelope).encode()))

    def _serve_socket(self, sock: socket.socket, stream: Any) -> None:
        """Read the client's frames until it closes: pings get pongs, texts are recorded."""
        with self._lock:
            self._sockets.append(sock)
        try:
            while True:
                frame = _ws_read(stream)
                if frame is None or frame[0] == 0x8:  # gone, or a close frame
                    return
                opcode, payload = frame
                if opcode == 0x9:
                    sock.sendall(_ws_frame(0xA, payload))
                elif opcode == 0x1:
                    text = payload.decode("utf-8")
                    self._record(SOCKET, json.loads(text) if text.startswith("{") else {}, {})
        except OSError:
            return
        finally:
            with self._lock:
                self._sockets.remove(sock)

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

    def fail_uploads(
        self, step: str | None = None, error: str = "internal_error", status: int = 500
    ) -> None:
        """Make one step of a file upload (one of `UPLOAD_STEPS`), or all, fail until `heal()`."""
        if step is not None and step not in UPLOAD_STEPS:
            raise ValueError(f"{step!r} is not one of {UPLOAD_STEPS}")
        self.fail(error, status, {step} if step else set(UPLOAD_STEPS))

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

    @property
    def uploads(self) -> list[Upload]:
        """The files shared by `files.completeUploadExternal`, in order, with their bytes."""
        with self._lock:
            return [f for f in self._files.values() if f.shared]

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
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws{self.url[len('http') :]}{SOCKET_PATH}?ticket=1"}
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts, **params}}
        if method == "chat.update":
            return {"ok": True, "channel": channel, "ts": params.get("ts"), "text": ""}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1_700_000_000 + next(self._ts)}.000200"}
        if method == "files.getUploadURLExternal":
            return self._upload_url(params)
        if method == "files.completeUploadExternal":
            return self._share(params)
        if method in ("views.open", "views.publish", "views.update"):
            view = params.get("view")
            view = json.loads(view) if isinstance(view, str) else dict(view or {})
            return {
                "ok": True,
                "view": {"id": f"V{next(self._ts):08d}", "team_id": TEAM_ID, **view},
            }
        return {"ok": True}

    # ---- file uploads ---------------------------------------------------------------------------

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):08d}"
        with self._lock:
            self._files[file_id] = Upload(file_id, str(params["filename"]), int(params["length"]))
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _received(self, file_id: str, data: bytes) -> bool:
        with self._lock:
            upload = self._files.get(file_id)
            if upload is None:
                return False
            upload.data = data
            return True

    def _share(self, params: dict[str, Any]) -> dict[str, Any]:
        """Share the files named in `files` (JSON: id, title): each must have its bytes, all of
        its announced length."""
        listed = params.get("files")
        listed = json.loads(listed) if isinstance(listed, str) else listed
        with self._lock:
            uploads = [self._files.get(str(item.get("id"))) for item in listed or []]
            ready = [u for u in uploads if u and not u.shared and len(u.data) == u.length]
            if len(ready) != len(uploads):
                return {"ok": False, "error": "file_upload_not_complete"}
            for upload, item in zip(ready, listed or [], strict=True):
                upload.title = str(item.get("title") or upload.filename)
                upload.channel = str(params.get("channel_id") or "")
                upload.thread_ts = str(params.get("thread_ts") or "")
                upload.initial_comment = str(params.get("initial_comment") or "")
                upload.shared = True
        shared = [{"id": u.file_id, "name": u.filename, "title": u.title} for u in ready]
        if not shared:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "files": shared}


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked frame (server to client)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def _ws_read(stream: Any) -> tuple[int, bytes] | None:
    """One frame from the client (masked, as RFC 6455 requires); None at end of stream."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode, size = head[0] & 0x0F, head[1] & 0x7F
    if size == 126:
        size = struct.unpack("!H", stream.read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", stream.read(8))[0]
    mask = stream.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    data = stream.read(size)
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


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
