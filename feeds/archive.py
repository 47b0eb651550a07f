"""RFC 5005 archived feeds: for every feed, one Atom and one JSON Feed document per Beijing month.

`<slug>/archive/<YYYY-MM>.atom` holds every entry of that feed published in that month, at its
latest version, newest first, with `<fh:archive/>` and the links `current` (the subscription
feed), `prev-archive` / `next-archive` (the neighbouring months that have documents) and `self`;
`<YYYY-MM>.json` is the same as JSON Feed, `next_url` pointing at the month before.

What to rewrite comes from the store's change numbers (`Store.changes`): a publish asks for the
articles changed since the number the archives last read (kept, with what lags, in
`.archive-state.json` in the output folder, written after the files it describes are in place),
and rewrites only the months of those articles' entries, in `all/` and in each category the
article is or was in. A month is therefore rewritten only when one of its entries changed, and
once more when the next month with a document appears (to gain its `next-archive` link);
rebuilding the same entries gives the same bytes, which are then not written at all.

The newest month (the month of the store's newest article) may lag: a consumer reads the
subscription document before it walks `prev-archive`, so an entry that document shows needs no
archive yet. A feed's newest month is written only when one of its changes is an edit of an
entry its document holds already, or when one of the entries it lacks is no longer in the
feed's subscription document; otherwise the new entries wait (`State.pending`) and no archive
file is written. Once the store's newest month is a later one, the waiting entries are written
like any other change. The subscription documents link the newest month that has a document.
Housekeeping prunes only articles whose last change the archives hold (`State.change`, below
the oldest waiting entry), so a prune loses no entry either.

The archives keep what was pruned: a month is rebuilt from its own Atom document (every entry
it held) with the changed entries replaced or added, never from the store alone, so an entry
the store has pruned stays in its month for good. The rebuild splices bytes: the month's
unchanged `<entry>` blocks and JSON Feed items (one per line in an archive's JSON document) are
kept as they are and only the changed entries are serialized (once per publish, for every feed
they are in), around a head built by feedgen; the result is byte for byte what building every
entry would give. A document not in that layout (an older JSON one, a hand-edited one) is read
entry by entry with lxml instead.
Reading an entry back from the Atom document is exact but for two cases that change no text:
an article whose HTML is exactly its escaped summary reads back as one without HTML, and a
media named exactly like the site reads back as no media.
"""

from __future__ import annotations

import heapq
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from html import escape
from pathlib import Path
from typing import NamedTuple

from lxml import etree

from crawler.config import SiteConfig
from crawler.store import ALL, Article, Store
from crawler.text.times import BEIJING

from .build import (ATOM_NS, ENTRY_CLOSE, ENTRY_OPEN, FEED_CLOSE, ITEMS, MEDIA_TYPES, Entry, FeedSpec, Fragments, Pieces,
                    build_atom, entry_id, json_pieces, prepare, spans, spec_for, splice_pieces, xml_text)
from .paths import file_in, inside

logger = logging.getLogger(__name__)

ARCHIVE_DIR = "archive"
STATE_FILE = ".archive-state.json"
"""In the output folder: what the published archives hold (`State`; a dotfile: never served;
a constant name, so the one path not made by `paths.inside`)."""
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
BATCH = 500
"""Articles read from the store per call."""
A = f"{{{ATOM_NS}}}"
CATEGORY_RE = re.compile(rb'<category term="([^"]*)"')


def month_of(entry: Entry) -> str:
    """The Beijing calendar month an entry was published in, `YYYY-MM`."""
    return entry.published.astimezone(BEIJING).strftime("%Y-%m")


