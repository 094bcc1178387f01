"""The console adapter: the real Bolt listeners driven from typed lines, without Slack.

Like Hubot's shell or `errbot -T`. Each line becomes the payload Slack would send, dispatched as
`app.dispatch(BoltRequest(body, mode="socket_mode"))` (no HTTP, no signature); the app's Web API
base URL and every `response_url` point at `Recorder`, an in-process HTTP server on 127.0.0.1
that answers like Slack and prints each call readably (channel, text, Block Kit sections and
buttons with the `/click` line that presses them, files uploaded with `files_upload_v2`).

Lines: `/namespace ...` (as the current user), `/as USER`, `/click ACTION_ID [VALUE]`,
`/submit FIELD=VALUE ...` (the last modal), `/home`, `/help`, `/quit`; `#` starts a comment.
Listeners run inline (the app's listener executor is replaced by one that runs the work at once),
so everything a line causes is printed before the next prompt.

The console's notifier delivers (prints) only the notices posted in this process since the console
started (`own_notices=True`): the store may be shared with a serving bot or hold a CLI's notices,
and those must reach the real Slack, never be marked delivered by a printout here.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import shlex
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from bot.slack.app import create_app, notifier_of
from core.app import NamespaceCtl
from core.clock import Clock
from core.config import Config

TEAM_ID = "T0CONSOLE"
BOT_USER_ID = "U0NAMESPACECTL"
CONSOLE_CHANNEL = "C0CONSOLE"
DEFAULT_USER = "U0CONSOLE"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HELP = """\
Type what you would type in Slack, as the current user:
  /namespace help              the bot's own help (any /namespace subcommand)
  /as USER                     act as another Slack user id (e.g. /as U0PAYLEAD)
  /click ACTION_ID [VALUE]     press a button printed above (its /click line)
  /submit FIELD=VALUE ...      submit the last form that opened (quote values with spaces)
  /home                        open the App Home tab
  /help, /quit                 this help; leave (Ctrl-D too)"""

Block = dict[str, Any]


# ---- rendering Block Kit as text ----------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("text", "")
    text = str(value or "")
    # <@U123> mentions, <#C123|name> channels, <url|label> links: what a reader would see.
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]+)>", r"#\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element(element: Block) -> str:
    kind = element.get("type")
    if kind == "button":
        value = element.get("value", "")
        press = f"/click {element.get('action_id', '')} {value}".rstrip()
        return f"[{_text(element.get('text'))}]  -> {press}"
    if kind in ("static_select", "multi_static_select"):
        options = ", ".join(str(o.get("value")) for o in element.get("options") or [])
        return f"(one of: {options})"
    if kind in ("mrkdwn", "plain_text"):
        return _text(element)
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    return f"({kind})"


def render_blocks(blocks: list[Block]) -> list[str]:
    """One or more lines per block: what a person would read and press."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {_text(block.get('text'))} ==")
        elif kind == "section":
            if block.get("text"):
                lines.extend(_text(block["text"]).splitlines() or [""])
            lines.extend(_text(f) for f in block.get("fields") or [])
            if isinstance(block.get("accessory"), dict):
                lines.append(_element(block["accessory"]))
        elif kind == "context":
            lines.append("  " + " · ".join(_element(e) for e in block.get("elements") or []))
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            lines.extend(_element(e) for e in block.get("elements") or [])
        elif kind == "input":
            element = block.get("element") or {}
            initial = element.get("initial_value") or (element.get("initial_option") or {}).get(
                "value", ""
            )
            shown = f" (now: {initial})" if initial else ""
            optional = " (optional)" if block.get("optional") else ""
            lines.append(
                f"{_text(block.get('label'))}{optional}: {block.get('block_id')}=..."
                f"{shown} {_element(element) if element.get('options') else ''}".rstrip()
            )
        elif kind == "image":
            lines.append(_element(block))
        else:
            lines.append(f"({kind} block)")
    return lines


