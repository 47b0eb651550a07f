"""The HTML pages and OPML lists (Jinja2 templates, autoescaped, deterministic: same input, same bytes).

- `index.html`: all news, every category, the topics and a link to the securities;
- `<feed path>/index.html`: a feed's newest entries and its subscription links (autodiscovery too);
- `stocks/index.html`: every security with its count;
- `opml.xml` (the categories), `topics/opml.xml`, `stocks/opml.xml`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from crawler.config import SiteConfig, TopicConfig
from crawler.store import Article, CategorySummary

from .build import ALL_NAME, FILENAMES, MEDIA_TYPES, Entry, FeedSpec, beijing, uri, xml_text

FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}


def beijing_minute(value: datetime | None) -> str:
    """A time as the pages show it: Beijing time to the minute ("2021-12-21 20:40")."""
    return beijing(value).strftime("%Y-%m-%d %H:%M") if value else ""


def rfc822(value: datetime) -> str:
    """An RFC 822 date in Beijing time, as OPML 2.0 wants ("Tue, 21 Dec 2021 20:40:26 +0800")."""
    return format_datetime(beijing(value))


def web_url(value: str | None) -> bool:
    """Whether a link may go into an href: an absolute http(s) URL."""
    return urlsplit(value or "").scheme in ("http", "https")


environment = Environment(loader=PackageLoader("feeds", "templates"),
                          autoescape=select_autoescape(["html", "xml", "j2"], default=True),
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                          auto_reload=False)  # the templates ship with the code: no stat of each one per page
environment.filters["clean"] = xml_text
environment.filters["beijing"] = beijing_minute
environment.filters["web_url"] = web_url


@dataclass(frozen=True)
class Alternate:
    """One of a feed's three files as a page links it."""

    type: str
    title: str
    url: str
    label: str


@dataclass(frozen=True)
class Outline:
    """One feed in an OPML list."""

    name: str
    xml_url: str
    html_url: str


@dataclass(frozen=True)
class StockListing:
    """A security as `stocks/index.html` lists it."""

    symbol: str
    name: str
    count: int
    newest_published: datetime | None
    newest_title: str | None


class Rows:
    """A list's rows, each rendered by `template` from one item, kept from one render of the list to the next: a page
    of hundreds of rows renders again only the rows of the items that changed. It keeps the last render's rows only."""

    def __init__(self, template: str, name: str):
        self.template, self.name = template, name
        self._kept: dict[Hashable, Markup] = {}

    def render(self, items: Iterable[Hashable]) -> list[Markup]:
        kept, self._kept = self._kept, {}
        template = environment.get_template(self.template)
        rows = []
        for item in items:
            row = kept.get(item)
            if row is None:
                row = Markup(template.render(**{self.name: item}))
            self._kept[item] = row
            rows.append(row)
        return rows


STOCK_ROWS = Rows("stock_row.html.j2", "stock")
CATEGORY_OUTLINES, TOPIC_OUTLINES, STOCK_OUTLINES = (Rows("outline.xml.j2", "outline") for _ in range(3))
"""The rows of `stocks/index.html`, and the outlines of `opml.xml`, `topics/opml.xml` and `stocks/opml.xml`."""


def alternates(site: SiteConfig, path: str, title: str) -> list[Alternate]:
    """The RSS, Atom and JSON Feed files of the feed at `path`, with absolute URLs."""
    return [Alternate(MEDIA_TYPES[fmt], f"{title} ({label})", uri(site.url(f"{path}/{FILENAMES[fmt]}")), label)
            for fmt, label in FORMAT_LABELS.items()]


def _render(template: str, site: SiteConfig, **context: object) -> bytes:
    return environment.get_template(template).render(site=site, **context).encode("utf-8")


def render_index(site: SiteConfig, categories: list[CategorySummary], total: int, newest: Article | None,
                 topics: Iterable[TopicConfig] = (), stocks: int = 0) -> bytes:
    """A phone-friendly page: all news, every category (its count, newest item and page), the topics, the securities."""
    return _render("index.html.j2", site, categories=categories, total=total, newest=newest, all_name=ALL_NAME,
                   topics=list(topics), stocks=stocks,
                   alternates=alternates(site, "all", f"{ALL_NAME} - {xml_text(site.title)}"))


def entry_rows(entries: Iterable[Entry]) -> list[Markup]:
    """The rows a feed page lists these entries in (each a function of its entry alone: feeds/reuse.py keeps them)."""
    template = environment.get_template("entry_row.html.j2")
    return [Markup(template.render(entry=entry)) for entry in entries]


def render_feed_page(spec: FeedSpec, parent: tuple[str, str] | None = None, rows: list[Markup] | None = None) -> bytes:
    """`<path>/index.html`: the feed's entries (linked to the original articles) and its subscription links.

    `parent` is the (name, relative href) of the list page above it (`stocks/`), if any; `rows`, the entries' rows
    when they are known already (`entry_rows` of the spec's entries otherwise).
    """
    home = "../" * (spec.slug.count("/") + 1)
    return _render("feed.html.j2", spec.site, spec=spec, rows=entry_rows(spec.items) if rows is None else rows, home=home,
                   parent={"name": parent[0], "href": parent[1]} if parent else None,
                   alternates=alternates(spec.site, spec.slug, spec.title))


def render_stocks(site: SiteConfig, stocks: list[StockListing]) -> bytes:
    """`stocks/index.html`: every security the articles link to, with its count and newest item."""
    return _render("stocks.html.j2", site, rows=STOCK_ROWS.render(stocks), alternates=[])


def render_opml(site: SiteConfig, outlines: list[Outline], newest: datetime | None, title: str | None = None,
                rows: Rows = CATEGORY_OUTLINES) -> bytes:
    """OPML 2.0: one RSS outline per feed; dated by the newest item. `rows` keeps the outlines of this list."""
    return _render("opml.xml.j2", site, title=title or site.title, rows=rows.render(outlines),
                   modified=rfc822(newest) if newest else "")


def category_outlines(site: SiteConfig, categories: Iterable[CategorySummary]) -> list[Outline]:
    """The outlines of `opml.xml`: every category (not all news, whose entries every category repeats)."""
    return [Outline(c.name, uri(site.url(f"{c.slug}/rss.xml")), uri(site.url(f"{c.slug}/"))) for c in categories]


def newest_of(summaries: Iterable[CategorySummary]) -> datetime | None:
    times = [s.newest_published for s in summaries if s.newest_published is not None]
    return max(times) if times else None
