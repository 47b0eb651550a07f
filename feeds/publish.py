"""Which categories changed → build their feeds → write atomically, skipping identical bytes."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from crawler.config import SLUG_RE, Config
from crawler.store import ALL, Article, Store

from .build import build_all, spec_for
from .pages import render_index, render_opml

logger = logging.getLogger(__name__)

WRITERS = 4
"""Threads writing and syncing temporary files while the next feeds are built (`os.fsync` releases the GIL)."""


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


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` already holds exactly `data` (sizes are compared before any byte is read)."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def stage(path: Path, data: bytes) -> Path | None:
    """Write `data` to a new temporary file beside `path` and fsync it; None when `path` holds these bytes.

    Renaming the returned file onto `path` publishes it atomically. On any error the temporary
    file is removed.
    """
    if _holds(path, data):
        return None
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` via a temporary file in the same folder, fsync and rename.

    Returns False, leaving the file and its mtime alone, when it already holds these bytes.
    On any error the temporary file is removed and the old file stays as it was.
    """
    tmp = stage(path, data)
    if tmp is None:
        return False
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


def _discard(staged: Iterable[Future[Path | None]]) -> None:
    """Cancel the stagings not started, wait for the others and remove the temporary files they wrote."""
    futures = list(staged)
    for future in futures:
        future.cancel()
    wait(futures)
    for future in futures:
        if not future.cancelled() and future.exception() is None and (tmp := future.result()) is not None:
            tmp.unlink(missing_ok=True)


def _rename_all(staged: dict[Path, Path | None], report: PublishReport) -> None:
    """Move every staged temporary file onto its path; on an error the ones not moved yet are removed."""
    try:
        for path, tmp in staged.items():
            if tmp is None:
                report.unchanged.append(path)
            else:
                os.replace(tmp, path)
                report.written.append(path)
    except BaseException:
        for tmp in staged.values():
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        raise


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

    Every file is built and written to a synced temporary file (by a few threads, while the next
    feeds are built) before any is renamed into place, and the dirty marks are cleared only after
    the last rename: a failure leaves the published files whole and the next publish retries. A
    category with no items left keeps its files. The index and OPML are rebuilt whenever a feed
    was (always when `full`, and when the index is missing).
    """
    site = config.site
    output = site.output_dir
    snapshot = store.dirty_categories()
    summaries = store.categories()
    names = {summary.slug: summary.name for summary in summaries}
    wanted = sorted(set(names) | {ALL} if full else set(snapshot))
    report = PublishReport()

    folders: dict[str, Path] = {}
    for slug in wanted:
        try:
            folders[slug] = category_dir(output, slug)
        except UnsafeSlugError as exc:
            logger.error("%s", exc)
            report.refused.append(slug)
    safe = [summary for summary in summaries
            if summary.slug in folders or summary.slug not in report.refused and is_safe(output, summary.slug)]

    with ThreadPoolExecutor(WRITERS, thread_name_prefix="finews-write") as writers:
        futures: dict[Path, Future[Path | None]] = {}
        try:
            newest: Article | None = None
            for slug, folder in folders.items():
                entries = store.latest(slug, site.feed_size)
                if not entries:
                    continue
                if slug == ALL:
                    newest = entries[0]
                for filename, data in build_all(spec_for(site, slug, names.get(slug), entries)).items():
                    futures[folder / filename] = writers.submit(stage, folder / filename, data)
                report.categories.append(slug)

            index = output / "index.html"
            if report.categories or full or not index.exists():
                if newest is None:
                    latest = store.latest(ALL, 1)
                    newest = latest[0] if latest else None
                futures[index] = writers.submit(stage, index, render_index(site, safe, store.count(ALL), newest))
                opml = output / "opml.xml"
                futures[opml] = writers.submit(stage, opml, render_opml(site, safe))
            staged = {path: future.result() for path, future in futures.items()}
        except BaseException:
            _discard(futures.values())
            raise
    _rename_all(staged, report)
    store.clear_dirty({slug: counter for slug, counter in snapshot.items() if slug not in report.refused})
    return report
