"""Downloader middlewares: retries that pause their source's download slot, and the per-source gate.

Every request of a source goes through the download slot named after the source
(`request.meta["download_slot"]`, set by the spider), so Scrapy's per-slot delay and concurrency
apply per source. A retry does not wait anywhere itself: Scrapy's `RetryMiddleware` hands the new
request back to the scheduler at once, and the slot of that source waits — `Retry-After` (capped
by `RETRY_AFTER_MAX`) or the exponential back-off — the way `DOWNLOAD_DELAY` and AutoThrottle make
it wait (crawler/slots.py). A throttled source delays only itself.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import BaseSettings

from .runtime import CrawlRuntime, runtime_of
from .slots import SlotPause


def retry_after_seconds(value: bytes | str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries; each one pauses its slot: `Retry-After` (capped) or exponential back-off."""

    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.backoff = settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
        self.max_delay = settings.getfloat("RETRY_AFTER_MAX", 60.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "BackoffRetryMiddleware":
        middleware = super().from_crawler(crawler)
        middleware.pauses = SlotPause(crawler)
        return middleware

    def delay(self, retry: Request, response: Response | None) -> float:
        if response is not None:
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.max_delay)
        return min(self.backoff * 2 ** (retry.meta.get("retry_times", 1) - 1), self.max_delay)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            self.pauses.pause(request, self.delay(result, response))
        return result

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            self.pauses.pause(request, self.delay(result, None))
        return result


class SourceGateMiddleware:
    """Lets nothing through to a source that blocked us in this cycle."""

    def __init__(self, runtime: CrawlRuntime):
        self.runtime = runtime

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "SourceGateMiddleware":
        return cls(runtime_of(crawler))

    def process_request(self, request: Request, spider: Any = None) -> None:
        if "source" in request.meta and self.runtime.blocked(self.runtime.cycle_of(request)):
            raise IgnoreRequest(f"source {request.meta['source']} is blocked for this cycle")
