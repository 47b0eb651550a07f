"""index.html and opml.xml from the category summaries (Jinja2 templates, autoescaped, deterministic)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from crawler.config import SiteConfig
from crawler.store import Article, CategorySummary

from .build import ALL_NAME, beijing, xml_text


def beijing_minute(value: datetime | None) -> str:
    """A time as the index shows it: Beijing time to the minute ("2021-12-21 20:40")."""
    return beijing(value).strftime("%Y-%m-%d %H:%M") if value else ""


def rfc822(value: datetime) -> str:
    """An RFC 822 date in Beijing time, as OPML 2.0 wants ("Tue, 21 Dec 2021 20:40:26 +0800")."""
    return format_datetime(beijing(value))


def web_url(value: str | None) -> bool:
    """Whether a link may go into an href: an absolute http(s) URL."""
    return urlsplit(value or "").scheme in ("http", "https")


environment = Environment(loader=PackageLoader("feeds", "templates"),
                          autoescape=select_autoescape(["html", "xml", "j2"], default=True),
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
environment.filters["clean"] = xml_text
environment.filters["beijing"] = beijing_minute
environment.filters["web_url"] = web_url


def render_index(site: SiteConfig, categories: list[CategorySummary], total: int, newest: Article | None) -> bytes:
    """A phone-friendly page: all news and every category, its count, newest item and its three feeds."""
    return environment.get_template("index.html.j2").render(
        site=site, categories=categories, total=total, newest=newest, all_name=ALL_NAME).encode("utf-8")


def render_opml(site: SiteConfig, categories: list[CategorySummary]) -> bytes:
    """OPML 2.0: one RSS outline for all news and one per category; dated by the newest item."""
    times = [c.newest_published for c in categories if c.newest_published is not None]
    return environment.get_template("opml.xml.j2").render(
        site=site, categories=categories, all_name=ALL_NAME,
        modified=rfc822(max(times)) if times else "").encode("utf-8")