def _blocks_of(params: dict[str, Any], key: str = "blocks") -> list[Block]:
    value = params.get(key)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


# ---- the recorder: Slack's Web API and response_urls, printed -----------------------------------


@dataclass
class Button:
    action_id: str
    value: str
    block_id: str
    channel: str
    ts: str


@dataclass
class PendingFile:
    """A file announced by files.getUploadURLExternal, its bytes POSTed to its upload URL."""

    filename: str
    alt_text: str
    data: bytes = b""


@dataclass
class OpenedView:
    view: Block
    user: str


class Recorder:
    """Answers the app's Web API calls and `response_url` posts like Slack, printing each."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.user = DEFAULT_USER  # who the console is acting as (the target of ephemerals)
        self.buttons: list[Button] = []
        self.view: OpenedView | None = None
        self._files: dict[str, PendingFile] = {}
        self._files_lock = threading.Lock()
        self._print_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="console-recorder",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def response_url(self, channel: str) -> str:
        return f"{self.url}/response/{channel or CONSOLE_CHANNEL}/{next(self._ids)}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def say(self, text: str, end: str = "\n") -> None:
        with self._print_lock:
            print(text, end=end, file=self.out, flush=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.startswith("/upload/"):  # a file's bytes: not UTF-8, not JSON
                    found = recorder.receive_file(self.path[len("/upload/") :], body)
                    self._reply(200 if found else 404, b"OK" if found else b"no such upload")
                    return
                params = _parse(body.decode("utf-8"), self.headers.get("Content-Type", ""))
                if self.path.startswith("/api/"):
                    answer = recorder.api_call(self.path[len("/api/") :].split("?")[0], params)
                elif self.path.startswith("/response/"):
                    channel = self.path.split("/")[2]
                    answer = recorder.respond(channel, params)
                else:
                    self.send_error(404)
                    return
                self._reply(200, json.dumps(answer).encode(), "application/json")

            def _reply(self, status: int, data: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    # ---- what Slack would answer, and what a person would see ---------------------------------

    def api_call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ids):06d}"
        channel = str(params.get("channel") or "")
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://console.invalid/",
                "team": "console",
                "user": "namespace-ctl",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "B0CONSOLE",
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            self._show(f"{_where(channel)} (message {ts})", params, channel, ts)
            return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            old = str(params.get("ts") or "")
            self.buttons = [b for b in self.buttons if not (b.channel == channel and b.ts == old)]
            self._show(f"{_where(channel)} (message {old} updated)", params, channel, old)
            return {"ok": True, "channel": channel, "ts": old}
        if method == "chat.postEphemeral":
            who = f"@{params.get('user', '')}"
            self._show(f"{_where(channel)} (only {who} sees this)", params, channel, ts)
            return {"ok": True, "message_ts": ts}
        if method in ("views.open", "views.push", "views.update", "views.publish"):
            return self._show_view(method, params)
        if method == "files.getUploadURLExternal":
            return self._upload_url(params)
        if method == "files.completeUploadExternal":
            return self._show_files(params)
        self.say(f"[slack] {method} {json.dumps(params, default=str)[:300]}")
        return {"ok": True}

    def respond(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        kind = params.get("response_type") or "ephemeral"
        where = f"{_where(channel)} (only you see this)" if kind == "ephemeral" else _where(channel)
        self._show(where, params, channel, f"response-{next(self._ids)}")
        return {"ok": True}

    def _show(self, head: str, params: dict[str, Any], channel: str, ts: str) -> None:
        blocks = _blocks_of(params)
        lines = render_blocks(blocks) if blocks else _text(params.get("text")).splitlines()
        for block in blocks:
            for element in _buttons_in(block):
                self.buttons.append(
                    Button(
                        str(element.get("action_id", "")),
                        str(element.get("value", "")),
                        str(block.get("block_id", "")),
                        channel,
                        ts,
                    )
                )
        self.say("\n".join([head, *("  | " + line for line in lines)]))

    def _show_view(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        view = json.loads(view) if isinstance(view, str) else dict(view or {})
        view_id = f"V{next(self._ids):08d}"
        title = _text(view.get("title"))
        blocks = [b for b in view.get("blocks") or [] if isinstance(b, dict)]
        if method == "views.publish":
            head = f"[App Home of @{params.get('user_id', '')}]"
        else:
            head = f'[form "{title}" opened for @{self.user}]'
            self.view = OpenedView(view | {"id": view_id}, self.user)
        lines = render_blocks(blocks)
        if method != "views.publish" and any(b.get("type") == "input" for b in blocks):
            lines.append("answer with /submit FIELD=VALUE ... (quote values with spaces)")
        self.say("\n".join([head, *("  | " + line for line in lines)]))
        return {"ok": True, "view": {"id": view_id, "team_id": TEAM_ID, **view}}

    # ---- files_upload_v2: an upload URL here, the bytes, then the files shared ---------------

    def _upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        pending = PendingFile(
            str(params.get("filename") or "file"), str(params.get("alt_txt") or "")
        )
        with self._files_lock:
            self._files[file_id] = pending
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def receive_file(self, file_id: str, data: bytes) -> bool:
        with self._files_lock:
            pending = self._files.get(file_id)
            if pending is not None:
                pending.data = data
            return pending is not None

    def _show_files(self, params: dict[str, Any]) -> dict[str, Any]:
        listed = params.get("files")
        with contextlib.suppress(ValueError):
            listed = json.loads(listed) if isinstance(listed, str) else listed
        items = [f for f in listed if isinstance(f, dict)] if isinstance(listed, list) else []
        with self._files_lock:
            found = [(item, self._files.pop(str(item.get("id")), None)) for item in items]
        complete = [(item, pending) for item, pending in found if pending is not None]
        if not complete or len(complete) < len(found):
            return {"ok": False, "error": "file_upload_not_complete"}
        channel, thread = str(params.get("channel_id") or ""), params.get("thread_ts")
        for item, pending in complete:
            kind = "chart" if pending.data.startswith(PNG_SIGNATURE) else "file"
            place = f" in the thread of message {thread}" if thread else ""
            head = f"{_where(channel)} ({kind} uploaded{place}: {pending.filename}, "
            head += f"{len(pending.data):,} bytes)"
            self.say("\n".join([head, f"  | {pending.alt_text or item.get('title') or ''}"]))
        shared = [
            {"id": i.get("id"), "name": p.filename, "title": i.get("title")} for i, p in complete
        ]
        return {"ok": True, "files": shared}

    def find_button(self, action_id: str, value: str | None) -> Button | None:
        for button in reversed(self.buttons):
            if button.action_id == action_id and (value is None or button.value == value):
                return button
        return None


def _buttons_in(block: Block) -> list[Block]:
    elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        elements.append(accessory)
    return [e for e in elements if isinstance(e, dict) and e.get("type") == "button"]


def _where(channel: str) -> str:
    if not channel:
        return "[?]"
    if channel == CONSOLE_CHANNEL:
        return "[#console]"
    if channel.startswith(("U", "W")):
        return f"[DM to @{channel}]"
    return f"[{channel if channel.startswith('#') else '#' + channel}]"


def _parse(raw: str, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        value = json.loads(raw or "{}")
        return value if isinstance(value, dict) else {"body": value}
    return dict(parse_qsl(raw, keep_blank_values=True))


class InlineExecutor(Executor):
    """Runs submitted work at once on the caller's thread: the console prints everything a line
    caused before the next prompt."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


