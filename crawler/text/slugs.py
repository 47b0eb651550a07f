"""Category slugs: the phrase-aware pinyin of a media name, `[a-z0-9-]`, capped, never reserved, never shared."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
"""What a category slug looks like (it names a folder of the output and a part of every feed URL)."""
NOT_SLUG_RE = re.compile(r"[^a-z0-9-]+")
SLUG_MAX_BYTES = 64
"""A slug is at most this long; a longer pinyin is cut and gets a hash suffix (folder names stay short)."""
SUFFIX_CHARS = 8
ALL_SLUG = "all"
RESERVED_SLUGS = frozenset({ALL_SLUG, "archive", "stocks", "topics"})
"""Names the output uses for itself (the all-news feeds, folders finews writes): never a category's slug."""


def is_slug(text: str) -> bool:
    """Whether `text` may name a category: `[a-z0-9-]`, starting with a letter or digit, at most 64 bytes."""
    return bool(SLUG_RE.fullmatch(text)) and len(text) <= SLUG_MAX_BYTES


def suffixed(slug: str, name: str) -> str:
    """`slug` cut to leave room for `-` and a short hash of `name`, and that suffix: distinct and stable."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:SUFFIX_CHARS]
    return f"{slug[:SLUG_MAX_BYTES - SUFFIX_CHARS - 1].rstrip('-')}-{digest}"


def category_slug(media: str, overrides: Mapping[str, str] | None = None) -> str:
    """上海证券报 → shanghaizhengquanbao; a `[categories.slugs]` entry (exact media name) wins."""
    name = media.strip()
    if overrides and name in overrides:
        slug = overrides[name]
        if not is_slug(slug):
            raise ValueError(f"category slug override {slug!r} for {name!r} is not [a-z0-9-] (≤ {SLUG_MAX_BYTES})")
        return slug
    return _pinyin_slug(name)


@lru_cache(maxsize=4096)
def _pinyin_slug(name: str) -> str:
    """The slug of a media name (outlets repeat, so the pinyin is computed once per name).

    NFKC first, so that full-width Latin letters and digits (Ｗｉｎｄ, ３６氪) count as ASCII. A pinyin
    longer than `SLUG_MAX_BYTES` is cut and suffixed with a hash of the name.
    """
    syllables = lazy_pinyin(unicodedata.normalize("NFKC", name), style=Style.NORMAL)
    slug = NOT_SLUG_RE.sub("", "".join(syllables).lower()).strip("-")
    if not slug:
        raise ValueError(f"media name {name[:80]!r} gives no usable category slug")
    return suffixed(slug, name) if len(slug) > SLUG_MAX_BYTES else slug


def category_display_name(media: str) -> str:
    """上海证券报 → 上海证券报新闻, as the original site's tags."""
    return f"{media.strip()}新闻"


class CategorySlugs:
    """Hands out category slugs for one crawl: each slug stays with the first name that had it.

    `known` is slug → display name of the categories the store holds (and the sources' fixed
    ones): a media name whose slug is reserved or already another name's gets the slug with a
    hash of its name (and a log line), so no two names share a feed and no existing feed's URL
    changes. `[categories.slugs]` entries merge names into one slug on purpose and are not checked.
    """

    def __init__(self, overrides: Mapping[str, str], known: Mapping[str, str] | None = None):
        self.overrides = dict(overrides)
        self.known = dict(known or {})
        self.chosen: dict[str, str] = {}

    def media_slug(self, media: str) -> tuple[str, str]:
        """(slug, display name) of a media name's category."""
        name = category_display_name(media)
        if media.strip() in self.overrides:
            return category_slug(media, self.overrides), name
        if name in self.chosen:
            return self.chosen[name], name
        slug = category_slug(media)
        owner = self.known.get(slug)
        if slug in RESERVED_SLUGS or owner is not None and owner != name:
            taken = "reserved" if slug in RESERVED_SLUGS else f"already {owner!r}'s"
            slug, plain = suffixed(slug, media.strip()), slug
            logger.warning("category slug %r of media %r is %s: filed as %r", plain, media.strip()[:80], taken, slug)
        self.known.setdefault(slug, name)
        self.chosen[name] = slug
        return slug, name

    def categories_for(self, category: str | None, category_name: str | None,
                       media: str | None) -> dict[str, str]:
        """The fixed category of a source, else the media's category; {} when neither is known."""
        if category:
            return {category: category_name or category}
        if media:
            slug, name = self.media_slug(media)
            return {slug: name}
        return {}
