"""Stored articles → RSS 2.0 and Atom 1.0 (feedgen) and JSON Feed 1.1; pure, no file I/O.

Every value comes from the articles and the config, never from the clock, so building the same
input twice gives the same bytes. Every text field is stripped of the characters XML 1.0 forbids
(the crawler cleans the HTML, but a feed must stay well-formed whatever the store holds), and
links are reduced to URI characters, as the W3C validator wants them.

With archives on, a subscription document links its newest RFC 5005 archive (Atom
`rel="prev-archive"`, the same as `atom:link` in RSS, JSON Feed `next_url`); with WebSub hubs,
it declares them (Atom `rel="hub"`, RSS `atom:link`, JSON Feed `hubs`). feeds/archive.py
builds the archive documents with the same generator.

An RSS description is HTML by convention, so it carries the plain-text summary HTML-escaped; an
article without HTML gets that escaped summary as its content, so every entry has content.

What feedgen 1.0 does on its own, checked by tests/test_feeds_build.py rather than patched:
it writes an RSS item's `description` before its `content:encoded`, keeps the given zone on
every date (`+0800` / `+08:00`), keeps entries in the order they were added, and writes an Atom
entry's link without `rel` (which RFC 4287 defines as `alternate`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from html import escape

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.ext.dc import DcEntryExtension, DcExtension  # after feedgen.feed, which imports lxml.etree for it
from feedgen.util import xml_elem
from w3lib.url import safe_url_string

from crawler.config import SiteConfig
from crawler.store import ALL, Article, only_categories
from crawler.text.clean import html_to_text, strip_control_chars
from crawler.text.times import BEIJING, format_rfc3339

ID_AUTHORITY = "tag:finews.withounder.com,2021:"
ALL_NAME = "全部新闻"
GENERATOR = "finews"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
FILENAMES = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}
URI_CHARS = re.compile(r"^[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#]+$")
MEDIA_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"}
ATOM_NS = "http://www.w3.org/2005/Atom"
ARCHIVE_SUFFIXES = {"atom": "atom", "json": "json"}
"""The archive document of a month per format: `<slug>/archive/<YYYY-MM>.atom` and `.json` (RSS links the Atom one)."""


def entry_id(article_id: str) -> str:
    """The permanent id of an article's entry (Atom id, RSS guid, JSON Feed id): from the article id alone."""
    return f"{ID_AUTHORITY}article/{article_id}"


def feed_id(slug: str) -> str:
    """The permanent Atom id of a category's feed: from the slug alone, never from base_url."""
    return f"{ID_AUTHORITY}feed/{slug}"


def xml_text(value: str | None) -> str:
    """`value` without the characters XML 1.0 forbids (C0/C1 controls, U+FFFE/FFFF, lone surrogates)."""
    return strip_control_chars(value or "")


def uri(value: str) -> str:
    """`value` as the W3C validator wants a link: only URI characters (others percent-encoded, UTF-8)."""
    return value if URI_CHARS.match(value) else safe_url_string(value)


def beijing(value: datetime) -> datetime:
    """`value` in Beijing time; a naive value is taken as Beijing time (never as the host's zone)."""
    return value.replace(tzinfo=BEIJING) if value.tzinfo is None else value.astimezone(BEIJING)


@dataclass(frozen=True)
class Entry:
    """One article as every feed format shows it: XML-safe text, Beijing times."""

    id: str
    title: str
    link: str
    summary: str
    html: str
    author: str | None
    published: datetime
    updated: datetime
    categories: tuple[tuple[str, str], ...]
    """(slug, display name) of each of the article's categories, by slug."""


def prepare(article: Article) -> Entry:
    """The feed view of a stored article; `updated` is never before `published`."""
    html = xml_text(article.html)
    title = " ".join(xml_text(article.title).split()) or article.article_id
    summary = xml_text(article.summary).strip() or xml_text(html_to_text(html))[:200].strip() or title
    published = beijing(article.published)
    updated = max(beijing(article.updated or article.published), published)
    return Entry(
        id=entry_id(article.article_id),
        title=title,
        link=uri(article.link),
        summary=summary,
        html=html,
        author=xml_text(article.media).strip() or None,
        published=published,
        updated=updated,
        categories=tuple((slug, xml_text(name).strip() or slug) for slug, name in sorted(only_categories(article.categories).items())),
    )


