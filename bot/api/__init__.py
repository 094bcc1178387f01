"""The REST API under `/api/v1` on the serve port: JSON, bearer tokens, OpenAPI 3.1.

`install_api` adds it to the serving Flask app in every mode (HTTP, Socket Mode, console,
headless). Requests over `MAX_BODY` get 413; no CORS headers are sent (the web page is
same-origin); every answer that is not a success is `{"error", "message"}`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from bot.api import routes
from bot.api.errors import ApiError
from bot.api.openapi import document
from bot.api.registry import error_response, serve
from core.app import NamespaceCtl

PREFIX = "/api/v1"
MAX_BODY = 1024 * 1024  # 1 MiB


def install_api(
    flask_app: Flask, ctl: NamespaceCtl, notify: Callable[[], None] = lambda: None
) -> Flask:
    blueprint = Blueprint("api_v1", __name__, url_prefix=PREFIX)
    serve(blueprint, routes.API, ctl, notify)
    spec = document(routes.API, _version())

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    flask_app.register_blueprint(blueprint)
    flask_app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    flask_app.register_error_handler(HTTPException, _http_error)
    return flask_app


def _http_error(error: HTTPException) -> Any:
    """Flask's own errors (no route, wrong method, body too large) in the API's shape."""
    if not request.path.startswith(PREFIX):
        return error
    status = error.code or 500
    words = {
        404: ("not found", f"no resource {request.path}: see {PREFIX}/openapi.json"),
        405: ("method not allowed", f"{request.method} is not allowed on {request.path}"),
        413: ("too large", f"the body is larger than {MAX_BODY // 1024} KiB"),
    }
    word, message = words.get(status, ("error", error.description or "request refused"))
    response = error_response(ApiError(status, word, message))
    if status == 405 and error.get_response().headers.get("Allow"):
        response.headers["Allow"] = error.get_response().headers["Allow"]
    return response


def _version() -> str:
    try:
        return metadata.version("namespace-ctl")
    except metadata.PackageNotFoundError:
        return "0"
