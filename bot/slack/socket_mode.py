"""Socket Mode that never takes the process down: `SocketModeConnection`.

slack_bolt's `SocketModeHandler.connect()` calls `apps.connections.open` and raises when Slack
cannot be reached, which in a pod is a crash loop that runs no job. Here a supervisor thread
owns the connection instead: it asks for a WebSocket URL and connects; on failure it logs one
WARNING per attempt (no traceback) and waits, 1 s doubling to 60 s, jittered (each wait drawn
between half and all of that); once connected it watches the session (every second) and
reconnects the same way when it drops. slack_sdk's own reconnect is off
(`auto_reconnect_enabled=False`) so exactly one loop connects, except that Slack's `disconnect`
message (a planned refresh) is still followed by the SDK at once.

`state()` is what `/readyz` shows, e.g. `socket mode: connecting (attempt 3, last error: ...)`
or `socket mode: connected`. Slack being unreachable never makes the process unready or
unhealthy: the jobs, the outbox and the HTTP server do not need it (DESIGN: Slack being down
never blocks scaling), and in Socket Mode nothing comes through the Kubernetes Service anyway.
"""

from __future__ import annotations

import logging
import random as _random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger("namespace_ctl.slack.socket_mode")
FIRST_DELAY = 1.0  # seconds before the second attempt
MAX_DELAY = 60.0
WATCH_EVERY = 1.0  # seconds between checks of a live session
CONNECT_TIMEOUT = 10  # seconds for apps.connections.open
MAX_ERROR = 200


def backoff_delay(
    attempt: int,
    first: float = FIRST_DELAY,
    cap: float = MAX_DELAY,
    random: Callable[[], float] = _random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): `first` doubling up to
    `cap`, jittered between half and all of it (so replicas restarted together spread out)."""
    ceiling = min(cap, first * float(2 ** min(max(attempt - 1, 0), 32)))
    return ceiling / 2 + ceiling / 2 * random()


@dataclass(frozen=True)
class _State:
    connected: bool = False
    attempt: int = 0
    last_error: str = ""
    closed: bool = False

    def describe(self) -> str:
        if self.closed:
            return "socket mode: closed"
        if self.connected:
            return "socket mode: connected"
        if self.attempt == 0:
            return "socket mode: not started"
        error = f", last error: {self.last_error}" if self.last_error else ""
        return f"socket mode: connecting (attempt {self.attempt}{error})"


class SocketModeConnection:
    """The app's Socket Mode connection, kept up in the background. `start()` returns at once."""

    def __init__(
        self,
        app: App,
        app_token: str,
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.app = app
        self.app_token = app_token
        self.first_delay, self.max_delay, self.random = first_delay, max_delay, random
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._handler: SocketModeHandler | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        # Our loop reconnects (with backoff and a state to show), not the SDK's monitor.
        self._handler = SocketModeHandler(self.app, self.app_token, auto_reconnect_enabled=False)
        self._thread = threading.Thread(target=self._run, name="socket-mode", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        handler = self._handler
        if handler is not None:
            client = handler.client
            acquired = client.connect_operation_lock.acquire(timeout=timeout)
            try:
                handler.close()
            finally:
                if acquired:
                    client.connect_operation_lock.release()
        self._set(closed=True, connected=False)

    def state(self) -> str:
        """For /readyz: connected, or connecting with the attempt number and the last error."""
        with self._lock:
            state = self._state
        if state.connected and not self._is_connected():
            state = _State(attempt=max(state.attempt, 1), last_error="the connection dropped")
        return state.describe()

    # ---- the supervisor -------------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            if self._is_connected():
                if attempt:
                    log.info("Socket Mode: connected to Slack (attempt %d)", attempt)
                    attempt = 0
                    self._set(connected=True, attempt=0, last_error="")
                self._stopping.wait(WATCH_EVERY)
                continue
            if self._state.connected:
                log.warning("Socket Mode: the connection to Slack dropped; reconnecting")
            attempt += 1
            self._set(connected=False, attempt=attempt)
            try:
                self._connect_once()
            except Exception as exc:  # every failure: logged once, retried with backoff
                error = _describe(exc)
                wait = backoff_delay(attempt, self.first_delay, self.max_delay, self.random)
                self._set(last_error=error)
                log.warning(
                    "Socket Mode: cannot connect to Slack (attempt %d): %s; retrying in %.1f s "
                    "(the jobs and the HTTP server keep running)",
                    attempt,
                    error,
                    wait,
                )
                self._stopping.wait(wait)

    def _connect_once(self) -> None:
        """One attempt: a fresh WebSocket URL from `apps.connections.open`, then the handshake.
        Raises when either fails."""
        handler = self._handler
        assert handler is not None
        client = handler.client
        url = self._open_url(client.web_client)
        with client.connect_operation_lock:
            if self._stopping.is_set():
                return
            client.wss_uri = url
            client.connect()  # logs and swallows a failed handshake: check the session below
        if not client.is_connected():
            raise ConnectionError("the WebSocket handshake with Slack failed")

    def _open_url(self, web_client: WebClient) -> str:
        # A quiet client of its own: the SDK logs every failed request at ERROR (and retries it);
        # here each attempt is logged once, as a warning, by `_run`.
        quiet = logging.getLogger("namespace_ctl.slack.socket_mode.web")
        quiet.setLevel(logging.CRITICAL)
        client = WebClient(
            base_url=web_client.base_url,
            timeout=CONNECT_TIMEOUT,
            ssl=web_client.ssl,
            proxy=web_client.proxy,
            headers=web_client.headers,
            logger=quiet,
            retry_handlers=[],
        )
        try:
            response = client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", "?")
            error = exc.response.get("error") if hasattr(exc.response, "get") else None
            raise ConnectionError(f"apps.connections.open: HTTP {status}, {error}") from None
        except OSError as exc:
            raise ConnectionError(f"apps.connections.open: {_reason(exc)}") from None
        url = response.get("url")
        if not isinstance(url, str) or not url:
            raise ConnectionError("apps.connections.open answered no url")
        return url

    def _is_connected(self) -> bool:
        handler = self._handler
        return handler is not None and bool(handler.client.is_connected())

    def _set(self, **changes: Any) -> None:
        with self._lock:
            self._state = replace(self._state, **changes)


def _reason(exc: OSError) -> str:
    reason = getattr(exc, "reason", None)  # URLError wraps the socket error
    return str(reason if reason is not None else exc) or type(exc).__name__


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."