@dataclass(frozen=True)
class FeedSpec:
    """One feed: a category (or `ALL`), its display name and its entries, newest first as the store gave them."""

    slug: str
    name: str
    entries: list[Article]
    site: SiteConfig
    hubs: tuple[str, ...] = ()
    """The WebSub hubs the feed declares."""
    archive: str | None = None
    """The newest archive month (`YYYY-MM`) the feed links, or None."""
    prepared: tuple[Entry, ...] = ()
    """Entries already prepared, given instead of `entries` (an archive month, a batch to serialize)."""
    newest: datetime | None = None
    """The newest entry's `updated`, given for a feed assembled from entries it does not hold (feeds/entries.py)."""

    @property
    def title(self) -> str:
        return xml_text(f"{self.name} - {self.site.title}")

    @property
    def description(self) -> str:
        text = self.site.description if self.slug == ALL else f"{self.name}：{self.site.description}"
        return xml_text(text)

    def url(self, fmt: str) -> str:
        """The absolute URL the `fmt` ("rss", "atom", "json") file is served at."""
        return uri(self.site.url(f"{self.slug}/{FILENAMES[fmt]}"))

    def self_url(self, fmt: str) -> str:
        """This document's own URL in `fmt` (an archive document overrides it)."""
        return self.url(fmt)

    def archive_url(self, month: str, fmt: str) -> str:
        """The absolute URL of a month's archive document (RSS: the Atom one)."""
        return uri(self.site.url(f"{self.slug}/archive/{month}.{ARCHIVE_SUFFIXES.get(fmt, 'atom')}"))

    def links(self, fmt: str) -> list[dict[str, str]]:
        """The document's links beside self and alternate: its hubs and its newest archive."""
        links = [{"href": uri(hub), "rel": "hub"} for hub in self.hubs]
        if self.archive:
            links.append({"href": self.archive_url(self.archive, fmt), "rel": "prev-archive",
                          "type": MEDIA_TYPES["atom"]})
        return links

    @property
    def next_url(self) -> str | None:
        """JSON Feed `next_url`: the next (older) document of the chain."""
        return self.archive_url(self.archive, "json") if self.archive else None

    @property
    def archived(self) -> bool:
        """Whether this is an RFC 5005 archive document (`<fh:archive/>`)."""
        return False

    @property
    def home(self) -> str:
        """The feed's own page (`<path>/`, where its readable index.html is served)."""
        return uri(self.site.url(f"{self.slug}/"))

    @cached_property
    def items(self) -> list[Entry]:
        """The entries prepared once for all three formats, in the given order."""
        return list(self.prepared) or [prepare(article) for article in self.entries]

    @property
    def updated(self) -> datetime:
        """The newest entry's `updated`: the feed's build time (never "now")."""
        if self.newest is not None:
            return self.newest
        if not self.items:
            raise ValueError(f"feed {self.slug!r} has no entries: nothing to build")
        return max(item.updated for item in self.items)


def spec_for(site: SiteConfig, slug: str, name: str | None, entries: list[Article], *,
             hubs: tuple[str, ...] = (), archive: str | None = None) -> FeedSpec:
    """The spec of a category's feed; `ALL` is always named 全部新闻, a missing name falls back to the slug."""
    return FeedSpec(slug, ALL_NAME if slug == ALL else (name or slug), entries, site, hubs, archive)


FH_NS = "http://purl.org/syndication/history/1.0"


