"""Item pipelines: normalize what a source said, then deduplicate and store it, then export it."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured

from .config import Config
from .items import ArticleItem, MembershipItem, StoredItem
from .spiders.news import config_from_settings
from .store import Article, Outcome, Store
from .text.clean import clean_html, make_summary, strip_control_chars
from .text.ids import article_id_from
from .text.slugs import category_display_name, category_slug
from .text.times import parse_time

logger = logging.getLogger(__name__)


def categories_for(config: Config, category: str | None, category_name: str | None,
                   media: str | None) -> dict[str, str]:
    """The fixed category of the source, else the media's category; {} when neither is known."""
    if category:
        return {category: category_name or category}
    if media:
        return {category_slug(media, config.category_slugs): category_display_name(media)}
    return {}


def content_hash(title: str, html: str) -> str:
    return hashlib.sha256(f"{title}\x00{html}".encode("utf-8")).hexdigest()


class _SpiderPipeline:
    """A pipeline that counts per source through the spider's run tracker."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    @property
    def spider(self) -> Any:
        return self.crawler.spider

    def drop(self, item: ArticleItem, reason: str, detail: str) -> DropItem:
        self.spider.tracker.dropped(item.source, reason, item.link, f"article {item.article_id}: {detail}")
        return DropItem(f"{reason}: {detail}")


class NormalizePipeline(_SpiderPipeline):
    """ArticleItem → Article: Beijing time, categories, clean HTML, summary, content hash."""

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        config: Config = self.spider.config
        try:
            article_id = article_id_from(item.article_id)
        except ValueError as exc:
            raise self.drop(item, "bad_id", str(exc)) from None
        title = " ".join(strip_control_chars(item.title).split())
        if not title:
            raise self.drop(item, "missing_title", "no title")
        try:
            published = parse_time(item.time_text, item.crawled_at)
        except ValueError as exc:
            raise self.drop(item, "bad_time", str(exc)) from None
        media = " ".join(strip_control_chars(item.media or "").split()) or None
        try:
            categories = categories_for(config, item.category, item.category_name, media)
        except ValueError as exc:
            raise self.drop(item, "bad_media", str(exc)) from None
        categories.update(item.extra_categories)
        html = clean_html(item.content or item.text, item.link)
        if not html:
            raise self.drop(item, "empty_article", "no article text after cleaning")
        digest = strip_control_chars(item.digest).strip()
        return Article(
            article_id=article_id,
            info_code=item.info_code or f"NW{article_id}",
            title=title,
            link=item.link,
            published=published,
            categories=categories,
            media=media,
            html=html,
            summary=make_summary(digest or item.summary, html, title),
            content_raw=item.content,
            text_raw=item.text,
            digest=digest,
            url_w=item.url_w,
            source=item.source,
            content_hash=content_hash(title, html),
        )


class StorePipeline(_SpiderPipeline):
    """Dedupe and store in one atomic step per item; count new / unchanged / updated per source."""

    @property
    def store(self) -> Store:
        return self.spider.store

    def process_item(self, item: Any) -> Any:
        if isinstance(item, MembershipItem):
            return self.add_membership(item)
        if not isinstance(item, Article):
            return item
        result = self.store.upsert(item, self.spider.crawled_at)
        self.spider.tracker.count(item.source, result.outcome.value)
        if result.outcome is not Outcome.UNCHANGED:
            logger.debug("source %s: %s article %s %r", item.source, result.outcome.value, item.article_id, item.title)
        return StoredItem(item.source, result.article or item, result.outcome, result.added_categories)

    def add_membership(self, item: MembershipItem) -> Any:
        config: Config = self.spider.config
        media = " ".join(strip_control_chars(item.media or "").split()) or None
        try:
            categories = categories_for(config, item.category, item.category_name, media)
        except ValueError:
            categories = {}
        added = self.store.add_membership(item.article_id, categories, media=media,
                                          digest=strip_control_chars(item.digest).strip(), url_w=item.url_w)
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
        if isinstance(item, StoredItem):
            if item.outcome is Outcome.UNCHANGED:
                self.exporter.export(item.article, only=item.added_categories)
            else:
                self.exporter.export(item.article)
        return item
