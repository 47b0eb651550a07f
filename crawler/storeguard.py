"""A failing store stops the crawl: one ERROR line naming the store and the cause, no traceback per item.

Any component that meets `StoreUnavailable` reports it with `report_failure` (the
`store_unavailable` signal); `StoreGuard` logs the first report and closes the spider with
reason `store_unavailable`, as Scrapy's CloseSpider extension closes it with its own reasons.
`StoreGuardMiddleware` does the reporting for spider callbacks and `start()`, so neither raises
into Scrapy's error log. The store handle fails fast after its first failure (see `Store`), so
what is still in flight while the spider closes costs no more waiting on the store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro

from .store import STORE_UNAVAILABLE, StoreUnavailable
from .store.connection import display_url, unavailable

logger = logging.getLogger(__name__)

store_unavailable = object()
"""Signal sent with `failure` (a StoreUnavailable) by whatever met it first."""
FAILURE_STAT = f"finews/{STORE_UNAVAILABLE}"
"""The stat that holds the failure, once the guard stopped the crawl for it."""


def as_store_failure(crawler: Crawler, exc: BaseException) -> StoreUnavailable | None:
    """The StoreUnavailable `exc` is or means (a bare Redis error of distributed mode's shared state)."""
    if isinstance(exc, StoreUnavailable):
        return exc
    url = crawler.settings.get("REDIS_URL")
    return unavailable(display_url(url), exc) if url and isinstance(exc, Exception) else None


def report_failure(crawler: Crawler, failure: StoreUnavailable) -> DropItem:
    """Report the store's failure; the DropItem a pipeline raises for the item it could not handle."""
    crawler.signals.send_catch_log(store_unavailable, failure=failure)
    return DropItem(f"{STORE_UNAVAILABLE}: {failure}")


class StoreGuard:
    """An extension: at the first report of a failed store, log it and close the spider."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.failure: StoreUnavailable | None = None
        crawler.signals.connect(self.failed, signal=store_unavailable)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StoreGuard":
        return cls(crawler)

    def failed(self, failure: StoreUnavailable) -> None:
        if self.failure is not None:
            return
        self.failure = failure
        logger.error("%s; stopping the crawl", failure)
        self.crawler.stats.set_value(FAILURE_STAT, str(failure))
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason=STORE_UNAVAILABLE))


class StoreGuardMiddleware:
    """A spider middleware: a failed store met in a callback or in `start()` is reported, not raised."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "StoreGuardMiddleware":
        return cls(crawler)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for request in start:
                yield request
        except Exception as exc:
            failure = as_store_failure(self.crawler, exc)
            if failure is None:
                raise
            report_failure(self.crawler, failure)

    def process_spider_exception(self, response: Response, exception: Exception,
                                 spider: Any = None) -> Iterable[Any] | None:
        failure = as_store_failure(self.crawler, exception)
        if failure is None:
            return None
        report_failure(self.crawler, failure)
        return []
