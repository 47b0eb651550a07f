"""The one place that builds Redis clients: every client finews makes has these timeouts and key prefix.

Like `scrapy_redis/connection.py`: the store, the scheduler's lock, distributed mode's shared
state and scrapy-redis' own frontier client (through `REDIS_PARAMS`) all take their options from
`client_options`. A Redis that stops answering costs one `SOCKET_TIMEOUT`, not one per command:
nothing is retried, and the first timeout is the caller's to report.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError, OutOfMemoryError, ReadOnlyError
from redis.retry import Retry

from .base import StoreUnavailable

PREFIX = "finews"
"""Every key finews writes in Redis starts with `PREFIX:`."""
CONNECT_TIMEOUT = 3.0
"""Seconds to open a connection (a refused one fails at once)."""
SOCKET_TIMEOUT = 5.0
"""Seconds to wait for a reply: finews never sends a blocking command, so a longer wait is a stalled server."""


def client_options() -> dict[str, Any]:
    """The connection options of every Redis client (also scrapy-redis' `REDIS_PARAMS`)."""
    return {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": SOCKET_TIMEOUT,
        "retry_on_timeout": False,
        "retry": Retry(NoBackoff(), 0),
    }


def redis_client(url: str, *, decode_responses: bool = True) -> redis.Redis:
    """A client for `url` (`redis://`, `rediss://`, `unix://`) with finews's timeouts."""
    return redis.Redis.from_url(url, decode_responses=decode_responses, **client_options())


def display_url(url: str) -> str:
    """The URL without its password, for log lines and status."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + host))


def unavailable(name: str, exc: Exception) -> StoreUnavailable | None:
    """The StoreUnavailable a Redis error means: unreachable, timed out, read-only, full, refused by ACL."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, ReadOnlyError, OutOfMemoryError, NoPermissionError)) \
            or (isinstance(exc, redis.ResponseError) and str(exc).startswith("MISCONF")):
        return StoreUnavailable(name, f"{type(exc).__name__}: {exc}")
    return None
