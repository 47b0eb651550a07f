"""The embedded store: one SQLite file (WAL), each decision and write in one transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from .base import (ALL, Article, CategorySummary, LockInfo, Outcome, RunStatus, Store, UpsertResult)
from .codec import article_from_json, article_to_json, merge_fields, run_from_json, run_to_json

BEIJING = ZoneInfo("Asia/Shanghai")
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY,
    published REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_by_time ON articles (published DESC, article_id DESC);
CREATE TABLE IF NOT EXISTS memberships (
    category TEXT NOT NULL,
    article_id TEXT NOT NULL,
    published REAL NOT NULL,
    PRIMARY KEY (category, article_id)
);
CREATE INDEX IF NOT EXISTS memberships_by_time ON memberships (category, published DESC, article_id DESC);
CREATE TABLE IF NOT EXISTS known (article_id TEXT PRIMARY KEY, title TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS category_names (slug TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dirty (category TEXT PRIMARY KEY, counter INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (source TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class SQLiteStore(Store):
    """The zero-setup store; several processes may share the file (WAL, busy timeout)."""

    def __init__(self, path: str):
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout = 30000")
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        with self.transaction():
            for statement in filter(str.strip, SCHEMA.split(";")):
                self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('dirty_seq', 0)")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- articles ------------------------------------------------------------------------

    def _load(self, article_id: str) -> Article | None:
        row = self.db.execute("SELECT record FROM articles WHERE article_id = ?", (article_id,)).fetchone()
        return article_from_json(row[0]) if row else None

    def _save(self, article: Article, categories: Iterable[str]) -> None:
        published = article.published.timestamp()
        self.db.execute("INSERT OR REPLACE INTO articles VALUES (?, ?, ?)",
                        (article.article_id, published, article_to_json(article)))
        self.db.execute("INSERT OR REPLACE INTO known VALUES (?, ?)", (article.article_id, article.title))
        self.db.executemany("INSERT OR IGNORE INTO memberships VALUES (?, ?, ?)",
                            [(slug, article.article_id, published) for slug in categories])
        self.db.executemany("INSERT INTO category_names VALUES (?, ?) ON CONFLICT (slug) DO UPDATE SET name = excluded.name",
                            [(slug, name) for slug, name in article.categories.items()])

    def _bump(self, categories: Iterable[str]) -> None:
        categories = list(categories)
        if not categories:
            return
        seq = self.db.execute("UPDATE meta SET value = value + 1 WHERE key = 'dirty_seq' RETURNING value").fetchone()[0]
        self.db.executemany(
            "INSERT INTO dirty VALUES (?, ?) ON CONFLICT (category) DO UPDATE SET counter = excluded.counter",
            [(category, seq) for category in categories])

    def upsert(self, article: Article, crawled_at: datetime) -> UpsertResult:
        with self.transaction():
            stored = self._load(article.article_id)
            if stored is None:
                article.first_seen = crawled_at
                article.updated = article.published
                article.categories = dict(sorted(article.categories.items()))
                self._save(article, article.categories)
                self._bump([*article.categories, ALL])
                return UpsertResult(Outcome.NEW, tuple(article.categories), article)
            if stored.content_hash == article.content_hash:
                before = article_to_json(stored)
                stored, added = merge_fields(stored, article, article.categories)
                if article_to_json(stored) != before:
                    self._save(stored, added)
                    self._bump([*added, ALL] if added else [])
                return UpsertResult(Outcome.UNCHANGED, added, stored)
            updated, added = merge_fields(stored, article, article.categories)
            for name in ("title", "link", "html", "summary", "content_raw", "text_raw", "content_hash"):
                setattr(updated, name, getattr(article, name))
            updated.updated = crawled_at
            self._save(updated, updated.categories)
            self._bump([*updated.categories, ALL])
            return UpsertResult(Outcome.UPDATED, added, updated)

    def add_membership(self, article_id: str, categories: Mapping[str, str], *, media: str | None = None,
                       digest: str = "", url_w: str = "") -> tuple[str, ...] | None:
        with self.transaction():
            stored = self._load(article_id)
            if stored is None:
                return None
            probe = Article(article_id=article_id, title="", link="", published=stored.published,
                            categories={}, media=media, digest=digest, url_w=url_w)
            before = article_to_json(stored)
            stored, added = merge_fields(stored, probe, dict(categories))
            if article_to_json(stored) != before:
                self._save(stored, added)
                self._bump([*added, ALL] if added else [])
            return added

    def known_titles(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(article_ids))
        found: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT article_id, title FROM known WHERE article_id IN ({marks})", chunk))
        return found

    def known_categories(self, article_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        ids = list(dict.fromkeys(article_ids))
        found: dict[str, set[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for article_id, slug in self.db.execute(
                    f"SELECT article_id, category FROM memberships WHERE article_id IN ({marks})", chunk):
                found.setdefault(article_id, set()).add(slug)
        return {article_id: frozenset(slugs) for article_id, slugs in found.items()}

    def get(self, article_id: str) -> Article | None:
        return self._load(article_id)

    def _page(self, category: str, limit: int, offset: int, order: str) -> list[Article]:
        if category == ALL:
            rows = self.db.execute(
                f"SELECT record FROM articles ORDER BY published {order}, article_id {order} LIMIT ? OFFSET ?",
                (limit, offset))
        else:
            rows = self.db.execute(
                f"SELECT a.record FROM memberships m JOIN articles a USING (article_id) WHERE m.category = ? "
                f"ORDER BY m.published {order}, m.article_id {order} LIMIT ? OFFSET ?", (category, limit, offset))
        return [article_from_json(row[0]) for row in rows]

    def latest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        return self._page(category, limit, offset, "DESC")

    def oldest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        return self._page(category, limit, offset, "ASC")

    def count(self, category: str) -> int:
        if category == ALL:
            return self.db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM memberships WHERE category = ?", (category,)).fetchone()[0]

    def categories(self) -> list[CategorySummary]:
        summaries = []
        rows = self.db.execute(
            "SELECT m.category, COALESCE(n.name, m.category), COUNT(*) FROM memberships m "
            "LEFT JOIN category_names n ON n.slug = m.category GROUP BY m.category ORDER BY m.category").fetchall()
        for slug, name, count in rows:
            newest = self.latest(slug, 1)
            summaries.append(CategorySummary(slug, name, count, newest[0].published if newest else None,
                                             newest[0].title if newest else None))
        return summaries

    # -- publishing bookkeeping ----------------------------------------------------------

    def dirty_categories(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT category, counter FROM dirty"))

    def clear_dirty(self, seen: Mapping[str, int]) -> None:
        with self.transaction():
            self.db.executemany("DELETE FROM dirty WHERE category = ? AND counter = ?", list(seen.items()))

    def mark_dirty(self, categories: Iterable[str]) -> None:
        with self.transaction():
            self._bump(categories)

    def prune(self, category: str, keep: int) -> int:
        with self.transaction():
            if category == ALL:
                ids = [r[0] for r in self.db.execute(
                    "SELECT article_id FROM articles ORDER BY published DESC, article_id DESC LIMIT -1 OFFSET ?",
                    (keep,))]
            else:
                ids = [r[0] for r in self.db.execute(
                    "SELECT article_id FROM memberships WHERE category = ? "
                    "ORDER BY published DESC, article_id DESC LIMIT -1 OFFSET ?", (category, keep))]
            touched: set[str] = set()
            for article_id in ids:
                stored = self._load(article_id)
                if stored is None:
                    continue
                drop = set(stored.categories) if category == ALL else {category}
                touched |= drop
                self.db.executemany("DELETE FROM memberships WHERE category = ? AND article_id = ?",
                                    [(slug, article_id) for slug in drop])
                remaining = {s: n for s, n in stored.categories.items() if s not in drop}
                if remaining:
                    stored.categories = remaining
                    self.db.execute("UPDATE articles SET record = ? WHERE article_id = ?",
                                    (article_to_json(stored), article_id))
                else:
                    self.db.execute("DELETE FROM memberships WHERE article_id = ?", (article_id,))
                    self.db.execute("DELETE FROM articles WHERE article_id = ?", (article_id,))
            if ids:
                self._bump([*touched, ALL])
            return len(ids)

    # -- runs and locks ------------------------------------------------------------------

    def record_run(self, status: RunStatus) -> None:
        with self.transaction():
            if status.last_success is None:
                row = self.db.execute("SELECT record FROM runs WHERE source = ?", (status.source,)).fetchone()
                if row:
                    status.last_success = run_from_json(row[0]).last_success
            self.db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (status.source, run_to_json(status)))

    def runs(self) -> dict[str, RunStatus]:
        return {source: run_from_json(record) for source, record in self.db.execute("SELECT source, record FROM runs")}

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        with self.transaction():
            row = self.db.execute("SELECT owner, expires FROM locks WHERE name = ?", (name,)).fetchone()
            if row and row[0] != owner and row[1] > now:
                return False
            self.db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?)", (name, owner, now + ttl))
            return True

    def release_lock(self, name: str, owner: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    def lock_info(self, name: str) -> LockInfo | None:
        row = self.db.execute("SELECT owner, expires FROM locks WHERE name = ? AND expires > ?",
                              (name, time.time())).fetchone()
        if row is None:
            return None
        return LockInfo(row[0], datetime.fromtimestamp(row[1], BEIJING))

    def close(self) -> None:
        self.db.close()

