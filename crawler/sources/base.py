"""What every source adapter shares: list entries, parse errors, lenient JSON, block pages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import SourceConfig
from ..text.ids import BadIdError, NotNewsError

JSONP_RE = re.compile(r"^[\w$.]+\s*\((?P<body>.*)\)\s*;?\s*$", re.DOTALL)
BLOCK_MARKERS = ("403 Forbidden", "openresty", "访问被拒绝", "Access Denied", "请求过于频繁")


class SourceError(Exception):
    """A response the adapter cannot use; `reason` is the short stat key, the message the detail."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class BlockedError(SourceError):
    """The site answered with a block page: stop this source for the cycle."""

    def __init__(self, message: str):
        super().__init__("blocked", message)


class EmptyResponseError(SourceError):
    """A 200 with nothing in it: not an error of ours, but nothing to list."""

    def __init__(self, message: str):
        super().__init__("empty_body", message)


@dataclass
class Entry:
    """One list entry, normalized to the article id; `complete` when no article fetch is needed."""

    article_id: str
    title: str
    time_text: str
    fetch_url: str = ""
    link: str = ""
    media: str | None = None
    info_code: str | None = None
    digest: str = ""
    summary: str = ""
    url_w: str = ""
    content: str = ""
    complete: bool = False


@dataclass
class BadEntry:
    """A list entry that was skipped, with the reason (stat key) and a readable detail."""

    reason: str
    detail: str


@dataclass
class ArticleParts:
    """What an article's responses gave so far. `next_url`: another page of it to fetch, `progress`
    handed back with that page's response; None when the article is complete."""

    content: str = ""
    text: str = ""
    next_url: str | None = None
    progress: Any = None


@dataclass
class ListPage:
    entries: list[Entry] = field(default_factory=list)
    bad: list[BadEntry] = field(default_factory=list)
    cursor: str | None = None


def is_block_page(text: str) -> bool:
    """True for an HTML block page (openresty 403 and friends) served where data was expected."""
    head = text[:4096]
    return "<" in head[:200] and any(marker in head for marker in BLOCK_MARKERS)


def load_json_lenient(text: str, what: str) -> Any:
    """Parse JSON that may come as JSONP or with a trailing `;`; raise SourceError otherwise."""
    body = text.strip().lstrip("\ufeff").strip()
    if not body:
        raise EmptyResponseError(f"empty {what} body")
    if body.startswith("<"):
        if is_block_page(body):
            raise BlockedError(f"block page instead of {what} JSON")
        raise SourceError("not_json", f"HTML instead of {what} JSON: {body[:80]!r}")
    match = JSONP_RE.match(body)
    if match and not body.startswith(("{", "[")):
        body = match["body"]
    body = body.rstrip().rstrip(";").rstrip()
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise SourceError("bad_json", f"malformed {what} JSON ({exc.msg} at {exc.pos}): {body[:80]!r}") from None
    except RecursionError:
        raise SourceError("bad_json", f"{what} JSON nested too deep to read: {body[:80]!r}") from None


def pick(record: Mapping[str, Any], *names: str) -> Any:
    """The first present, non-empty value among `names` (source APIs spell keys differently)."""
    for name in names:
        value = record.get(name)
        if value not in (None, ""):
            return value
    return None


def text_of(value: Any) -> str:
    return "" if value is None else str(value).strip()


class SourceAdapter:
    """Turns a source kind's responses into entries and article fields; pure, no I/O."""

    kind = ""

    def __init__(self, source: SourceConfig):
        self.source = source

    def start_urls(self) -> list[str]:
        """The first list requests of a crawl cycle."""
        raise NotImplementedError

    def parse_list(self, text: str, url: str) -> ListPage:
        raise NotImplementedError

    def next_list_url(self, page: ListPage, url: str, template: str, page_no: int) -> str | None:
        """The next list page to request after `page` (page number `page_no` of `template`)."""
        return None

    article_role = "article"
    """What the article responses are called in logs and stats (the request's `role`)."""

    def parse_article(self, text: str, url: str, entry: Entry, progress: Any) -> ArticleParts:
        """An article response (`progress`: what the previous page of it gave, None on the first),
        filling in the entry's fields the page knows better; SourceError when it cannot be used."""
        raise NotImplementedError

    @staticmethod
    def collect(rows: list[Any], make_entry: Callable[[Any], Entry]) -> ListPage:
        """The entries of a list; a row that cannot be read is kept as a BadEntry with its reason."""
        page = ListPage()
        for row in rows:
            try:
                page.entries.append(make_entry(row))
            except NotNewsError as exc:
                page.bad.append(BadEntry("not_news", str(exc)))
            except BadIdError as exc:
                page.bad.append(BadEntry("bad_id", str(exc)))
            except (SourceError, ValueError) as exc:
                page.bad.append(BadEntry(getattr(exc, "reason", "bad_entry"), str(exc)))
        return page