class ArchiveMarker(BaseExtension):
    """Atom: `<fh:archive/>` (RFC 5005 section 4) on an archive document."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS}

    def extend_atom(self, feed):  # type: ignore[no-untyped-def]
        xml_elem(f"{{{FH_NS}}}archive", feed)
        return feed


class RssAtomLinks(BaseExtension):
    """RSS: the `atom:link` elements feedgen writes only for self (hubs, the newest archive)."""

    def __init__(self) -> None:
        self.links: list[dict[str, str]] = []

    def extend_rss(self, feed):  # type: ignore[no-untyped-def]
        for link in self.links:
            xml_elem(f"{{{ATOM_NS}}}link", feed[0], **link)
        return feed


def _generator(spec: FeedSpec, *, entries: bool = True) -> FeedGenerator:
    """One feedgen generator holding every field of both XML formats (the self link is set per format);
    without its entries when not `entries` (the head and tail that `splice_pieces` puts entries between)."""
    site_author = {"name": xml_text(spec.site.title)}
    fg = FeedGenerator()
    # by class: load_extension("dc") looks for a module feedgen.ext.dc_entry on disk at every call
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    fg.register_extension("finews_rss_links", RssAtomLinks, atom=False, rss=True)
    if spec.archived:
        fg.register_extension("finews_archive", ArchiveMarker, atom=True, rss=False)
    fg.id(feed_id(spec.slug))
    fg.title(spec.title)
    fg.subtitle(spec.description)
    fg.language(spec.site.language)
    fg.author(site_author)
    fg.generator(GENERATOR)
    fg.ttl(spec.site.ttl)
    fg.lastBuildDate(spec.updated)
    fg.updated(spec.updated)
    for item in spec.items if entries else ():
        fe = fg.add_entry(order="append")
        fe.id(item.id)
        fe.guid(item.id, permalink=False)
        fe.title(item.title)
        fe.link(href=item.link, rel="alternate", type="text/html")
        fe.published(item.published)
        fe.pubDate(item.published)
        fe.updated(item.updated)
        summary_html = escape(item.summary, quote=False)
        fe.description(summary_html)
        fe.summary(item.summary)
        fe.content(item.html or summary_html, type="html")
        fe.author({"name": item.author} if item.author else site_author)
        if item.author:
            fe.dc.dc_creator(item.author)
        if item.categories:
            fe.category([{"term": slug, "label": name} for slug, name in item.categories])
    return fg


def _links(fg: FeedGenerator, spec: FeedSpec, fmt: str) -> FeedGenerator:
    """Point the generator's self link at the `fmt` file (replacing the other format's), then the others.

    The alternate link goes last: feedgen takes the last link as RSS `<link>`.
    """
    fg.link(href=spec.self_url(fmt), rel="self", type=MEDIA_TYPES[fmt], replace=True)
    links = spec.links(fmt)
    if fmt == "rss":
        fg.finews_rss_links.links = links
    else:
        for link in links:
            fg.link(**link)
    fg.link(href=spec.home, rel="alternate", type="text/html")
    return fg


def _rss(fg: FeedGenerator, spec: FeedSpec) -> bytes:
    return _links(fg, spec, "rss").rss_str(pretty=True)


def _atom(fg: FeedGenerator, spec: FeedSpec) -> bytes:
    return _links(fg, spec, "atom").atom_str(pretty=True)


def build_rss(spec: FeedSpec) -> bytes:
    """RSS 2.0: items with guid, pubDate, description (summary) then content:encoded (HTML),
    a category per display name, dc:creator = media; atom:link rel=self to the file's URL."""
    return _rss(_generator(spec), spec)


def build_atom(spec: FeedSpec) -> bytes:
    """Atom 1.0: entries with published and updated, author, summary, HTML content and
    `category term=<slug> label=<display name>`; the feed has self and alternate links."""
    return _atom(_generator(spec), spec)


def json_item(item: Entry) -> dict[str, object]:
    """An entry as a JSON Feed 1.1 item."""
    record: dict[str, object] = {
        "id": item.id,
        "url": item.link,
        "title": item.title,
        "summary": item.summary,
        "date_published": format_rfc3339(item.published),
        "date_modified": format_rfc3339(item.updated),
        "tags": [name for _, name in item.categories],
    }
    if item.html:
        record["content_html"] = item.html
    else:
        record["content_text"] = item.summary
    if item.author:
        record["authors"] = [{"name": item.author}]
    return record


