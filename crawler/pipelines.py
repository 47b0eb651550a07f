"""Item pipelines: normalize what a source said, then deduplicate and store it, then export it."""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from .config import Config
from .grouping import file_grouped
from .filing import categories_of
from .items import ArticleItem, ArticleToStore, MembershipItem, StoredItem, UnchangedSource
from .runtime import CrawlRuntime, config_from_settings, runtime_of
from .store import Article, Outcome, Store
from .storeguard import as_store_failure, report_failure
from .text.clean import clean_html, clean_media, make_summary, plain_text
from .text.ids import info_code_for, is_article_id
from .text.securities import securities_in
from .text.slugs import CategorySlugs
from .text.times import parse_time

logger = logging.getLogger(__name__)


def plain_digest(digest: str) -> str:
    """A list's digest as plain text ("" when its markup nests too deep to trust)."""
    try:
        return plain_text(digest)
    except ValueError:
        return ""


def content_hash(title: str, html: str) -> str:
    return hashlib.sha256(f"{title}\x00{html}".encode("utf-8")).hexdigest()


def source_hash(item: ArticleItem) -> str:
    """Of what the title and the cleaned HTML are made from: the same input gives the same article."""
    given = "\x00".join((item.title, item.link, item.content or item.text))
    return hashlib.sha256(given.encode("utf-8")).hexdigest()


class _RuntimePipeline(ABC):
    """A pipeline that works with the crawl runtime's store and counts through its run tracker."""

    def __init__(self, crawler: Crawler, runtime: CrawlRuntime):
        self.crawler, self.runtime = crawler, runtime

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler, runtime_of(crawler))

    def drop(self, item: ArticleItem, reason: str, detail: str) -> DropItem:
        self.runtime.tracker.dropped(item.source, reason, item.link, f"article {item.article_id}: {detail}")
        return DropItem(f"{reason}: {detail}")

    def process_item(self, item: Any) -> Any:
        """`handle`, with a failed store reported (the crawl stops) instead of raised per item."""
        try:
            return self.handle(item)
        except Exception as exc:
            failure = as_store_failure(self.crawler, exc)
            if failure is None:
                raise
            raise report_failure(self.crawler, failure) from None

    @abstractmethod
    def handle(self, item: Any) -> Any: ...


