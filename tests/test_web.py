"""The web page in a real browser: Playwright driving Debian's Chromium against `serve`.

`serve` runs as its own process on the example's simulated cluster with `--now` on a Tuesday
evening after hours, so its first pass puts every namespace to sleep. Each test signs in with a
token of its role in a fresh browser context, drives the page as a person would (clicks, a
dragged range on the calendar, forms), and checks what the page shows against the API or the
CLI. Every request the browser makes is recorded: none may leave 127.0.0.1, and the console
must report no Content-Security-Policy violation. Screenshots go to tests/screenshots/.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.web import missing_assets

playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "tests" / "screenshots"
# Tuesday 15 December 2026, 21:00 in Madrid: after hours on an ordinary weekday.
NOW = "2026-12-15T21:00"
CLI = [sys.executable, "-m", "bot.cli"]
SERVE_ARGS = ["--host", "127.0.0.1", "--port", "0", "--no-console"]
WEEK = "2026-W51"
TOKENS = {
    "viewer": "web-viewer-token",
    "operator": "web-operator-token",
    "admin": "web-admin-token",
}
NAMES = {"viewer": "vera-viewer", "operator": "oscar-operator", "admin": "ada-admin"}
PROXY_HEADER = "X-Auth-Request-Email"
PROXY_USER = "pat@example.com"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
    pytest.mark.skipif(bool(missing_assets()), reason="needs the web assets: make web"),
]


@dataclass
class Served:
    base: str
    config: Path
    process: subprocess.Popen[str]

    def cli(self, *args: str, now: str = NOW) -> str:
        command = [sys.executable, "-m", "bot.cli", "--config", str(self.config), "--now", now]
        done = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
        return done.stdout

    def api(self, method: str, path: str, role: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/api/v1{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {TOKENS[role]}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def _config(tmp: Path) -> Path:
    config = yaml.safe_load((ROOT / "examples" / "config.yaml").read_text())
    config["store"]["path"] = str(tmp / "web.db")
    config["cluster"]["simulated"] = str(ROOT / "examples" / "cluster.yaml")
    config["cluster"]["simulated_state"] = str(tmp / "cluster-state.json")
    config["api"] = {
        # The test client is the proxy: the page is also opened as a proxy's user.
        "trusted_user_header": PROXY_HEADER,
        "trusted_proxies": ["127.0.0.1/32"],
        "users": {PROXY_USER: "operator"},
        "tokens": [
            {
                "name": NAMES[role],
                "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
                "role": role,
            }
            for role, token in TOKENS.items()
        ],
    }
    # Core decides who approves (never the requester): the admin token's name is a Slack admin.
    config["slack"]["admins"] = [*config["slack"]["admins"], NAMES["admin"]]
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_for_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        found = re.search(r"http:\s+127\.0\.0\.1:(\d+)", line)
        if found:
            return int(found.group(1))
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"serve printed no port (exit {process.poll()})")


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve never became ready")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("web")
    config = _config(tmp)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "NSCTL_"))}
    process = subprocess.Popen(
        [*CLI, "--config", str(config), "--now", NOW, "serve", *SERVE_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
        env=environ,
    )
    try:
        port = _wait_for_port(process)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base)
        # Drain the rest of its output so a full pipe never blocks it.
        assert process.stdout is not None
        stdout = process.stdout
        import threading

        threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
        yield Served(base, config, process)
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS
        )
        yield launched
        launched.close()


@dataclass
class Visit:
    """One signed-in tab, with every URL it asked for and every console complaint."""

    page: Any
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self, base: str) -> None:
        strays = [url for url in self.requests if not url.startswith(f"{base}/")]
        assert strays == [], f"requests left 127.0.0.1: {strays}"
        assert [c for c in self.console if "Content Security Policy" in c] == []


@pytest.fixture
def visit(browser: Any, served: Served) -> Iterator[Any]:
    contexts: list[Any] = []
    visits: list[Visit] = []

    def open_as(role: str, page_name: str = "board", width: int = 1400) -> Visit:
        context = browser.new_context(
            viewport={"width": width, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        page = context.new_page()
        seen = Visit(page)
        visits.append(seen)
        page.on("request", lambda request: seen.requests.append(request.url))
        page.on("console", lambda message: seen.console.append(message.text))
        page.goto(f"{served.base}/#{page_name}")
        page.fill("#token", TOKENS[role])
        page.click("#sign-in-form button[type=submit]")
        page.wait_for_selector(f"#who:has-text('{NAMES[role]}')")
        return seen

    yield open_as
    for seen in visits:
        seen.assert_clean(served.base)
    for context in contexts:
        context.close()


def _row(page: Any, namespace: str) -> Any:
    return page.locator(f"#board-table tr[data-namespace='{namespace}']")


def test_the_board_shows_every_managed_namespace_asleep_after_hours(
    visit: Any, served: Served
) -> None:
    seen = visit("operator")
    page = seen.page
    page.wait_for_selector("#board-table tr[data-namespace]")
    status, listing = served.api("GET", "/namespaces", "viewer")
    assert status == 200 and listing["business_time"] is False
    managed = [ns["namespace"] for ns in listing["namespaces"] if ns["workloads"]]
    assert len(managed) >= 5
    for namespace in managed:
        assert _row(page, namespace).get_attribute("data-state") == "asleep"
        assert "asleep" in _row(page, namespace).inner_text()
    excluded = _row(page, "monitoring")
    assert excluded.get_attribute("data-state") == "excluded"
    assert "exclude" in excluded.inner_text()
    assert "Times in Europe/Madrid" in page.inner_text("#zone")
    page.fill("#board-search", "payments")
    shown = page.locator("#board-table tr[data-namespace]").evaluate_all(
        "rows => rows.map(r => r.dataset.namespace)"
    )
    assert shown and all("payments" in name for name in shown)
    page.fill("#board-search", "")
    seen.shot("board")


def test_activate_from_the_board_then_the_window_is_on_the_calendar(
    visit: Any, served: Served
) -> None:
    seen = visit("operator")
    page = seen.page
    row = _row(page, "checkout")
    row.get_by_role("button", name="Activate checkout").click()
    page.wait_for_selector("#dialog[data-ready]")
    # An unknown cost center is not offered; a refusal shows inline and the dialog stays open.
    options = page.locator("#activate-cc option").evaluate_all("o => o.map(x => x.value)")
    assert options == ["CC-PAYMENTS"]
    page.fill("#activate-duration", "2")
    page.fill("#activate-reason", "incident 4711")
    page.click("#dialog-submit")
    error = page.locator("#dialog-error")
    error.wait_for(state="visible")
    assert "duration" in error.inner_text().lower()
    page.fill("#activate-duration", "90m")
    page.click("#dialog-submit")
    page.wait_for_selector("#board-table tr[data-namespace='checkout'][data-state='activated']")
    text = row.inner_text()
    assert "awake by activation" in text and "oscar-operator" in text and "CC-PAYMENTS" in text
    status, detail = served.api("GET", "/namespaces/checkout", "viewer")
    until = datetime.fromisoformat(detail["window"]["until"])
    assert status == 200 and f"until {until:%a} {until.day} {until:%b %H:%M}" in text

    page.click("a[data-page=calendar]")
    event = page.locator(".fc-event[data-kind='activation']", has_text="checkout")
    event.first.wait_for()
    event.first.click()
    page.wait_for_selector("#dialog[data-ready]")
    body = page.inner_text("#dialog-body")
    assert "oscar-operator" in body and "CC-PAYMENTS" in body and "incident 4711" in body
    page.keyboard.press("Escape")
    page.wait_for_selector(".modal-backdrop", state="detached")
    seen.shot("calendar")


def _drag_range(page: Any, date: str, start: str, end: str) -> None:
    """Select [start, end) on `date` in the week view with the mouse, as a person would."""
    column = page.locator(f".fc-timegrid-col[data-date='{date}']").bounding_box()
    top = page.locator(f".fc-timegrid-slot-lane[data-time='{start}:00']").bounding_box()
    last = page.locator(f".fc-timegrid-slot-lane[data-time='{end}:00']").bounding_box()
    x = column["x"] + column["width"] / 2
    page.mouse.move(x, top["y"] + 3)
    page.mouse.down()
    page.mouse.move(x, top["y"] + 20, steps=5)
    page.mouse.move(x, last["y"] - 3, steps=10)
    page.mouse.up()


def test_book_a_range_from_the_calendar_then_an_approver_approves_it(
    visit: Any, served: Served
) -> None:
    seen = visit("operator", "calendar")
    page = seen.page
    page.wait_for_selector(".fc-timegrid-col[data-date='2026-12-16']")
    _drag_range(page, "2026-12-16", "21:00", "23:00")
    page.wait_for_selector("#dialog[data-ready]")
    assert "Wed 16 Dec 21:00 to Wed 16 Dec 23:00" in page.inner_text("#dialog-body")
    page.select_option("#book-namespace", "search")
    page.wait_for_selector("#book-cc option[value='CC-DATA']", state="attached")
    page.fill("#book-reason", "reindex after release")
    page.click("#dialog-submit")
    pending = page.locator(".fc-event[data-status='pending']", has_text="search")
    pending.first.wait_for()
    assert "Pending" in pending.first.inner_text()
    status, answer = served.api("GET", "/requests", "viewer")
    (asked,) = [r for r in answer["requests"] if r["namespace"] == "search"]
    assert asked["requester"] == "oscar-operator" and asked["duration_minutes"] == 120
    assert asked["starts_at"].startswith("2026-12-16T21:00:00+01:00")

    approver = visit("admin", "calendar")
    pending = approver.page.locator(".fc-event[data-status='pending']", has_text="search")
    pending.first.click()
    approver.page.wait_for_selector("#dialog[data-ready]")
    approver.page.click("#dialog-footer button[data-action='approve']")
    approved = approver.page.locator(".fc-event[data-status='approved']", has_text="search")
    approved.first.wait_for()
    approver.page.wait_for_selector("#dialog", state="hidden")
    approver.page.wait_for_selector(".modal-backdrop", state="detached")
    assert "Approved: search from Wed 16 Dec 21:00" in approver.page.inner_text("#alerts")
    status, booked = served.api("GET", f"/requests/{asked['request_id']}", "viewer")
    assert status == 200 and booked["status"] == "approved"
    assert booked["decided_by"] == "ada-admin"
    approver.shot("calendar-approved")


def test_the_costs_page_shows_the_figures_of_report_weekly_json(visit: Any, served: Served) -> None:
    seen = visit("viewer", "costs")
    page = seen.page
    page.wait_for_selector("#total-saved[data-until]")
    until = int(page.get_attribute("#total-saved", "data-until"))
    at = datetime.fromtimestamp(until).astimezone().isoformat()
    report = json.loads(served.cli("report", "weekly", "--week", WEEK, "--json", now=at))
    assert report["until"] == until

    def money(amount: float) -> str:
        return f"${amount:,.2f}"

    assert page.inner_text("#total-saved") == money(report["total_saved"])
    assert page.inner_text("#total-spent") == money(report["total_activation_cost"])
    assert page.inner_text("#always-on") == money(report["always_on_cost"])
    shown = {
        row[0]: row
        for row in page.locator("#costs-namespaces tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.children].map(c => c.innerText))"
        )
    }
    assert set(shown) == {n["namespace"] for n in report["namespaces"]}
    for figures in report["namespaces"]:
        assert shown[figures["namespace"]][2] == money(figures["saved"])
    assert page.locator("#costs-chart").bounding_box()["height"] > 100
    with page.expect_download() as download:
        page.click("#costs-csv")
    text = Path(download.value.path()).read_text()
    assert text == served.cli("report", "weekly", "--week", WEEK, "--csv", now=at)
    seen.shot("costs")


def test_the_audit_log_filters_and_exports(visit: Any, served: Served) -> None:
    seen = visit("viewer", "audit")
    page = seen.page
    page.wait_for_selector("#audit-table tbody tr")
    everything = page.locator("#audit-table tbody tr").count()
    page.select_option("#audit-operation", "auto_shutdown")
    page.fill("#audit-namespace", "payments-api")
    page.click("#audit-form button[type=submit]")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#audit-table tbody tr')].every(r => "
        "r.dataset.operation === 'auto_shutdown' && r.children[2].innerText === 'payments-api')"
    )
    rows = page.locator("#audit-table tbody tr").count()
    assert 1 <= rows < everything
    with page.expect_download() as download:
        page.click("#audit-csv")
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    status, history = served.api(
        "GET", "/history?namespace=payments-api&operation=auto_shutdown", "viewer"
    )
    assert status == 200 and len(exported) == len(history["records"]) == rows
    assert [int(r["timestamp_start"]) for r in exported] == [
        r["timestamp_start"] for r in history["records"]
    ]
    assert {r["namespace_name"] for r in exported} == {"payments-api"}
    seen.shot("audit")
    page.fill("#audit-namespace", "no-such-namespace")
    page.click("#audit-form button[type=submit]")
    empty = page.locator("#audit-empty")
    empty.wait_for(state="visible")
    assert "No record matches" in empty.inner_text()
    assert page.locator("#audit-table tbody tr").count() == 0


def test_a_viewer_sees_no_action_and_a_forged_one_is_refused(visit: Any, served: Served) -> None:
    seen = visit("viewer")
    page = seen.page
    page.wait_for_selector("#board-table tr[data-namespace]")
    assert page.locator("#board-table button").count() == 0
    page.click("a[data-page=approvals]")
    page.wait_for_selector("#approvals-who:has-text('admin')")
    assert page.locator("#approvals-table button").count() == 0
    forged = page.evaluate(
        """async (token) => {
            const answer = await fetch('/api/v1/namespaces/search/activate', {
                method: 'POST',
                headers: {'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'},
                body: JSON.stringify({cost_center: 'CC-DATA', reason: 'forged'}),
            });
            return [answer.status, await answer.json()];
        }""",
        TOKENS["viewer"],
    )
    assert forged[0] == 403 and forged[1]["error"] == "forbidden"
    status, detail = served.api("GET", "/namespaces/search", "viewer")
    assert status == 200 and detail["window"] is None


def test_the_page_is_served_with_a_strict_policy(served: Served) -> None:
    with urllib.request.urlopen(f"{served.base}/", timeout=5) as answer:
        policy = answer.headers["Content-Security-Policy"]
        text = answer.read().decode()
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'content="{nonce.group(1)}"' in text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) is None  # no inline script
    with urllib.request.urlopen(f"{served.base}/", timeout=5) as again:
        assert again.headers["Content-Security-Policy"] != policy  # a fresh nonce each time
    for path in ("/assets/index.html", "/assets/vendor/../index.html", "/assets/../core/app.py"):
        try:
            urllib.request.urlopen(f"{served.base}{path}", timeout=5)
            raise AssertionError(f"{path} was served")
        except urllib.error.HTTPError as error:
            assert error.code == 404


def test_the_readme_screenshots_come_from_these_tests() -> None:
    """The README shows two of the pictures these tests take: they must be where it says."""
    readme = (ROOT / "README.md").read_text()
    for name in ("board", "calendar"):
        assert f"examples/screenshots/{name}.png" in readme
        assert (ROOT / "examples" / "screenshots" / f"{name}.png").is_file()


def _new_page(browser: Any, width: int = 1400, headers: dict[str, str] | None = None) -> Visit:
    context = browser.new_context(
        viewport={"width": width, "height": 900}, extra_http_headers=headers or {}
    )
    seen = Visit(context.new_page())
    seen.page.on("request", lambda request: seen.requests.append(request.url))
    seen.page.on("console", lambda message: seen.console.append(message.text))
    return seen


def test_signed_in_by_the_proxy_the_page_needs_no_token(browser: Any, served: Served) -> None:
    seen = _new_page(browser, headers={PROXY_HEADER: PROXY_USER})
    page = seen.page
    page.goto(f"{served.base}/#board")
    page.wait_for_selector(f"#who:has-text('{PROXY_USER} (operator)')")
    assert page.locator("#sign-in").is_hidden()
    assert page.locator("#sign-out").is_hidden()  # the proxy signs out, not the page
    activate = page.get_by_role("button", name="Activate search")
    assert activate.is_visible()
    seen.assert_clean(served.base)
    page.context.close()
    # The same header from a user the proxy does not know: refused in words, no page.
    stranger = _new_page(browser, headers={PROXY_HEADER: "mallory@example.com"})
    stranger.page.goto(f"{served.base}/#board")
    message = stranger.page.locator("#sign-in-error")
    message.wait_for(state="visible")
    assert "mallory@example.com has no role here" in message.inner_text()
    assert stranger.page.locator("#board-table tr[data-namespace]").count() == 0
    stranger.page.context.close()


def test_a_wrong_token_is_refused_in_words_and_keyboard_alone_signs_in(
    browser: Any, served: Served
) -> None:
    seen = _new_page(browser)
    page = seen.page
    page.goto(f"{served.base}/")
    page.wait_for_selector("#token:focus")
    page.keyboard.type("not-a-token")
    page.keyboard.press("Enter")
    error = page.locator("#sign-in-error")
    error.wait_for(state="visible")
    assert "not accepted" in error.inner_text()
    assert page.evaluate("() => document.activeElement.id") == "token"
    page.keyboard.type(TOKENS["operator"])
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#who:has-text('{NAMES['operator']}')")
    # Tab reaches an Activate button; Enter opens its form, whose every field has a label.
    for _ in range(60):
        page.keyboard.press("Tab")
        label = page.evaluate("() => document.activeElement.getAttribute('aria-label') || ''")
        if label.startswith("Activate "):
            break
    else:
        raise AssertionError("Tab never reached an Activate button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#dialog[data-ready]")
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('#dialog-body input, #dialog-body select')]"
        ".filter(f => f.labels.length === 0).map(f => f.id)"
    )
    assert unlabelled == []
    assert page.evaluate("() => document.activeElement.closest('#dialog') !== null")
    page.keyboard.press("Escape")
    page.wait_for_selector(".modal-backdrop", state="detached")
    seen.assert_clean(served.base)
    page.context.close()


def test_on_a_phone_the_board_fits_the_screen(browser: Any, served: Served) -> None:
    seen = _new_page(browser, width=390)
    page = seen.page
    page.goto(f"{served.base}/#board")
    page.fill("#token", TOKENS["operator"])
    page.click("#sign-in-form button[type=submit]")
    page.wait_for_selector("#board-table tr[data-namespace]")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a 390px phone"
    button = page.get_by_role("button", name="Activate search").bounding_box()
    assert button is not None and button["x"] + button["width"] <= 390, button
    seen.shot("board-phone")
    page.context.close()
