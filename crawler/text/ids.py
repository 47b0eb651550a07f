"""The article id: eastmoney's 18-digit number, from any of the forms the sources use."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlsplit

ARTICLE_ID_RE = re.compile(r"\d{18}")
INFO_CODE_RE = re.compile(r"([A-Za-z]{2})(\d{18})")
# The last path segment of an article page: `/a/<id>.html`, `/a/<id>_2.html`, `/news/1350,<id>.html`.
PAGE_RE = re.compile(r"(?:\d+,)?(\d{18})(?:_\d+)?\.s?html?", re.IGNORECASE)
# Query parameters that carry an info code or an id (Choice share pages and list APIs).
CODE_PARAMS = {"infocode", "code", "id", "newsid", "art_code"}


class NotNewsError(ValueError):
    """An identifier whose prefix marks something other than news (AN announcements, AP reports)."""


def article_id_from(value: str) -> str:
    """Normalize an info code (`NW…`), a bare id or an article/share URL to the 18-digit id."""
    text = str(value).strip()
    if ARTICLE_ID_RE.fullmatch(text):
        return text
    code = INFO_CODE_RE.fullmatch(text)
    if code:
        prefix = code[1].upper()
        if prefix != "NW":
            raise NotNewsError(f"info code {text!r} is not news (prefix {prefix}; only NW is news)")
        return code[2]
    if "/" in text or "?" in text:
        return _article_id_from_url(text)
    raise ValueError(f"not an article id, info code or article URL: {text!r}")


def _article_id_from_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(f"not an article id, info code or article URL: {url!r}") from None
    page = PAGE_RE.fullmatch(parts.path.rsplit("/", 1)[-1])
    if page:
        return page[1]
    for name, value in parse_qsl(parts.query):
        if name.lower() in CODE_PARAMS:
            try:
                return article_id_from(value)
            except NotNewsError:
                raise
            except ValueError:
                continue
    raise ValueError(f"no article id in URL {url!r}")


def info_code_for(article_id: str) -> str:
    """The Choice info code of an article id."""
    return f"NW{article_id}"


def article_version(title: str, epoch: int) -> str:
    """An article's version within a crawl cycle: the cycle's epoch and a digest of the title."""
    return f"{epoch}:{hashlib.sha1(title.encode('utf-8')).hexdigest()[:16]}"
