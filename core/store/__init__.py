"""The store port (audit log and state) and its adapters."""

from core.store.base import Store

__all__ = ["Store"]
