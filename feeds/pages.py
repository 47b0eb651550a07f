"""index.html and opml.xml from the category summaries (Jinja2 templates, autoescaped)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

from jinja2 import Environment, PackageLoader, select_autoescape

from crawler.config import SiteConfig
from crawler.store import Article, CategorySummary
from crawler.text.clean import strip_control_chars
from crawler.text.times import BEIJING

from .build import ALL_NAME

environment = Environment(loader=PackageLoader("feeds", "templates"),
                          autoescape=select_autoescape(["html", "xml", "j2"]),
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
environment.filters["clean"] = lambda value: strip_control_chars(value or "")
environment.filters["beijing"] = lambda value: value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if value else ""


def rfc822(value: datetime | None) -> str:
    return format_datetime(value.astimezone(BEIJING)) if value else ""


def render_index(site: SiteConfig, categories: list[CategorySummary], total: int, newest: Article | None) -> bytes:
    """A phone-friendly page: every category, its count, newest item and its three feeds."""
    return environment.get_template("index.html.j2").render(
        site=site, categories=categories, total=total, newest=newest, all_name=ALL_NAME).encode("utf-8")


def render_opml(site: SiteConfig, categories: list[CategorySummary], newest: Article | None) -> bytes:
    """OPML 2.0: one RSS outline for all news and one per category."""
    return environment.get_template("opml.xml.j2").render(
        site=site, categories=categories, all_name=ALL_NAME,
        modified=rfc822(newest.updated or newest.published) if newest else "").encode("utf-8")