def json_bytes(value: object) -> bytes:
    """JSON keys sorted and compact (the C encoder) for stable bytes, UTF-8, no newline in it."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def build_json_feed(spec: FeedSpec) -> bytes:
    """JSON Feed 1.1, keys sorted and compact for stable bytes, UTF-8."""
    return json_bytes(json_document(spec, [json_item(item) for item in spec.items])) + b"\n"


def json_document(spec: FeedSpec, items: list[object]) -> dict[str, object]:
    """The JSON Feed document of a spec holding these items."""
    feed = {
        "version": JSON_FEED_VERSION,
        "title": spec.title,
        "home_page_url": spec.home,
        "feed_url": spec.url("json"),
        "description": spec.description,
        "language": spec.site.language,
        "authors": [{"name": xml_text(spec.site.title)}],
        "items": items,
    }
    if spec.next_url:
        feed["next_url"] = spec.next_url
    if spec.hubs:
        feed["hubs"] = [{"type": "WebSub", "url": uri(hub)} for hub in spec.hubs]
    return feed


ENTRY_OPEN, ENTRY_CLOSE, FEED_CLOSE = b"  <entry>\n", b"  </entry>\n", b"</feed>\n"
ITEM_OPEN, ITEM_CLOSE, CHANNEL_CLOSE = b"    <item>\n", b"    </item>\n", b"  </channel>\n</rss>\n"
"""How feedgen's pretty XML lays out the entries (`<` in any text or attribute is escaped, so these mark only elements)."""
ITEMS = b'"items":['
"""Where JSON Feed items start (a raw quote never occurs inside a JSON string, so only the key matches)."""


def spans(data: bytes, start: bytes, end: bytes, tail: bytes) -> list[tuple[int, int]] | None:
    """Where each `start…end` element lies in a document whose elements run, one after the other, from the
    first `start` to its `tail`; None for a document not laid out so."""
    pos, stop = data.find(start), len(data) - len(tail)
    if pos < 0 or not data.endswith(tail):
        return None
    found = []
    while pos < stop:
        close = data.find(end, pos, stop)
        if not data.startswith(start, pos) or close < 0:
            return None
        found.append((pos, close + len(end)))
        pos = close + len(end)
    return found


Pieces = list[bytes | memoryview]
"""A document as the pieces it is made of, in order (written one after the other, never joined)."""


def splice_pieces(shell: bytes, tail: bytes, parts: Iterable[bytes | memoryview]) -> Pieces:
    """A document built without entries (`shell`, ending in `tail`) with these entries' bytes before its tail."""
    return [shell.removesuffix(tail), *parts, tail]


def json_pieces(spec: FeedSpec, items: Iterable[bytes | memoryview], separator: bytes = b",") -> Pieces:
    """A spec's JSON Feed document holding these items' bytes (one per line with `b",\\n"`), newline-ended."""
    before, _, after = json_bytes(json_document(spec, [])).partition(ITEMS + b"]")
    body: Pieces = []
    for item in items:
        body += [separator, item]
    body = body[1:]
    if separator.endswith(b"\n"):
        body = [b"\n", *body, b"\n"]
    return [before, ITEMS, *body, b"]", after, b"\n"]


@dataclass(frozen=True)
class Fragment:
    """One entry as every document shows it: the same bytes in each feed and archive month it is in."""

    atom: bytes | memoryview
    """Its `<entry>` element, indented as in a document (a view of a published file's bytes, for one taken from it)."""
    rss: bytes | memoryview
    """Its `<item>` element, indented as in a document."""
    json: bytes | memoryview
    """Its JSON Feed item."""
    checksum: str
    """`checksum` of these bytes."""


def checksum(atom: bytes | memoryview, rss: bytes | memoryview, json: bytes | memoryview) -> str:
    """A digest of an entry's bytes in the three formats (what feeds/reuse.py checks them against)."""
    return hashlib.sha256(b"".join((atom, rss, json))).hexdigest()[:32]


