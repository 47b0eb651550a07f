"""The one spider: request each source's lists, skip the known, fetch the new, build items."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.http import Response, TextResponse
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from ..config import Config, SourceConfig, load_config
from ..items import ArticleItem, MembershipItem
from ..sources import adapter_for
from ..sources.base import BlockedError, EmptyResponseError, Entry, SourceAdapter, SourceError, is_block_page
from ..sources.choice import ChoiceAdapter
from ..sources.eastmoney import ArticlePage, EastmoneyAdapter
from ..status import RunTracker
from ..store import RunStatus, Store, open_store
from ..text.ids import article_version
from ..text.clean import clean_media
from ..text.slugs import CategorySlugs
from ..text.times import BEIJING

logger = logging.getLogger(__name__)


def config_from_settings(settings: BaseSettings) -> Config:
    """The Config in `FINEWS_CONFIG`: an object (set by `finews`), a path, or None (defaults)."""
    value = settings.get("FINEWS_CONFIG")
    return value if isinstance(value, Config) else load_config(value or None)


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


def category_slugs(config: Config, store: Store) -> CategorySlugs:
    """The slugs of this crawl, knowing the stored categories and the sources' fixed ones."""
    known = {summary.slug: summary.name for summary in store.categories()}
    for source in config.sources:
        if source.category:
            known.setdefault(source.category, source.category_name or source.category)
    return CategorySlugs(config.category_slugs, known)


