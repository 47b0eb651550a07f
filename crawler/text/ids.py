"""The article id: eastmoney's 18-digit number, accepted only in the exact forms the sources send."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

ARTICLE_ID_RE = re.compile(r"[0-9]{18}")
SOURCE_ID_RE = re.compile(r"([A-Z]{2})?([0-9]{18})")
# The last path segment of an article page: `/a/<id>.html`, `/a/<id>_2.html`, `/news/1350,<id>.html`.
PAGE_RE = re.compile(r"(?:[0-9]+,)?([0-9]{18})(?:_[0-9]+)?\.s?html?", re.IGNORECASE)


class BadIdError(ValueError):
    """An id field that is not exactly an id as the source kind sends it (dropped as `bad_id`)."""


class NotNewsError(ValueError):
    """An identifier whose prefix marks something other than news (AN announcements, AP reports)."""


def source_article_id(value: str, *, bare: bool) -> str:
    """The 18-digit id of an id field: exactly `NW` + 18 digits, or (`bare`: where the kind sends
    it so) exactly the 18 digits; another two-letter prefix is not news, anything else a bad id."""
    match = SOURCE_ID_RE.fullmatch(value)
    if match is None or match[1] is None and not bare:
        form = "NW + 18 digits" + (" or 18 digits" if bare else "")
        raise BadIdError(f"id {value[:80]!r} is not {form}")
    if match[1] not in (None, "NW"):
        raise NotNewsError(f"info code {value!r} is not news (prefix {match[1]}; only NW is news)")
    return match[2]


def page_article_id(url: str) -> str:
    """The id of an article page URL: its last path segment is `<id>.html` (or `_2`, `1350,` forms)."""
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    page = PAGE_RE.fullmatch(path.rsplit("/", 1)[-1])
    if page is None:
        raise BadIdError(f"no article id in page URL {url[:120]!r}")
    return page[1]


def is_article_id(value: str) -> bool:
    return bool(ARTICLE_ID_RE.fullmatch(value))


def info_code_for(article_id: str) -> str:
    """The Choice info code of an article id."""
    return f"NW{article_id}"


def article_version(title: str, epoch: int) -> str:
    """An article's version within a crawl cycle: the cycle's epoch and a digest of the title."""
    return f"{epoch}:{hashlib.sha1(title.encode('utf-8')).hexdigest()[:16]}"
