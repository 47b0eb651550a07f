"""The store: `open_store(url)` picks SQLite (`sqlite:///…`) or Redis (`redis://…`)."""

from __future__ import annotations

from .base import (ALL, PUBLISH_RUN, Article, CategorySummary, LockInfo, Outcome, RunStatus, Store, UpsertResult,
                   hub_run)

__all__ = ["ALL", "PUBLISH_RUN", "Article", "CategorySummary", "LockInfo", "Outcome", "RunStatus", "Store",
           "UpsertResult", "hub_run", "open_store"]


def open_store(url: str) -> Store:
    """Open the store at `url`: `sqlite:///path` or `redis://host:port/db`."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///"):])
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url)
    raise ValueError(f"unsupported store URL {url!r}")
