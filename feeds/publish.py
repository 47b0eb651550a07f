"""Which categories changed → build their feeds → write atomically, skipping identical bytes."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from crawler.config import Config
from crawler.store import ALL, Store

from .build import build_atom, build_json_feed, build_rss, spec_for
from .pages import render_index, render_opml

logger = logging.getLogger(__name__)

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
BUILDERS = (("rss.xml", build_rss), ("atom.xml", build_atom), ("feed.json", build_json_feed))


@dataclass
class PublishReport:
    categories: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def write_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` via a temporary file in the same folder and a rename.

    Returns False (and leaves the file and its mtime alone) when it already holds these bytes.
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def category_dir(output: Path, slug: str) -> Path:
    """The folder of a category's feeds; refuses a slug that could leave the output folder."""
    if not SLUG_RE.match(slug):
        raise ValueError(f"refusing to publish category {slug!r}: not a slug ([a-z0-9-])")
    folder = (output / slug).resolve()
    if folder.parent != output.resolve():
        raise ValueError(f"refusing to publish category {slug!r} outside {output}")
    return folder


def publish(config: Config, store: Store, *, full: bool = False) -> PublishReport:
    """Rebuild the feeds of the categories changed since the last publish (every one when `full`)."""
    site = config.site
    output = site.output_dir
    output.mkdir(parents=True, exist_ok=True)
    snapshot = store.dirty_categories()
    summaries = store.categories()
    names = {c.slug: c.name for c in summaries}
    wanted = set(names) | {ALL} if full else set(snapshot)
    report = PublishReport()

    def put(path: Path, data: bytes) -> None:
        (report.written if write_atomic(path, data) else report.unchanged).append(path)

    for slug in sorted(wanted):
        entries = store.latest(slug, site.feed_size)
        if not entries:
            continue
        folder = category_dir(output, slug)
        spec = spec_for(site, slug, names.get(slug), entries)
        for filename, build in BUILDERS:
            put(folder / filename, build(spec))
        report.categories.append(slug)
    if report.categories or full or not (output / "index.html").exists():
        newest = store.latest(ALL, 1)
        put(output / "index.html", render_index(site, summaries, store.count(ALL), newest[0] if newest else None))
        put(output / "opml.xml", render_opml(site, summaries, newest[0] if newest else None))
    store.clear_dirty(snapshot)
    return report
