"""The worker spider: the news spider fed from the shared scrapy-redis frontier (`finews worker`).

Its runtime, `SharedRuntime`, puts what workers share in Redis: the cycle's counts, its block,
the fetch claims and the memberships noted for an article another worker fetches.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

import scrapy
from scrapy.crawler import Crawler
from scrapy_redis.spiders import RedisMixin
from twisted.internet import task

from ..distributed import (START_KEY, WORKERS_KEY, FetchClaims, PendingMemberships, SharedCounters, connect,
                           heartbeat, worker_name)
from ..items import MembershipItem
from ..runtime import CrawlRuntime, Cycle, config_from_settings
from ..sources.base import Entry
from ..status import RunTracker
from ..text.times import BEIJING
from .news import NewsSpider

logger = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0
FRONTIER_POLL_SECONDS = 0.5
"""How often an idle worker looks for list requests: scrapy-redis looks only when Scrapy reports the
spider idle, at most every 5 s (the engine's heartbeat), longer than a short `every`."""


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


class SharedRuntime(CrawlRuntime):
    """The crawl runtime of a worker: cycles numbered by the scheduler's epochs, shared through Redis.

    A block is read from Redis once per list page of the cycle (a block set by one worker is seen
    by the others at their next list page), never per request.
    """

    def __init__(self, crawler: Crawler):
        self.client = connect(config_from_settings(crawler.settings))
        self.counters = SharedCounters(self.client)
        super().__init__(crawler)
        crawl = self.config.crawl
        self.claims = FetchClaims(self.client, lease=crawl.download_timeout * (crawl.retry_times + 2))
        self.notes = PendingMemberships(self.client)
        self.worker = worker_name()

    def make_tracker(self, sources: list[str]) -> RunTracker:
        return SharedRunTracker(self.crawler, self.counters, store=self.store, sources=sources, started=self.started)

    def list_read(self, cycle: Cycle) -> None:
        cycle.blocked = cycle.blocked or self.counters.blocked(cycle.source)

    def block(self, cycle: Cycle, url: str, reason: str) -> None:
        if cycle.blocked is None:
            self.counters.block(cycle.source, reason)
        super().block(cycle, url, reason)

    def claim(self, entry: Entry) -> bool:
        """Take the article's fetch for this worker; a claim lapses so a dead worker's is retried."""
        return self.claims.take(entry.article_id, entry.title, self.worker)

    def defer(self, cycle: Cycle, membership: MembershipItem, title: str) -> list[MembershipItem]:
        """Another fetch is under way, maybe on another worker: note this membership for whoever
        stores the article, then look once more, in case it was stored meanwhile."""
        self.notes.note(membership.article_id, asdict(membership, dict_factory=_json_safe))
        stored = self.store.known_titles([membership.article_id]).get(membership.article_id)
        return [membership] if stored == title else []

    def pending_notes(self, article_id: str) -> list[MembershipItem]:
        return [MembershipItem(crawled_at=datetime.now(BEIJING), **note) for note in self.notes.take(article_id)]

    def spider_closed(self, reason: str) -> None:
        try:
            super().spider_closed(reason)
        finally:
            self.client.close()


class NewsWorkerSpider(RedisMixin, NewsSpider):
    name = "news-worker"
    redis_key = START_KEY

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> "NewsWorkerSpider":
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.name_in_frontier = worker_name()
        spider.setup_redis(crawler)
        spider.beat = spider.poll = None
        return spider

    async def start(self):  # type: ignore[override]
        # Made here, not in from_crawler: a LoopingCall imports the reactor, which must not
        # happen before Scrapy has installed the one its settings name.
        runtime = self.runtime
        assert isinstance(runtime, SharedRuntime), "worker_settings() puts SharedRuntime in EXTENSIONS"
        self.beat = task.LoopingCall(heartbeat, runtime.client, self.name_in_frontier)
        self.beat.start(HEARTBEAT_SECONDS, now=True)
        self.poll = task.LoopingCall(self.schedule_next_requests)
        self.poll.start(FRONTIER_POLL_SECONDS, now=False)
        logger.info("worker %s consuming %s", self.name_in_frontier, self.redis_key)
        for request in self.start_requests():
            yield request

    def make_request_from_data(self, data: bytes) -> scrapy.Request | None:
        try:
            message = json.loads(data)
            meta = message["meta"]
            source = self.runtime.sources[meta["source"]]
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("worker: unreadable frontier message %r: %s", data[:200], exc)
            return None
        return self.list_request(source, message["url"], meta["template"], meta.get("page", 1), meta.get("epoch"))

    def closed(self, reason: str) -> None:
        for loop in (self.beat, self.poll):
            if loop is not None and loop.running:
                loop.stop()
        runtime = self.runtime
        assert isinstance(runtime, SharedRuntime)
        runtime.client.hdel(WORKERS_KEY, self.name_in_frontier)


def _json_safe(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A membership as a note: everything but the crawl time (the storing worker has its own)."""
    return {key: value for key, value in pairs if key != "crawled_at"}
