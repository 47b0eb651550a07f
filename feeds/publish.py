"""Which feeds changed → build them and their pages → write atomically, skipping identical bytes.

The feeds are the categories, `all/`, and the grouped feeds: `stocks/<symbol>/` (with
`[site] stock_feeds`) and `topics/<slug>/` (the configured `[[topics]]`); each folder also gets
its readable `index.html`.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from markupsafe import Markup

from crawler.config import Config, TopicConfig
from crawler.store import (ALL, PUBLISH_RUN, STOCKS, TOPICS, CategorySummary, RunStatus, Store, group_of,
                           grouped, is_category)
from crawler.text.slugs import is_slug
from crawler.text.times import BEIJING

from . import archive, entries, reuse, stocks, topics
from .build import Entry, FeedSpec, Fragment, Fragments, Pieces, spec_for
from .pages import (STOCK_OUTLINES, TOPIC_OUTLINES, category_outlines, newest_of, render_feed_page, render_index,
                    render_opml, render_stocks)
from .paths import UnsafePathError, file_in, inside

logger = logging.getLogger(__name__)

WRITERS = 4
"""Threads writing and syncing temporary files while the next feeds are built (`os.fsync` releases the GIL)."""


CARRIED = 300
"""Entries whose fragments a publish leaves to the next one in the same process (the scheduler's): the newest
its subscription documents showed that it serialized, which a later publish writes into their archive month (the
newest month lags: see feeds/archive.py) or, after a publish killed before writing a record, into the feeds again."""
_carried: dict[str, dict[Entry, Fragment]] = {}
"""The last publish's `CARRIED` fragments, under the site title they were serialized with."""


PAGE_ROWS = 2000
"""Feed page rows a publish keeps for the other feeds of the same entries (the rows of a full publish's entries
would take megabytes)."""


TEMP_SUFFIX = ".tmp"
TEMP_RE = re.compile(r"\.\.?[A-Za-z0-9][A-Za-z0-9._-]*\.[a-z0-9_]{8}\.tmp")
"""finews's own temporary files: `.<name>.<8 random characters>.tmp` (see `_temporary`; the name of a
dotfile such as the archives' state or a feed's record of its entries begins with its own dot)."""


class UnsafeSlugError(UnsafePathError):
    """A feed key that is not a `[a-z0-9-]` slug (in a known group) or would put files outside the output folder."""


@dataclass
class PublishReport:
    """What one publish did: the feeds rebuilt, the files written or left alone, the slugs refused."""

    categories: list[str] = field(default_factory=list)
    """The feeds rebuilt (`all`, `stocks/…` and `topics/…` included), by store key."""
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Categories left unpublished because their slug is unsafe (they stay marked dirty)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Categories that could not be built or written, with why (they stay marked dirty)."""
    stale_removed: list[Path] = field(default_factory=list)
    """Temporary files that killed publishes left, removed before this one wrote anything."""
    serialized: int = 0
    """Entries serialized (feeds and archives)."""
    reused: int = 0
    """Entries taken from the published files instead, each counted once (feeds/entries.py)."""


def _temporary(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path` (same folder, so the rename is atomic): its descriptor and path."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    return fd, Path(name)


IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16
"""The most pieces one `os.writev` takes."""


def _write_pieces(fd: int, pieces: Pieces) -> None:
    """Write the pieces one after the other, as few system calls as the kernel allows: each lets the GIL go, and
    taking it back from a busy thread can wait a whole switch interval."""
    views = [memoryview(piece) for piece in pieces if len(piece)]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first:first + IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]


def remove_stale_temporaries(folders: Iterable[Path], before: float, *, recursive: bool) -> list[Path]:
    """Remove finews's own temporary files (`TEMP_RE`) last changed before `before` in these folders
    (and every folder below them when `recursive`).

    A killed publish or crawl leaves them; a running one's newer files are left alone. Symlinks
    are neither followed nor removed; a folder that does not exist is skipped.
    """
    removed = []
    pending = list(folders)
    while pending:
        try:
            with os.scandir(pending.pop()) as found:
                entries = list(found)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if recursive and entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif TEMP_RE.fullmatch(entry.name) and not entry.is_symlink():
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < before:
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
                except FileNotFoundError:
                    continue
    return removed


def _holds(path: Path, pieces: Pieces) -> bool:
    """Whether `path` already holds exactly these pieces (sizes are compared before any byte is read)."""
    try:
        if path.stat().st_size != sum(map(len, pieces)):
            return False
        with path.open("rb") as held:
            return all(held.read(len(piece)) == piece for piece in pieces)
    except FileNotFoundError:
        return False


def stage(path: Path, data: bytes | Pieces) -> Path | None:
    """Write `data` (or its pieces, one after the other) to a new temporary file beside `path` and fsync it;
    None when `path` holds these bytes.

    Renaming the returned file onto `path` publishes it atomically. On any error the temporary
    file is removed.
    """
    pieces = [data] if isinstance(data, bytes) else data
    if _holds(path, pieces):
        return None
    try:
        fd, tmp = _temporary(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temporary(path)
    try:
        try:
            _write_pieces(fd, pieces)
            os.fsync(fd)
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
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


class _Backlog:
    """Stagings handed to the writer threads, at most `limit` of them not done yet: each holds its bytes
    until it is written, and a month of all/ is tens of megabytes."""

    def __init__(self, writers: ThreadPoolExecutor, limit: int):
        self.writers, self.limit = writers, limit
        self.waiting: deque[Future[Path | None]] = deque()

    def stage(self, path: Path, data: bytes | Pieces) -> Future[Path | None]:
        future = self.writers.submit(stage, path, data)
        self.waiting.append(future)
        while len(self.waiting) > self.limit:
            wait([self.waiting.popleft()])
        return future


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


def _listable(output: Path, summary: CategorySummary, report: PublishReport) -> bool:
    """Whether a feed may be listed: not refused, and not failed unless an earlier publish wrote it."""
    return summary.slug not in report.refused and (
        summary.slug not in report.failed or output.joinpath(summary.slug, "rss.xml").exists())


def _failed(report: PublishReport, slug: str, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    logger.error("category %s not published: %s; every other category goes on (it stays marked to retry)",
                 slug, reason)
    report.failed[slug] = reason


def _sweep(config: Config, folders: Iterable[Path], before: float, *, full: bool) -> list[Path]:
    """Remove the temporary files killed runs left: in the whole output folder when `full`, else in the
    folders this publish writes (a killed publish left its categories dirty, so the next one writes
    them again); and in the Jekyll posts folder, which the crawl writes.
    """
    output = config.site.output_dir
    posts = [config.jekyll.posts_dir] if config.jekyll else []
    if full:
        removed = remove_stale_temporaries([output, *posts], before, recursive=True)
    else:
        feeds = list(folders)
        removed = remove_stale_temporaries(
            [output, output / STOCKS, output / TOPICS, *feeds, *(feed / archive.ARCHIVE_DIR for feed in feeds), *posts],
            before, recursive=False)
    if removed:
        logger.info("removed %d temporary files left by killed runs", len(removed))
    return removed


ARCHIVES = "archive"
"""What a failure of the archives is reported as (a reserved name: never a category's slug)."""


def _stage_archives(config: Config, store: Store, summaries: Iterable[CategorySummary], full: bool,
                    writers: _Backlog, report: PublishReport, fragments: Fragments,
                    window: Callable[[str], frozenset[str] | None], published: Callable[[str], frozenset[str] | None]
                    ) -> tuple[archive.ArchivePlan | None, dict[str, dict[Path, Future[Path | None]]]]:
    """Build and stage the archive months that changed, by feed slug (the archives' state under "");
    (None, {}) when building failed (logged and reported).
    """
    output = config.site.output_dir
    names = {summary.slug: summary.name for summary in summaries}

    def folder_of(slug: str) -> Path | None:
        try:
            return category_dir(output, slug) if slug == ALL or slug in names else None
        except UnsafeSlugError:
            return None

    stagings: dict[str, dict[Path, Future[Path | None]]] = {}
    try:
        plan = archive.plan(store, config.site, folder_of, names, full=full, fragments=fragments, window=window,
                            subscribed_ids=published)
        for path, data in plan.documents:
            slug = "" if path.parent == output else path.parent.parent.name
            stagings.setdefault(slug, {})[path] = writers.stage(path, data)
            del data
    except BaseException as exc:
        for staging in stagings.values():
            _discard(staging.values())
        if not isinstance(exc, Exception):
            raise
        _archives_failed(report, exc)
        return None, {}
    return plan, stagings


def _rename_archives(stagings: dict[str, dict[Path, Future[Path | None]]], report: PublishReport) -> bool:
    """Move each feed's archive months into place (not the state, under ""); whether every feed's went in.

    A feed whose archives cannot be written fails like its feeds (logged, reported).
    """
    whole = True
    for slug, staging in stagings.items():
        if slug:
            try:
                _rename_all(_collect(staging), report)
            except Exception as exc:
                _failed(report, slug, exc)
                whole = False
    return whole


def _rename_state(staging: dict[Path, Future[Path | None]], whole: bool, report: PublishReport) -> None:
    """Move the archives' state into place after the feeds, when every archive month went in; else the state
    stays, so the next publish reads the same changes and writes their months again."""
    if whole:
        try:
            _rename_all(_collect(staging), report)
        except Exception as exc:
            _archives_failed(report, exc)
    else:
        _discard(staging.values())


def _archives_failed(report: PublishReport, exc: BaseException) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    logger.error("archives not written: %s; the feeds still publish, the next publish retries them", reason)
    report.failed[ARCHIVES] = reason


def _newest_archive(archives_on: bool, written: archive.ArchivePlan | None, slug: str, folder: Path) -> str | None:
    """The archive month a feed links: the newest after this publish, or on disk when the archives failed."""
    if not archives_on:
        return None
    return written.newest_for(slug, folder) if written else archive.newest_month(folder)


def _names(slug: str) -> list[str]:
    """The folder names of a feed key (`emnews`, `stocks/sh600160`); raises UnsafeSlugError for any other key."""
    group = group_of(slug)
    names = slug.split("/", 1) if group else [slug]
    if group not in (None, STOCKS, TOPICS) or not is_slug(names[-1]):
        raise UnsafeSlugError(f"refusing to publish category {slug!r}: a slug may only use [a-z0-9-]")
    return names


def category_dir(output: Path, slug: str) -> Path:
    """The folder of a feed (`emnews`, `stocks/sh600160`); raises UnsafeSlugError for a key that could leave `output`.

    The files written in it are plain names (`paths.inside` checks each with one `lstat`).
    """
    try:
        return inside(output, *_names(slug))
    except UnsafeSlugError:
        raise
    except UnsafePathError as exc:
        raise UnsafeSlugError(f"refusing to publish category {slug!r}: {exc}") from None


def is_safe(slug: str) -> bool:
    """Whether a feed key is made of safe names (the index and OPML list only such feeds; a folder
    that is a symlink is refused when its feed is written, and then not listed either)."""
    try:
        _names(slug)
    except UnsafeSlugError:
        return False
    return True


class _Feeds:
    """What a publish knows of the feeds: the store's names, the configured topics, which keys it publishes."""

    def __init__(self, config: Config, summaries: list[CategorySummary]):
        self.config = config
        self.names = {summary.slug: summary.name for summary in summaries}
        self.topics: dict[str, TopicConfig] = {grouped(TOPICS, t.slug): t for t in config.topics}

    def published(self, key: str) -> bool:
        """A security with `stock_feeds`, a topic while it is configured, any other key (`category_dir` judges it)."""
        group = group_of(key)
        if group == STOCKS:
            return self.config.site.stock_feeds
        return group != TOPICS or key in self.topics

    def head(self, key: str) -> FeedSpec:
        """The feed of a key without its entries, declaring the WebSub hubs."""
        site, hubs = self.config.site, self.config.websub.hubs
        topic = self.topics.get(key)
        if topic is not None:
            return FeedSpec(key, topic.title, [], site, hubs)
        if group_of(key) == STOCKS:
            return FeedSpec(key, stocks.feed_name(key.split("/", 1)[1], self.names.get(key, key)), [], site, hubs)
        return spec_for(site, key, self.names.get(key), [], hubs=hubs)

    def list(self, store: Store, key: str, folder: Path, full: bool) -> entries.Listed | entries.FeedEntries:
        """The feed's head and newest ids (a topic's entries), to be read with `entries.finish`; its folder's record
        of what its files hold unless `full`."""
        return entries.listed(store, self.head(key), folder, recorded=not full, topic=self.topics.get(key))


def publish(config: Config, store: Store, *, full: bool = False) -> PublishReport:
    """Rebuild the feeds changed since the last publish (every one when `full`), each with its page.

    First the temporary files killed runs left are removed (see `_sweep`). With `site.archives`, the archive
    documents of the months that changed are built and staged first (knowing which entries each
    feed's new subscription document shows: those may wait for their month) and renamed into place
    just before the feeds that link them, the archives' state just after (see feeds/archive.py; the
    first publish with archives rebuilds every feed, so that each links its archives); archives that
    cannot be written are logged and retried by the next publish, and the feeds still publish.
    Each category's files are built and written to synced temporary files (by a few threads,
    while the next feeds are built) before any of them is renamed into place; a category that cannot be built or written is logged and
    left marked dirty, and every other one, the index and the OPML still publish. Dirty marks are
    cleared only after the last rename, so the next publish retries what failed. A category with
    no items left keeps its files. The index and OPML lists are rebuilt whenever a feed was (always
    when `full`, and when the index is missing); `stocks/index.html` whenever a security's feed was.
    A topic whose definition changed is re-filed and rebuilt (see topics). Each entry is serialized once
    (feeds/build.py `Fragments`), and a publish starts from the fragments of the newest entries the previous
    publish in this process serialized (`CARRIED`); an entry a feed's published files hold unchanged is taken from
    them with its page row, its article not read (feeds/entries.py, feeds/reuse.py; not when `full`, which builds
    every byte anew). The outcome is recorded as the `@publish` run.
    """
    started, begun = time.time(), datetime.now(BEIJING)
    site = config.site
    output = site.output_dir
    report = PublishReport()
    full = full or site.archives and archive.read_mark(output) is None
    refiled = topics.refile(config, store)
    snapshot = store.dirty_categories()
    summaries = store.categories()
    feeds = _Feeds(config, summaries)
    wanted = sorted(set(feeds.names) | set(feeds.topics) | {ALL} if full else set(snapshot) | refiled)

    folders: dict[str, Path] = {}
    for slug in filter(feeds.published, wanted):
        try:
            folders[slug] = category_dir(output, slug)
        except UnsafeSlugError as exc:
            logger.error("%s", exc)
            report.refused.append(slug)
    report.stale_removed = _sweep(config, folders.values(), started, full=full)

    securities = stocks.listings(summary for summary in summaries if group_of(summary.slug) == STOCKS
                                 and is_safe(summary.slug) and _listable(output, summary, report)) \
        if site.stock_feeds else []

    with ThreadPoolExecutor(WRITERS, thread_name_prefix="finews-write") as pool:
        writers = _Backlog(pool, 2 * WRITERS)
        stagings: dict[str, dict[Path, Future[Path | None]]] = {}
        archive_staging: dict[str, dict[Path, Future[Path | None]]] = {}
        try:
            archived = [summary for summary in summaries if feeds.published(summary.slug)]
            fragments = Fragments(_carried.get(site.title))
            page_rows: dict[Entry, Markup] = {}
            shown: list[Entry] = []
            planned: dict[str, entries.Listed | entries.FeedEntries] = {}
            kept: set[tuple[str, int | None]] = set()
            records: dict[str, dict[str, object]] = {}

            def window(slug: str) -> frozenset[str] | None:
                """The entry ids of the subscription document this publish gives a feed; None for a feed it leaves alone."""
                if slug not in folders:
                    return None
                if slug not in planned:
                    planned[slug] = feeds.list(store, slug, folders[slug], full)
                return planned[slug].ids

            def published(slug: str) -> frozenset[str] | None:
                """The entry ids a feed's published files hold, when its record says so (read for `window`)."""
                return planned[slug].published if slug in planned else None

            archives, archive_staging = _stage_archives(config, store, archived, full, writers, report, fragments,
                                                        window, published) if site.archives else (None, {})
            for slug, folder in folders.items():
                feed = entries.finish(store, planned.pop(slug, None) or feeds.list(store, slug, folder, full),
                                       archives.known if archives else None)
                if not feed.slots:
                    continue
                spec = replace(feed.spec, archive=_newest_archive(site.archives, archives, slug, folder))
                try:
                    if len(page_rows) > PAGE_ROWS:
                        page_rows.clear()
                    built, rows, records[slug] = feed.build(spec, fragments, page_rows)
                    shown += feed.fresh
                    kept.update((slot.article_id, slot.change) for slot in feed.slots if isinstance(slot, reuse.Kept))
                    files = {**built.pieces, "index.html": render_feed_page(
                        spec, stocks.PARENT if group_of(slug) == STOCKS else None, rows)}
                    stagings[slug] = {path: writers.stage(path, data)
                                      for path, data in ((file_in(folder, name), data) for name, data in files.items())}
                except Exception as exc:
                    _failed(report, slug, exc)
            staged: dict[str, dict[Path, Path | None]] = {}
            for slug, staging in stagings.items():
                try:
                    staged[slug] = _collect(staging)
                except Exception as exc:
                    _failed(report, slug, exc)
            _carried.clear()
            _carried[site.title] = fragments.newest(shown, CARRIED)
            report.serialized, report.reused = fragments.serialized, len(kept)
            whole = _rename_archives(archive_staging, report)  # before the feeds that link them
            for slug, files in staged.items():
                try:
                    _rename_all(files, report)
                    report.categories.append(slug)
                except Exception as exc:
                    _failed(report, slug, exc)
                else:
                    pool.submit(reuse.write, folders[slug], records[slug])
            _rename_state(archive_staging.pop("", {}), whole, report)  # the entries it lets lag are shown now

            index = inside(output, "index.html")
            if report.categories or full or not index.exists():
                latest = store.latest(ALL, 1)
                newest = latest[0] if latest else None
                listed = [summary for summary in summaries if is_category(summary.slug) and _listable(output, summary, report)
                          and is_safe(summary.slug)]
                listed_topics = [topic for key, topic in feeds.topics.items() if key in feeds.names]
                pages = {index: render_index(site, listed, store.count(ALL), newest, listed_topics,
                                             len(securities)),
                         inside(output, "opml.xml"): render_opml(site, category_outlines(site, listed),
                                                                 newest_of(listed))}
                if listed_topics:
                    pages[inside(output, TOPICS, "opml.xml")] = render_opml(
                        site, topics.outlines(site, listed_topics), None, f"{site.title} - 主题", TOPIC_OUTLINES)
                _rename_all(_collect({path: writers.stage(path, data) for path, data in pages.items()}),
                            report)
            stock_index = inside(output, STOCKS, "index.html") if securities else None
            if stock_index and (full or not stock_index.exists()
                                or any(group_of(slug) == STOCKS for slug in report.categories)):
                pages = {stock_index: render_stocks(site, securities),
                         inside(output, STOCKS, "opml.xml"): render_opml(
                             site, stocks.outlines(site, securities), newest_of(securities), f"{site.title} - 股票",
                             STOCK_OUTLINES)}
                _rename_all(_collect({path: writers.stage(path, data) for path, data in pages.items()}),
                            report)
            marks = inside(output, *topics.MARKS_FILE)
            if config.topics or marks.exists():
                _rename_all(_collect({marks: writers.stage(marks, topics.marks_of(config.topics))}), report)
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
        counts={"written": len(report.written), "unchanged": len(report.unchanged), "serialized": report.serialized,
                "reused": report.reused}))
    return report
