"""Builds the configured store."""

from __future__ import annotations

from core.config import StoreSettings
from core.store.base import Store


def open_store(settings: StoreSettings) -> Store:
    if settings.backend == "dynamodb":
        from core.store.dynamo import DynamoStore

        return DynamoStore(
            region=settings.region,
            endpoint_url=settings.endpoint_url,
            table_prefix=settings.table_prefix,
        )
    from core.store.sqlite import SqliteStore

    return SqliteStore(settings.path)
