"""Which categories changed → build their feeds → write atomically, skipping identical bytes."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from crawler.config import Config
from crawler.store import ALL, PUBLISH_RUN, Article, CategorySummary, RunStatus, Store
from crawler.text.slugs import is_slug
from crawler.text.times import BEIJING

from . import archive
from .build import build_all, spec_for
from .pages import render_index, render_opml
from .paths import UnsafePathError, inside

logger = logging.getLogger(__name__)

WRITERS = 4
"""Threads writing and syncing temporary files while the next feeds are built (`os.fsync` releases the GIL)."""


TEMP_SUFFIX = ".tmp"
TEMP_RE = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9._-]*\.[a-z0-9_]{8}\.tmp")
"""finews's own temporary files: `.<name>.<8 random characters>.tmp` (see `_temporary`)."""


class UnsafeSlugError(UnsafePathError):
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
    failed: dict[str, str] = field(default_factory=dict)
    """Categories that could not be built or written, with why (they stay marked dirty)."""
    stale_removed: list[Path] = field(default_factory=list)
    """Temporary files that killed publishes left, removed before this one wrote anything."""


def _temporary(path: Path) -> IO[bytes]:
    """A new temporary file beside `path` (same folder, so the rename is atomic), kept on close."""
    return tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX, delete=False)


def remove_stale_temporaries(folders: Iterable[Path], before: float) -> list[Path]:
    """Remove finews's own temporary files (`TEMP_RE`) last changed before `before` under these folders.

    A killed publish or crawl leaves them; a running one's newer files are left alone. Symlinks
    are neither followed nor removed.
    """
    removed = []
    for folder in folders:
        for parent, _, names in os.walk(folder):
            for name in names:
                path = Path(parent, name)
                if not TEMP_RE.fullmatch(name) or path.is_symlink():
                    continue
                try:
                    if path.stat().st_mtime < before:
                        path.unlink()
                        removed.append(path)
                except FileNotFoundError:
                    continue
    return removed


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


def _collect(staging: dict[Path, Future[Path | None]]) -> dict[Path, Path | None]:
    """The temporary files of one category's stagings; on an error the others' files are removed."""
    try:
        return {path: future.result() for path, future in staging.items()}
    except BaseException:
        _discard(staging.values())
        raise


