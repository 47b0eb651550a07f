"""The embedded store: one SQLite file in WAL mode; every decision and its write in one transaction.

Several processes may share the file, each with its own connection: writers take the write
lock up front (`BEGIN IMMEDIATE`) and wait for each other (`BUSY_TIMEOUT`). An article is a
JSON record (see `codec`) beside the columns its orderings need; `memberships` indexes it per
category and `known` keeps every stored id with its title, also after the record is pruned.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from .base import ALL, Article, CategorySummary, LockInfo, Outcome, RunStatus, Store, StoreUnavailable, UpsertResult
from .codec import (BEIJING, CONTENT_FIELDS, FILLED_FIELDS, article_from_json, article_to_json, beijing,
                    run_from_json, run_to_json, time_from_text, time_to_text)

SCHEMA_VERSION = 2
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, published REAL NOT NULL, record TEXT NOT NULL,"
    " changed INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS articles_by_time ON articles (published, article_id)",
    "CREATE TABLE IF NOT EXISTS memberships (category TEXT NOT NULL, article_id TEXT NOT NULL,"
    " published REAL NOT NULL, PRIMARY KEY (category, article_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS memberships_by_time ON memberships (category, published, article_id)",
    "CREATE INDEX IF NOT EXISTS memberships_by_article ON memberships (article_id)",
    "CREATE TABLE IF NOT EXISTS known (article_id TEXT PRIMARY KEY, title TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS category_names (slug TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS dirty (category TEXT PRIMARY KEY, counter INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS runs (source TEXT PRIMARY KEY, record TEXT NOT NULL, last_success TEXT)",
    "CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)
WAL_PAGES = 10_000
"""Checkpoint the WAL past ~40 MB rather than SQLite's 4 MB: one item per transaction makes many small commits."""
BATCH = 500
"""Ids per `IN (…)` query (well under SQLite's bound-parameter limit)."""
BUSY_TIMEOUT = 60.0
"""Seconds a write waits for another process's write lock; longer, and the store is unavailable."""


