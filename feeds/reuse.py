"""What a feed folder's published files hold, entry by entry: a publish takes an unchanged entry from them instead
of reading its article from the store, preparing and serializing it again (most of what an incremental publish costs).

Beside its rss.xml, atom.xml and feed.json a feed folder keeps `RECORD` (a dotfile: never served;
a constant name, so not made by `paths.inside`). For each entry the files show, it holds the
article's id and change number (`Store.latest_changes`: while it stays, so does the entry), where
the entry's bytes lie in each file, a checksum of those bytes,
its `updated` (the feed's own `updated` is the newest of them) and its row on the feed's page; for
each file, its identity (device, inode, size and change time) just after the publish renamed it into
place; and the feed's `context` (a topic's definition, which decides which entries it shows). An
entry is taken only when its change number is the one recorded and its file is the one recorded
(nothing has written to it since: any write sets the change time, which, unlike the modification
time, no program can set back) or its bytes match their checksum, so a record out of step with its
files (a publish killed between renaming a file and writing the
record, a record torn by a crash, a hand edit, a restored backup) costs the serializing of the
entries that moved, never a wrong byte. The record is therefore written in place and unsynced,
after the feed's files went in (creating a new inode per file is most of what writing a file
costs ext4), and not at all for a feed that failed, whose folder stays as it was. The record also
holds `probe`, a digest of the bytes and rows this code, feedgen and the page template give two
fixed entries under the site's title: after an upgrade that serializes entries differently, or a new
site title (which an entry without media shows), no record is taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from markupsafe import Markup

from crawler.config import SiteConfig
from crawler.text.times import BEIJING

from .build import FILENAMES, BuiltFeed, Entry, Fragment, Fragments, checksum, entry_id
from .pages import entry_rows

logger = logging.getLogger(__name__)

RECORD = ".entries.json"
VERSION = 3
FILES = (FILENAMES["atom"], FILENAMES["rss"], FILENAMES["json"])
"""The files a record describes, in the order of its spans (and of `build.checksum`'s arguments)."""

_PROBE_TIME = datetime(2021, 12, 21, 20, 40, 26, tzinfo=BEIJING)
PROBES = (
    Entry(id=entry_id("probe-1"), title="标题 <&> \"引号\"", link="https://example.org/a?b=1&c=2", summary="摘要 <b>",
          html="<p>正文 &amp; <a href=\"https://example.org/\">链接</a></p>", author="媒体", published=_PROBE_TIME,
          updated=_PROBE_TIME.replace(hour=21), categories=(("emnews", "东方财富"), ("sh600160", "巨化股份"))),
    Entry(id=entry_id("probe-2"), title="t", link="https://example.org/b", summary="s", html="", author=None,
          published=_PROBE_TIME, updated=_PROBE_TIME, categories=()),
)
"""Entries with every field and with none of the optional ones, serialized to tell whether records still hold."""
_probe: tuple[str, str] | None = None
"""(site title, probe digest) of the last site asked about."""


def probe(site: SiteConfig) -> str:
    """A digest of the bytes and page rows this code gives `PROBES` under this site's title."""
    global _probe
    if _probe is None or _probe[0] != site.title:
        digest = hashlib.sha256()
        for fragment in Fragments().of(site, PROBES):
            digest.update(fragment.checksum.encode("ascii"))
        for row in entry_rows(PROBES):
            digest.update(row.encode("utf-8"))
        _probe = site.title, digest.hexdigest()[:32]
    return _probe[1]


@dataclass(frozen=True)
class Shown:
    """What a record keeps of an entry beside its bytes: its article's id and change number, `updated`, page row."""

    article_id: str
    change: int | None
    updated: datetime
    row: Markup


@dataclass(frozen=True)
class Kept:
    """An entry as a feed's published files hold it, unchanged since."""

    shown: Shown
    fragment: Fragment

    @property
    def article_id(self) -> str:
        return self.shown.article_id

    @property
    def change(self) -> int | None:
        return self.shown.change

    @property
    def updated(self) -> datetime:
        return self.shown.updated


def record(site: SiteConfig, built: BuiltFeed, shown: list[Shown], context: str = "") -> dict[str, object]:
    """The record of a feed's files as built, its entries shown so (`write` adds the files' identities once they
    are in place); `context`, what else decides which entries the feed shows (a topic's definition)."""
    entries = [[entry.article_id, entry.change, fragment.checksum,
                *(built.spans[name][index] for name in FILES), entry.updated.isoformat(), str(entry.row)]
               for index, (fragment, entry) in enumerate(zip(built.fragments, shown, strict=True))]
    return {"version": VERSION, "probe": probe(site), "context": context, "entries": entries}


def identity(info: os.stat_result) -> list[int]:
    """What tells a file apart from any other file, or from itself before a write."""
    return [info.st_dev, info.st_ino, info.st_size, info.st_ctime_ns]


def write(folder: Path, built: dict[str, object]) -> None:
    """Write a feed folder's record of its files, now in place, unless it holds these bytes already (never through
    a symlink); a failure is logged: it only costs speed."""
    path = folder / RECORD
    try:
        files = [identity(os.stat(folder / name, follow_symlinks=False)) for name in FILES]
        data = json.dumps({**built, "files": files}, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with open(fd, "r+b") as out:
            if out.read(len(data) + 1) == data:
                return
            out.seek(0)
            out.truncate()
            out.write(data)
    except OSError as exc:
        logger.warning("feed folder %s: the record of its entries not written (%s): the next publish serializes "
                       "them again", folder, exc)


class Record:
    """A feed folder's record as read (empty when there is none, or one of another version, code, site title or
    context), and the folder's files, read once an entry of theirs is asked for."""

    def __init__(self, folder: Path, entries: dict[str, list[object]] | None = None, files: object = None):
        self.folder, self.entries, self.files = folder, entries or {}, files
        self._published: dict[str, memoryview] | None = None
        self._unchanged: bool | None = None
        """Whether the files are the ones recorded: as read, or (before they are read) as they are now."""

    @classmethod
    def read(cls, folder: Path, site: SiteConfig, context: str = "") -> "Record":
        try:
            with open(os.open(folder / RECORD, os.O_RDONLY | os.O_NOFOLLOW), "rb") as kept:
                data = json.loads(kept.read())
            if data["version"] != VERSION or data["probe"] != probe(site) or data["context"] != context:
                return cls(folder)
            return cls(folder, {entry[0]: entry for entry in data["entries"]}, data["files"])
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return cls(folder)

    def kept(self, versions: Iterable[tuple[str, int | None]]) -> dict[str, Kept]:
        """The entries of these (article id, change number) pairs that the files hold as recorded, by article id.

        Their bytes are checked against their checksums unless every file is the one the record describes.
        """
        found = [(article_id, entry) for article_id, change in versions
                 if change is not None and (entry := self.entries.get(article_id)) is not None and entry[1] == change]
        published = self._load() if found else None
        if published is None:
            return {}
        kept = {}
        try:
            for article_id, (_, change, recorded, *spans, updated, row) in found:
                parts = [_cut(published[name], span) for name, span in zip(FILES, spans, strict=True)]
                if not isinstance(row, str) or not isinstance(recorded, str):
                    raise ValueError(f"not a recorded entry: {article_id!r}")
                if self._unchanged or checksum(*parts) == recorded:
                    when = datetime.fromisoformat(updated)
                    if when.tzinfo is None:
                        raise ValueError(f"not an aware time: {updated!r}")
                    kept[article_id] = Kept(Shown(article_id, change, when, Markup(row)),
                                            Fragment(*parts, recorded))
        except (ValueError, TypeError):
            return {}
        return kept

    def published(self) -> frozenset[str] | None:
        """The entry ids of the files' entries, when the files are the ones recorded (as read, or else as they are
        now); else None."""
        if self._unchanged is None:
            try:
                self._unchanged = [identity(os.stat(self.folder / name, follow_symlinks=False))
                                   for name in FILES] == self.files
            except OSError:
                self._unchanged = False
        return frozenset(entry_id(article_id) for article_id in self.entries) if self._unchanged else None

    def _load(self) -> dict[str, memoryview] | None:
        """The three files' bytes, each read whole (one system call, not one per entry) the first time; None when
        they cannot be read."""
        if self._published is None:
            published, identities = {}, []
            try:
                for name in FILES:
                    with open(os.open(self.folder / name, os.O_RDONLY | os.O_NOFOLLOW), "rb") as file:
                        published[name] = memoryview(file.read())  # entries are cut out of it, not copied
                        identities.append(identity(os.fstat(file.fileno())))  # after the read: a write during it shows
            except OSError:
                self.entries, self._unchanged = {}, False
                return None
            self._published, self._unchanged = published, identities == self.files
        return self._published


def _cut(data: memoryview, span: list[int]) -> memoryview:
    """The bytes of a recorded span of a file's bytes; ValueError for a span that is not one of them."""
    start, end = span
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(data):
        raise ValueError(f"not a span of the file's bytes: {span!r}")
    return data[start:end]
