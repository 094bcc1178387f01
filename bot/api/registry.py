"""How an endpoint is declared once and served: role, body and query models, answer model.

`Endpoints.add` registers a handler with what it takes and gives; `serve` wraps every handler
the same way (authenticate, check the role, read the query and the JSON body into their models,
replay or record an `Idempotency-Key`, turn core's errors into `{"error", "message"}` answers),
and `bot.api.openapi` writes the document from the same declarations.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Request, Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import RequestEntityTooLarge

from bot.api import errors
from bot.api.auth import CHALLENGE, Principal, Role, authenticate
from bot.api.errors import ApiError
from core.app import NamespaceCtl
from core.errors import NamespaceCtlError
from core.parse import InputError
from core.policy import Refusal

log = logging.getLogger("namespace_ctl.api")
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
MAX_IDEMPOTENCY_KEY = 255


@dataclass
class Call:
    """One request, read: who, the path's values, the query and body models."""

    ctl: NamespaceCtl
    principal: Principal
    path: dict[str, str]
    query: Any
    body: Any
    accept: str
    # Delivers what the use case posted to the outbox (a request's message) now.
    notify: Callable[[], None]


@dataclass
class Answer:
    """A handler's result: a model (JSON) or a ready body of another media type."""

    value: BaseModel | None = None
    status: int = 200
    text: str | None = None
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Answer]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # OpenAPI style: /namespaces/{namespace}
    role: Role
    summary: str
    handler: Handler
    answer: type[BaseModel] | None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    other_media: tuple[str, ...] = ()  # e.g. text/csv beside JSON

    @property
    def flask_path(self) -> str:
        return self.path.replace("{", "<").replace("}", ">")

    @property
    def name(self) -> str:
        return f"{self.method.lower()}_{self.path.strip('/').replace('/', '_')}".translate(
            str.maketrans("{}.-", "___ ", " ")
        )


