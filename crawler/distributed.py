"""Distributed crawling on Redis: the scrapy-redis frontier plus the little state workers share.

The scheduler pushes each due source's list requests onto `finews:start`; `finews worker`
processes pop them (scrapy-redis `RedisSpider`) and put every further request into the shared
scrapy-redis queue, deduplicated by the shared dupefilter. Each push opens a new *cycle* of that
source: workers add their counts to the cycle's hash, and the next push (or `finews status`)
turns it into the source's run status.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from datetime import datetime
from typing import Any

import redis
from scrapy import Request
from scrapy_redis.dupefilter import RFPDupeFilter

from . import settings as project_settings
from .config import Config, SourceConfig
from .status import run_status
from .store import RunStatus
from .store.connection import PREFIX, client_options, redis_client
from .text.times import BEIJING

START_KEY = f"{PREFIX}:start"
QUEUE_KEY = f"{PREFIX}:requests"
DUPEFILTER_KEY = f"{PREFIX}:dupefilter"
WORKERS_KEY = f"{PREFIX}:workers"
EPOCH_KEY = f"{PREFIX}:epoch"
PENDING_TTL = 24 * 3600
WORKER_SEEN = 60.0


def cycle_key(source: str) -> str:
    return f"{PREFIX}:cycle:{source}"


def pending_key(article_id: str) -> str:
    return f"{PREFIX}:pending:{article_id}"


def connect(config: Config) -> redis.Redis:
    return redis_client(config.store.url)


def worker_settings(config: Config) -> dict[str, Any]:
    """Scrapy settings that put a crawl on the shared scrapy-redis frontier."""
    return {
        "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": QUEUE_KEY,
        "SCHEDULER_DUPEFILTER_KEY": DUPEFILTER_KEY,
        "SCHEDULER_DUPEFILTER_CLASS": "crawler.distributed.VersionedDupeFilter",
        "DUPEFILTER_CLASS": "crawler.distributed.VersionedDupeFilter",
        "REDIS_URL": config.store.url,
        "REDIS_PARAMS": client_options(),
        "REDIS_START_URLS_KEY": START_KEY,
        "SCHEDULER_IDLE_BEFORE_CLOSE": 1,
        "EXTENSIONS": {**project_settings.EXTENSIONS, "crawler.runtime.CrawlRuntime": None,
                       "crawler.spiders.worker.SharedRuntime": project_settings.EXTENSIONS["crawler.runtime.CrawlRuntime"]},
    }


class VersionedDupeFilter(RFPDupeFilter):
    """scrapy-redis' shared dupefilter, with the article version in the fingerprint.

    An article request carries `finews_version` (its title and the cycle's epoch): two workers
    listing the same article in one cycle fetch it once, while an edited title, or a request a
    dead worker took with it, is fetched again in a later cycle.
    """

    def request_fingerprint(self, request: Request) -> str:
        base = super().request_fingerprint(request)
        version = request.meta.get("finews_version")
        if not version:
            return base
        return hashlib.sha1(f"{base}|{version}".encode("utf-8")).hexdigest()


def enqueue_source(client: redis.Redis, source: SourceConfig, start_urls: list[str]) -> int:
    """Close the source's previous cycle into a run status, then push its list requests."""
    epoch = int(client.incr(EPOCH_KEY))
    now = datetime.now(BEIJING).isoformat()
    if client.exists(cycle_key(source.name)):
        client.rename(cycle_key(source.name), f"{cycle_key(source.name)}:closing")
    with client.pipeline() as pipe:
        pipe.hset(cycle_key(source.name), mapping={"started": now, "epoch": epoch})
        for template, url in zip(source.list_urls, start_urls):
            pipe.rpush(START_KEY, json.dumps({"url": url, "meta": {
                "source": source.name, "template": template, "page": 1, "epoch": epoch}}))
        pipe.execute()
    return epoch


def cycle_status(source: str, data: dict[str, str], finished: datetime | None) -> RunStatus:
    """A cycle's hash in Redis as a run status (outcome as a single-process crawl would say it)."""
    counts = {k: int(v) for k, v in data.items() if k not in ("started", "epoch", "blocked")}
    started = datetime.fromisoformat(data["started"]) if data.get("started") else datetime.now(BEIJING)
    return run_status(source, counts, started, finished, data.get("blocked"))


def close_cycle(client: redis.Redis, source: str) -> RunStatus | None:
    """The run status of the cycle that the last `enqueue_source` closed, if any."""
    key = f"{cycle_key(source)}:closing"
    data = client.hgetall(key)
    if not data:
        return None
    client.delete(key)
    return cycle_status(source, data, datetime.now(BEIJING))


class SharedCounters:
    """A worker's side of a cycle: counts added to the cycle's hash in Redis."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def count(self, source: str, key: str, n: int = 1) -> None:
        self.client.hincrby(cycle_key(source), key, n)

    def block(self, source: str, reason: str) -> None:
        self.client.hsetnx(cycle_key(source), "blocked", reason)

    def blocked(self, source: str) -> str | None:
        return self.client.hget(cycle_key(source), "blocked")


class PendingMemberships:
    """Categories of an article whose fetch another list entry already started.

    The entry's worker notes its membership *before* it looks in the store once more; the worker
    that stores the article looks for notes *after* writing it. One of the two always sees the
    other, so no category is lost, whichever worker fetched.
    """

    def __init__(self, client: redis.Redis):
        self.client = client

    def note(self, article_id: str, membership: dict[str, Any]) -> None:
        key = pending_key(article_id)
        with self.client.pipeline() as pipe:
            pipe.rpush(key, json.dumps(membership, ensure_ascii=False))
            pipe.expire(key, PENDING_TTL)
            pipe.execute()

    def take(self, article_id: str) -> list[dict[str, Any]]:
        with self.client.pipeline() as pipe:
            pipe.lrange(pending_key(article_id), 0, -1)
            pipe.delete(pending_key(article_id))
            notes, _ = pipe.execute()
        return [json.loads(note) for note in notes]


class FetchClaims:
    """Which worker fetches an article version: the first to claim it, for a lease."""

    def __init__(self, client: redis.Redis, lease: float):
        self.client = client
        self.lease_ms = max(1000, int(lease * 1000))

    def take(self, article_id: str, title: str, worker: str) -> bool:
        key = f"{PREFIX}:claim:{article_id}:{hashlib.sha1(title.encode('utf-8')).hexdigest()[:16]}"
        return bool(self.client.set(key, worker, nx=True, px=self.lease_ms))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat(client: redis.Redis, name: str) -> None:
    client.hset(WORKERS_KEY, name, time.time())


def frontier_status(client: redis.Redis) -> dict[str, Any]:
    """Queue lengths and the workers seen in the last minute (for `finews status`)."""
    now = time.time()
    seen = {name: float(t) for name, t in client.hgetall(WORKERS_KEY).items()}
    return {
        "queued_requests": int(client.zcard(QUEUE_KEY)),
        "queued_lists": int(client.llen(START_KEY)),
        "workers": sorted(name for name, t in seen.items() if now - t <= WORKER_SEEN),
    }
