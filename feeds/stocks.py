"""The security feeds' names and lists: `stocks/<symbol>/…`, `stocks/index.html`, `stocks/opml.xml`."""

from __future__ import annotations

from collections.abc import Iterable

from crawler.config import SiteConfig
from crawler.store import STOCKS, CategorySummary, group_of

from .build import uri
from .pages import Outline, StockListing

PARENT = ("按股票和板块", "../")
"""Where a security's page links up to (the list one folder above it)."""


def feed_name(symbol: str, name: str) -> str:
    """A security feed's name: `华泰证券 (sh601688) 新闻`."""
    return f"{name} ({symbol}) 新闻"


def listings(summaries: Iterable[CategorySummary]) -> list[StockListing]:
    """Every security the store files articles under, by symbol."""
    return [StockListing(s.slug.split("/", 1)[1], s.name, s.count, s.newest_published, s.newest_title)
            for s in summaries if group_of(s.slug) == STOCKS]


def outlines(site: SiteConfig, stocks: Iterable[StockListing]) -> list[Outline]:
    """The outlines of `stocks/opml.xml`."""
    return [Outline(feed_name(s.symbol, s.name), uri(site.url(f"{STOCKS}/{s.symbol}/rss.xml")),
                    uri(site.url(f"{STOCKS}/{s.symbol}/"))) for s in stocks]
