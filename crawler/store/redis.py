"""The shared store on Redis: article records, a sorted set per category, run status, locks.

The new/unchanged/updated decision and its write form one optimistic transaction
(WATCH the article's key, decide, MULTI/EXEC; retried when another writer got there first),
so concurrent crawls on several machines store each article exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from .base import ALL, Article, CategorySummary, LockInfo, Outcome, RunStatus, Store, UpsertResult
from .codec import article_from_json, article_to_json, merge_fields, run_from_json, run_to_json

BEIJING = ZoneInfo("Asia/Shanghai")

CLEAR_DIRTY = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
"""
RENEW_LOCK = """
local owner = redis.call('GET', KEYS[1])
if owner == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore(Store):
    """Keys live under `prefix:`; articles are JSON strings (one GET/SET each, read whole)."""

    def __init__(self, url: str, prefix: str = "finews"):
        self.url = url
        self.prefix = prefix
        self.redis = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        self._clear_dirty = self.redis.register_script(CLEAR_DIRTY)
        self._renew_lock = self.redis.register_script(RENEW_LOCK)
        self._release_lock = self.redis.register_script(RELEASE_LOCK)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def index(self, category: str) -> str:
        return self.key("all") if category == ALL else self.key("cat", category)

    # -- the atomic step -----------------------------------------------------------------

    def _transaction(self, article_id: str, decide: Callable[[Article | None, Any], Any]) -> Any:
        """Run `decide(stored, pipe)` under WATCH of the article; it queues writes after `pipe.multi()`."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key("article", article_id))
                    raw = pipe.get(self.key("article", article_id))
                    result = decide(article_from_json(raw) if raw else None, pipe)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    def _write(self, pipe: Any, article: Article, categories: Iterable[str], dirty: Iterable[str]) -> None:
        score = article.published.timestamp()
        pipe.set(self.key("article", article.article_id), article_to_json(article))
        pipe.hset(self.key("titles"), article.article_id, article.title)
        pipe.hset(self.key("slugs"), article.article_id, ",".join(sorted(article.categories)))
        pipe.zadd(self.key("all"), {article.article_id: score})
        for slug in categories:
            pipe.zadd(self.key("cat", slug), {article.article_id: score})
            pipe.sadd(self.key("categories"), slug)
        if article.categories:
            pipe.hset(self.key("names"), mapping=article.categories)
        self._queue_dirty(pipe, dirty)

    def _queue_dirty(self, pipe: Any, categories: Iterable[str]) -> None:
        categories = list(categories)
        if categories:
            seq = int(time.time_ns())
            pipe.hset(self.key("dirty"), mapping={category: seq for category in categories})

    def upsert(self, article: Article, crawled_at: datetime) -> UpsertResult:
        def decide(stored: Article | None, pipe: Any) -> UpsertResult:
            pipe.multi()
            if stored is None:
                article.first_seen = crawled_at
                article.updated = article.published
                article.categories = dict(sorted(article.categories.items()))
                self._write(pipe, article, article.categories, [*article.categories, ALL])
                return UpsertResult(Outcome.NEW, tuple(article.categories), article)
            if stored.content_hash == article.content_hash:
                before = article_to_json(stored)
                merged, added = merge_fields(stored, article, article.categories)
                if article_to_json(merged) != before:
                    self._write(pipe, merged, added, [*added, ALL] if added else [])
                return UpsertResult(Outcome.UNCHANGED, added, merged)
            merged, added = merge_fields(stored, article, article.categories)
            for name in ("title", "link", "html", "summary", "content_raw", "text_raw", "content_hash"):
                setattr(merged, name, getattr(article, name))
            merged.updated = crawled_at
            self._write(pipe, merged, merged.categories, [*merged.categories, ALL])
            return UpsertResult(Outcome.UPDATED, added, merged)

        return self._transaction(article.article_id, decide)

    def add_membership(self, article_id: str, categories: Mapping[str, str], *, media: str | None = None,
                       digest: str = "", url_w: str = "") -> tuple[str, ...] | None:
        def decide(stored: Article | None, pipe: Any) -> tuple[str, ...] | None:
            pipe.multi()
            if stored is None:
                return None
            before = article_to_json(stored)
            probe = Article(article_id=article_id, title="", link="", published=stored.published,
                            categories={}, media=media, digest=digest, url_w=url_w)
            merged, added = merge_fields(stored, probe, dict(categories))
            if article_to_json(merged) != before:
                self._write(pipe, merged, added, [*added, ALL] if added else [])
            return added

        return self._transaction(article_id, decide)

    # -- reading -------------------------------------------------------------------------

    def known_titles(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        titles = self.redis.hmget(self.key("titles"), ids)
        return {article_id: title for article_id, title in zip(ids, titles) if title is not None}

    def known_categories(self, article_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        slugs = self.redis.hmget(self.key("slugs"), ids)
        return {article_id: frozenset(filter(None, value.split(","))) for article_id, value in zip(ids, slugs)
                if value is not None}

    def get(self, article_id: str) -> Article | None:
        raw = self.redis.get(self.key("article", article_id))
        return article_from_json(raw) if raw else None

    def _records(self, ids: list[str]) -> list[Article]:
        if not ids:
            return []
        raws = self.redis.mget([self.key("article", i) for i in ids])
        return [article_from_json(raw) for raw in raws if raw]

    def latest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        ids = self.redis.zrange(self.index(category), offset, offset + limit - 1, desc=True)
        return self._records(ids)

    def oldest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        ids = self.redis.zrange(self.index(category), offset, offset + limit - 1)
        return self._records(ids)

    def count(self, category: str) -> int:
        return self.redis.zcard(self.index(category))

    def categories(self) -> list[CategorySummary]:
        slugs = sorted(self.redis.smembers(self.key("categories")))
        if not slugs:
            return []
        names = self.redis.hgetall(self.key("names"))
        with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.zcard(self.key("cat", slug))
                pipe.zrange(self.key("cat", slug), 0, 0, desc=True)
            replies = pipe.execute()
        summaries = []
        for slug, count, newest_ids in zip(slugs, replies[0::2], replies[1::2]):
            if not count:
                continue
            newest = self.get(newest_ids[0]) if newest_ids else None
            summaries.append(CategorySummary(slug, names.get(slug, slug), count,
                                             newest.published if newest else None,
                                             newest.title if newest else None))
        return summaries

    # -- publishing bookkeeping ----------------------------------------------------------

    def dirty_categories(self) -> dict[str, int]:
        return {category: int(seq) for category, seq in self.redis.hgetall(self.key("dirty")).items()}

    def clear_dirty(self, seen: Mapping[str, int]) -> None:
        if seen:
            args = [value for item in seen.items() for value in (item[0], str(item[1]))]
            self._clear_dirty(keys=[self.key("dirty")], args=args)

    def mark_dirty(self, categories: Iterable[str]) -> None:
        with self.redis.pipeline() as pipe:
            self._queue_dirty(pipe, categories)
            pipe.execute()

    def prune(self, category: str, keep: int) -> int:
        ids = self.redis.zrange(self.index(category), 0, -keep - 1) if keep else \
            self.redis.zrange(self.index(category), 0, -1)
        touched: set[str] = set()
        for article_id in ids:
            def decide(stored: Article | None, pipe: Any, article_id: str = article_id) -> None:
                pipe.multi()
                if stored is None:
                    pipe.zrem(self.index(category), article_id)
                    return
                drop = set(stored.categories) if category == ALL else {category}
                touched.update(drop)
                for slug in drop:
                    pipe.zrem(self.key("cat", slug), article_id)
                stored.categories = {s: n for s, n in stored.categories.items() if s not in drop}
                pipe.hset(self.key("slugs"), article_id, ",".join(sorted(stored.categories)))
                if stored.categories:
                    pipe.set(self.key("article", article_id), article_to_json(stored))
                else:
                    pipe.zrem(self.key("all"), article_id)
                    pipe.delete(self.key("article", article_id))

            self._transaction(article_id, decide)
        if ids:
            self.mark_dirty([*touched, ALL])
        return len(ids)

    # -- runs and locks ------------------------------------------------------------------

    def record_run(self, status: RunStatus) -> None:
        def keep_last_success(pipe: Any) -> None:
            if status.last_success is None:
                previous = pipe.hget(self.key("runs"), status.source)
                if previous:
                    status.last_success = run_from_json(previous).last_success
            pipe.multi()
            pipe.hset(self.key("runs"), status.source, run_to_json(status))

        self.redis.transaction(keep_last_success, self.key("runs"))

    def runs(self) -> dict[str, RunStatus]:
        return {source: run_from_json(raw) for source, raw in self.redis.hgetall(self.key("runs")).items()}

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        return bool(self._renew_lock(keys=[self.key("lock", name)], args=[owner, max(1, int(ttl * 1000))]))

    def release_lock(self, name: str, owner: str) -> None:
        self._release_lock(keys=[self.key("lock", name)], args=[owner])

    def lock_info(self, name: str) -> LockInfo | None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.key("lock", name))
            pipe.pttl(self.key("lock", name))
            owner, pttl = pipe.execute()
        if owner is None or pttl is None or pttl < 0:
            return None
        return LockInfo(owner, datetime.fromtimestamp(time.time() + pttl / 1000, BEIJING))

    def close(self) -> None:
        self.redis.close()