class NotUsable(ValueError):
    """An item that cannot become an article; `reason` is the stat key."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(detail)


def prepare(item: ArticleItem, config: Config, slugs: CategorySlugs | None = None) -> Article:
    """ArticleItem → Article, all but its cleaning: id, plain-text title, Beijing time, categories, source hash.

    `summary` holds the summary the source gave until `clean` makes the real one; `slugs` hands
    out the category slugs (a fresh one, knowing no stored category, when not given).
    """
    slugs = slugs or CategorySlugs(config.category_slugs)
    article_id = item.article_id
    if not is_article_id(article_id):
        raise NotUsable("bad_id", f"id {article_id[:80]!r} is not 18 digits")
    try:
        title = plain_text(item.title)
    except ValueError as exc:
        raise NotUsable("bad_title", str(exc)) from None
    if not title:
        raise NotUsable("missing_title", "no title")
    try:
        published = parse_time(item.time_text, item.crawled_at)
    except ValueError as exc:
        raise NotUsable("bad_time", str(exc)) from None
    media = clean_media(item.media)
    try:
        categories = categories_of(slugs, item)
    except ValueError as exc:
        raise NotUsable("bad_media", str(exc)) from None
    digest, url_w = plain_digest(item.digest), item.url_w
    for other in item.also_listed:
        try:
            categories.update(categories_of(slugs, other))
        except ValueError:
            pass
        media = media or clean_media(other.media)
        digest = digest or plain_digest(other.digest)
        url_w = url_w or other.url_w
    return Article(
        article_id=article_id,
        info_code=info_code_for(article_id),
        title=title,
        link=item.link,
        published=published,
        categories=categories,
        media=media,
        summary=digest or item.summary,
        content_raw=item.content,
        text_raw=item.text,
        digest=digest,
        url_w=url_w,
        source=item.source,
        source_hash=source_hash(item),
    )


def clean(article: Article, config: Config) -> Article:
    """The prepared article with its securities (read before the cleaner makes their links text),
    clean HTML, plain-text summary, content hash and grouped feeds."""
    raw = article.content_raw or article.text_raw
    article.securities = securities_in(raw)
    article.html = clean_html(raw, article.link)
    if not article.html:
        raise NotUsable("empty_article", "no article text after cleaning")
    article.summary = plain_digest(make_summary(article.summary, article.html, article.title))
    article.content_hash = content_hash(article.title, article.html)
    return file_grouped(article, config)


def normalize(item: ArticleItem, config: Config, slugs: CategorySlugs | None = None) -> Article:
    """ArticleItem → Article: Beijing time, categories, securities, clean HTML, summary, hashes."""
    return clean(prepare(item, config, slugs), config)


def normalize_unless_known(item: ArticleItem, config: Config, store: Store,
                           slugs: CategorySlugs | None = None) -> Article | UnchangedSource:
    """The normalized article; or, when the store holds one made from the very same source input,
    its categories merged there (one atomic step) and nothing cleaned."""
    article = prepare(item, config, slugs)
    if item.maybe_stored:
        added = store.add_membership(article.article_id, article.categories, media=article.media,
                                     digest=article.digest, url_w=article.url_w, source_hash=article.source_hash)
        if added is not None:
            return UnchangedSource(item.source, article.article_id, added)
    return clean(article, config)


class NormalizePipeline(_RuntimePipeline):
    """Normalizes each ArticleItem; one that cannot be used is dropped with its reason, counted.

    An item the store already holds from the same source input is not cleaned again: it goes on
    as an `UnchangedSource`, its new categories (if any) merged.
    """

    def handle(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        runtime = self.runtime
        try:
            article = normalize_unless_known(item, runtime.config, runtime.store, runtime.slugs)
        except NotUsable as exc:
            raise self.drop(item, exc.reason, str(exc)) from None
        return ArticleToStore(article, item.crawled_at) if isinstance(article, Article) else article


class StorePipeline(_RuntimePipeline):
    """Dedupe and store in one atomic step per item; count new / unchanged / updated per source."""

    @property
    def store(self) -> Store:
        return self.runtime.store

    def handle(self, item: Any) -> Any:
        if isinstance(item, MembershipItem):
            return self.add_membership(item)
        if isinstance(item, UnchangedSource):
            self.runtime.tracker.count(item.source, Outcome.UNCHANGED.value)
            article = None
            if self.merge_pending(item.article_id) or item.added_categories:
                article = self.store.get(item.article_id)
            return StoredItem(item.source, article, Outcome.UNCHANGED, item.added_categories)
        if not isinstance(item, ArticleToStore):
            return item
        item, crawled_at = item.article, item.crawled_at
        result = self.store.upsert(item, crawled_at)
        self.runtime.tracker.count(item.source, result.outcome.value)
        article = result.article or item
        if result.outcome is not Outcome.UNCHANGED:
            logger.debug("source %s: %s article %s %r", item.source, result.outcome.value, item.article_id, item.title)
        if self.merge_pending(item.article_id):
            article = self.store.get(item.article_id) or article
        return StoredItem(item.source, article, result.outcome, result.added_categories)

    def merge_pending(self, article_id: str) -> bool:
        """Apply the memberships that arrived while this article was being fetched and stored.

        They come from this crawl's other lists (items processed before this one), and in
        distributed mode from other workers' notes.
        """
        waiting = self.runtime.memberships_waiting(article_id) + self.runtime.pending_notes(article_id)
        return any([bool(self.apply_membership(item)) for item in waiting])

    def apply_membership(self, item: MembershipItem) -> tuple[str, ...] | None:
        try:
            categories = categories_of(self.runtime.slugs, item)
        except ValueError:
            categories = {}
        return self.store.add_membership(item.article_id, categories, media=clean_media(item.media),
                                         digest=plain_digest(item.digest), url_w=item.url_w)

    def add_membership(self, item: MembershipItem) -> Any:
        added = self.apply_membership(item)
        if added is None and self.runtime.wait_for_article(item):
            return item
        if not added:
            return item
        article = self.store.get(item.article_id)
        assert article is not None
        return StoredItem(item.source, article, Outcome.UNCHANGED, added)


class JekyllPipeline:
    """Writes the Jekyll posts of new, changed and newly categorized articles (with `[jekyll]`)."""

    def __init__(self, config: Config):
        if config.jekyll is None:
            raise NotConfigured
        from feeds.jekyll import JekyllExporter

        self.exporter = JekyllExporter(config)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "JekyllPipeline":
        return cls(config_from_settings(crawler.settings))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, StoredItem) and item.article is not None:
            if item.outcome is Outcome.UNCHANGED:
                self.exporter.export(item.article, only=item.added_categories)
            else:
                self.exporter.export(item.article)
        return item
