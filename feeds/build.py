"""Stored articles → RSS 2.0 and Atom 1.0 (feedgen) and JSON Feed 1.1; pure, no file I/O.

Every value comes from the articles and the config, never from the clock, so building the same
input twice gives the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from feedgen.feed import FeedGenerator

from crawler.config import SiteConfig
from crawler.store import ALL, Article
from crawler.text.clean import html_to_text, strip_control_chars
from crawler.text.times import BEIJING, format_rfc3339

ID_AUTHORITY = "tag:finews.withounder.com,2021:"
ALL_NAME = "全部新闻"
GENERATOR = "finews"
FORMATS = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}


def entry_id(article_id: str) -> str:
    """The permanent id of an article's entry: from the article id alone."""
    return f"{ID_AUTHORITY}article/{article_id}"


def feed_id(slug: str) -> str:
    return f"{ID_AUTHORITY}feed/{slug}"


def xml_text(value: str | None) -> str:
    return strip_control_chars(value or "")


def entry_title(article: Article) -> str:
    """The title as feeds may carry it; never empty (feed readers need one)."""
    return xml_text(article.title).strip() or article.article_id


def entry_summary(article: Article) -> str:
    """The plain-text summary, else the start of the text, else the title; never empty."""
    return (xml_text(article.summary).strip() or html_to_text(xml_text(article.html))[:200]
            or entry_title(article))


@dataclass(frozen=True)
class FeedSpec:
    """One feed: a category (or `all`) and its newest entries, newest first."""

    site: SiteConfig
    slug: str
    name: str
    entries: list[Article]

    @property
    def title(self) -> str:
        return f"{self.name} - {self.site.title}"

    def url(self, fmt: str) -> str:
        return self.site.url(f"{self.slug}/{FORMATS[fmt]}")

    @property
    def updated(self) -> datetime:
        """The newest entry's `updated`: the feed's build time (never "now")."""
        return max((a.updated or a.published) for a in self.entries).astimezone(BEIJING)

    @property
    def description(self) -> str:
        if self.slug == ALL:
            return self.site.description
        return f"{self.name}：{self.site.description}"


def spec_for(site: SiteConfig, slug: str, name: str | None, entries: list[Article]) -> FeedSpec:
    return FeedSpec(site, slug, ALL_NAME if slug == ALL else (name or slug), entries)


def _generator(spec: FeedSpec, self_fmt: str, category_term: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.id(feed_id(spec.slug))
    fg.title(xml_text(spec.title))
    fg.subtitle(xml_text(spec.description))
    fg.link(href=spec.url(self_fmt), rel="self",
            type="application/rss+xml" if self_fmt == "rss" else "application/atom+xml")
    fg.link(href=spec.site.base_url, rel="alternate", type="text/html")
    fg.language(spec.site.language)
    fg.author({"name": spec.site.title})
    fg.generator(GENERATOR)
    fg.ttl(spec.site.ttl)
    fg.lastBuildDate(spec.updated)
    fg.updated(spec.updated)
    for article in spec.entries:
        published = article.published.astimezone(BEIJING)
        fe = fg.add_entry(order="append")
        fe.id(entry_id(article.article_id))
        fe.guid(entry_id(article.article_id), permalink=False)
        title = entry_title(article)
        fe.title(title)
        fe.link(href=article.link, rel="alternate")
        fe.published(published)
        fe.pubDate(published)
        fe.updated((article.updated or article.published).astimezone(BEIJING))
        fe.summary(entry_summary(article))
        fe.description(entry_summary(article))
        fe.content(xml_text(article.html), type="html")
        if article.media:
            fe.author({"name": xml_text(article.media)})
            fe.dc.dc_creator(xml_text(article.media))
        fe.category([{"term": slug if category_term == "slug" else xml_text(name),
                      "label": xml_text(name)} for slug, name in sorted(article.categories.items())])
    return fg


def build_rss(spec: FeedSpec) -> bytes:
    """RSS 2.0: description (summary) before content:encoded (HTML); categories by display name."""
    return _generator(spec, "rss", "name").rss_str(pretty=True)


def build_atom(spec: FeedSpec) -> bytes:
    """Atom 1.0: entries with published and updated, categories `term=<slug> label=<name>`."""
    return _generator(spec, "atom", "slug").atom_str(pretty=True)


def build_json_feed(spec: FeedSpec) -> bytes:
    """JSON Feed 1.1, keys sorted for stable bytes."""
    items = []
    for article in spec.entries:
        item = {
            "id": entry_id(article.article_id),
            "url": article.link,
            "title": entry_title(article),
            "content_html": xml_text(article.html),
            "summary": entry_summary(article),
            "date_published": format_rfc3339(article.published),
            "date_modified": format_rfc3339(article.updated or article.published),
            "tags": [xml_text(name) for _, name in sorted(article.categories.items())],
        }
        if article.media:
            item["authors"] = [{"name": xml_text(article.media)}]
        items.append(item)
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": xml_text(spec.title),
        "home_page_url": spec.site.base_url,
        "feed_url": spec.url("json"),
        "description": xml_text(spec.description),
        "language": spec.site.language,
        "authors": [{"name": spec.site.title}],
        "items": items,
    }
    return (json.dumps(feed, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")

