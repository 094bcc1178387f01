"""Who is calling and what their role lets them do: a bearer token of `api.tokens`, or a user
named by an authenticating proxy in front (`api.trusted_user_header`).

Only the SHA-256 of a token is configured; the presented token's digest is compared with every
configured one in constant time (no early exit, so timing tells nothing about which matched).
A token is never logged.

A request with an `Authorization` header is judged by its token alone. Without one, the proxy's
header names the user only when the request comes from an address of `api.trusted_proxies`
(the proxy itself): from anywhere else it is ignored, as anyone can send it. The user's role is
theirs in `api.users`, else `api.default_role`; `none` is 403.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Literal

from werkzeug.datastructures import Headers

from bot.api.errors import forbidden, unauthenticated
from core.config import ApiSettings, ApiToken

CHALLENGE = 'Bearer realm="namespace-ctl"'
Via = Literal["token", "proxy"]


class Role(IntEnum):
    """Each role may do what the ones below it may."""

    VIEWER = 1  # reads
    OPERATOR = 2  # also activates, deactivates, extends, requests and books
    ADMIN = 3  # also approves, denies and manages cost centers

    @property
    def word(self) -> str:
        return self.name.lower()

    @property
    def may(self) -> list[str]:
        """The action words this role allows, its own after those of the roles below."""
        return [word for role in Role if role <= self for word in ACTIONS[role]]


# What each role adds to the ones below it (`GET /me` answers them).
ACTIONS: dict[Role, tuple[str, ...]] = {
    Role.VIEWER: ("read",),
    Role.OPERATOR: ("activate", "deactivate", "extend", "request", "book", "cancel"),
    Role.ADMIN: ("approve", "deny", "cost_centers"),
}


@dataclass(frozen=True)
class Principal:
    """The caller: the token's name (or the user the proxy named), its role, and how it came."""

    name: str
    role: Role
    via: Via = "token"

    @property
    def _who(self) -> str:
        kind = "token" if self.via == "token" else "user"
        return f"the {self.role.word} {kind} {self.name!r}"

    def require(self, role: Role) -> None:
        if self.role < role:
            where = "api.tokens" if self.via == "token" else "api.users"
            raise forbidden(
                f"{self._who} may not do this: it needs the {role.word} role (an admin sets "
                f"roles in {where})"
            )

    def acting_for(self, user: str | None) -> str:
        """The user recorded: an operator or admin may act for `user` (as the CLI does);
        otherwise the token's name, or the user the proxy named."""
        if not user:
            return self.name
        if self.role < Role.OPERATOR:
            raise forbidden(f"{self._who} may not act for a user")
        return user


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(headers: Headers, peer: str | None, api: ApiSettings) -> Principal:
    """The principal of a request from `peer` (its remote address), or 401 (403: a proxy's
    user with no role)."""
    authorization = headers.get("Authorization")
    if authorization is not None:
        return authenticate_token(authorization, api.tokens)
    header = api.trusted_user_header
    user = (headers.get(header) or "").strip() if header else ""
    if not header or not user:
        raise unauthenticated(_how_to_sign_in(api))
    if not trusted(peer, api):
        raise unauthenticated(
            f"the {header} header is ignored from {peer} (not an address of api.trusted_proxies): "
            "send Authorization: Bearer <token>, or sign in through the proxy"
        )
    if "," in user:
        # The server joins a repeated header with commas: the client's value may be among them.
        raise unauthenticated(
            f"the {header} header came with several values: the proxy must set it once, "
            "replacing any the client sent"
        )
    name, role = api.proxy_user(user)
    if role == "none":
        raise forbidden(
            f"{name} has no role here: an admin adds them to api.users (or sets api.default_role)"
        )
    return Principal(name, Role[role.upper()], "proxy")


def authenticate_token(header: str | None, tokens: list[ApiToken]) -> Principal:
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


def trusted(peer: str | None, api: ApiSettings) -> bool:
    """Whether `peer` lies in `api.trusted_proxies` (an IPv4-mapped IPv6 address as its IPv4)."""
    try:
        address: IPv4Address | IPv6Address = ip_address((peer or "").strip())
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in api.trusted_proxies)


def _how_to_sign_in(api: ApiSettings) -> str:
    how = "send Authorization: Bearer <token> (a token of api.tokens)"
    return f"{how}, or sign in through the proxy" if api.trusted_user_header else how
