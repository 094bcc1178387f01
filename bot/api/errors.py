"""The API's answers to what went wrong: every 4xx and 5xx body is `{"error", "message"}`.

Core's refusal words map to status codes (seed Property 9): a role or rule that forbids is 403,
what does not exist 404, a state that forbids it now 409, a bad field 422. A fault of ours is
logged and answered 500 (or 503 when the cluster or the store is out of reach), never with a trace.
"""

from __future__ import annotations

from pydantic import ValidationError

from core.errors import ClusterUnavailableError, NamespaceCtlError, RefusedError, StoreError
from core.parse import InputError
from core.policy import Refusal, RefusalReason

REFUSAL_STATUS = {
    RefusalReason.UNAUTHORIZED: 403,
    RefusalReason.EXCLUDED: 403,
    RefusalReason.NOT_FOUND: 404,
    RefusalReason.LIMIT_EXCEEDED: 409,
    RefusalReason.ALREADY_ACTIVE: 409,
    RefusalReason.ALREADY_DECIDED: 409,
    RefusalReason.BUSINESS_HOURS: 409,
    RefusalReason.EXPIRED: 409,
    RefusalReason.INVALID: 422,
}


class ApiError(Exception):
    """An answer other than success: its status, its word and a sentence for people."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field

    def body(self) -> dict[str, str]:
        body = {"error": self.error, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def from_refusal(refusal: Refusal) -> ApiError:
    return ApiError(REFUSAL_STATUS[refusal.reason], refusal.reason.value, str(refusal))


def from_input(error: InputError) -> ApiError:
    return ApiError(422, "invalid", f"{error.field}: {error.message}", error.field)


def from_validation(error: ValidationError, where: str) -> ApiError:
    """The first problem pydantic found, naming the field (`body.duration`, `query.limit`)."""
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
    field = location or where
    return ApiError(422, "invalid", f"{where}.{field}: {first.get('msg', 'invalid')}", field)


def from_core(error: NamespaceCtlError) -> ApiError:
    """Errors of core that are not refusals: out of reach (503), or a rule said no (409)."""
    if isinstance(error, ClusterUnavailableError | StoreError):
        return ApiError(503, "unavailable", f"try again shortly: {error}")
    if isinstance(error, RefusedError):
        text = str(error)
        status = 404 if "not found" in text else 409
        return ApiError(status, "not found" if status == 404 else "refused", text)
    return ApiError(503, "unavailable", f"the cluster or the store failed: {error}")


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not found", message)
