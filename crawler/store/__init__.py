"""The store: `open_store(url)` picks SQLite (`sqlite:///…`) or Redis (`redis://…`)."""

from __future__ import annotations

from .base import (ALL, PUBLISH_RUN, STOCKS, STORE_UNAVAILABLE, TOPICS, Article, Articles, CategorySummary, Leases,
                   LockInfo, Outcome, PublishMarks, RunRecords, RunStatus, Store, StoreUnavailable, UpsertResult,
                   group_of, grouped, hub_run, is_category, only_categories)

__all__ = ["ALL", "PUBLISH_RUN", "STOCKS", "STORE_UNAVAILABLE", "TOPICS", "Article", "Articles", "CategorySummary",
           "Leases", "LockInfo", "Outcome", "PublishMarks", "RunRecords", "RunStatus", "Store", "StoreUnavailable",
           "UpsertResult", "group_of", "grouped", "hub_run", "is_category", "only_categories", "open_store"]


def open_store(url: str) -> Store:
    """Open the store at `url`: `sqlite:///path` or `redis://host:port/db`.

    Raises StoreUnavailable when the store cannot be opened (a SQLite file that is read-only, say).
    """
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///"):])
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"unsupported store URL {url!r}")
