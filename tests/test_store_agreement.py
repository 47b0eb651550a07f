"""SQLite and Redis agree under any sequence of operations: one state machine drives both, every read compared."""

from __future__ import annotations

import hashlib
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from crawler.store import ALL, Article, RunStatus
from crawler.store.redis import RedisStore
from crawler.store.sqlite import SQLiteStore

from test_store_contract import CRAWL, T0

IDS = [f"20211221222150411{i}" for i in range(4)]
CATEGORIES = {"emnews": "东财滚动新闻", "szb": "上海证券报", "qszg": "券商中国"}
SOURCES = ["choice-rolling", "choice-media"]

ids = st.sampled_from(IDS)
slugs = st.sampled_from(sorted(CATEGORIES))
category_sets = st.dictionaries(slugs, st.sampled_from(["", "（新名）"]), min_size=1, max_size=3).map(
    lambda picked: {slug: CATEGORIES[slug] + suffix for slug, suffix in picked.items()})
texts = st.sampled_from(["", "甲", "乙"])
hours = st.integers(min_value=0, max_value=3)


def make_article(article_id: str, title: str, body: str, minutes: int, categories: dict[str, str], media: str,
                 digest: str, source: str) -> Article:
    html = f"<p>{body or '正文'}</p>"
    return Article(article_id=article_id, title=title, link=f"https://finance.eastmoney.com/a/{article_id}.html",
                   published=T0 + timedelta(minutes=minutes), categories=categories, media=media or None,
                   info_code=f"NW{article_id}" if media else None, html=html, summary=body, content_raw=html,
                   text_raw=body, digest=digest, url_w=digest and f"https://w/{digest}", source="choice-media",
                   content_hash=hashlib.sha256(f"{title}\0{html}".encode()).hexdigest(), source_hash=source)


class BothStores(RuleBasedStateMachine):
    """Every rule does the same thing to both stores and expects the same answer; every read must agree."""

    redis_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        redis.Redis.from_url(self.redis_url).flushdb()
        self.stores = (SQLiteStore(str(Path(self.folder.name) / "store.db")), RedisStore(self.redis_url))
        self.snapshots: tuple[dict[str, int], ...] | None = None

    def both(self, call):
        answers = [call(store) for store in self.stores]
        assert answers[0] == answers[1], answers
        return answers[0]

    @rule(article_id=ids, title=st.sampled_from(["标题一", "标题二"]), body=texts, minutes=st.integers(0, 4),
          categories=category_sets, media=texts, digest=texts, source=texts, later=hours)
    def upsert(self, article_id, title, body, minutes, categories, media, digest, source, later):
        article = make_article(article_id, title, body, minutes, categories, media, digest, source)
        self.both(lambda store: store.upsert(article, CRAWL + timedelta(hours=later)))

    @rule(article_id=ids, categories=category_sets, media=texts, digest=texts,
          source=st.one_of(st.none(), texts))
    def add_membership(self, article_id, categories, media, digest, source):
        self.both(lambda store: store.add_membership(article_id, categories, media=media or None, digest=digest,
                                                     url_w=digest, source_hash=source))

    @rule(category=st.sampled_from([ALL, *CATEGORIES]), keep=st.integers(0, 2))
    def prune(self, category, keep):
        self.both(lambda store: store.prune(category, keep))

    @rule(categories=st.lists(st.sampled_from([ALL, *CATEGORIES]), max_size=3))
    def mark_dirty(self, categories):
        self.both(lambda store: store.mark_dirty(categories))

    @rule()
    def read_dirty_marks(self):
        """A publish starts: it reads the marks (and clears them later, whatever changed meanwhile)."""
        self.snapshots = tuple(store.dirty_categories() for store in self.stores)

    @rule()
    def clear_dirty_marks(self):
        if self.snapshots is not None:
            for store, seen in zip(self.stores, self.snapshots):
                store.clear_dirty(seen)
            self.snapshots = None

    @rule(source=st.sampled_from(SOURCES), outcome=st.sampled_from(["running", "ok", "failed"]), later=hours)
    def record_run(self, source, outcome, later):
        finished = CRAWL + timedelta(hours=later)
        status = RunStatus(source=source, started=finished - timedelta(minutes=1), finished=finished,
                           outcome=outcome, new=later, last_success=finished if outcome == "ok" else None)
        self.both(lambda store: store.record_run(status))

    @invariant()
    def every_read_agrees(self):
        self.both(lambda store: store.known_titles(IDS))
        self.both(lambda store: store.known_categories(IDS))
        self.both(lambda store: [store.get(article_id) for article_id in IDS])
        self.both(lambda store: store.categories())
        self.both(lambda store: set(store.dirty_categories()))
        self.both(lambda store: store.runs())
        for category in (ALL, *CATEGORIES):
            self.both(lambda store: store.count(category))
            self.both(lambda store: [a.article_id for a in store.latest(category, 3, 1)])
            self.both(lambda store: store.oldest(category, 10))

    def teardown(self) -> None:
        for store in self.stores:
            store.close()
        self.folder.cleanup()


@pytest.mark.timeout(600)
def test_sqlite_and_redis_agree_under_any_sequence_of_operations(redis_url):
    BothStores.redis_url = redis_url
    run_state_machine_as_test(BothStores, settings=settings(max_examples=30, stateful_step_count=30, deadline=None))
