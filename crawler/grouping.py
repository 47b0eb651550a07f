"""Which grouped feeds an article is filed under: its securities' (`stocks/<symbol>`) and its topics'."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import unescape

from .config import Config, TopicConfig
from .store import STOCKS, TOPICS, Article, grouped, only_categories
from .text.clean import BLOCK_TAGS
from .text.securities import symbol


TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")


def searchable_text(html: str) -> str:
    """The text of HTML the cleaner made, read without a parser: what topic keywords are matched against.

    Block tags separate words as in `html_to_text`, inline ones do not; it is a regex over the
    well-formed tags nh3 writes, cheap enough for a publish to re-check every entry of a topic.
    """
    text = TAG_RE.sub(lambda m: " " if m[2].lower() in BLOCK_TAGS else "", html)
    return " ".join(unescape(text).split())


def stock_keys(article: Article) -> dict[str, str]:
    """`stocks/<symbol>` → the security's name as linked, for each of the article's securities."""
    return {grouped(STOCKS, symbol(quote)): name for quote, name in article.securities.items()}


def matching_topics(topics: Iterable[TopicConfig], article: Article) -> dict[str, str]:
    """`topics/<slug>` → title of each topic the article matches (title or cleaned text, its categories)."""
    topics = list(topics)
    if not topics:
        return {}
    text = searchable_text(article.html)
    slugs = only_categories(article.categories)
    return {grouped(TOPICS, topic.slug): topic.title for topic in topics
            if topic.matches(article.title, text, slugs)}


def file_grouped(article: Article, config: Config) -> Article:
    """Add the article's grouped feeds to its categories (securities only with `site.stock_feeds`)."""
    keys = stock_keys(article) if config.site.stock_feeds else {}
    keys.update(matching_topics(config.topics, article))
    if keys:
        article.categories = dict(sorted({**article.categories, **keys}.items()))
    return article
