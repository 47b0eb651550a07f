"""Category slugs: the phrase-aware pinyin of a media name, restricted to [a-z0-9-]."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

SLUG_RE = re.compile(r"[a-z0-9-]+")
NOT_SLUG_RE = re.compile(r"[^a-z0-9-]+")


def category_slug(media: str, overrides: Mapping[str, str] | None = None) -> str:
    """上海证券报 → shanghaizhengquanbao; a `[categories.slugs]` entry (exact media name) wins."""
    name = media.strip()
    if overrides and name in overrides:
        slug = overrides[name]
        if not SLUG_RE.fullmatch(slug):
            raise ValueError(f"category slug override {slug!r} for {name!r} is not [a-z0-9-]")
        return slug
    return _pinyin_slug(name)


@lru_cache(maxsize=4096)
def _pinyin_slug(name: str) -> str:
    """The slug of a media name (outlets repeat, so the pinyin is computed once per name).

    NFKC first, so that full-width Latin letters and digits (Ｗｉｎｄ, ３６氪) count as ASCII.
    """
    syllables = lazy_pinyin(unicodedata.normalize("NFKC", name), style=Style.NORMAL)
    slug = NOT_SLUG_RE.sub("", "".join(syllables).lower()).strip("-")
    if not slug:
        raise ValueError(f"media name {name!r} gives no usable category slug")
    return slug


def category_display_name(media: str) -> str:
    """上海证券报 → 上海证券报新闻, as the original site's tags."""
    return f"{media.strip()}新闻"


def categories_for(overrides: Mapping[str, str], category: str | None, category_name: str | None,
                   media: str | None) -> dict[str, str]:
    """The fixed category of a source, else the media's category; {} when neither is known."""
    if category:
        return {category: category_name or category}
    if media:
        return {category_slug(media, overrides): category_display_name(media)}
    return {}