def _failed(report: PublishReport, slug: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    logger.error("category %s not published: %s; every other category goes on (it stays marked to retry)",
                 slug, reason)
    report.failed[slug] = reason


ARCHIVES = "archive"
"""What a failure of the archives is reported as (a reserved name: never a category's slug)."""


def _stage_archives(config: Config, store: Store, summaries: Iterable[CategorySummary], full: bool,
                    writers: ThreadPoolExecutor, report: PublishReport
                    ) -> tuple[archive.ArchivePlan | None, dict[str, dict[Path, Future[Path | None]]]]:
    """Build and stage the archive months that changed, by feed slug (the change number under "");
    (None, {}) when building failed (logged and reported).
    """
    output = config.site.output_dir
    safe = [summary for summary in summaries if is_safe(output, summary.slug)]
    feeds = {summary.slug: output / summary.slug for summary in safe} | {ALL: output / ALL}
    try:
        plan = archive.plan(store, config.site, feeds, {summary.slug: summary.name for summary in safe}, full=full)
    except Exception as exc:
        _archives_failed(report, exc)
        return None, {}
    stagings: dict[str, dict[Path, Future[Path | None]]] = {}
    for path, data in plan.files.items():
        slug = "" if path.parent == output else path.parent.parent.name
        stagings.setdefault(slug, {})[path] = writers.submit(stage, path, data)
    return plan, stagings


def _rename_archives(stagings: dict[str, dict[Path, Future[Path | None]]], report: PublishReport) -> None:
    """Move each feed's archive months into place; the change number only when every feed's went in.

    A feed whose archives cannot be written fails like its feeds (logged, reported); the change
    number stays, so the next publish writes its months again.
    """
    mark = stagings.pop("", {})
    whole = True
    for slug, staging in stagings.items():
        try:
            _rename_all(_collect(staging), report)
        except Exception as exc:
            _failed(report, slug, exc)
            whole = False
    if whole:
        try:
            _rename_all(_collect(mark), report)
        except Exception as exc:
            _archives_failed(report, exc)
    else:
        _discard(mark.values())


def _archives_failed(report: PublishReport, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    logger.error("archives not written: %s; the feeds still publish, the next publish retries them", reason)
    report.failed[ARCHIVES] = reason


def _newest_archive(archives_on: bool, written: archive.ArchivePlan | None, slug: str, folder: Path) -> str | None:
    """The archive month a feed links: the newest after this publish, or on disk when the archives failed."""
    if not archives_on:
        return None
    return written.newest_for(slug, folder) if written else archive.newest_month(folder)


def category_dir(output: Path, slug: str) -> Path:
    """The folder of a category's feeds; raises UnsafeSlugError for a slug that could leave `output`."""
    if not is_slug(slug):
        raise UnsafeSlugError(f"refusing to publish category {slug!r}: a slug may only use [a-z0-9-]")
    try:
        return inside(output, slug)
    except UnsafePathError as exc:
        raise UnsafeSlugError(f"refusing to publish category {slug!r}: {exc}") from None


def is_safe(output: Path, slug: str) -> bool:
    """Whether `category_dir` accepts the slug (the index and OPML list only such categories)."""
    try:
        category_dir(output, slug)
    except UnsafeSlugError:
        return False
    return True


def publish(config: Config, store: Store, *, full: bool = False) -> PublishReport:
    """Rebuild the feeds of the categories changed since the last publish (every one when `full`).

    First the temporary files killed runs left are removed. With `site.archives`, the archive
    documents of the months that changed are built and staged first and renamed into place just
    before the feeds that link them (see feeds/archive.py; the first publish with archives
    rebuilds every feed, so that each links its archives); archives that cannot be written are
    logged and retried by the next publish, and the feeds still publish.
    Each category's files are built and written to synced temporary files (by a few threads,
    while the next feeds are built) before any of them is renamed into place; a category that cannot be built or written is logged and
    left marked dirty, and every other one, the index and the OPML still publish. Dirty marks are
    cleared only after the last rename, so the next publish retries what failed. A category with
    no items left keeps its files. The index and OPML are rebuilt whenever a feed was (always when
    `full`, and when the index is missing). The outcome is recorded as the `@publish` run.
    """
    started, begun = time.time(), datetime.now(BEIJING)
    site = config.site
    output = site.output_dir
    report = PublishReport()
    report.stale_removed = remove_stale_temporaries(
        [output, *([config.jekyll.posts_dir] if config.jekyll else [])], started)
    if report.stale_removed:
        logger.info("removed %d temporary files left by killed runs", len(report.stale_removed))
    full = full or site.archives and archive.read_mark(output) is None
    snapshot = store.dirty_categories()
    summaries = store.categories()
    names = {summary.slug: summary.name for summary in summaries}
    wanted = sorted(set(names) | {ALL} if full else set(snapshot))

    folders: dict[str, Path] = {}
    for slug in wanted:
        try:
            folders[slug] = category_dir(output, slug)
        except UnsafeSlugError as exc:
            logger.error("%s", exc)
            report.refused.append(slug)

    with ThreadPoolExecutor(WRITERS, thread_name_prefix="finews-write") as writers:
        stagings: dict[str, dict[Path, Future[Path | None]]] = {}
        archive_staging: dict[str, dict[Path, Future[Path | None]]] = {}
        try:
            archives, archive_staging = _stage_archives(config, store, summaries, full, writers, report) \
                if site.archives else (None, {})
            newest: Article | None = None
            for slug, folder in folders.items():
                entries = store.latest(slug, site.feed_size)
                if not entries:
                    continue
                if slug == ALL:
                    newest = entries[0]
                try:
                    spec = spec_for(site, slug, names.get(slug), entries, hubs=config.websub.hubs,
                                    archive=_newest_archive(site.archives, archives, slug, folder))
                    files = build_all(spec)
                    stagings[slug] = {path: writers.submit(stage, path, data)
                                      for path, data in ((inside(folder, name), data) for name, data in files.items())}
                except Exception as exc:
                    _failed(report, slug, exc)
            staged: dict[str, dict[Path, Path | None]] = {}
            for slug, staging in stagings.items():
                try:
                    staged[slug] = _collect(staging)
                except Exception as exc:
                    _failed(report, slug, exc)
            _rename_archives(archive_staging, report)  # before the feeds that link them
            for slug, files in staged.items():
                try:
                    _rename_all(files, report)
                    report.categories.append(slug)
                except Exception as exc:
                    _failed(report, slug, exc)

            index = inside(output, "index.html")
            if report.categories or full or not index.exists():
                if newest is None:
                    latest = store.latest(ALL, 1)
                    newest = latest[0] if latest else None
                listed = [summary for summary in summaries if summary.slug not in report.refused
                          and (summary.slug not in report.failed or (output / summary.slug / "rss.xml").exists())
                          and is_safe(output, summary.slug)]
                pages = {index: render_index(site, listed, store.count(ALL), newest),
                         inside(output, "opml.xml"): render_opml(site, listed)}
                _rename_all(_collect({path: writers.submit(stage, path, data) for path, data in pages.items()}),
                            report)
        except BaseException:
            for staging in [*stagings.values(), *archive_staging.values()]:
                _discard(staging.values())
            raise
    kept = set(report.refused) | set(report.failed)
    store.clear_dirty({slug: counter for slug, counter in snapshot.items() if slug not in kept})
    store.record_run(RunStatus(
        source=PUBLISH_RUN, started=begun, finished=datetime.now(BEIJING),
        outcome="failed" if report.failed else "ok", listed=len(report.categories), errors=len(report.failed),
        message="; ".join(f"category {slug}: {reason}" for slug, reason in sorted(report.failed.items())),
        counts={"written": len(report.written), "unchanged": len(report.unchanged)}))
    return report
