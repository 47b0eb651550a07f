"""Crawl metrics for Prometheus, counted by an extension in whichever process runs the crawler.

`finews run` serves /metrics from the scheduler but crawls in another process, its resident crawl
engine (crawler/engine.py). Feeding the endpoint from the run records would
show a cycle's counts only once it has ended (nothing while a crawl hangs), so the counts use
prometheus-client's multiprocess mode instead. `finews run` and `finews worker` create a private
folder, export it as PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported, and
remove it when they stop (nothing of an earlier run leaks in). Each crawling process (the
engine, a one-shot crawl, the worker itself) copies the run tracker's per-source stats into
memory-mapped files there once a second (hooking every count would cost the crawl tens of
microseconds per item), and the serving process sums the files at scrape time
(`MultiProcessCollector`). A killed child keeps what it had counted: counters never go backwards.

A child's files are named by its *slot* (FINEWS_METRICS_SLOT), not its pid: the engine has one
slot (a new engine starts only once the previous one is gone), so restarts leave no file per
engine: the folder holds one set of files however long finews runs. The one gauge children write
is live (`livesum`, crawlers running now); `child_exited` (`mark_process_dead`) drops an exited
child's share of it.

What a whole cycle came to (outcome, duration) is counted by the scheduler from the run status it
gets anyway (`crawler.exporter.observe_cycle`): a cycle failed because its engine died cannot
report its own end.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import Counter, Gauge, values
from prometheus_client.multiprocess import mark_process_dead
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Request, Response

from .status import split_stat_key

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SLOT_ENV = "FINEWS_METRICS_SLOT"

if os.environ.get(MULTIPROC_ENV) and os.environ.get(SLOT_ENV):
    # Before the first metric is made: every value of this process lives in its slot's files.
    _slot = os.environ[SLOT_ENV]
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: _slot)

LISTS_FETCHED = Counter("finews_lists_fetched_total", "List pages received, per source.", ["source"])
ENTRIES_LISTED = Counter("finews_entries_listed_total", "Entries on the list pages, per source.", ["source"])
ARTICLES = Counter("finews_articles_total",
                   "Listed articles by what the store made of them: new, updated or unchanged.",
                   ["source", "outcome"])
DROPPED = Counter("finews_dropped_total", "Entries and articles dropped as unusable, by reason.",
                  ["source", "reason"])
ERRORS = Counter("finews_errors_total", "Failed requests and pipeline errors, by reason.", ["source", "reason"])
BLOCKED = Counter("finews_blocked_total", "Cycles in which the source blocked us (it was then left alone).",
                  ["source"])
CRAWL_PROCESSES = Gauge("finews_crawl_processes", "Crawlers running now (one per cycle under way).",
                        multiprocess_mode="livesum")

OUTCOMES = frozenset(("new", "updated", "unchanged"))


ENGINE_SLOT = "engine"
"""The slot of the resident crawl engine (file names must not contain `_`)."""


def slot_environment(slot: str) -> dict[str, str]:
    """The environment of a child that holds `slot`: no other live process may hold it."""
    return {**os.environ, SLOT_ENV: slot}


def child_exited(slot: str) -> None:
    """Drop an exited child's share of the live gauges (its counters stay)."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(slot)


class CrawlMetrics:
    """Mirrors the run tracker's per-source stats into the counters, and counts list pages received.

    The stats are read every `METRICS_SYNC_INTERVAL` seconds and once more when the spider
    closes: a count costs the crawl nothing, and the endpoint is at most that far behind.
    """

    def __init__(self, crawler: Crawler, interval: float):
        self.crawler, self.interval = crawler, interval
        self.synced: dict[str, float] = {}
        self.loop: Any = None
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "CrawlMetrics":
        if not os.environ.get(MULTIPROC_ENV):
            raise NotConfigured("no metrics endpoint collects this process's counts")
        return cls(crawler, crawler.settings.getfloat("METRICS_SYNC_INTERVAL", 1.0))

    def spider_opened(self) -> None:
        from twisted.internet import task

        CRAWL_PROCESSES.inc()
        self.loop = task.LoopingCall(self.sync)
        self.loop.start(self.interval, now=False)

    def spider_closed(self) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.sync()
        CRAWL_PROCESSES.dec()

    def sync(self) -> None:
        """Add what each per-source stat grew by since the last sync (all of it after a reset)."""
        assert self.crawler.stats is not None
        for name, value in self.crawler.stats.get_stats().items():
            parsed = split_stat_key(name)
            if parsed is None:
                continue
            previous, self.synced[name] = self.synced.get(name, 0), value
            grown = value - previous if value >= previous else value
            if grown:
                self.count(*parsed, grown)

    def count(self, source: str, key: str, n: float) -> None:
        name, _, reason = key.partition("/")
        if name == "listed":
            ENTRIES_LISTED.labels(source).inc(n)
        elif name in OUTCOMES:
            ARTICLES.labels(source, name).inc(n)
        elif name == "dropped" and reason:
            DROPPED.labels(source, reason).inc(n)
        elif name == "errors" and reason:
            ERRORS.labels(source, reason).inc(n)
        elif name == "blocked":
            BLOCKED.labels(source).inc(n)

    def response_received(self, response: Response, request: Request) -> None:
        if request.meta.get("role") == "list":
            LISTS_FETCHED.labels(request.meta["source"]).inc()
