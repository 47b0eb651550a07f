"""Article and RunStatus records ↔ JSON text, with datetimes as ISO 8601 read back in Beijing time."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Any

from ..text.times import BEIJING
from .base import Article, RunStatus

ARTICLE_TIMES = ("published", "updated", "first_seen")
RUN_TIMES = ("started", "finished", "last_success")
ARTICLE_FIELDS = tuple(f.name for f in fields(Article))
RUN_FIELDS = tuple(f.name for f in fields(RunStatus))
FILLED_FIELDS = ("media", "digest", "url_w", "info_code")
"""Fields a later sighting fills in when the stored article has them empty."""
CONTENT_FIELDS = ("title", "link", "html", "summary", "content_raw", "text_raw", "content_hash", "source_hash",
                  "securities")
"""Fields an updated article replaces."""
BODY_FIELDS = ("html", "summary", "content_raw", "text_raw")
"""The bulky fields, which a store may keep apart from the rest of the record."""


def beijing(value: datetime) -> datetime:
    """The same instant in the Asia/Shanghai zone (as reads give it); naive datetimes are refused."""
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: the store keeps aware times only")
    return value.astimezone(BEIJING)


def time_to_text(value: datetime | None) -> str | None:
    """ISO 8601 in Beijing time: `2021-12-21T20:40:26+08:00`."""
    return beijing(value).isoformat() if value is not None else None


def time_from_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(BEIJING) if value else None


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def article_to_dict(article: Article, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    data = {name: getattr(article, name) for name in ARTICLE_FIELDS if name not in skip}
    for name in ARTICLE_TIMES:
        data[name] = time_to_text(data[name])
    data["categories"] = dict(sorted(article.categories.items()))
    data["securities"] = dict(sorted(article.securities.items()))
    return data


def article_from_dict(data: dict[str, Any]) -> Article:
    values = {name: data[name] for name in ARTICLE_FIELDS if name in data}
    for name in ARTICLE_TIMES:
        values[name] = time_from_text(values.get(name))
    values["categories"] = dict(sorted((values.get("categories") or {}).items()))
    values["securities"] = dict(sorted((values.get("securities") or {}).items()))
    return Article(**values)


def article_to_json(article: Article) -> str:
    return dumps(article_to_dict(article))


def article_from_json(text: str) -> Article:
    return article_from_dict(json.loads(text))


def run_to_json(status: RunStatus) -> str:
    data = {name: getattr(status, name) for name in RUN_FIELDS}
    for name in RUN_TIMES:
        data[name] = time_to_text(data[name])
    return dumps(data)


def run_from_json(text: str) -> RunStatus:
    data = json.loads(text)
    values = {name: data[name] for name in RUN_FIELDS if name in data}
    for name in RUN_TIMES:
        values[name] = time_from_text(values.get(name))
    return RunStatus(**values)
