"""Article and RunStatus records as JSON-ready dicts, with aware Beijing datetimes."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .base import Article, RunStatus

BEIJING = ZoneInfo("Asia/Shanghai")
ARTICLE_TIMES = ("published", "updated", "first_seen")
RUN_TIMES = ("started", "finished", "last_success")
ARTICLE_FIELDS = {f.name for f in fields(Article)}
RUN_FIELDS = {f.name for f in fields(RunStatus)}


def time_to_text(value: datetime | None) -> str | None:
    return value.astimezone(BEIJING).isoformat() if value else None


def time_from_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(BEIJING) if value else None


def article_to_json(article: Article) -> str:
    data = asdict(article)
    for name in ARTICLE_TIMES:
        data[name] = time_to_text(data[name])
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def article_from_json(text: str) -> Article:
    data: dict[str, Any] = json.loads(text)
    for name in ARTICLE_TIMES:
        data[name] = time_from_text(data.get(name))
    return Article(**{k: v for k, v in data.items() if k in ARTICLE_FIELDS})


def run_to_json(status: RunStatus) -> str:
    data = asdict(status)
    for name in RUN_TIMES:
        data[name] = time_to_text(data[name])
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def run_from_json(text: str) -> RunStatus:
    data: dict[str, Any] = json.loads(text)
    for name in RUN_TIMES:
        data[name] = time_from_text(data.get(name))
    return RunStatus(**{k: v for k, v in data.items() if k in RUN_FIELDS})


def merge_fields(stored: Article, incoming: Article, categories: dict[str, str]) -> tuple[Article, tuple[str, ...]]:
    """Union categories and fill the stored article's empty extras from `incoming`."""
    added = tuple(sorted(set(categories) - set(stored.categories)))
    merged = dict(stored.categories)
    merged.update({slug: name for slug, name in categories.items() if slug in added})
    stored.categories = dict(sorted(merged.items()))
    for name in ("media", "digest", "url_w", "info_code", "content_raw", "text_raw"):
        if not getattr(stored, name) and getattr(incoming, name, None):
            setattr(stored, name, getattr(incoming, name))
    return stored, added
