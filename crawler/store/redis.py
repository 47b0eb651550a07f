"""The shared store on Redis: article records, a sorted set per category, run status, dirty marks, locks.

Every write that decides something is one Lua script (one EVALSHA, atomic on the server), so
concurrent crawls on several machines store each article exactly once. Every key a script
touches is passed in its KEYS (as Redis Cluster and ACL key patterns need); a prune reads
which keys it will touch first, and its script writes nothing when they changed meanwhile.

Keys, under `prefix:` (`connection.PREFIX`, `finews:`):
- `article:<id>` — a hash: `meta`, the article as JSON (see `codec`) without its bulky
  BODY_FIELDS, and those as plain fields. The upsert script decides and merges on `meta`
  alone (Redis's built-in cjson decodes and re-encodes a few hundred bytes, not the article's
  HTML), and a read is one HMGET.
- `titles` — hash id → title of every article ever stored; it outlives pruning (the tombstone
  that keeps a pruned article known), so `known_titles` is one HMGET.
- `slugs` — hash id → comma-separated category slugs of every stored article (`known_categories`).
- `all`, `cat:<slug>` — sorted sets of ids, score = published (epoch seconds). Equal scores
  order by member, and ids are 18 digits, so ties come out by article id.
- `names` — hash slug → display name (the latest sighting's); its keys are every category seen.
- `dirty` — hash slug → change counter, fresh values from the `dirty:seq` sequence.
- `changes` — sorted set of article ids, score = the `dirty:seq` value of the article's last
  change that marked categories dirty (what the archives rewrite).
- `runs`, `runs:last_success` — hashes source → RunStatus JSON / ISO time; `lock:<name>` — a redis-py
  `Lock` whose token is the owner's name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

import redis
from redis.exceptions import LockNotOwnedError

from .base import ALL, Article, CategorySummary, LockInfo, Outcome, RunStatus, Store, StoreUnavailable, UpsertResult
from .codec import (BEIJING, BODY_FIELDS, article_from_dict, article_to_dict, beijing, dumps, run_from_json,
                    run_to_json, time_from_text, time_to_text)
from .connection import PREFIX, display_url, redis_client, unavailable

LUA_HELPERS = """
local function bump(dirty, seq, slugs)
  if #slugs == 0 then return end
  local value = redis.call('INCR', seq)
  local args = {}
  for _, slug in ipairs(slugs) do
    args[#args + 1] = slug
    args[#args + 1] = value
  end
  redis.call('HSET', dirty, unpack(args))
  return value
end
local function joined(categories)
  local slugs = {}
  for slug in pairs(categories) do slugs[#slugs + 1] = slug end
  table.sort(slugs)
  return table.concat(slugs, ',')
end
"""

WRITE = LUA_HELPERS + """
-- KEYS: the article, titles, slugs, all, dirty, dirty:seq, changes, names, then the index of each given category.
-- ARGV: the call as a JSON array:
--   [mode ('upsert' | 'member'), id, media, digest, url_w, info_code, content hash, crawled_at, score, title, link,
--    [[slug, name], ...] (sorted, in the order of their KEYS), source hash ('' for any),
--    securities {market.code: name} (replaced when updated)];
-- then (upsert) the article's meta record as stored when new, and its html, summary, content_raw, text_raw.
local call = cjson.decode(ARGV[1])
local mode, id, hash, crawled, score, title, given = call[1], call[2], call[7], call[8], call[9], call[10], call[12]
local source = call[13]
local titles, slugs, all, dirty, seq, changes, names = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local function index(i) return KEYS[8 + i] end
local function record_change(marks) redis.call('ZADD', changes, bump(dirty, seq, marks), id) end
local meta = redis.call('HGET', KEYS[1], 'meta')
if not meta and mode == 'member' then return false end
local record = meta and cjson.decode(meta)
if mode == 'member' and source ~= '' and record.source_hash ~= source then return false end
if #given > 0 then
  local flat = {}
  for _, pair in ipairs(given) do
    flat[#flat + 1] = pair[1]
    flat[#flat + 1] = pair[2]
  end
  redis.call('HSET', names, unpack(flat))
end
if not meta then
  redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'html', ARGV[3], 'summary', ARGV[4], 'content_raw', ARGV[5],
             'text_raw', ARGV[6])
  redis.call('HSET', titles, id, title)
  redis.call('ZADD', all, score, id)
  local marks = {}
  for i, pair in ipairs(given) do
    redis.call('ZADD', index(i), score, id)
    marks[#marks + 1] = pair[1]
  end
  redis.call('HSET', slugs, id, table.concat(marks, ','))
  marks[#marks + 1] = 'all'
  record_change(marks)
  return {'new'}
end
if type(record.categories) ~= 'table' then record.categories = {} end
local categories = record.categories
local changed = false
local added = {}
local stored_score = false
for i, pair in ipairs(given) do
  if categories[pair[1]] == nil then
    categories[pair[1]] = pair[2]
    added[#added + 1] = pair[1]
    stored_score = stored_score or redis.call('ZSCORE', all, id) or score
    redis.call('ZADD', index(i), stored_score, id)
  end
end
if #added > 0 then
  changed = true
  redis.call('HSET', slugs, id, joined(categories))
end
local authored = false
for i, field in ipairs({'media', 'digest', 'url_w', 'info_code'}) do
  local value = call[2 + i]
  local current = record[field]
  if value ~= '' and (current == nil or current == cjson.null or current == '') then
    record[field] = value
    changed = true
    authored = authored or field == 'media'
  end
end
local outcome = 'unchanged'
if mode == 'upsert' and record.content_hash ~= hash then
  outcome = 'updated'
  record.title, record.link, record.content_hash, record.updated = title, call[11], hash, crawled
  record.source_hash = source
  record.securities = call[14]
  changed = true
  redis.call('HSET', KEYS[1], 'html', ARGV[3], 'summary', ARGV[4], 'content_raw', ARGV[5], 'text_raw', ARGV[6])
  redis.call('HSET', titles, id, title)
end
if mode == 'upsert' and source ~= '' and record.source_hash ~= source then
  record.source_hash = source
  changed = true
end
if changed then
  meta = cjson.encode(record)
  redis.call('HSET', KEYS[1], 'meta', meta)
end
table.sort(added)
if outcome == 'updated' or authored then
  local marks = {}
  for slug in pairs(categories) do marks[#marks + 1] = slug end
  marks[#marks + 1] = 'all'
  record_change(marks)
elseif #added > 0 then
  local marks = {unpack(added)}
  marks[#marks + 1] = 'all'
  record_change(marks)
end
if mode == 'member' then return {outcome, '', {}, added} end
return {outcome, meta, redis.call('HMGET', KEYS[1], 'html', 'summary', 'content_raw', 'text_raw'), added}
"""

PRUNE = LUA_HELPERS + """
-- KEYS: the pruned index (all or cat:<slug>), all, slugs, dirty, dirty:seq, changes, the article of each id in
--   ARGV, then the index of each slug in ARGV (in their order).
-- ARGV: category ('all' or its slug), keep, batch, skip, settled ('' for none), n, the up to `batch` oldest ids
--   beyond `keep` after the `skip` oldest as the caller read them (n of them), then the slugs of every category
--   those articles are in (category = 'all') or the category's slug.
-- Drops those of the n whose change number is not above `settled`; returns {n, dropped}, or -1 (nothing
-- written) when the index or an article's categories changed since the caller read them.
local category, keep, batch, skip = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local settled, n = tonumber(ARGV[5]), tonumber(ARGV[6])
local source, all, slugs, changes = KEYS[1], KEYS[2], KEYS[3], KEYS[6]
if math.min(redis.call('ZCARD', source) - keep - skip, batch) ~= n then return -1 end
if n == 0 then return {0, 0} end
local candidates = redis.call('ZRANGE', source, skip, skip + n - 1)
for i = 1, n do
  if candidates[i] ~= ARGV[6 + i] then return -1 end
end
local index = {}
for j = 7 + n, #ARGV do index[ARGV[j]] = KEYS[j] end
local drops = {}
for i, id in ipairs(candidates) do
  if not settled or (tonumber(redis.call('ZSCORE', changes, id)) or 0) <= settled then
    local meta = redis.call('HGET', KEYS[6 + i], 'meta')
    local record = meta and cjson.decode(meta) or {categories = {}}
    if type(record.categories) ~= 'table' then record.categories = {} end
    local dropped = {}
    if category == 'all' then
      for slug in pairs(record.categories) do dropped[#dropped + 1] = slug end
    else
      dropped[1] = category
    end
    for _, slug in ipairs(dropped) do
      if not index[slug] then return -1 end
    end
    drops[#drops + 1] = {id, KEYS[6 + i], record, dropped}
  end
end
local touched, marks = {}, {}
for _, drop in ipairs(drops) do
  local id, key, record, dropped = drop[1], drop[2], drop[3], drop[4]
  for _, slug in ipairs(dropped) do
    redis.call('ZREM', index[slug], id)
    record.categories[slug] = nil
    if not touched[slug] then
      touched[slug] = true
      marks[#marks + 1] = slug
    end
  end
  if next(record.categories) == nil then
    redis.call('ZREM', all, id)
    redis.call('ZREM', changes, id)
    redis.call('DEL', key)
    redis.call('HDEL', slugs, id)
  else
    redis.call('HSET', key, 'meta', cjson.encode(record))
    redis.call('HSET', slugs, id, joined(record.categories))
  end
end
if #drops > 0 then
  marks[#marks + 1] = 'all'
  bump(KEYS[4], KEYS[5], marks)
end
return {n, #drops}
"""

MARK_DIRTY = LUA_HELPERS + """
bump(KEYS[1], KEYS[2], ARGV)
return 0
"""

CLEAR_DIRTY = """
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
"""

PRUNE_BATCH = 200
"""Items one prune script drops at most, so no single script blocks the server for long."""


class RedisStore(Store):
    """The store shared by every process and machine; see the module docstring for the keys."""

    def __init__(self, url: str, prefix: str = PREFIX):
        self.url, self.name = url, display_url(url)
        self.prefix = prefix
        self.redis = redis_client(url)
        self._write = self.redis.register_script(WRITE)
        self._prune = self.redis.register_script(PRUNE)
        self._mark_dirty = self.redis.register_script(MARK_DIRTY)
        self._clear_dirty = self.redis.register_script(CLEAR_DIRTY)

    def unavailable(self, exc: Exception) -> StoreUnavailable | None:
        return unavailable(self.name, exc)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def index(self, category: str) -> str:
        """The sorted set of a category (`ALL`: of every item)."""
        return self.key("all") if category == ALL else self.key("cat", category)

    # -- the atomic step -------------------------------------------------------------------

    def _call(self, mode: str, article_id: str, categories: Mapping[str, str], media: str | None, digest: str,
              url_w: str, info_code: str | None = None, content_hash: str = "", crawled_at: str = "",
              score: str = "", title: str = "", link: str = "", record: Iterable[str] = (),
              source_hash: str = "", securities: Mapping[str, str] | None = None) -> list | None:
        """Run the WRITE script: one EVALSHA, its small arguments packed as one JSON array."""
        given = sorted(categories.items())
        call = [mode, article_id, media or "", digest, url_w, info_code or "", content_hash, crawled_at, score,
                title, link, given, source_hash, dict(sorted((securities or {}).items()))]
        keys = [self.key("article", article_id), *(self.key(name) for name in ("titles", "slugs", "all", "dirty")),
                self.key("dirty", "seq"), self.key("changes"), self.key("names"),
                *(self.index(slug) for slug, _ in given)]
        return self._write(keys=keys, args=[dumps(call), *record])

    def upsert(self, article: Article, crawled_at: datetime) -> UpsertResult:
        categories = dict(sorted(article.categories.items()))
        published = beijing(article.published)
        new = replace(article, published=published, first_seen=beijing(crawled_at), updated=published,
                      categories=categories)
        reply = self._call("upsert", article.article_id, categories, article.media, article.digest, article.url_w,
                           article.info_code, article.content_hash, time_to_text(crawled_at),
                           repr(published.timestamp()), article.title, article.link, self._record(new),
                           article.source_hash, article.securities)
        if reply[0] == "new":
            return UpsertResult(Outcome.NEW, tuple(categories), new)
        outcome, meta, bodies, added = reply
        return UpsertResult(Outcome(outcome), tuple(added), self._article(meta, bodies))

    def add_membership(self, article_id: str, categories: Mapping[str, str], *, media: str | None = None,
                       digest: str = "", url_w: str = "", source_hash: str | None = None) -> tuple[str, ...] | None:
        if source_hash == "":
            return None  # no stored article is from an unknown source input
        reply = self._call("member", article_id, categories, media, digest, url_w, source_hash=source_hash or "")
        return None if reply is None else tuple(reply[3])

    @staticmethod
    def _record(article: Article) -> list[str]:
        """An article's hash fields in script order: the meta JSON, then BODY_FIELDS."""
        return [dumps(article_to_dict(article, skip=BODY_FIELDS)), *(getattr(article, f) for f in BODY_FIELDS)]

    @staticmethod
    def _article(meta: str, bodies: Iterable[str | None]) -> Article:
        data = json.loads(meta)
        data.update(zip(BODY_FIELDS, (body or "" for body in bodies)))
        return article_from_dict(data)

    # -- reading -----------------------------------------------------------------------------

    def known_titles(self, article_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        return {i: title for i, title in zip(ids, self.redis.hmget(self.key("titles"), ids)) if title is not None}

    def known_categories(self, article_ids: Iterable[str]) -> dict[str, frozenset[str]]:
        ids = list(dict.fromkeys(article_ids))
        if not ids:
            return {}
        return {i: frozenset(filter(None, slugs.split(",")))
                for i, slugs in zip(ids, self.redis.hmget(self.key("slugs"), ids)) if slugs is not None}

    def get(self, article_id: str) -> Article | None:
        meta, *bodies = self.redis.hmget(self.key("article", article_id), ["meta", *BODY_FIELDS])
        return self._article(meta, bodies) if meta else None

    def _page(self, category: str, limit: int, offset: int, desc: bool) -> list[Article]:
        return [article for article in self._articles(self._ids(category, limit, offset, desc)) if article is not None]

    def _ids(self, category: str, limit: int, offset: int, desc: bool) -> list[str]:
        """The ids of a category's page, in `latest` order (`desc`) or its reverse."""
        if limit <= 0:
            return []
        offset = max(offset, 0)
        return self.redis.zrange(self.index(category), offset, offset + limit - 1, desc=desc)

    def _articles(self, ids: list[str]) -> list[Article | None]:
        """The stored article of each id, in one round trip (None for an id not stored)."""
        if not ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for article_id in ids:
                pipe.hmget(self.key("article", article_id), ["meta", *BODY_FIELDS])
            records = pipe.execute()
        return [self._article(meta, bodies) if meta else None for meta, *bodies in records]

    def latest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        return self._page(category, limit, offset, desc=True)

    def oldest(self, category: str, limit: int, offset: int = 0) -> list[Article]:
        return self._page(category, limit, offset, desc=False)

    def latest_changes(self, category: str, limit: int, offset: int = 0) -> list[tuple[str, int | None]]:
        ids = self._ids(category, limit, offset, desc=True)
        if not ids:
            return []
        scores = self.redis.zmscore(self.key("changes"), ids)
        return [(article_id, None if score is None else int(score)) for article_id, score in zip(ids, scores)]

    def get_many(self, article_ids: Iterable[str]) -> dict[str, Article]:
        return {article.article_id: article for article in self._articles(list(dict.fromkeys(article_ids)))
                if article is not None}

    def count(self, category: str) -> int:
        return self.redis.zcard(self.index(category))

    def categories(self) -> list[CategorySummary]:
        names = self.redis.hgetall(self.key("names"))
        slugs = sorted(names)
        with self.redis.pipeline(transaction=True) as pipe:
            for slug in slugs:
                pipe.zcard(self.index(slug))
                pipe.zrange(self.index(slug), 0, 0, desc=True, withscores=True)
            replies = pipe.execute()
        held = [(slug, count, newest[0]) for slug, count, newest in zip(slugs, replies[0::2], replies[1::2]) if count]
        titles = self.redis.hmget(self.key("titles"), [newest[0] for _, _, newest in held]) if held else []
        return [CategorySummary(slug, names[slug], count, datetime.fromtimestamp(newest[1], BEIJING), title)
                for (slug, count, newest), title in zip(held, titles)]

    # -- publishing bookkeeping --------------------------------------------------------------

    def dirty_categories(self) -> dict[str, int]:
        return {slug: int(counter) for slug, counter in self.redis.hgetall(self.key("dirty")).items()}

    def clear_dirty(self, seen: Mapping[str, int]) -> None:
        if seen:
            self._clear_dirty(keys=[self.key("dirty")], args=[v for pair in seen.items() for v in map(str, pair)])

    def mark_dirty(self, categories: Iterable[str]) -> None:
        slugs = list(dict.fromkeys(categories))
        if slugs:
            self._mark_dirty(keys=[self.key("dirty"), self.key("dirty", "seq")], args=slugs)

    def changes(self, after: int, limit: int) -> list[tuple[int, Article]]:
        if limit <= 0:
            return []
        found = self.redis.zrange(self.key("changes"), f"({after}", "+inf", byscore=True, offset=0, num=limit,
                                  withscores=True)
        articles = self._articles([article_id for article_id, _ in found])
        return [(int(score), article) for (_, score), article in zip(found, articles) if article is not None]

    def prune(self, category: str, keep: int, settled: int | None = None) -> int:
        if keep < 0:
            raise ValueError(f"keep must be ≥ 0, not {keep}")
        dropped = skipped = 0
        while True:
            plan = self._prune_plan(category, keep, skipped, settled)
            if plan is None:
                return dropped
            keys, args = plan
            reply = self._prune(keys=keys, args=args)
            if reply == -1:
                continue  # the batch changed between reading and pruning it: read it again
            looked, n = reply
            dropped += n
            skipped += looked - n
            if looked < PRUNE_BATCH:
                return dropped

    def _prune_plan(self, category: str, keep: int, skip: int, settled: int | None) -> tuple[list, list] | None:
        """The PRUNE script's KEYS and ARGV for the next batch, as read now; None when no item is beyond `keep`."""
        source = self.index(category)
        extra = min(self.redis.zcard(source) - keep - skip, PRUNE_BATCH)
        if extra <= 0:
            return None
        ids = self.redis.zrange(source, skip, skip + extra - 1)
        if category == ALL:
            slugs = sorted({slug for joined in self.redis.hmget(self.key("slugs"), ids) if joined
                            for slug in joined.split(",") if slug}) if ids else []
        else:
            slugs = [category]
        keys = [source, *(self.key(name) for name in ("all", "slugs", "dirty")), self.key("dirty", "seq"),
                self.key("changes"), *(self.key("article", i) for i in ids), *(self.index(slug) for slug in slugs)]
        return keys, [category, keep, PRUNE_BATCH, skip, "" if settled is None else settled, len(ids), *ids, *slugs]

    # -- runs and locks ----------------------------------------------------------------------

    def record_run(self, status: RunStatus) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("runs"), status.source, run_to_json(status))
            if status.last_success is not None:
                pipe.hset(self.key("runs", "last_success"), status.source, time_to_text(status.last_success))
            pipe.execute()

    def runs(self) -> dict[str, RunStatus]:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.key("runs"))
            pipe.hgetall(self.key("runs", "last_success"))
            records, successes = pipe.execute()
        return {source: replace(run_from_json(record), last_success=time_from_text(successes.get(source)))
                for source, record in records.items()}

    def _lease(self, name: str, owner: str, ttl: float | None = None) -> redis.lock.Lock:
        """redis-py's Lock on `lock:<name>`, its token the owner's name (which `lock_info` reports)."""
        lease = self.redis.lock(self.key("lock", name), timeout=ttl, blocking=False, thread_local=False)
        lease.local.token = self.redis.get_encoder().encode(owner)
        return lease

    def acquire_lock(self, name: str, owner: str, ttl: float) -> bool:
        lease = self._lease(name, owner, max(ttl, 0.001))
        if lease.acquire(token=owner):
            return True
        try:
            lease.reacquire()  # the holder's renewal: the lease runs `ttl` from now
        except LockNotOwnedError:
            return False
        return True

    def release_lock(self, name: str, owner: str) -> None:
        try:
            self._lease(name, owner).release()
        except LockNotOwnedError:
            pass  # it ran out, or another owner holds it now

    def lock_info(self, name: str) -> LockInfo | None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(self.key("lock", name))
            pipe.pttl(self.key("lock", name))
            owner, pttl = pipe.execute()
        if owner is None or pttl < 0:
            return None
        return LockInfo(owner, datetime.fromtimestamp(time.time() + pttl / 1000, BEIJING))

    def close(self) -> None:
        self.redis.close()
