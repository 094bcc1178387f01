"""Bearer tokens of `api.tokens`: who is calling and what their role lets them do.

Only the SHA-256 of a token is configured; the presented token's digest is compared with every
configured one in constant time (no early exit, so timing tells nothing about which matched).
A token is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum

from bot.api.errors import forbidden, unauthenticated
from core.config import ApiToken

CHALLENGE = 'Bearer realm="namespace-ctl"'


class Role(IntEnum):
    """Each role may do what the ones below it may."""

    VIEWER = 1  # reads
    OPERATOR = 2  # also activates, deactivates, extends, requests and books
    ADMIN = 3  # also approves, denies and manages cost centers

    @property
    def word(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Principal:
    """The caller: the token's name and its role."""

    name: str
    role: Role

    def require(self, role: Role) -> None:
        if self.role < role:
            raise forbidden(
                f"the {self.role.word} token {self.name!r} may not do this: it needs the "
                f"{role.word} role (an admin sets roles in api.tokens)"
            )

    def acting_for(self, user: str | None) -> str:
        """The user recorded: an operator or admin may act for `user` (as the CLI does);
        otherwise the token's name."""
        if not user:
            return self.name
        if self.role < Role.OPERATOR:
            raise forbidden(f"the viewer token {self.name!r} may not act for a user")
        return user


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(header: str | None, tokens: list[ApiToken]) -> Principal:
    """The principal of an `Authorization: Bearer <token>` header, or 401."""
    if not header:
        raise unauthenticated("send Authorization: Bearer <token> (a token of api.tokens)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthenticated("the Authorization header must be: Bearer <token>")
    presented = digest(token.strip())
    found: ApiToken | None = None
    for candidate in tokens:
        if hmac.compare_digest(presented, candidate.token_sha256):
            found = candidate
    if found is None:
        raise unauthenticated("that token is not one of api.tokens")
    return Principal(found.name, Role[found.role.upper()])
