"""Where an article is filed: the one place that decides an item's categories."""

from __future__ import annotations

from typing import Protocol

from .config import Config
from .store import Store
from .text.clean import clean_media
from .text.slugs import CategorySlugs


class Listing(Protocol):
    """A list entry as a source gave it: the source's fixed category, else the media's."""

    category: str | None
    category_name: str | None
    media: str | None


def category_slugs(config: Config, store: Store) -> CategorySlugs:
    """The slugs of a crawl, knowing the stored categories and the sources' fixed ones."""
    known = {summary.slug: summary.name for summary in store.categories()}
    for source in config.sources:
        if source.category:
            known.setdefault(source.category, source.category_name or source.category)
    return CategorySlugs(config.category_slugs, known)


def categories_of(slugs: CategorySlugs, listing: Listing) -> dict[str, str]:
    """Slug → name of the categories a listing files its article under; ValueError for an unusable media."""
    return slugs.categories_for(listing.category, listing.category_name, clean_media(listing.media))
