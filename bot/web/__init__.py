"""The web page at `/`: a status board, a calendar, costs, the audit log and approvals.

The page is static (our own files in `static/`, the third-party assets `make web` copies to
`static/vendor/` from the npm packages of `web/package-lock.json`) and talks only to
`/api/v1`, so it can do nothing the API would not let its caller do. Every answer of the
process gets the headers of `security_headers`; the page itself gets a Content-Security-Policy
with no inline scripts and a fresh nonce for the `<style>` elements FullCalendar injects.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, Response, abort, send_from_directory

STATIC = Path(__file__).parent / "static"
VENDOR = STATIC / "vendor"
# Without them the page cannot draw anything: `/` says what to run instead of a broken page.
REQUIRED_VENDOR = (
    "bootstrap.min.css",
    "bootstrap.bundle.min.js",
    "fullcalendar.min.js",
    "luxon.min.js",
    "fullcalendar-luxon3.min.js",
    "chart.umd.min.js",
)
NONCE_MARK = "{{csp_nonce}}"


def page_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            # FullCalendar 6 injects its CSS as <style> elements: they carry this nonce.
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


def missing_assets() -> list[str]:
    return [name for name in REQUIRED_VENDOR if not (VENDOR / name).is_file()]


def _servable(name: str) -> bool:
    """Our stylesheet and modules, and the vendor files we ship (never index.html's template)."""
    if name.startswith("vendor/"):
        return name.removeprefix("vendor/") in (*REQUIRED_VENDOR, "versions.json")
    return name == "app.css" or (name.startswith("js/") and name.endswith(".js"))


def install_web(flask_app: Flask) -> Flask:
    """Serve the page at `/` and its files under `/assets/`."""
    index_text = (STATIC / "index.html").read_text(encoding="utf-8")

    @flask_app.get("/")
    def index() -> Response:
        missing = missing_assets()
        if missing:
            return Response(
                "The web page's assets are not built (missing: "
                + ", ".join(missing)
                + "). Run `make web` (npm ci in web/, then node web/build.mjs).\n",
                status=503,
                mimetype="text/plain",
            )
        nonce = secrets.token_urlsafe(18)
        response = Response(index_text.replace(NONCE_MARK, nonce), mimetype="text/html")
        response.headers["Content-Security-Policy"] = page_policy(nonce)
        response.headers["Cache-Control"] = "no-store"
        return response

    @flask_app.get("/assets/<path:name>")
    def asset(name: str) -> Response:
        if not _servable(name):
            abort(404)
        return send_from_directory(STATIC, name, max_age=300)

    flask_app.after_request(security_headers)
    return flask_app
