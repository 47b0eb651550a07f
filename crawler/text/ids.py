"""The article id: eastmoney's 18-digit number, from any of the forms the sources use."""

from __future__ import annotations

import hashlib
import re

ID_RE = re.compile(r"^\d{18}$")
CODE_RE = re.compile(r"^([A-Za-z]{2})(\d{18})$")
URL_ID_RE = re.compile(r"(?:/a/|/news/\d+,|infoCode=NW|[?&]id=NW)(\d{18})(?:_\d+)?(?:\.html)?", re.IGNORECASE)
FOREIGN_URL_RE = re.compile(r"infoCode=([A-Za-z]{2})\d{18}")


class NotNewsError(ValueError):
    """An identifier whose prefix marks something other than news (AN announcements, AP reports)."""


def article_id_from(value: str) -> str:
    """Normalize an info code (`NW…`), a bare id or an article/share URL to the 18-digit id."""
    text = str(value).strip()
    if ID_RE.match(text):
        return text
    code = CODE_RE.match(text)
    if code:
        if code[1].upper() != "NW":
            raise NotNewsError(f"info code {text!r} is not news (prefix {code[1].upper()})")
        return code[2]
    if "/" in text or "=" in text:
        match = URL_ID_RE.search(text)
        if match:
            return match[1]
        foreign = FOREIGN_URL_RE.search(text)
        if foreign:
            raise NotNewsError(f"info code in {text!r} is not news (prefix {foreign[1].upper()})")
    raise ValueError(f"no 18-digit article id in {text!r}")


def info_code_for(article_id: str) -> str:
    return f"NW{article_id}"


def article_version(title: str, epoch: int) -> str:
    """An article's version within a crawl cycle: the cycle's epoch and a digest of the title."""
    return f"{epoch}:{hashlib.sha1(title.encode('utf-8')).hexdigest()[:16]}"
