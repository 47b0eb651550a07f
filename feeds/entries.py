"""A feed's entries as one publish gives them: those its published files hold unchanged are taken from there
(feeds/reuse.py), without reading their articles; the others are read from the store and prepared.

The store lists a feed's newest ids with their change numbers (`Store.latest_changes`), which is cheap: an
unchanged entry costs neither reading and decoding its article nor preparing, serializing or listing it. A
topic's feed shows only the articles filed under it that match its definition now (see feeds/topics.py):
an entry its record holds matched the same definition (the record's context), so only the others are read
and matched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from markupsafe import Markup

from crawler.config import TopicConfig
from crawler.grouping import matching_topics
from crawler.store import Store

from . import reuse
from .build import BuiltFeed, Entry, FeedSpec, Fragments, assemble, entry_id, prepare
from .pages import entry_rows


@dataclass(frozen=True)
class Fresh:
    """An entry prepared from its article: new, changed, or not held as its feed's record says."""

    article_id: str
    change: int | None
    entry: Entry

    @property
    def updated(self) -> datetime:
        return self.entry.updated


Slot = reuse.Kept | Fresh
"""One entry of a feed, in its place."""


@dataclass(frozen=True)
class FeedEntries:
    """A feed's head (`spec`, holding no entries) and its entries, newest first."""

    spec: FeedSpec
    slots: list[Slot]
    context: str
    """What else decides which entries the feed shows (a topic's definition), as its record keeps it."""
    published: frozenset[str] | None = None
    """The entry ids the feed's published files hold, when its record vouches for them (None: unknown)."""

    @property
    def ids(self) -> frozenset[str]:
        """The entry ids the feed shows."""
        return frozenset(entry_id(slot.article_id) for slot in self.slots)

    @property
    def fresh(self) -> list[Entry]:
        """The entries prepared from their articles."""
        return [slot.entry for slot in self.slots if isinstance(slot, Fresh)]

    def build(self, spec: FeedSpec, fragments: Fragments) -> tuple[BuiltFeed, list[Markup], dict[str, object]]:
        """The feed's three files (with `spec`'s head), its page rows, and the record of both."""
        fresh = self.fresh
        made = dict(zip(fresh, fragments.of(spec.site, fresh), strict=True))
        rows = dict(zip(fresh, entry_rows(fresh), strict=True))
        shown = [slot.shown if isinstance(slot, reuse.Kept) else
                 reuse.Shown(slot.article_id, slot.change, slot.updated, rows[slot.entry]) for slot in self.slots]
        built = assemble(spec, [slot.fragment if isinstance(slot, reuse.Kept) else made[slot.entry]
                                for slot in self.slots])
        return built, [entry.row for entry in shown], reuse.record(spec.site, built, shown, self.context)


def read(store: Store, head: FeedSpec, folder: Path, *, recorded: bool, topic: TopicConfig | None = None
         ) -> FeedEntries:
    """The newest `feed_size` entries of the feed `head` names (a topic's: those matching it), taking from the
    folder's published files what they hold as recorded (nothing when not `recorded`)."""
    size, context = head.site.feed_size, topic.digest if topic else ""
    record = reuse.Record.read(folder, head.site, context) if recorded else reuse.Record(folder)
    slots: list[Slot] = []
    offset = 0
    while len(slots) < size and (page := store.latest_changes(head.slug, size, offset)):
        offset += len(page)
        kept = record.kept(page)
        articles = store.get_many(article_id for article_id, _ in page if article_id not in kept)
        for article_id, change in page:
            if article_id in kept:
                slots.append(kept[article_id])
            elif (article := articles.get(article_id)) is not None and (
                    topic is None or matching_topics([topic], article)):
                slots.append(Fresh(article_id, change, prepare(article)))
        if topic is None:
            break
    slots = slots[:size]
    newest = max((slot.updated for slot in slots), default=None)
    return FeedEntries(replace(head, newest=newest), slots, context, record.published())
