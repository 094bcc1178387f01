"""The OpenAPI 3.1 document of `/api/v1`, written from the endpoints' declarations and the
pydantic models' JSON Schemas (OpenAPI 3.1 uses JSON Schema 2020-12, which pydantic writes)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bot.api.registry import Endpoint, Endpoints
from bot.api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
PREFIX = "/api/v1"
ERROR_WORDS = {
    400: "The body is not JSON",
    401: "No token, or not one of api.tokens (nor a user of a trusted proxy)",
    403: "The caller's role (a proxy's user may have none), or a rule (`unauthorized`, "
    "`excluded`), forbids it",
    404: "No such namespace, request, week or cost center",
    409: "The state forbids it now (`limit exceeded`, `already active`, `already decided`, ...)",
    413: "The body is larger than 1 MiB",
    422: "A field is missing or invalid: `field` names it",
    500: "A fault of namespace-ctl (logged)",
    503: "The cluster or the store is out of reach: try again",
}
ALWAYS = (400, 401, 403, 413, 500, 503)  # 403: a proxy user with no role


Refs = dict[tuple[type[BaseModel], str], dict[str, str]]


def document(endpoints: Endpoints, version: str) -> dict[str, Any]:
    refs, schemas = _schemas(endpoints)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints.all:
        path = paths.setdefault(PREFIX + endpoint.path, {})
        path[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "namespace-ctl",
            "version": version,
            "description": (
                "Namespaces asleep after business hours, woken on request. Bearer tokens of "
                "api.tokens, or the user an authenticating proxy names (api.trusted_user_header "
                "from api.trusted_proxies): viewer reads; operator also activates, deactivates, "
                "extends, requests and books; admin also approves, denies and manages cost "
                "centers. GET /me says who you are and what you may do."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _schemas(endpoints: Endpoints) -> tuple[Refs, dict[str, Any]]:
    """Every model once, in the mode it is used in (answers: serialization, so computed
    fields are in; bodies and queries: validation); pydantic names the `$defs`."""
    wanted: dict[tuple[type[BaseModel], str], None] = {(ErrorBody, "serialization"): None}
    for e in endpoints.all:
        if e.answer is not None:
            wanted[(e.answer, "serialization")] = None
        for model in (e.body, e.query):
            if model is not None:
                wanted[(model, "validation")] = None
    keys = list(wanted)
    refs, top = models_json_schema(keys, ref_template=REF)  # type: ignore[arg-type]
    return {key: dict(refs[key]) for key in keys}, dict(top.get("$defs", {}))  # type: ignore[index]


def _operation(endpoint: Endpoint, refs: Refs) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "description": f"Role: {endpoint.role.word} or above.",
        "parameters": _parameters(endpoint, refs),
        "responses": _responses(endpoint, refs),
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            # An empty body is `{}`: required only when the model has a required field.
            "required": bool(endpoint.body.model_json_schema().get("required")),
            "content": {"application/json": {"schema": refs[(endpoint.body, "validation")]}},
        }
    if endpoint.method == "POST":
        operation["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "a retry with the same key and token gets the first answer",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    return operation


def _parameters(endpoint: Endpoint, refs: Refs) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return parameters


def _responses(endpoint: Endpoint, refs: Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {str(endpoint.status): _success(endpoint, refs)}
    error = {"application/json": {"schema": refs[(ErrorBody, "serialization")]}}
    statuses = {*ALWAYS, *endpoint.errors}
    if endpoint.method == "POST":
        statuses.update((409, 422))  # an Idempotency-Key in use, or reused for another body
    if endpoint.query is not None or endpoint.body is not None:
        statuses.add(422)
    for status in sorted(statuses):
        responses[str(status)] = {"description": ERROR_WORDS[status], "content": error}
    return responses


def _success(endpoint: Endpoint, refs: Refs) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if endpoint.answer is not None:
        content["application/json"] = {"schema": refs[(endpoint.answer, "serialization")]}
    for media in endpoint.other_media:
        content[media] = {"schema": {"type": "string"}}
    return {"description": "OK" if endpoint.status == 200 else "Created", "content": content}
