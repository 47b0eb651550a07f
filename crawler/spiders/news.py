"""The one spider: request each source's lists, skip the known, fetch the new, build items.

What the spider shares with the pipelines and middlewares — the store, the run tracker, the state
of each source's cycle — lives in the crawler's runtime (crawler/runtime.py), not on the spider;
what a source's responses mean is its adapter's business (crawler/sources/).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from scrapy.exceptions import IgnoreRequest
from twisted.python.failure import Failure

from ..config import Config, SourceConfig
from ..filing import categories_of
from ..items import ArticleItem, MembershipItem
from ..runtime import EPOCH, CrawlRuntime, Cycle, config_from_settings, runtime_of
from ..sources.base import BlockedError, EmptyResponseError, Entry, SourceError, is_block_page
from ..text.ids import article_version
from ..text.times import BEIJING

logger = logging.getLogger(__name__)


def crawl_settings(config: Config) -> dict[str, Any]:
    """Scrapy settings derived from the `[crawl]` table."""
    crawl = config.crawl
    return {
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.concurrency_per_domain,
        "DOWNLOAD_DELAY": crawl.download_delay,
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "RETRY_TIMES": crawl.retry_times,
        "RETRY_BACKOFF_BASE": crawl.retry_backoff,
        "RETRY_AFTER_MAX": crawl.retry_after_max,
        "ROBOTSTXT_OBEY": crawl.robotstxt_obey,
        "USER_AGENT": crawl.user_agent,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": min(crawl.max_page_bytes, 4 * 1024 * 1024),
    }


def response_text(response: Response) -> str:
    """The decoded body (declared GBK/GB2312 pages decode as GB18030 through w3lib)."""
    if isinstance(response, TextResponse):
        return response.text
    return response.body.decode("utf-8", errors="replace")


class NewsSpider(scrapy.Spider):
    name = "news"

    sources: list[SourceConfig]

    def __init__(self, source: str | list[str] | None = None, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if isinstance(source, str):
            source = [name.strip() for name in source.split(",") if name.strip()]
        self.wanted = list(source or [])

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        settings.setdict(crawl_settings(config_from_settings(settings)), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> "NewsSpider":
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.sources = spider.select_sources(config_from_settings(crawler.settings), spider.wanted)
        crawler.signals.connect(spider.item_failed, signal=signals.item_error)
        return spider

    @staticmethod
    def select_sources(config: Config, names: list[str]) -> list[SourceConfig]:
        if not names:
            return [s for s in config.sources if s.enabled]
        known = {s.name for s in config.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; configured: {', '.join(sorted(known)) or 'none'}")
        return [config.source(n) for n in names]

    @property
    def runtime(self) -> CrawlRuntime:
        return runtime_of(self.crawler)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.runtime.tracker.started()
        for source in self.sources:
            adapter = self.runtime.adapters[source.name]
            for template, url in zip(source.list_urls, adapter.start_urls()):
                yield self.list_request(source, url, template, 1, None)

    def request(self, source: SourceConfig, url: str, callback: Any, role: str, epoch: int | None,
                **kwargs: Any) -> scrapy.Request:
        meta = {"source": source.name, "role": role, "handle_httpstatus_all": True, "download_slot": source.name,
                EPOCH: epoch}
        meta.update(kwargs.pop("meta", {}))
        return scrapy.Request(url, callback=callback, errback=self.request_failed, meta=meta,
                              headers={"Referer": source.referer}, **kwargs)

    def list_request(self, source: SourceConfig, url: str, template: str, page: int,
                     epoch: int | None) -> scrapy.Request:
        return self.request(source, url, self.parse_list, "list", epoch, dont_filter=True,
                            meta={"template": template, "page": page})

    # -- lists ---------------------------------------------------------------------------

    def parse_list(self, response: Response) -> Iterator[Any]:
        runtime = self.runtime
        source = runtime.sources[response.meta["source"]]
        cycle = runtime.cycle_of(response.request)
        listed_at = datetime.now(BEIJING)
        runtime.list_read(cycle)
        text = self.usable_text(cycle, response, "list")
        if text is None:
            return
        adapter = runtime.adapters[source.name]
        tracker = runtime.tracker
        try:
            page = adapter.parse_list(text, response.url)
        except BlockedError as exc:
            runtime.block(cycle, response.url, str(exc))
            return
        except EmptyResponseError as exc:
            tracker.list_ok(source.name)
            tracker.count(source.name, "empty_lists")
            logger.warning("source %s: %s at %s; nothing listed", source.name, exc, response.url)
            return
        except SourceError as exc:
            tracker.error(source.name, exc.reason, response.url, str(exc))
            return
        tracker.list_ok(source.name)
        tracker.count(source.name, "listed", len(page.entries) + len(page.bad))
        for bad in page.bad:
            tracker.dropped(source.name, bad.reason, response.url, bad.detail)
        ids = [entry.article_id for entry in page.entries]
        known, filed = runtime.store.known_titles(ids), runtime.store.known_categories(ids)
        for entry in page.entries:
            yield from self.handle_entry(source, cycle, entry, listed_at, known, filed)
        next_url = adapter.next_list_url(page, response.url, response.meta["template"], response.meta["page"])
        if next_url:
            yield self.list_request(source, next_url, response.meta["template"], response.meta["page"] + 1,
                                    cycle.epoch)

    def handle_entry(self, source: SourceConfig, cycle: Cycle, entry: Entry, listed_at: datetime,
                     known: dict[str, str], filed: dict[str, frozenset[str]]) -> Iterator[Any]:
        runtime, article_id = self.runtime, entry.article_id
        if runtime.fetching(cycle, article_id):
            runtime.tracker.count(source.name, "unchanged")
            yield from runtime.defer(cycle, self.membership(source, entry, listed_at), entry.title)
            return
        fetched = runtime.has_fetched(cycle, article_id)
        if fetched or known.get(article_id) == entry.title:
            runtime.tracker.count(source.name, "unchanged")
            if fetched or not self.filed_under(source, entry, listed_at, filed.get(article_id)):
                yield self.membership(source, entry, listed_at)
            return
        if article_id not in known:
            cycle.unstored.add(article_id)
        if entry.complete:
            cycle.fetched.add(article_id)
            yield self.article_item(source, cycle, entry, listed_at, content=entry.content)
            return
        if not runtime.claim(entry):
            runtime.tracker.count(source.name, "unchanged")
            yield from runtime.defer(cycle, self.membership(source, entry, listed_at), entry.title)
            return
        cycle.pending.add(article_id)
        meta = {"finews_version": article_version(entry.title, cycle.epoch)} if cycle.epoch is not None else {}
        yield self.request(source, entry.fetch_url, self.parse_article, runtime.adapters[source.name].article_role,
                           cycle.epoch, cb_kwargs={"entry": entry, "listed_at": listed_at, "progress": None},
                           meta=meta)

    def filed_under(self, source: SourceConfig, entry: Entry, listed_at: datetime,
                    categories: frozenset[str] | None) -> bool:
        """Whether the stored article is already in the category this entry would file it under."""
        if not categories:
            return False
        try:
            wanted = categories_of(self.runtime.slugs, self.membership(source, entry, listed_at))
        except ValueError:
            return True
        return set(wanted) <= categories

    def membership(self, source: SourceConfig, entry: Entry, listed_at: datetime) -> MembershipItem:
        return MembershipItem(source=source.name, article_id=entry.article_id, crawled_at=listed_at,
                              media=entry.media, category=source.category,
                              category_name=source.category_name, digest=entry.digest, url_w=entry.url_w)

    # -- articles ------------------------------------------------------------------------

    def parse_article(self, response: Response, entry: Entry, listed_at: datetime, progress: Any) -> Iterator[Any]:
        runtime = self.runtime
        source = runtime.sources[response.meta["source"]]
        cycle = runtime.cycle_of(response.request)
        adapter = runtime.adapters[source.name]
        text = self.usable_text(cycle, response, adapter.article_role)
        if text is None:
            cycle.give_up(entry.article_id)
            return
        try:
            parts = adapter.parse_article(text, response.url, entry, progress)
        except BlockedError as exc:
            runtime.block(cycle, response.url, str(exc))
            cycle.give_up(entry.article_id)
            return
        except SourceError as exc:
            runtime.tracker.dropped(source.name, exc.reason, response.url, f"article {entry.article_id}: {exc}")
            cycle.give_up(entry.article_id)
            return
        if parts.next_url is not None:
            yield self.request(source, parts.next_url, self.parse_article, adapter.article_role, cycle.epoch,
                               cb_kwargs={"entry": entry, "listed_at": listed_at, "progress": parts.progress},
                               meta={"finews_version": response.meta.get("finews_version")})
            return
        cycle.pending.discard(entry.article_id)
        cycle.fetched.add(entry.article_id)
        item = self.article_item(source, cycle, entry, listed_at, content=parts.content, text=parts.text)
        item.also_listed = cycle.deferred.pop(entry.article_id, [])
        yield item

    def article_item(self, source: SourceConfig, cycle: Cycle, entry: Entry, listed_at: datetime,
                     content: str = "", text: str = "") -> ArticleItem:
        maybe_stored = entry.article_id not in cycle.unstored
        cycle.unstored.discard(entry.article_id)
        return ArticleItem(
            source=source.name, source_kind=source.kind, article_id=entry.article_id, title=entry.title,
            time_text=entry.time_text, link=entry.link or entry.fetch_url, crawled_at=listed_at,
            media=entry.media, content=content, text=text,
            summary=entry.summary, digest=entry.digest, url_w=entry.url_w,
            category=source.category, category_name=source.category_name, maybe_stored=maybe_stored,
        )

    # -- failures ------------------------------------------------------------------------

    def usable_text(self, cycle: Cycle, response: Response, what: str) -> str | None:
        """The body when the response can be parsed; None after logging and counting why not."""
        runtime = self.runtime
        if runtime.blocked(cycle):
            return None
        if response.status == 403:
            runtime.block(cycle, response.url, f"HTTP 403 on the {what}")
            return None
        if response.status != 200:
            runtime.tracker.error(cycle.source, f"http_{response.status}", response.url,
                                  f"HTTP {response.status} on the {what}")
            return None
        text = response_text(response)
        if what == "list" and is_block_page(text):
            runtime.block(cycle, response.url, f"block page instead of the {what}")
            return None
        return text

    def request_failed(self, failure: Failure) -> None:
        request = failure.request
        name = request.meta.get("source", "?")
        tracker = self.runtime.tracker
        if failure.check(IgnoreRequest):
            tracker.count(name, "skipped_requests")
            logger.debug("source %s: skipped %s: %s", name, request.url, failure.value)
        else:
            reason = failure.type.__name__ if failure.type else "error"
            tracker.error(name, reason, request.url, failure.getErrorMessage() or reason)
        entry = request.cb_kwargs.get("entry")
        if entry is not None:
            self.runtime.cycle_of(request).give_up(entry.article_id)

    def item_failed(self, item: Any, response: Response | None, spider: scrapy.Spider, failure: Failure) -> None:
        """A pipeline raised: count it against the source (the log formatter has logged it)."""
        source = getattr(item, "source", "?")
        reason = failure.type.__name__ if failure.type else "error"
        self.runtime.tracker.count(source, "errors")
        self.runtime.tracker.count(source, f"errors/{reason}")