@dataclass(frozen=True)
class ArchiveSpec(FeedSpec):
    """One month's archive document of a feed: its entries given, its links from its neighbours."""

    month: str = ""
    prev: str | None = None
    next: str | None = None
    last_updated: datetime | None = None
    """The newest `updated` of the month's entries, when they are not all in `prepared`."""

    @property
    def updated(self) -> datetime:
        return self.last_updated or super().updated

    @property
    def title(self) -> str:
        return xml_text(f"{self.name} {self.month} - {self.site.title}")

    @property
    def archived(self) -> bool:
        return True

    def self_url(self, fmt: str) -> str:
        return self.archive_url(self.month, fmt)

    def links(self, fmt: str) -> list[dict[str, str]]:
        atom = MEDIA_TYPES["atom"]
        links = [{"href": self.url("atom"), "rel": "current", "type": atom}]
        if self.prev:
            links.append({"href": self.archive_url(self.prev, "atom"), "rel": "prev-archive", "type": atom})
        if self.next:
            links.append({"href": self.archive_url(self.next, "atom"), "rel": "next-archive", "type": atom})
        return links

    @property
    def next_url(self) -> str | None:
        return self.archive_url(self.prev, "json") if self.prev else None


def months(folder: Path) -> list[str]:
    """The months a feed folder has archive documents for, oldest first."""
    try:
        names = [path.stem for path in (folder / ARCHIVE_DIR).glob("*.atom")]
    except OSError:
        return []
    return sorted(name for name in names if MONTH_RE.match(name))


def newest_month(folder: Path) -> str | None:
    found = months(folder)
    return found[-1] if found else None


@dataclass
class State:
    """What the published archives hold, kept in `STATE_FILE` (written after the files it describes are in place)."""

    read: int
    """The change number up to which every change was read: written, or left lagging in `pending`."""
    month: str | None
    """The month that may lag (the store's newest); None for none."""
    pending: dict[str, dict[str, int]]
    """Feed slug → the articles of `month` its document does not hold yet (each still in the feed's
    subscription document), with their change numbers."""

    @property
    def change(self) -> int:
        """The change number every change up to which the archives hold: what housekeeping may prune."""
        numbers = [n for ids in self.pending.values() for n in ids.values()]
        return min(numbers) - 1 if numbers else self.read

    def bytes(self) -> bytes:
        return (json.dumps({"change": self.change, "read": self.read, "month": self.month,
                            "pending": {slug: dict(sorted(ids.items())) for slug, ids in sorted(self.pending.items())}},
                           separators=(",", ":")) + "\n").encode("utf-8")