class Endpoints:
    def __init__(self) -> None:
        self.all: list[Endpoint] = []

    def add(
        self, method: str, path: str, role: Role, summary: str, **kw: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.all.append(Endpoint(method, path, role, summary, handler, **kw))
            return handler

        return register


# ---- serving ----------------------------------------------------------------------------------


def serve(
    blueprint: Blueprint, endpoints: Endpoints, ctl: NamespaceCtl, notify: Callable[[], None]
) -> None:
    for endpoint in endpoints.all:
        blueprint.add_url_rule(
            endpoint.flask_path,
            endpoint.name,
            _view(endpoint, ctl, notify),
            methods=[endpoint.method],
            # `/namespaces//activate` is a 404 in JSON, not an HTML redirect to another resource.
            merge_slashes=False,
        )


def _view(
    endpoint: Endpoint, ctl: NamespaceCtl, notify: Callable[[], None]
) -> Callable[..., Response]:
    def view(**path: str) -> Response:
        try:
            principal = authenticate(request.headers, request.remote_addr, ctl.config.api)
            if principal.via == "proxy":
                log.debug(
                    "api %s %s by proxy user %s (%s) from %s",
                    request.method,
                    request.path,
                    principal.name,
                    principal.role.word,
                    request.remote_addr,
                )
            principal.require(endpoint.role)
            _no_cross_site_write(principal)
            return _answer_once(endpoint, Served(ctl, principal, path, notify))
        except ApiError as error:
            return error_response(error)

    return view


def _no_cross_site_write(principal: Principal) -> None:
    """A browser signed in at the proxy sends its cookie with a form of any other site too; a
    form cannot send `application/json` (a page's fetch with it needs CORS, never granted)."""
    writes = request.method in ("POST", "PATCH", "PUT")
    if principal.via == "proxy" and writes and request.mimetype != "application/json":
        raise errors.forbidden(
            "a change signed in through the proxy must be sent as Content-Type: "
            "application/json (which a form of another site cannot send)"
        )


@dataclass(frozen=True)
class Served:
    """What every request of one endpoint shares once authenticated."""

    ctl: NamespaceCtl
    principal: Principal
    path: dict[str, str]
    notify: Callable[[], None]


def _answer_once(endpoint: Endpoint, served: Served) -> Response:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if endpoint.method != "POST" or key is None:
        return _run(endpoint, served)
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            422, "invalid", f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    return _idempotent(endpoint, served, _idempotency_scope(served.principal) + key)


def _idempotency_scope(principal: Principal) -> str:
    """A token's keys apart from a proxy user's of the same name."""
    if principal.via == "token":
        return f"{principal.name}:"
    return f"proxy:{principal.name}:"


def _idempotent(endpoint: Endpoint, served: Served, key: str) -> Response:
    """The first answer for this key and caller, replayed; the work done once."""
    health = served.ctl.health
    fingerprint = hashlib.sha256(
        f"{request.method} {request.path}\n".encode() + request.get_data()
    ).hexdigest()
    at = int(served.ctl.now().timestamp())
    first = health.claim_idempotency(key, fingerprint, at, IDEMPOTENCY_TTL_SECONDS)
    if first is not None:
        return _replay(first.status, first.body, first.fingerprint == fingerprint)
    try:
        response = _run(endpoint, served)
    except BaseException:
        health.release_idempotency(key)
        raise
    if response.status_code >= 500:
        health.release_idempotency(key)  # a fault of ours: a retry may act
    else:
        health.finish_idempotency(key, response.status_code, response.get_data(as_text=True))
    return response


def _replay(status: int, body: str, same_request: bool) -> Response:
    if not same_request:
        raise ApiError(
            422,
            "invalid",
            f"this {IDEMPOTENCY_HEADER} was used for a different request: use a new key",
        )
    if status == 0:
        raise ApiError(
            409, "in progress", "the first request with this key is still running: retry shortly"
        )
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _run(endpoint: Endpoint, served: Served) -> Response:
    try:
        answer = endpoint.handler(_call(endpoint, served))
    except ApiError:
        raise
    except RequestEntityTooLarge:
        raise ApiError(413, "too large", "the body is larger than 1 MiB") from None
    except Refusal as refusal:
        raise errors.from_refusal(refusal) from None
    except InputError as error:
        raise errors.from_input(error) from None
    except NamespaceCtlError as error:
        log.warning("%s %s: %s", request.method, request.path, error)
        raise errors.from_core(error) from None
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        raise ApiError(
            500, "internal", "namespace-ctl failed on its side; it is logged: try again later"
        ) from None
    if endpoint.method != "GET":
        log.info(
            "api %s %s by %s %s: %d",
            request.method,
            request.path,
            "token" if served.principal.via == "token" else "proxy user",
            served.principal.name,
            answer.status,
        )
    return _response(answer)


def _call(endpoint: Endpoint, served: Served) -> Call:
    return Call(
        served.ctl,
        served.principal,
        served.path,
        _read(endpoint.query, request.args.to_dict(), "query"),
        _read(endpoint.body, _json_body(request), "body") if endpoint.body else None,
        request.headers.get("Accept", ""),
        served.notify,
    )


def _json_body(req: Request) -> Any:
    raw = req.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "malformed", "the body is not JSON: send a JSON object") from None


def _read(model: type[BaseModel] | None, data: Any, where: str) -> Any:
    if model is None:
        return None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", f"the {where} must be a JSON object", where)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise errors.from_validation(error, where) from None


def _response(answer: Answer) -> Response:
    if answer.text is not None:
        response = Response(answer.text, status=answer.status, mimetype=answer.media_type)
    else:
        body = answer.value.model_dump_json() if answer.value is not None else "{}"
        response = Response(body, status=answer.status, mimetype="application/json")
    response.headers.update(answer.headers)
    return response


def error_response(error: ApiError) -> Response:
    response = Response(json.dumps(error.body()), status=error.status, mimetype="application/json")
    if error.status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    return response
