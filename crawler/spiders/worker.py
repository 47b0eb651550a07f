"""The worker spider: the news spider fed from the shared scrapy-redis frontier (`finews worker`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping
from dataclasses import asdict
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy_redis.spiders import RedisMixin
from twisted.internet import task

from ..distributed import (START_KEY, WORKERS_KEY, FetchClaims, PendingMemberships, SharedCounters, connect,
                           heartbeat, worker_name)
from ..sources.base import Entry
from ..config import SourceConfig
from ..status import RunTracker
from .news import NewsSpider

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0


class SharedBlocks(MutableMapping[str, str]):
    """The sources blocked in their current cycle, as every worker sees them."""

    def __init__(self, counters: SharedCounters):
        self.counters = counters

    def __getitem__(self, source: str) -> str:
        reason = self.counters.blocked(source)
        if reason is None:
            raise KeyError(source)
        return reason

    def __setitem__(self, source: str, reason: str) -> None:
        self.counters.block(source, reason)

    def __delitem__(self, source: str) -> None:
        raise TypeError("a block lasts until the source's next cycle")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


class SharedRunTracker(RunTracker):
    """Counts go to the source's current cycle in Redis; the scheduler turns cycles into run status."""

    def __init__(self, crawler: Crawler, counters: SharedCounters, **kwargs: Any):
        super().__init__(crawler, **kwargs)
        self.counters = counters

    def count(self, source: str, key: str, n: int = 1) -> None:
        super().count(source, key, n)
        self.counters.count(source, key, n)

    def started(self) -> None:
        """Cycles are opened by the scheduler."""

    def finished(self, blocked: Any, reason: str) -> dict:
        logger.info("worker stopped (%s)", reason)
        return {}


class NewsWorkerSpider(RedisMixin, NewsSpider):
    name = "news-worker"
    redis_key = START_KEY

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> "NewsWorkerSpider":
        spider = super().from_crawler(crawler, *args, **kwargs)
        client = connect(spider.config)
        counters = SharedCounters(client)
        spider.client = client
        spider.pending_notes = PendingMemberships(client)
        crawl = spider.config.crawl
        spider.claims = FetchClaims(client, lease=crawl.download_timeout * (crawl.retry_times + 2))
        spider.blocked = SharedBlocks(counters)
        spider.tracker = SharedRunTracker(crawler, counters, store=spider.store,
                                          sources=[s.name for s in spider.sources], started=spider.crawled_at)
        spider.name_in_frontier = worker_name()
        spider.setup_redis(crawler)
        spider.beat = None
        return spider

    async def start(self):  # type: ignore[override]
        # Made here, not in from_crawler: a LoopingCall imports the reactor, which must not
        # happen before Scrapy has installed the one its settings name.
        self.beat = task.LoopingCall(heartbeat, self.client, self.name_in_frontier)
        self.beat.start(HEARTBEAT_SECONDS, now=True)
        logger.info("worker %s consuming %s", self.name_in_frontier, self.redis_key)
        for request in self.start_requests():
            yield request

    def make_request_from_data(self, data: bytes) -> scrapy.Request | None:
        try:
            message = json.loads(data)
            meta = message["meta"]
            source = self.config.source(meta["source"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("worker: unreadable frontier message %r: %s", data[:200], exc)
            return None
        request = self.list_request(source, message["url"], meta["template"], meta.get("page", 1))
        request.meta["epoch"] = meta.get("epoch")
        return request

    def claim(self, entry: Entry) -> bool:
        """Take the article's fetch for this worker; a claim lapses so a dead worker's is retried."""
        return self.claims.take(entry.article_id, entry.title, self.name_in_frontier)

    def defer(self, source: SourceConfig, entry: Entry) -> Iterator[Any]:
        """Another fetch is under way, maybe on another worker: note this membership for whoever
        stores the article, then look once more, in case it was stored meanwhile."""
        membership = self.membership(source, entry)
        self.pending_notes.note(entry.article_id, asdict(membership, dict_factory=_json_safe))
        if self.store.known_titles([entry.article_id]).get(entry.article_id) == entry.title:
            yield membership

    def closed(self, reason: str) -> None:
        if self.beat is not None and self.beat.running:
            self.beat.stop()
        self.client.hdel(WORKERS_KEY, self.name_in_frontier)
        super().closed(reason)


def _json_safe(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A membership as a note: everything but the crawl time (the storing worker has its own)."""
    return {key: value for key, value in pairs if key != "crawled_at"}