class Fragments:
    """Each entry serialized once (one feedgen document for each batch of new ones), for every document it is in.

    Keyed by the whole entry, so a version read later in the same publish is serialized anew. It may start
    from `earlier` fragments (a previous publish's, serialized with the same site title: an entry without
    media shows it).
    """

    def __init__(self, earlier: Mapping[Entry, Fragment] | None = None) -> None:
        self._done: dict[Entry, Fragment] = dict(earlier or {})
        self.serialized = 0
        """Entries serialized by this object."""

    BATCH = 200
    """Entries per feedgen document: its lxml tree of 10 kB bodies is the publish's largest object."""

    def of(self, site: SiteConfig, items: Iterable[Entry]) -> list[Fragment]:
        items = list(items)
        new = self.missing(items)
        for start in range(0, len(new), self.BATCH):
            self._serialize(site, new[start:start + self.BATCH])
        return [self._done[item] for item in items]

    def missing(self, items: Iterable[Entry]) -> list[Entry]:
        """Those of these entries that have no fragment yet, once each."""
        return list(dict.fromkeys(item for item in items if item not in self._done))

    def newest(self, items: Iterable[Entry], limit: int) -> dict[Entry, Fragment]:
        """The fragments held of these entries, of the newest `limit` of them (by published, then id)."""
        held = heapq.nlargest(limit, {item for item in items if item in self._done},
                              key=lambda item: (item.published, item.id))
        return {item: self._done[item] for item in held}

    def forget(self, items: Iterable[Entry]) -> None:
        """Let these entries' fragments go (serialized again if asked for later)."""
        for item in items:
            self._done.pop(item, None)

    def _serialize(self, site: SiteConfig, new: list[Entry]) -> None:
        self.serialized += len(new)
        batch = FeedSpec(ALL, ALL_NAME, [], site, prepared=tuple(new))
        fg = _generator(batch)
        atom, rss = _atom(fg, batch), _rss(fg, batch)
        atom_spans = spans(atom, ENTRY_OPEN, ENTRY_CLOSE, FEED_CLOSE)
        rss_spans = spans(rss, ITEM_OPEN, ITEM_CLOSE, CHANNEL_CLOSE)
        if atom_spans is None or rss_spans is None or not len(atom_spans) == len(rss_spans) == len(new):
            raise RuntimeError("feedgen no longer lays out entries as feeds/build.py splices them")
        for item, (a, b), (c, d) in zip(new, atom_spans, rss_spans):
            parts = atom[a:b], rss[c:d], json_bytes(json_item(item))
            self._done[item] = Fragment(*parts, checksum(*parts))


@dataclass(frozen=True)
class BuiltFeed:
    """A feed's three files by file name, and where each entry's bytes lie in each of them (see feeds/reuse.py)."""

    pieces: dict[str, Pieces]
    """File name → the file's bytes, as the pieces it is made of (written one after the other, never joined)."""
    spans: dict[str, list[tuple[int, int]]]
    """File name → the (start, end) byte offsets of each entry, in the feed's order."""
    fragments: list[Fragment]
    """Each entry's fragment, in the feed's order."""

    @cached_property
    def files(self) -> dict[str, bytes]:
        """File name → the file's bytes."""
        return {name: b"".join(pieces) for name, pieces in self.pieces.items()}


def _entry_spans(pieces: Pieces, parts: list[bytes]) -> list[tuple[int, int]]:
    """Where these entry parts lie in the document the pieces make (each part is one of the pieces)."""
    found, offset, index = [], 0, 0
    for piece in pieces:
        if index < len(parts) and piece is parts[index]:
            found.append((offset, offset + len(piece)))
            index += 1
        offset += len(piece)
    return found


def build_feed(spec: FeedSpec, fragments: Fragments | None = None) -> BuiltFeed:
    """The three files of a feed: feedgen builds each document's head, the entries come from `fragments`
    (each serialized once per publish); byte for byte what `build_rss`, `build_atom` and `build_json_feed` give."""
    return assemble(spec, (fragments or Fragments()).of(spec.site, spec.items))


def assemble(spec: FeedSpec, parts: list[Fragment]) -> BuiltFeed:
    """The three files of a feed holding these entries' bytes, in this order, around the heads feedgen builds."""
    shell = _generator(spec, entries=False)
    rss, atom, json_items = [p.rss for p in parts], [p.atom for p in parts], [p.json for p in parts]
    documents = {FILENAMES["rss"]: (splice_pieces(_rss(shell, spec), CHANNEL_CLOSE, rss), rss),
                 FILENAMES["atom"]: (splice_pieces(_atom(shell, spec), FEED_CLOSE, atom), atom),
                 FILENAMES["json"]: (json_pieces(spec, json_items), json_items)}
    return BuiltFeed({name: pieces for name, (pieces, _) in documents.items()},
                     {name: _entry_spans(pieces, own) for name, (pieces, own) in documents.items()},
                     parts)


def build_all(spec: FeedSpec, fragments: Fragments | None = None) -> dict[str, bytes]:
    """`build_feed`'s files."""
    return build_feed(spec, fragments).files