class SQLiteStore(Store):
    """The zero-setup store in one file; safe for several processes and threads."""

    def __init__(self, path: str):
        self.path, self.name = path, f"sqlite:///{path}"
        self._lock = threading.RLock()
        try:
            self._open(path)
        except (sqlite3.Error, OSError) as exc:
            if hasattr(self, "db"):
                self.db.close()
            failure = self.unavailable(exc)
            if failure is None:
                raise
            raise failure from exc

    def _open(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _check_writable(Path(path))
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")
        self.db.execute(f"PRAGMA journal_size_limit = {WAL_PAGES * 4096}")
        with self._transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"{path}: store schema {version} is newer than this finews ({SCHEMA_VERSION})")
            for statement in SCHEMA:
                self.db.execute(statement)
            if "last_success" not in {column[1] for column in self.db.execute("PRAGMA table_info(runs)")}:
                # files from before schema 1 kept it in the record only
                self.db.execute("ALTER TABLE runs ADD COLUMN last_success TEXT")
                self.db.execute("UPDATE runs SET last_success = json_extract(record, '$.last_success')")
            if "changed" not in {column[1] for column in self.db.execute("PRAGMA table_info(articles)")}:
                # files from before schema 2 kept no change numbers: their articles count as archived
                self.db.execute("ALTER TABLE articles ADD COLUMN changed INTEGER NOT NULL DEFAULT 0")
            self.db.execute("CREATE INDEX IF NOT EXISTS articles_by_change ON articles (changed)")
            self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def unavailable(self, exc: Exception) -> StoreUnavailable | None:
        if isinstance(exc, OSError):
            return StoreUnavailable(self.name, f"{exc.strerror or exc} ({exc.filename or self.path})")
        if not isinstance(exc, sqlite3.OperationalError) and type(exc) is not sqlite3.DatabaseError:
            return None  # a constraint, a closed handle, a bad statement: bugs, not the store's state
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return StoreUnavailable(self.name, f"locked by another process for more than {BUSY_TIMEOUT:g}s ({code})")
        return StoreUnavailable(self.name, f"{exc} ({code})" if code else str(exc))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding the write lock from its start."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite itself ends some on error (a full disk, say)
                    self.db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[tuple]:
        with self._lock:
            return self.db.execute(sql, tuple(params)).fetchall()

    # -- the atomic step -------------------------------------------------------------------

    def upsert(self, article: Article, crawled_at: datetime) -> UpsertResult:
        published, crawled_at = beijing(article.published), beijing(crawled_at)
        with self._transaction() as db:
            row = db.execute("SELECT record FROM articles WHERE article_id = ?", (article.article_id,)).fetchone()
            if row is None:
                stored = replace(article, published=published, first_seen=crawled_at, updated=published,
                                 categories=dict(sorted(article.categories.items())))
                db.execute("INSERT INTO articles VALUES (?, ?, ?, 0)",
                           (stored.article_id, stored.published.timestamp(), article_to_json(stored)))
                self._index(stored, stored.categories, title_changed=True)
                self._changed(stored.article_id, self._bump([*stored.categories, ALL]))
                self._name(stored.categories)
                return UpsertResult(Outcome.NEW, tuple(stored.categories), stored)
            stored = article_from_json(row[0])
            added = _union(stored, article.categories)
            authored = bool(article.media) and not stored.media
            filled = _fill(stored, article.media, article.digest, article.url_w, article.info_code)
            if stored.content_hash == article.content_hash:
                new_source = bool(article.source_hash) and article.source_hash != stored.source_hash
                if new_source:
                    stored.source_hash = article.source_hash
                if added or filled or new_source:
                    self._rewrite(stored, added, title_changed=False)
                self._changed(stored.article_id, self._bump(_marks(stored, added, authored)))
                self._name(article.categories)
                return UpsertResult(Outcome.UNCHANGED, added, stored)
            for name in CONTENT_FIELDS:
                setattr(stored, name, getattr(article, name))
            stored.updated = crawled_at
            self._rewrite(stored, added, title_changed=True)
            self._changed(stored.article_id, self._bump([*stored.categories, ALL]))
            self._name(article.categories)
            return UpsertResult(Outcome.UPDATED, added, stored)

    def add_membership(self, article_id: str, categories: Mapping[str, str], *, media: str | None = None,
                       digest: str = "", url_w: str = "", source_hash: str | None = None) -> tuple[str, ...] | None:
        if source_hash is not None and not self._built_from(article_id, source_hash):
            return None  # decided without the write lock: the common case of a new or changed article
        with self._transaction() as db:
            row = db.execute("SELECT record FROM articles WHERE article_id = ?", (article_id,)).fetchone()
            if row is None:
                return None
            stored = article_from_json(row[0])
            if source_hash is not None and stored.source_hash != source_hash:
                return None
            added = _union(stored, categories)
            authored = bool(media) and not stored.media
            if _fill(stored, media, digest, url_w, None) or added:
                self._rewrite(stored, added, title_changed=False)
            self._changed(article_id, self._bump(_marks(stored, added, authored)))
            self._name(categories)
            return added

    def _built_from(self, article_id: str, source_hash: str) -> bool:
        """Whether the stored article was made from this source input (an empty hash matches none)."""
        return bool(source_hash) and bool(self._query(
            "SELECT 1 FROM articles WHERE article_id = ? AND json_extract(record, '$.source_hash') = ?",
            (article_id, source_hash)))

    def _rewrite(self, stored: Article, added: Iterable[str], *, title_changed: bool) -> None:
        self.db.execute("UPDATE articles SET record = ? WHERE article_id = ?",
                        (article_to_json(stored), stored.article_id))
        self._index(stored, added, title_changed=title_changed)

    def _index(self, stored: Article, categories: Iterable[str], *, title_changed: bool) -> None:
        """Index `stored` in `categories`; record its title as known."""
        published = stored.published.timestamp()
        self.db.executemany("INSERT OR IGNORE INTO memberships VALUES (?, ?, ?)",
                            [(slug, stored.article_id, published) for slug in categories])
        if title_changed:
            self.db.execute("INSERT OR REPLACE INTO known VALUES (?, ?)", (stored.article_id, stored.title))

    def _name(self, categories: Mapping[str, str]) -> None:
        """Keep the display names the latest sighting gave."""
        self.db.executemany(
            "INSERT INTO category_names VALUES (?, ?) ON CONFLICT (slug) DO UPDATE SET name = excluded.name"
            " WHERE name IS NOT excluded.name", list(categories.items()))

    def _bump(self, categories: Iterable[str]) -> int | None:
        """Give each category a fresh change counter (from one sequence, so a value never repeats); the value."""
        categories = list(categories)
        if not categories:
            return None
        seq = self.db.execute("INSERT INTO sequences VALUES ('dirty', 1) ON CONFLICT (name) DO UPDATE"
                              " SET value = value + 1 RETURNING value").fetchone()[0]
        self.db.executemany("INSERT OR REPLACE INTO dirty VALUES (?, ?)", [(slug, seq) for slug in categories])
        return seq

    def _changed(self, article_id: str, seq: int | None) -> None:
        """Give the article the change number of the bump its change made (none: its entry did not change)."""
        if seq is not None:
            self.db.execute("UPDATE articles SET changed = ? WHERE article_id = ?", (seq, article_id))

    # -- reading -----------------------------------------------------------------------------

    def _by_id(self, sql: str, article_ids: Iterable[str]) -> list[tuple]:
        ids = list(dict.fromkeys(article_ids))
        rows: list[tuple] = []
        with self._lock:
            for start in range(0, len(ids), BATCH):
                chunk = ids[start:start + BATCH]
                rows += self.db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def known_titles(self, article_ids: Iterable[str]) -> dict[str, str]:
        return dict(self._by_id("SELECT article_id, title FROM known WHERE article_id IN ({marks})", article_ids))

    def known_categories(self, article_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        for article_id, slug in self._by_id(
                "SELECT a.article_id, m.category FROM articles a LEFT JOIN memberships m USING (article_id)"
                " WHERE a.article_id IN ({marks})", article_ids):
            found.setdefault(article_id, set()).update([slug] if slug else [])
        return {article_id: frozenset(slugs) for article_id, slugs in found.items()}

    def get(self, article_id: str) -> Article | None:
        rows = self._query("SELECT record FROM articles WHERE article_id = ?", (article_id,))
        return article_from_json(rows[0][0]) if rows else None

    def _ordered(self, columns: str, category: str, limit: int, offset: int, order: str) -> list[tuple]:
        """These columns of the articles (`a`) of a category (or `ALL`) in `latest` order (`DESC`) or its reverse."""
        if limit <= 0:
            return []
        if category == ALL:
            return self._query(f"SELECT {columns} FROM articles a ORDER BY a.published {order}, a.article_id {order}"
                               " LIMIT ? OFFSET ?", (limit, max(offset, 0)))
        return self._query(
            f"SELECT {columns} FROM memberships m JOIN articles a USING (article_id) WHERE m.category = ?"
            f" ORDER BY m.published {order}, m.article_id {order} LIMIT ? OFFSET ?", (category, limit, max(offset, 0)))

    def _page(self, category: str, limit: int, offset: int, order: str) -> list[Article]:
        return [article_from_json(record) for record, in self._ordered("a.record", category, limit, offset, order)]

    def latest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        return self._page(category, limit, offset, "DESC")

    def latest_changes(self, category: str, limit: int, offset: int = 0) -> list[tuple[str, int | None]]:
        return self._ordered("a.article_id, a.changed", category, limit, offset, "DESC")

    def get_many(self, article_ids: Iterable[str]) -> dict[str, Article]:
        articles = (article_from_json(record) for record, in self._by_id(
            "SELECT record FROM articles WHERE article_id IN ({marks})", article_ids))
        return {article.article_id: article for article in articles}

    def oldest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        return self._page(category, limit, offset, "ASC")

    def count(self, category: str) -> int:
        if category == ALL:
            return self._query("SELECT COUNT(*) FROM articles")[0][0]
        return self._query("SELECT COUNT(*) FROM memberships WHERE category = ?", (category,))[0][0]

    def categories(self) -> list[CategorySummary]:
        # the newest title from `known` (kept with the record's), not parsed out of the whole record
        # counted from the covering index alone; the names joined once per category, not once per membership
        rows = self._query(
            "SELECT c.category, COALESCE(n.name, c.category), c.count, x.published,"
            " COALESCE(k.title, json_extract(a.record, '$.title'))"
            " FROM (SELECT m.category, COUNT(*) AS count,"
            "  (SELECT x.article_id FROM memberships x JOIN articles a USING (article_id) WHERE x.category = m.category"
            "   ORDER BY x.published DESC, x.article_id DESC LIMIT 1) AS newest"
            "  FROM memberships m GROUP BY m.category) c"
            " LEFT JOIN category_names n ON n.slug = c.category"
            " LEFT JOIN memberships x ON x.category = c.category AND x.article_id = c.newest"
            " LEFT JOIN articles a ON a.article_id = c.newest LEFT JOIN known k ON k.article_id = c.newest"
            " ORDER BY c.category")
        return [CategorySummary(slug, name, count, None if published is None else
                                datetime.fromtimestamp(published, BEIJING), title)
                for slug, name, count, published, title in rows]

    # -- publishing bookkeeping --------------------------------------------------------------

    def dirty_categories(self) -> dict[str, int]:
        return dict(self._query("SELECT category, counter FROM dirty"))

    def clear_dirty(self, seen: Mapping[str, int]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM dirty WHERE category = ? AND counter = ?", list(seen.items()))

    def mark_dirty(self, categories: Iterable[str]) -> None:
        with self._transaction():
            self._bump(dict.fromkeys(categories))

    def changes(self, after: int, limit: int) -> list[tuple[int, Article]]:
        rows = self._query("SELECT changed, record FROM articles WHERE changed > ? ORDER BY changed LIMIT ?",
                           (after, max(limit, 0)))
        return [(changed, article_from_json(record)) for changed, record in rows]

    def prune(self, category: str, keep: int, settled: int | None = None) -> int:
        if keep < 0:
            raise ValueError(f"keep must be ≥ 0, not {keep}")
        with self._transaction() as db:
            if category == ALL:
                rows = db.execute("SELECT article_id, changed FROM articles ORDER BY published DESC, article_id DESC"
                                  " LIMIT -1 OFFSET ?", (keep,))
            else:
                rows = db.execute("SELECT m.article_id, a.changed FROM memberships m JOIN articles a USING (article_id)"
                                  " WHERE m.category = ? ORDER BY m.published DESC, m.article_id DESC"
                                  " LIMIT -1 OFFSET ?", (category, keep))
            ids = [i for i, changed in rows.fetchall() if settled is None or changed <= settled]
            touched: set[str] = set()
            for article_id in ids:
                record = db.execute("SELECT record FROM articles WHERE article_id = ?", (article_id,)).fetchone()
                stored = article_from_json(record[0])
                dropped = set(stored.categories) if category == ALL else {category}
                touched |= dropped
                db.executemany("DELETE FROM memberships WHERE category = ? AND article_id = ?",
                               [(slug, article_id) for slug in dropped])
                stored.categories = {slug: name for slug, name in stored.categories.items() if slug not in dropped}
                if category != ALL and stored.categories:
                    db.execute("UPDATE articles SET record = ? WHERE article_id = ?",
                               (article_to_json(stored), article_id))
                else:
                    db.execute("DELETE FROM memberships WHERE article_id = ?", (article_id,))
                    db.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            if ids:
                self._bump([*sorted(touched), ALL])
            return len(ids)

    # -- runs and locks ----------------------------------------------------------------------

    def record_run(self, status: RunStatus) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO runs VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET record = excluded.record,"
                       " last_success = COALESCE(excluded.last_success, runs.last_success)",
                       (status.source, run_to_json(status), time_to_text(status.last_success)))

    def runs(self) -> dict[str, RunStatus]:
        found = {}
        for source, record, last_success in self._query("SELECT source, record, last_success FROM runs"):
            found[source] = replace(run_from_json(record), last_success=time_from_text(last_success))
        return found

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        with self._transaction() as db:
            now = time.time()
            row = db.execute("SELECT owner, expires FROM locks WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (name, owner, now + ttl))
            return True

    def release_lock(self, name: str, owner: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    def lock_info(self, name: str) -> LockInfo | None:
        rows = self._query("SELECT owner, expires FROM locks WHERE name = ? AND expires > ?", (name, time.time()))
        return LockInfo(rows[0][0], datetime.fromtimestamp(rows[0][1], BEIJING)) if rows else None

    def close(self) -> None:
        with self._lock:
            self.db.close()


def _check_writable(path: Path) -> None:
    """Refuse a database this process cannot write (a read-only file or file system).

    SQLite would open it read-only and fail at the first write; a WAL database maps its
    shared-memory index (`-shm`), which must be writable too.
    """
    for target in (path.parent, *(Path(f"{path}{suffix}") for suffix in ("", "-wal", "-shm"))):
        if target.exists() and not os.access(target, os.W_OK):
            if os.statvfs(target).f_flag & os.ST_RDONLY:
                raise OSError(errno.EROFS, "read-only file system", str(target))
            raise OSError(errno.EACCES, "read-only (not writable by this process)", str(target))


def _union(stored: Article, categories: Mapping[str, str]) -> tuple[str, ...]:
    """Add the categories `stored` is not in yet; the added slugs, sorted."""
    added = tuple(sorted(slug for slug in categories if slug not in stored.categories))
    if added:
        stored.categories = dict(sorted({**stored.categories, **{slug: categories[slug] for slug in added}}.items()))
    return added


def _marks(stored: Article, added: Iterable[str], authored: bool) -> list[str]:
    """The feeds an unchanged article's new sighting changes: every one of its feeds when it gave the missing media
    (each entry shows it as its author), else the categories it added; with `all` whenever any."""
    marks = list(stored.categories) if authored else list(added)
    return [*marks, ALL] if marks else []


def _fill(stored: Article, media: str | None, digest: str, url_w: str, info_code: str | None) -> bool:
    """Fill the empty ones of `stored`'s FILLED_FIELDS; whether anything changed."""
    changed = False
    for name, value in zip(FILLED_FIELDS, (media, digest, url_w, info_code)):
        if value and not getattr(stored, name):
            setattr(stored, name, value)
            changed = True
    return changed
