"""The items the spider yields: what a source said, before normalizing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .store.base import Article, Outcome


@dataclass
class ArticleItem:
    """One article as a source gave it; the normalize pipeline turns it into a stored Article."""

    source: str
    source_kind: str
    article_id: str
    title: str
    time_text: str
    link: str
    crawled_at: datetime
    media: str | None = None
    content: str = ""
    text: str = ""
    summary: str = ""
    digest: str = ""
    url_w: str = ""
    category: str | None = None
    category_name: str | None = None
    also_listed: list["MembershipItem"] = field(default_factory=list)
    maybe_stored: bool = True
    """False when the store did not hold the id as the list was read: its input is not worth looking up."""


@dataclass
class MembershipItem:
    """A known, unchanged article seen in another list: add that list's category to it."""

    source: str
    article_id: str
    crawled_at: datetime
    media: str | None = None
    category: str | None = None
    category_name: str | None = None
    digest: str = ""
    url_w: str = ""


@dataclass
class UnchangedSource:
    """An article stored from the very same source input: its categories are merged, nothing to clean."""

    source: str
    article_id: str
    added_categories: tuple[str, ...] = ()


@dataclass
class ArticleToStore:
    """A normalized article, with the time its list was fetched (the time of an update)."""

    article: Article
    crawled_at: datetime


@dataclass
class StoredItem:
    """What the store pipeline hands on: the article as stored (None: unchanged and not read back),
    and what the store decided."""

    source: str
    article: Article | None
    outcome: Outcome
    added_categories: tuple[str, ...] = ()

