"""What a feed folder's published files hold, entry by entry: a publish takes an unchanged entry's bytes
from them instead of serializing it again (serializing entries is most of what an incremental publish costs).

Beside its rss.xml, atom.xml and feed.json a feed folder keeps `RECORD` (a dotfile: never served;
a constant name, so not made by `paths.inside`). For each entry the files show, it holds the
entry's digest (`build.entry_digest`: every field its bytes are built from), where its bytes lie
in each file, and a checksum of those bytes; and for each file, its identity (device, inode, size and
change time) just after the publish renamed it into place. Bytes are taken only when their file is
the one recorded (nothing has written to it since: any write sets the change time, which, unlike the
modification time, no program can set back) or when they match their checksum, so a record out of
step with its files (a publish killed between renaming a file and writing the
record, a record torn by a crash, a hand edit, a restored backup) costs the serializing of the
entries that moved, never a wrong byte. The record is therefore written in place and unsynced,
after the feed's files went in (creating a new inode per file is most of what writing a file
costs ext4), and not at all for a feed that failed, whose folder stays as it was. The record also
holds `probe`, a digest of the bytes this code and feedgen give two fixed entries under the site's
title: after an upgrade that serializes entries differently, or a new site title (which an entry
without media shows), no record is taken.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from crawler.config import SiteConfig
from crawler.text.times import BEIJING

from .build import FILENAMES, BuiltFeed, Entry, Fragment, Fragments, checksum, entry_digest, entry_id

logger = logging.getLogger(__name__)

RECORD = ".entries.json"
VERSION = 2
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
    """A digest of the bytes this code gives `PROBES` under this site's title."""
    global _probe
    if _probe is None or _probe[0] != site.title:
        digest = hashlib.sha256()
        for fragment in Fragments().of(site, PROBES):
            digest.update(fragment.checksum.encode("ascii"))
        _probe = site.title, digest.hexdigest()[:32]
    return _probe[1]


def record(site: SiteConfig, built: BuiltFeed) -> dict[str, object]:
    """The record of a feed's files as built (`write` adds the files' identities once they are in place)."""
    entries = [[fragment.digest, fragment.checksum, *(built.spans[name][index] for name in FILES)]
               for index, fragment in enumerate(built.fragments)]
    return {"version": VERSION, "probe": probe(site), "entries": entries}


def identity(info: os.stat_result) -> list[int]:
    """What tells a file apart from any other file, or from itself before a write."""
    return [info.st_dev, info.st_ino, info.st_size, info.st_ctime_ns]


def write(folder: Path, built: dict[str, object]) -> None:
    """Write a feed folder's record of its files, now in place, unless it holds these bytes already (never through
    a symlink); a failure is logged: it only costs speed."""
    path = folder / RECORD
    try:
        files = [identity(os.stat(folder / name, follow_symlinks=False)) for name in FILES]
        data = json.dumps({**built, "files": files}, separators=(",", ":")).encode("ascii") + b"\n"
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


def held(folder: Path, site: SiteConfig, wanted: Iterable[Entry]) -> dict[Entry, Fragment]:
    """The fragments of these entries that the folder's published files hold, byte for byte as this code
    would build them; empty when the folder has no record (or one of another version, code or site title).
    Their checksums are checked unless every file is the one the record describes."""
    wanted = list(wanted)
    if not wanted:
        return {}
    try:
        with open(os.open(folder / RECORD, os.O_RDONLY | os.O_NOFOLLOW), "rb") as kept:
            data = json.loads(kept.read())
        if data["version"] != VERSION or data["probe"] != probe(site):
            return {}
        where = {entry[0]: entry for entry in data["entries"]}
        recorded_files = data["files"]
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}
    found = {entry: where[digest] for entry in wanted if (digest := entry_digest(entry)) in where}
    if not found:
        return {}
    published: dict[str, bytes] = {}
    identities = []
    try:
        for name in FILES:  # each read whole: one system call, not one per entry (each lets other threads take the GIL)
            with open(os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW), "rb") as file:
                published[name] = file.read()
                identities.append(identity(os.fstat(file.fileno())))  # after the read: a write during it shows
        unchanged = identities == recorded_files
        fragments = {}
        for entry, (digest, recorded, *spans) in found.items():
            parts = [_cut(published[name], span) for name, span in zip(FILES, spans, strict=True)]
            if unchanged or checksum(*parts) == recorded:
                fragments[entry] = Fragment(*parts, digest, recorded)
        return fragments
    except (OSError, ValueError, TypeError):
        return {}


def _cut(data: bytes, span: list[int]) -> bytes:
    """The bytes of a recorded span of a file's bytes; ValueError for a span that is not one of them."""
    start, end = span
    if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end <= len(data):
        raise ValueError(f"not a span of the file's bytes: {span!r}")
    return data[start:end]