def read_state(output: Path) -> State | None:
    """The recorded state of the published archives; None when there are none yet (or it is unreadable).

    A state written before archives could lag (only `change`) reads as nothing lagging.
    """
    try:
        data = json.loads((output / STATE_FILE).read_text(encoding="utf-8"))
        read, month, pending = data.get("read", data["change"]), data.get("month"), data.get("pending", {})
        valid = (_number(data["change"]) and _number(read) and (month is None or MONTH_RE.match(month))
                 and all(isinstance(ids, dict) and all(_number(n) for n in ids.values()) for ids in pending.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return State(read, month, pending) if valid else None


def _number(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_mark(output: Path) -> int | None:
    """The change number every change up to which the published archives hold (housekeeping prunes no later
    change); None when there are none yet (or it is unreadable)."""
    state = read_state(output)
    return None if state is None else state.change


def read_entries(path: Path, site_author: str) -> dict[str, Entry]:
    """The entries of a published Atom archive document, by id; empty when there is none.

    A document that cannot be read is logged and taken as empty: the month is rebuilt from the
    entries the store still holds.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
        return {entry.id: entry for entry in (_entry(e, site_author) for e in root.iterfind(f"{A}entry"))}
    except (etree.XMLSyntaxError, ValueError, TypeError, AttributeError) as exc:
        logger.error("archive %s cannot be read (%s): rebuilding it from the store's entries only", path, exc)
        return {}


def _entry(element: etree._Element, site_author: str) -> Entry:
    """An Atom entry as build.py wrote it, back as the Entry it was built from."""
    summary = element.findtext(f"{A}summary") or ""
    content = element.findtext(f"{A}content") or ""
    author = element.findtext(f"{A}author/{A}name")
    return Entry(
        id=element.findtext(f"{A}id"),
        title=element.findtext(f"{A}title") or "",
        link=element.find(f"{A}link").get("href"),
        summary=summary,
        html="" if content == escape(summary, quote=False) else content,
        author=None if author == site_author else author,
        published=datetime.fromisoformat(element.findtext(f"{A}published")).astimezone(BEIJING),
        updated=datetime.fromisoformat(element.findtext(f"{A}updated")).astimezone(BEIJING),
        categories=tuple((c.get("term"), c.get("label") or c.get("term")) for c in element.iterfind(f"{A}category")),
    )


def all_articles(store: Store) -> Iterator[Article]:
    """Every stored article, oldest first, a page at a time."""
    offset = 0
    while page := store.oldest(ALL, BATCH, offset):
        yield from page
        offset += len(page)


@dataclass
class ArchivePlan:
    """What one publish writes for the archives, and what the subscription feeds link."""

    state: State
    documents: Iterator[tuple[Path, bytes | Pieces]]
    """The files to write, built one month at a time as they are asked for (the state last)."""
    newest: dict[str, str] = field(default_factory=dict)
    """Feed slug → its newest archive month, for every feed whose archives this plan changed."""
    known: Callable[[str, int | None], Entry | None] = lambda article_id, change: None
    """The entry of a changed article at its change number, while the plan holds it (until its month is built)."""

    def newest_for(self, slug: str, folder: Path) -> str | None:
        return self.newest.get(slug) or newest_month(folder)


def changed_articles(store: Store, after: int) -> Iterator[tuple[int, Article]]:
    """The articles changed after change number `after` with their change numbers, a page at a time
    (an article changed again while they are read comes again, later)."""
    mark = after
    while page := store.changes(mark, BATCH):
        yield from page
        mark = max(mark, *(number for number, _ in page))


class Held(NamedTuple):
    """One entry of a month document as bytes: what rewriting the month keeps of it unless it changed
    (a tuple: a month of `all/` makes thousands of them per publish)."""

    id: str
    published: datetime
    updated: datetime
    atom: bytes | memoryview
    """Its `<entry>` block, as the document holds it."""
    json: bytes | memoryview
    """Its JSON Feed item, one line."""

    def categories(self) -> set[str]:
        """The category slugs of the entry (`<category term>`)."""
        return {term.decode("utf-8") for term in CATEGORY_RE.findall(self.atom)}


def _between(data: bytes, start_tag: bytes, end_tag: bytes, start: int, end: int, *, last: bool = False) -> str:
    """The text of the first (or last) `start_tag…end_tag` element within data[start:end]."""
    begin = (data.rfind if last else data.find)(start_tag, start, end)
    stop = data.find(end_tag, begin, end)
    if begin < 0 or stop < 0:
        raise ValueError(f"no {start_tag!r} element")
    return data[begin + len(start_tag):stop].decode("utf-8")


def _atom_blocks(data: bytes) -> list[tuple[str, datetime, datetime, memoryview]] | None:
    """(id, published, updated, block) of every entry of a document laid out as feedgen writes it; None otherwise.

    The blocks are views of `data`, not copies (a month of `all/` is tens of megabytes).
    """
    found = spans(data, ENTRY_OPEN, ENTRY_CLOSE, FEED_CLOSE)
    if found is None:
        return None
    view = memoryview(data)
    try:
        return [(_between(data, b"<id>", b"</id>", start, end),
                 datetime.fromisoformat(_between(data, b"<published>", b"</published>", start, end, last=True)),
                 datetime.fromisoformat(_between(data, b"<updated>", b"</updated>", start, end)),
                 view[start:end]) for start, end in found]
    except ValueError:
        return None


def _json_lines(data: bytes) -> dict[str, memoryview]:
    """The items of a JSON Feed document laid out one per line, by id, as views of `data` ({} for any other layout).

    A raw newline is never inside a JSON string, so each line is a whole item.
    """
    start, end = data.find(ITEMS + b"\n"), data.rfind(b"\n]")
    if start < 0 or end < start or data.count(b"\n", 0, start) or data.find(b"\n", end + 2) != len(data) - 1:
        return {}
    view, found = memoryview(data), {}
    pos = start + len(ITEMS) + 1
    while pos < end:
        stop = data.find(b",\n", pos, end)
        stop = end if stop < 0 else stop
        begin = data.rfind(b'"id":"', pos, stop) + len(b'"id":"')  # after the content, among the short keys at the end
        found[data[begin:data.find(b'"', begin, stop)].decode("utf-8")] = view[pos:stop]
        pos = stop + 2
    return found


def serialize(site: SiteConfig, entries: Iterable[Entry], fragments: Fragments) -> dict[str, Held]:
    """Entries as a month document holds them, by id."""
    prepared = list(entries)
    return {entry.id: Held(entry.id, entry.published, entry.updated, part.atom, part.json)
            for entry, part in zip(prepared, fragments.of(site, prepared))}


def read_month(site: SiteConfig, folder: Path, month: str, fragments: Fragments) -> dict[str, Held]:
    """The entries a feed's published month holds (in its archive `folder`), by id; empty when there is none.

    Read as bytes when the documents have the layout finews writes, else entry by entry
    (`read_entries`) and serialized again.
    """
    path = file_in(folder, f"{month}.atom")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    blocks = _atom_blocks(data)
    try:
        lines = _json_lines(file_in(folder, f"{month}.json").read_bytes()) if blocks else {}
    except FileNotFoundError:
        lines = {}
    if blocks is None or any(id not in lines for id, *_ in blocks):
        return serialize(site, read_entries(path, xml_text(site.title)).values(), fragments)
    return {id: Held(id, published, updated, block, lines[id]) for id, published, updated, block in blocks}


def month_documents(spec: ArchiveSpec, entries: Iterable[Held]) -> tuple[Pieces, Pieces]:
    """A month's Atom and JSON Feed documents holding these entries, newest first by published (ties: larger id first)."""
    ordered = sorted(entries, key=lambda held: (held.published, held.id), reverse=True)
    head = replace(spec, last_updated=max(held.updated for held in ordered))
    return (splice_pieces(build_atom(head), FEED_CLOSE, (held.atom for held in ordered)),
            json_pieces(head, (held.json for held in ordered), b",\n"))


def subscribed(folder: Path) -> set[str]:
    """The entry ids of a feed's published subscription document (`atom.xml`); empty when there is none."""
    path = file_in(folder, "atom.xml")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    found = spans(data, ENTRY_OPEN, ENTRY_CLOSE, FEED_CLOSE)
    if found is not None:
        try:
            return {_between(data, b"<id>", b"</id>", start, end) for start, end in found}
        except ValueError:
            pass
    return set(read_entries(path, ""))


def plan(store: Store, site: SiteConfig, folder_of: Callable[[str], Path | None], names: dict[str, str], *,
         full: bool, fragments: Fragments, window: Callable[[str], frozenset[str] | None],
         subscribed_ids: Callable[[str], frozenset[str] | None] = lambda slug: None) -> ArchivePlan:
    """The archive documents to write for the changes since the recorded state (every month when `full`).

    `folder_of` gives the folder of a feed slug that may be published, None for any other (asked
    once per slug, only for the feeds of the changed articles). `window` gives the entry ids of
    the subscription document a feed gets from this publish, None for a feed this publish leaves
    alone: the newest month may lag behind by entries that document holds (see the module's docstring).
    `subscribed_ids` gives the entry ids a feed's published subscription document holds when they are known without
    reading it (None: it is read).
    """
    checked: dict[str, Path | None] = {}
    archive_dirs: dict[str, Path] = {}

    def folder(slug: str) -> Path | None:
        if slug not in checked:
            checked[slug] = folder_of(slug)
        return checked[slug]

    def archives(slug: str) -> Path:
        """The archive folder of a feed `folder` gives (checked once)."""
        if slug not in archive_dirs:
            archive_dirs[slug] = inside(folder(slug), ARCHIVE_DIR)
        return archive_dirs[slug]

    output = site.output_dir
    state = None if full else read_state(output)
    newest = store.latest(ALL, 1)
    newest_month = month_of(prepare(newest[0])) if newest else None
    current = newest_month if state is not None else None  # None: nothing lags
    pending = {slug: dict(ids) for slug, ids in state.pending.items()} if state and state.month == current else {}

    published: dict[tuple[str, str], dict[str, Held]] = {}

    def held(slug: str, month: str) -> dict[str, Held]:
        """The entries the published documents of a month hold (read once, until the month is built)."""
        if (slug, month) not in published:
            published[slug, month] = read_month(site, archives(slug), month, fragments)
        return published[slug, month]

    filed: dict[str, dict[str, set[str]]] = {}

    def filed_in(month: str) -> dict[str, set[str]]:
        """The category slugs of each entry all/'s published month holds, by id (read once)."""
        if month not in filed:
            filed[month] = {id: entry.categories() for id, entry in held(ALL, month).items()}
            del published[ALL, month]  # read again when the month is built: the month is not kept meanwhile
        return filed[month]

    entries: dict[str, Entry] = {}
    article_of: dict[str, str] = {}
    numbers: dict[str, int] = {}
    updates: dict[str, dict[str, set[str]]] = {}
    """Feed slug → month → the ids of its entries to write (when the month is written)."""
    rewrite: dict[str, set[str]] = {}
    """Feed slug → the months of `current` or the lagging month before it that are written."""
    loads: set[str] = set()
    """Article ids of lagging entries to write: read again from the store."""
    newest_month_categories: dict[str, set[str]] = {}
    """The categories of each changed entry of `current`: its earlier ones are read only if all/'s month is written."""

    def update(slug: str, month: str, id: str) -> None:
        if folder(slug):
            updates.setdefault(slug, {}).setdefault(month, set()).add(id)

    newest_of: dict[str, list[tuple[datetime, str]]] = {}
    """Feed slug → (published, id) of its changed entries: the newest are what its feed shows."""

    def take(number: int, article: Article) -> None:
        entry = entries[entry_id(article.article_id)] = prepare(article)
        article_of[entry.id], numbers[entry.id] = article.article_id, number
        month = month_of(entry)
        if month == current:
            newest_month_categories[entry.id] = {ALL, *article.categories}
            before: set[str] = set()
        else:
            before = filed_in(month).get(entry.id, set()) if folder(ALL) else set()
        # the categories it was in too: a category that pruned it still shows its latest version
        for slug in {ALL, *article.categories, *before}:
            update(slug, month, entry.id)
        for slug in {ALL, *article.categories}:
            newest_of.setdefault(slug, []).append((entry.published, entry.id))

    mark = state.read if state else 0
    for number, article in changed_articles(store, mark):
        take(number, article)
        mark = max(mark, number)
    if state is None and len(entries) < store.count(ALL):  # some were stored without a change number
        for article in all_articles(store):
            if entry_id(article.article_id) not in entries:
                take(0, article)
    if state and state.month != current:  # the lagging month is no longer the newest: written like the others
        for slug, ids in state.pending.items():
            if folder(slug):
                rewrite.setdefault(slug, set()).add(state.month)
                updates.setdefault(slug, {}).setdefault(state.month, set()).update(map(entry_id, ids))
                loads.update(ids)

    def lags(slug: str) -> bool:
        """Whether the changes of the feed's newest month may all wait in its subscription document: none is
        an edit of an entry the month's document holds, none is outside the document."""
        changed = updates.get(slug, {}).get(current, set())
        shown = window(slug)
        if shown is None:
            return not changed
        waiting = {entry_id(id) for id in pending.get(slug, {})}
        unseen = changed - waiting
        if (changed | waiting) - shown:
            return False
        if not unseen:
            return True
        known = subscribed_ids(slug)
        return not unseen & (subscribed(folder(slug)) if known is None else known)

    def settle(slug: str) -> None:
        """The feed's newest month: left to lag with its new entries, or written with every lagging one."""
        if lags(slug):
            waiting = pending.setdefault(slug, {})
            waiting.update((article_of[id], numbers[id]) for id in updates.get(slug, {}).get(current, ()))
            if not waiting:
                del pending[slug]
            return
        waiting = pending.pop(slug, {})
        rewrite.setdefault(slug, set()).add(current)
        updates.setdefault(slug, {}).setdefault(current, set()).update(map(entry_id, waiting))
        loads.update(waiting)

    if current is not None:
        if folder(ALL):
            settle(ALL)
        if current in rewrite.get(ALL, ()):
            for id, categories in newest_month_categories.items():
                for slug in filed_in(current).get(id, set()) - categories:
                    update(slug, current, id)  # an archived entry the category pruned: written there
                    rewrite.setdefault(slug, set()).add(current)
        for slug in sorted((set(updates) | set(pending)) - {ALL}):
            if current not in rewrite.get(slug, ()):
                settle(slug)

    todo: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    """Month → the feed slugs it is written for → their (prev, next) months."""
    documents: dict[str, list[str]] = {}
    newest_written: dict[str, str] = {}
    for slug, changed in updates.items():
        existing = documents[slug] = months(folder(slug))
        written = {month for month in changed if month != current} | rewrite.get(slug, set())
        chain = sorted(set(existing) | written)
        months_written = set(written)
        for month in written - set(existing):  # a new month: its neighbours' links change
            index = chain.index(month)
            months_written.update(chain[max(index - 1, 0):index + 2])
        for month in months_written:
            todo.setdefault(month, {})[slug] = neighbours(chain, month)
        if chain:
            newest_written[slug] = chain[-1]
    for article in filter(None, map(store.get, sorted(loads - set(article_of.values())))):
        entries[entry_id(article.article_id)] = prepare(article)
    new_state = State(read=mark, month=newest_month, pending=pending)
    shown = {id for entries_of in newest_of.values() for _, id in heapq.nlargest(site.feed_size, entries_of)}
    """The entries the feeds' subscription documents likely show: their fragments are kept for them."""

    def build() -> Iterator[tuple[Path, bytes | Pieces]]:
        """Month by month: its changed entries serialized, each feed's documents of it, then all of it let go."""
        for month, feeds in sorted(todo.items()):
            ids = {id for slug in feeds for id in updates[slug].get(month, ()) if id in entries}
            fresh = serialize(site, (entries[id] for id in sorted(ids)), fragments)
            for slug, (prev, next) in sorted(feeds.items()):
                kept = dict(held(slug, month)) if month in documents[slug] else {}
                published.pop((slug, month), None)
                kept.update((id, fresh[id]) for id in updates[slug].get(month, ()) if id in fresh)
                spec = archive_spec(site, slug, names.get(slug), month, prev=prev, next=next)
                atom, json_feed = month_documents(spec, kept.values())
                del kept
                yield file_in(archives(slug), f"{month}.atom"), atom
                yield file_in(archives(slug), f"{month}.json"), json_feed
                del atom, json_feed
            fragments.forget(entries[id] for id in ids if id not in shown)
            for id in ids:
                entries.pop(id, None)
        if todo or state is not None and new_state != state:
            yield output / STATE_FILE, new_state.bytes()

    def known(article_id: str, change: int | None) -> Entry | None:
        entry = entries.get(entry_id(article_id))
        return entry if entry is not None and change is not None and numbers.get(entry.id) == change else None

    return ArchivePlan(state=new_state, documents=build(), newest=newest_written, known=known)


def neighbours(chain: list[str], month: str) -> tuple[str | None, str | None]:
    """The months before and after `month` in a sorted chain of months (None at its ends)."""
    index = chain.index(month)
    return chain[index - 1] if index else None, chain[index + 1] if index + 1 < len(chain) else None


def archive_spec(site: SiteConfig, slug: str, name: str | None, month: str, *,
                 prev: str | None, next: str | None) -> ArchiveSpec:
    """A month's document, its entries to be given to `month_documents`."""
    base = spec_for(site, slug, name, [])
    return ArchiveSpec(base.slug, base.name, [], site, month=month, prev=prev, next=next)