class NewsSpider(scrapy.Spider):
    name = "news"

    config: Config
    store: Store
    sources: list[SourceConfig]

    def __init__(self, source: str | list[str] | None = None, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if isinstance(source, str):
            source = [name.strip() for name in source.split(",") if name.strip()]
        self.wanted = list(source or [])
        self.adapters: dict[str, SourceAdapter] = {}
        self.blocked: dict[str, str] = {}
        self.pending: set[str] = set()
        self.fetched: set[str] = set()
        self.unstored: set[str] = set()  # ids the store did not hold when listed: their input is not looked up
        self.deferred: dict[str, list[MembershipItem]] = defaultdict(list)
        self.waiting: dict[str, list[MembershipItem]] = defaultdict(list)
        self.final_statuses: dict[str, RunStatus] = {}

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        settings.setdict(crawl_settings(config_from_settings(settings)), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> "NewsSpider":
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.config = config_from_settings(crawler.settings)
        spider.sources = spider.select_sources(spider.wanted)
        spider.adapters = {s.name: adapter_for(s) for s in spider.sources}
        spider.store = open_store(spider.config.store.url)
        spider.slugs = category_slugs(spider.config, spider.store)
        spider.crawled_at = datetime.now(BEIJING)
        spider.tracker = RunTracker(crawler, spider.store, [s.name for s in spider.sources],
                                    spider.crawled_at)
        crawler.signals.connect(spider.item_failed, signal=signals.item_error)
        return spider

    def select_sources(self, names: list[str]) -> list[SourceConfig]:
        if not names:
            return [s for s in self.config.sources if s.enabled]
        known = {s.name for s in self.config.sources}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown source {unknown[0]!r}; configured: {', '.join(sorted(known)) or 'none'}")
        return [self.config.source(n) for n in names]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.tracker.started()
        for source in self.sources:
            adapter = self.adapters[source.name]
            for template, url in zip(source.list_urls, adapter.start_urls()):
                yield self.list_request(source, url, template, 1)

    def request(self, source: SourceConfig, url: str, callback: Any, role: str, **kwargs: Any) -> scrapy.Request:
        meta = {"source": source.name, "role": role, "handle_httpstatus_all": True, "download_slot": source.name}
        meta.update(kwargs.pop("meta", {}))
        return scrapy.Request(url, callback=callback, errback=self.request_failed, meta=meta,
                              headers={"Referer": source.referer}, **kwargs)

    def list_request(self, source: SourceConfig, url: str, template: str, page: int) -> scrapy.Request:
        return self.request(source, url, self.parse_list, "list", dont_filter=True,
                            meta={"template": template, "page": page},
                            )

    # -- lists ---------------------------------------------------------------------------

    def parse_list(self, response: Response) -> Iterator[Any]:
        source = self.config.source(response.meta["source"])
        text = self.usable_text(source, response, "list")
        if text is None:
            return
        adapter = self.adapters[source.name]
        try:
            page = adapter.parse_list(text, response.url)
        except BlockedError as exc:
            self.block(source, response.url, str(exc))
            return
        except EmptyResponseError as exc:
            self.tracker.list_ok(source.name)
            self.tracker.count(source.name, "empty_lists")
            logger.warning("source %s: %s at %s; nothing listed", source.name, exc, response.url)
            return
        except SourceError as exc:
            self.tracker.error(source.name, exc.reason, response.url, str(exc))
            return
        self.tracker.list_ok(source.name)
        self.tracker.count(source.name, "listed", len(page.entries) + len(page.bad))
        for bad in page.bad:
            self.tracker.dropped(source.name, bad.reason, response.url, bad.detail)
        ids = [entry.article_id for entry in page.entries]
        known, filed = self.store.known_titles(ids), self.store.known_categories(ids)
        for entry in page.entries:
            yield from self.handle_entry(source, entry, known, response.meta.get("epoch"), filed)
        next_url = adapter.next_list_url(page, response.url, response.meta["template"], response.meta["page"])
        if next_url:
            yield self.list_request(source, next_url, response.meta["template"], response.meta["page"] + 1)

    def handle_entry(self, source: SourceConfig, entry: Entry, known: dict[str, str],
                     epoch: int | None = None, filed: dict[str, frozenset[str]] | None = None) -> Iterator[Any]:
        article_id = entry.article_id
        if article_id in self.pending:
            self.tracker.count(source.name, "unchanged")
            yield from self.defer(source, entry)
            return
        if article_id in self.fetched or known.get(article_id) == entry.title:
            self.tracker.count(source.name, "unchanged")
            if article_id in self.fetched or not self.filed_under(source, entry, (filed or {}).get(article_id)):
                yield self.membership(source, entry)
            return
        if article_id not in known:
            self.unstored.add(article_id)
        if entry.complete:
            self.fetched.add(article_id)
            yield self.article_item(source, entry, content=entry.content)
            return
        if not self.claim(entry):
            self.tracker.count(source.name, "unchanged")
            yield from self.defer(source, entry)
            return
        self.pending.add(article_id)
        adapter = self.adapters[source.name]
        meta = {"finews_version": article_version(entry.title, epoch)} if epoch is not None else {}
        if isinstance(adapter, ChoiceAdapter):
            yield self.request(source, entry.fetch_url, self.parse_text, "text", cb_kwargs={"entry": entry},
                               meta=meta)
        else:
            yield self.request(source, entry.fetch_url, self.parse_page, "article",
                               cb_kwargs={"entry": entry, "first": None, "rest": []}, meta=meta)

    def filed_under(self, source: SourceConfig, entry: Entry, categories: frozenset[str] | None) -> bool:
        """Whether the stored article is already in the category this entry would file it under."""
        if not categories:
            return False
        try:
            wanted = self.slugs.categories_for(source.category, source.category_name, clean_media(entry.media))
        except ValueError:
            return True
        return set(wanted) <= categories

    def claim(self, entry: Entry) -> bool:
        """Whether this crawl fetches the article (always, in one process)."""
        return True

    def defer(self, source: SourceConfig, entry: Entry) -> Iterator[Any]:
        """The article is being fetched: its item will carry this entry's membership too."""
        self.deferred[entry.article_id].append(self.membership(source, entry))
        return iter(())

    def membership(self, source: SourceConfig, entry: Entry) -> MembershipItem:
        return MembershipItem(source=source.name, article_id=entry.article_id, crawled_at=self.crawled_at,
                              media=entry.media, category=source.category,
                              category_name=source.category_name, digest=entry.digest, url_w=entry.url_w)

    # -- articles ------------------------------------------------------------------------

    def parse_text(self, response: Response, entry: Entry) -> Iterator[Any]:
        source = self.config.source(response.meta["source"])
        text = self.usable_text(source, response, "text")
        if text is None:
            return self.give_up(entry)
        try:
            article = self.adapters[source.name].parse_text(text)
        except BlockedError as exc:
            self.block(source, response.url, str(exc))
            return self.give_up(entry)
        except SourceError as exc:
            self.tracker.dropped(source.name, exc.reason, response.url, f"article {entry.article_id}: {exc}")
            return self.give_up(entry)
        return self.finish(source, entry, content=article.content, text=article.text)

    def parse_page(self, response: Response, entry: Entry, first: ArticlePage | None,
                   rest: list[str]) -> Iterator[Any]:
        source = self.config.source(response.meta["source"])
        html = self.usable_text(source, response, "article")
        if html is None:
            return self.give_up(entry)
        if is_block_page(html) and "ContentBody" not in html:
            self.block(source, response.url, "block page instead of the article")
            return self.give_up(entry)
        adapter = self.adapters[source.name]
        assert isinstance(adapter, EastmoneyAdapter)
        try:
            page = adapter.parse_article(html, response.url, entry.article_id)
        except SourceError as exc:
            self.tracker.dropped(source.name, exc.reason, response.url, f"article {entry.article_id}: {exc}")
            return self.give_up(entry)
        if first is None:
            first, remaining = page, page.continuations
        else:
            rest = rest + [page.body]
            remaining = [url for url in first.continuations if url not in response.meta["done"]]
        done = response.meta.get("done", []) + [response.url]
        remaining = [url for url in remaining if url not in done]
        if remaining:
            meta = {"done": done, "finews_version": response.meta.get("finews_version")}
            return iter([self.request(source, remaining[0], self.parse_page, "article",
                                      cb_kwargs={"entry": entry, "first": first, "rest": rest}, meta=meta)])
        return self.finish_page(source, entry, first, rest)

    def finish_page(self, source: SourceConfig, entry: Entry, first: ArticlePage, rest: list[str]) -> Iterator[Any]:
        body = "".join([first.body, *rest])
        entry.title = first.title or entry.title
        entry.time_text = entry.time_text or first.time_text
        entry.media = first.media or entry.media
        entry.summary = first.summary or entry.summary
        return self.finish(source, entry, content=body)

    def finish(self, source: SourceConfig, entry: Entry, content: str = "", text: str = "") -> Iterator[Any]:
        """The article item, carrying the other lists' entries seen while it was fetched."""
        self.pending.discard(entry.article_id)
        self.fetched.add(entry.article_id)
        item = self.article_item(source, entry, content=content, text=text)
        item.also_listed = self.deferred.pop(entry.article_id, [])
        yield item

    def wait_for_article(self, item: MembershipItem) -> bool:
        """Keep a membership whose article was fetched but is not stored yet; False if none is coming."""
        if item.article_id not in self.fetched:
            return False
        self.waiting[item.article_id].append(item)
        return True

    def memberships_waiting(self, article_id: str) -> list[MembershipItem]:
        return self.waiting.pop(article_id, [])

    def give_up(self, entry: Entry) -> Iterator[Any]:
        self.pending.discard(entry.article_id)
        self.unstored.discard(entry.article_id)
        self.deferred.pop(entry.article_id, None)
        return iter(())

    def article_item(self, source: SourceConfig, entry: Entry, content: str = "", text: str = "") -> ArticleItem:
        maybe_stored = entry.article_id not in self.unstored
        self.unstored.discard(entry.article_id)
        return ArticleItem(
            source=source.name, source_kind=source.kind, article_id=entry.article_id, title=entry.title,
            time_text=entry.time_text, link=entry.link or entry.fetch_url, crawled_at=self.crawled_at,
            media=entry.media, content=content, text=text,
            summary=entry.summary, digest=entry.digest, url_w=entry.url_w,
            category=source.category, category_name=source.category_name, maybe_stored=maybe_stored,
        )

    # -- failures ------------------------------------------------------------------------

    def usable_text(self, source: SourceConfig, response: Response, what: str) -> str | None:
        """The body when the response can be parsed; None after logging and counting why not."""
        if source.name in self.blocked:
            return None
        if response.status == 403:
            self.block(source, response.url, f"HTTP 403 on the {what}")
            return None
        if response.status != 200:
            self.tracker.error(source.name, f"http_{response.status}", response.url,
                               f"HTTP {response.status} on the {what}")
            return None
        text = response_text(response)
        if what != "article" and is_block_page(text):
            self.block(source, response.url, f"block page instead of the {what}")
            return None
        return text

    def block(self, source: SourceConfig, url: str, reason: str) -> None:
        if source.name not in self.blocked:
            self.blocked[source.name] = reason
            self.tracker.blocked(source.name, url, reason)

    def request_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request
        name = request.meta.get("source", "?")
        from scrapy.exceptions import IgnoreRequest

        if failure.check(IgnoreRequest):
            self.tracker.count(name, "skipped_requests")
            logger.debug("source %s: skipped %s: %s", name, request.url, failure.value)
        else:
            reason = failure.type.__name__ if failure.type else "error"
            self.tracker.error(name, reason, request.url, failure.getErrorMessage() or reason)
        entry = request.cb_kwargs.get("entry")
        return self.give_up(entry) if entry is not None else iter(())

    def item_failed(self, item: Any, response: Response | None, spider: scrapy.Spider, failure: Failure) -> None:
        """A pipeline raised: count it against the source (the log formatter has logged it)."""
        source = getattr(item, "source", "?")
        reason = failure.type.__name__ if failure.type else "error"
        self.tracker.count(source, "errors")
        self.tracker.count(source, f"errors/{reason}")

    def closed(self, reason: str) -> None:
        try:
            self.final_statuses = self.tracker.finished(self.blocked, reason)
        finally:
            self.store.close()