# ---- the console --------------------------------------------------------------------------------


class Console:
    """The Bolt app over the use cases, its Web API answered by a `Recorder`."""

    def __init__(
        self,
        ctl: NamespaceCtl,
        config: Config,
        clock: Clock,
        out: IO[str] | None = None,
        user: str | None = None,
    ) -> None:
        self.out = out or sys.stdout
        self.recorder = Recorder(self.out)
        slack = config.slack.model_copy(update={"api_base_url": self.recorder.url + "/api/"})
        self.config = config.model_copy(update={"slack": slack})
        # No signature is ever checked on this app (socket-mode dispatch); the secret is random
        # so that its /slack/events, if served, accepts nothing. Its notifier prints only the
        # notices posted here: another process's stay queued for Slack.
        self.app: App = create_app(
            ctl,
            self.config,
            "xoxb-console",
            secrets.token_hex(16),
            clock,
            work=InlineExecutor(),
            own_notices=True,
        )
        self.user = user or (config.slack.admins[0] if config.slack.admins else DEFAULT_USER)
        self.recorder.user = self.user
        self._ids = itertools.count(1)
        self._busy = threading.Lock()

    @property
    def client(self) -> WebClient:
        """A Web API client whose calls print here (the notifier's, with the bot token)."""
        return notifier_of(self.app).client

    def close(self, timeout: float = 10.0) -> None:
        """Stop the recorder once the line being handled (if any) is done."""
        finished = self._busy.acquire(timeout=timeout)
        try:
            self.recorder.close()
        finally:
            if finished:
                self._busy.release()

    # ---- the loop ---------------------------------------------------------------------------

    def run(self, stream: IO[str], interactive: bool | None = None) -> None:
        """Read lines until EOF or `/quit`. On a TTY, a prompt; otherwise each line is echoed so
        the transcript reads like a chat."""
        if interactive is None:
            interactive = stream.isatty()
        if interactive:
            self.recorder.say("namespace-ctl console: /help lists what you can type.")
        while True:
            if interactive:
                self.recorder.say(f"{self.user}> ", end="")
            line = stream.readline()
            if not line:
                return
            line = line.strip()
            if not interactive and line:
                self.recorder.say(f"{self.user}> {line}")
            if not self.handle(line):
                return

    def handle(self, line: str) -> bool:
        """Act on one line; False when it asks to leave."""
        if not line or line.startswith("#"):
            return True
        word, _, rest = line.partition(" ")
        word = word.lower()
        if word in ("/quit", "/exit"):
            return False
        with self._busy:
            self._handle(word, rest)
        return True

    def _handle(self, word: str, rest: str) -> None:
        try:
            if word == "/help":
                self.recorder.say(HELP)
            elif word == "/as":
                self.switch_user(rest.strip())
            elif word == "/click":
                self.click(rest.split())
            elif word == "/submit":
                self.submit(rest)
            elif word == "/home":
                self.home()
            elif word.startswith("/"):
                self.command(word, rest.strip())
            else:
                self.recorder.say("(a line starts with a /command: try /namespace help or /help)")
        except Exception as exc:  # the console never dies of one bad line
            self.recorder.say(f"(console: {exc})")

    def switch_user(self, user: str) -> None:
        if not re.fullmatch(r"[A-Z0-9]+", user or ""):
            self.recorder.say("(usage: /as USER, a Slack user id like U0PAYLEAD)")
            return
        self.user = self.recorder.user = user
        self.recorder.say(f"(you are now @{user})")

    # ---- payloads, as Slack would send them -------------------------------------------------

    def command(self, command: str, text: str) -> None:
        channel = CONSOLE_CHANNEL
        body = {
            "token": "console",
            "team_id": TEAM_ID,
            "team_domain": "console",
            "channel_id": channel,
            "channel_name": "console",
            "user_id": self.user,
            "user_name": self.user.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0CONSOLE",
            "trigger_id": self._trigger(),  # lets the command open a form, as in Slack
            "response_url": self.recorder.response_url(channel),
        }
        self._dispatch(body, what=f"{command} {text}".strip())

    def click(self, words: list[str]) -> None:
        if not words or len(words) > 2:
            self.recorder.say("(usage: /click ACTION_ID [VALUE], as printed under a button)")
            return
        button = self.recorder.find_button(words[0], words[1] if len(words) == 2 else None)
        if button is None:
            self.recorder.say(f"(no button {' '.join(words)} in the messages above)")
            return
        ephemeral = button.ts.startswith("response-")
        body = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "console"},
            "user": {"id": self.user, "username": self.user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0CONSOLE",
            "token": "console",
            "container": {
                "type": "message",
                "message_ts": button.ts,
                "channel_id": button.channel,
                "is_ephemeral": ephemeral,
            },
            "trigger_id": self._trigger(),
            "channel": {"id": button.channel, "name": button.channel.lstrip("#")},
            "message": {"type": "message", "ts": button.ts, "text": ""},
            "response_url": self.recorder.response_url(button.channel),
            "actions": [
                {
                    "type": "button",
                    "action_id": button.action_id,
                    "block_id": button.block_id,
                    "value": button.value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        self._dispatch(body, what=f"the button {button.action_id}")

    def submit(self, text: str) -> None:
        opened = self.recorder.view
        if opened is None:
            self.recorder.say("(no form is open)")
            return
        try:
            pairs = [word.partition("=") for word in shlex.split(text)]
        except ValueError as exc:
            self.recorder.say(f"(usage: /submit FIELD=VALUE ...: {exc})")
            return
        given = {key: value for key, sep, value in pairs if sep}
        body = {
            "type": "view_submission",
            "team": {"id": TEAM_ID, "domain": "console"},
            "user": {"id": self.user, "username": self.user.lower(), "team_id": TEAM_ID},
            "api_app_id": "A0CONSOLE",
            "token": "console",
            "trigger_id": self._trigger(),
            "view": {
                "id": opened.view.get("id", ""),
                "type": "modal",
                "callback_id": opened.view.get("callback_id", ""),
                "private_metadata": opened.view.get("private_metadata", ""),
                "blocks": opened.view.get("blocks", []),
                "state": {"values": _form_state(opened.view, given)},
            },
        }
        answer = self._dispatch(body, what="the form")
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if isinstance(errors, dict) and errors:
            for field, problem in errors.items():
                self.recorder.say(f"[form] {field}: {problem} (fix it and /submit again)")
        elif not (isinstance(answer, dict) and answer.get("response_action") == "update"):
            self.recorder.view = None

    def home(self) -> None:
        body = {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "api_app_id": "A0CONSOLE",
            "token": "console",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "event": {
                "type": "app_home_opened",
                "user": self.user,
                "channel": f"D{self.user}",
                "tab": "home",
                "event_ts": f"{time.time():.6f}",
            },
        }
        self._dispatch(body, what="App Home")

    def _trigger(self) -> str:
        return f"console-trigger-{next(self._ids)}"

    def _dispatch(self, body: dict[str, Any], what: str) -> Any:
        response = self.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
        if response.status == 404:
            self.recorder.say(f"(nothing in the app handles {what})")
        elif response.status >= 400:
            self.recorder.say(f"(the app refused {what}: {response.status} {response.body})")
        if response.body.startswith("{"):
            with contextlib.suppress(ValueError):
                return json.loads(response.body)
        return None


def _form_state(view: Block, given: dict[str, str]) -> dict[str, Any]:
    """The `state.values` Slack would send: the values given, else each input's initial value
    (a select's option or a text)."""
    state: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        initial = element.get("initial_value") or (element.get("initial_option") or {}).get("value")
        value = given.get(block.get("block_id", ""), initial)
        if value is None:
            continue
        if element.get("type") == "static_select":
            entry: dict[str, Any] = {"type": "static_select", "selected_option": {"value": value}}
        else:
            entry = {"type": element.get("type", "plain_text_input"), "value": value}
        state[block["block_id"]] = {element.get("action_id", "value"): entry}
    return state


def run_console(
    ctl: NamespaceCtl, config: Config, clock: Clock, stdin: IO[str], out: IO[str]
) -> int:
    """`namespace-ctl console`: the console alone (no scheduler, no HTTP server)."""
    console = Console(ctl, config, clock, out)
    try:
        console.run(stdin)
    finally:
        console.close()
    return 0
