"""Errors raised by core; each says what was wrong and what to do."""

from __future__ import annotations


class NamespaceCtlError(Exception):
    """Base class of every error namespace-ctl raises on purpose."""


class ConfigError(NamespaceCtlError):
    """A bad configuration file or value; the message names the key."""


class ClusterError(NamespaceCtlError):
    """The cluster refused or failed an operation."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConflictError(ClusterError):
    """The object changed since it was read (HTTP 409): re-read and try again."""


class NotFoundError(ClusterError):
    """The object or its namespace no longer exists (HTTP 404)."""


class ForbiddenError(ClusterError):
    """The credentials may not do this (HTTP 401/403)."""


class ClusterUnavailableError(ClusterError):
    """The API server could not be reached or kept failing after retries."""


class StoreError(NamespaceCtlError):
    """The audit store failed."""


class InvalidAnnotationError(NamespaceCtlError):
    """One of our annotations holds a value we cannot trust; nothing is changed."""


class RefusedError(NamespaceCtlError):
    """A request that breaks a rule (unknown or excluded namespace, a cap, ...): nothing changed."""
