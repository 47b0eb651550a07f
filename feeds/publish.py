"""Which categories changed → build their feeds → write atomically, skipping identical bytes."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from crawler.config import SLUG_RE, Config
from crawler.store import ALL, Article, Store

from .build import build_all, spec_for
from .pages import render_index, render_opml

logger = logging.getLogger(__name__)


class UnsafeSlugError(ValueError):
    """A category slug that is not `[a-z0-9-]` or would put files outside the output folder."""


@dataclass
class PublishReport:
    """What one publish did: the feeds rebuilt, the files written or left alone, the slugs refused."""

    categories: list[str] = field(default_factory=list)
    """The categories whose feeds were rebuilt (`all` included), by slug."""
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Categories left unpublished because their slug is unsafe (they stay marked dirty)."""


def _temporary(path: Path) -> IO[bytes]:
    """A new temporary file beside `path` (same folder, so the rename is atomic), kept on close."""
    return tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)


def write_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` via a temporary file in the same folder, fsync and rename.

    Returns False, leaving the file and its mtime alone, when it already holds these bytes.
    On any error the temporary file is removed and the old file stays as it was.
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    try:
        out = _temporary(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = _temporary(path)
    tmp = Path(out.name)
    try:
        with out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def category_dir(output: Path, slug: str) -> Path:
    """The folder of a category's feeds; raises UnsafeSlugError for a slug that could leave `output`."""
    if not SLUG_RE.match(slug):
        raise UnsafeSlugError(f"refusing to publish category {slug!r}: a slug may only use [a-z0-9-]")
    root = output.resolve()
    resolved = (root / slug).resolve()
    if resolved.parent != root:
        raise UnsafeSlugError(f"refusing to publish category {slug!r}: {resolved} is outside {root}")
    return output / slug


def is_safe(output: Path, slug: str) -> bool:
    """Whether `category_dir` accepts the slug (the index and OPML list only such categories)."""
    try:
        category_dir(output, slug)
    except UnsafeSlugError:
        return False
    return True


def publish(config: Config, store: Store, *, full: bool = False) -> PublishReport:
    """Rebuild the feeds of the categories changed since the last publish (every one when `full`).

    Every file is built before any is written, each write is atomic, and the dirty marks are
    cleared only after the last write: a failure leaves the published files whole and the next
    publish retries. A category with no items left keeps its files. The index and OPML are
    rebuilt whenever a feed was (always when `full`, and when the index is missing).
    """
    site = config.site
    output = site.output_dir
    snapshot = store.dirty_categories()
    summaries = store.categories()
    names = {summary.slug: summary.name for summary in summaries}
    wanted = sorted(set(names) | {ALL} if full else set(snapshot))
    report = PublishReport()

    files: dict[Path, bytes] = {}
    newest: Article | None = None
    for slug in wanted:
        try:
            folder = category_dir(output, slug)
        except UnsafeSlugError as exc:
            logger.error("%s", exc)
            report.refused.append(slug)
            continue
        entries = store.latest(slug, site.feed_size)
        if not entries:
            continue
        if slug == ALL:
            newest = entries[0]
        for filename, data in build_all(spec_for(site, slug, names.get(slug), entries)).items():
            files[folder / filename] = data
        report.categories.append(slug)

    index = output / "index.html"
    if report.categories or full or not index.exists():
        safe = [summary for summary in summaries if summary.slug not in report.refused
                and is_safe(output, summary.slug)]
        if newest is None:
            latest = store.latest(ALL, 1)
            newest = latest[0] if latest else None
        files[index] = render_index(site, safe, store.count(ALL), newest)
        files[output / "opml.xml"] = render_opml(site, safe)

    output.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (report.written if write_atomic(path, data) else report.unchanged).append(path)
    store.clear_dirty({slug: counter for slug, counter in snapshot.items() if slug not in report.refused})
    return report
