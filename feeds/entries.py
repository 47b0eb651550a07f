"""A feed's entries as one publish gives them: those its published files hold unchanged are taken from there
(feeds/reuse.py), without reading their articles; the others are read from the store and prepared.

The store lists a feed's newest ids with their change numbers (`Store.latest_changes`), which is cheap: an
unchanged entry costs neither reading and decoding its article nor preparing, serializing or listing it. A
topic's feed shows only the articles filed under it that match its definition now (see feeds/topics.py):
an entry its record holds matched the same definition (the record's context), so only the others are read
and matched.

A publish lists each changed feed first (`listed`: its newest ids with their change numbers and its record, all
the archive plan asks of it) and reads its entries only as it builds it (`finish`), so that the writer threads
are already writing the feeds built before; an article the archive plan prepared is not read again (`Known`).
"""

from __future__ import annotations

from collections.abc import Callable
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

    def build(self, spec: FeedSpec, fragments: Fragments, rows: dict[Entry, Markup] | None = None
              ) -> tuple[BuiltFeed, list[Markup], dict[str, object]]:
        """The feed's three files (with `spec`'s head), its page rows, and the record of both; `rows` holds the rows
        of entries rendered for other feeds of the same publish (an entry is in several), and takes this one's."""
        fresh = self.fresh
        made = dict(zip(fresh, fragments.of(spec.site, fresh), strict=True))
        rows = {} if rows is None else rows
        missing = [entry for entry in dict.fromkeys(fresh) if entry not in rows]
        rows.update(zip(missing, entry_rows(missing), strict=True))
        shown = [slot.shown if isinstance(slot, reuse.Kept) else
                 reuse.Shown(slot.article_id, slot.change, slot.updated, rows[slot.entry]) for slot in self.slots]
        built = assemble(spec, [slot.fragment if isinstance(slot, reuse.Kept) else made[slot.entry]
                                for slot in self.slots])
        return built, [entry.row for entry in shown], reuse.record(spec.site, built, shown, self.context)


@dataclass(frozen=True)
class Listed:
    """A feed's newest article ids with their change numbers, and its record: what a publish needs to know of the
    feed before it reads any of its articles (`finish` reads them)."""

    spec: FeedSpec
    page: list[tuple[str, int | None]]
    record: reuse.Record

    @property
    def ids(self) -> frozenset[str]:
        """The entry ids the feed shows (but for an article gone from the store before `finish`)."""
        return frozenset(entry_id(article_id) for article_id, _ in self.page)

    @property
    def published(self) -> frozenset[str] | None:
        return self.record.published()


Known = Callable[[str, int | None], Entry | None]
"""The entry of an article at a change number when this publish has prepared it already, else None."""


def _unknown(article_id: str, change: int | None) -> None:
    return None


def listed(store: Store, head: FeedSpec, folder: Path, *, recorded: bool, topic: TopicConfig | None = None
           ) -> Listed | FeedEntries:
    """The newest `feed_size` article ids of the feed `head` names, with the folder's record of its published files
    (an empty one when not `recorded`); a topic's feed read whole, since its articles decide which of them it shows."""
    if topic is not None:
        return _topic_entries(store, head, folder, recorded, topic)
    record = reuse.Record.read(folder, head.site) if recorded else reuse.Record(folder)
    return Listed(head, store.latest_changes(head.slug, head.site.feed_size), record)


def finish(store: Store, feed: Listed | FeedEntries, known: Known | None = None) -> FeedEntries:
    """The listed feed's entries: those its files hold as recorded taken from there, the others `known` or read
    from the store and prepared (an article gone from the store since it was listed is left out)."""
    if isinstance(feed, FeedEntries):
        return feed
    return _entries(feed.spec, feed.record, "", _slots(store, feed.page, feed.record, known or _unknown))


def _topic_entries(store: Store, head: FeedSpec, folder: Path, recorded: bool, topic: TopicConfig) -> FeedEntries:
    """The newest `feed_size` entries of a topic's feed that match it, taking from the folder's published files what
    they hold as recorded under the topic's definition (nothing when not `recorded`)."""
    size, context = head.site.feed_size, topic.digest
    record = reuse.Record.read(folder, head.site, context) if recorded else reuse.Record(folder)
    slots: list[Slot] = []
    offset = 0
    while len(slots) < size and (page := store.latest_changes(head.slug, size, offset)):
        offset += len(page)
        slots += _slots(store, page, record, _unknown, topic)
    return _entries(head, record, context, slots[:size])


def _slots(store: Store, page: list[tuple[str, int | None]], record: reuse.Record, known: Known,
           topic: TopicConfig | None = None) -> list[Slot]:
    """The entries of a page of ids: kept as the record holds them, known, or read (a topic's: those matching it)."""
    kept = record.kept(page)
    entries = {article_id: entry for article_id, change in page
               if article_id not in kept and topic is None and (entry := known(article_id, change)) is not None}
    articles = store.get_many(article_id for article_id, _ in page if article_id not in kept and article_id not in entries)
    slots: list[Slot] = []
    for article_id, change in page:
        if article_id in kept:
            slots.append(kept[article_id])
        elif article_id in entries:
            slots.append(Fresh(article_id, change, entries[article_id]))
        elif (article := articles.get(article_id)) is not None and (
                topic is None or matching_topics([topic], article)):
            slots.append(Fresh(article_id, change, prepare(article)))
    return slots


def _entries(head: FeedSpec, record: reuse.Record, context: str, slots: list[Slot]) -> FeedEntries:
    newest = max((slot.updated for slot in slots), default=None)
    return FeedEntries(replace(head, newest=newest), slots, context, record.published())
