"""One contract for both stores: SQLite (embedded) and Redis (shared) behave the same."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import redis

from crawler.store import ALL, Article, Outcome, RunStatus, Store, StoreUnavailable, open_store
from crawler.store.redis import PRUNE_BATCH, RedisStore
from crawler.store.sqlite import SQLiteStore

BEIJING = ZoneInfo("Asia/Shanghai")
T0 = datetime(2021, 12, 21, 20, 40, 26, tzinfo=BEIJING)
CRAWL = datetime(2021, 12, 21, 21, 0, 0, tzinfo=BEIJING)
ID = "202112212221504115"
TITLE = "中国电信有望明年1月启动5G消息全面商用"
SZB = {"shanghaizhengquanbao": "上海证券报新闻"}
EMNEWS = {"emnews": "东财滚动新闻"}
QSZG = {"quanshangzhongguo": "券商中国新闻"}


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'data' / 'store.db'}" if request.param == "sqlite" \
        else request.getfixturevalue("redis_url")
    with open_store(url) as opened:
        yield opened


def article(article_id: str = ID, *, title: str = TITLE, minutes: float = 0, categories: dict | None = None,
            body: str = "<p>中国电信表示，5G消息将于明年1月全面商用。</p>", **extra) -> Article:
    """An article as the normalize pipeline makes it (the hash covers title and cleaned HTML)."""
    values = dict(article_id=article_id, title=title, link=f"https://finance.eastmoney.com/a/{article_id}.html",
                  published=T0 + timedelta(minutes=minutes), media="上海证券报",
                  categories=dict(SZB if categories is None else categories),
                  info_code=f"NW{article_id}", html=body, summary="中国电信表示，5G消息将于明年1月全面商用。",
                  content_raw=f"<div>{body}</div>", text_raw=body, source="choice-media",
                  content_hash=hashlib.sha256(f"{title}\0{body}".encode()).hexdigest())
    values.update(extra)
    return Article(**values)


def ids(articles: list[Article]) -> list[str]:
    return [a.article_id for a in articles]


def drain_dirty(store: Store) -> None:
    store.clear_dirty(store.dirty_categories())
    assert store.dirty_categories() == {}


# -- new / unchanged / updated ------------------------------------------------------------------

def test_a_new_article_is_stored_with_first_seen_at_the_crawl_and_updated_at_publication(store):
    result = store.upsert(article(), CRAWL)
    assert result.outcome is Outcome.NEW and result.added_categories == ("shanghaizhengquanbao",)
    stored = store.get(ID)
    assert stored == result.article
    assert stored == replace(article(), first_seen=CRAWL, updated=T0)
    assert store.count(ALL) == 1 and store.count("shanghaizhengquanbao") == 1
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}


def test_times_come_back_aware_in_beijing_time_and_equal_to_what_was_stored(store):
    utc_published = T0.astimezone(timezone.utc)
    store.upsert(article(published=utc_published), CRAWL.astimezone(timezone.utc))
    stored = store.get(ID)
    for value in (stored.published, stored.updated, stored.first_seen):
        assert value.tzinfo == BEIJING and value.utcoffset() == timedelta(hours=8)
    assert (stored.published, stored.first_seen) == (T0, CRAWL)
    assert stored.published.isoformat() == "2021-12-21T20:40:26+08:00"
    assert store.latest(ALL, 1)[0].published.tzinfo == BEIJING


def test_a_naive_time_is_refused_and_nothing_is_stored(store):
    with pytest.raises(ValueError, match="naive"):
        store.upsert(article(published=T0.replace(tzinfo=None)), CRAWL)
    assert store.get(ID) is None and store.known_titles([ID]) == {} and store.count(ALL) == 0


def test_the_same_article_again_is_unchanged_and_keeps_its_times(store):
    store.upsert(article(), CRAWL)
    drain_dirty(store)
    result = store.upsert(article(), CRAWL + timedelta(hours=1))
    assert result.outcome is Outcome.UNCHANGED and result.added_categories == ()
    assert result.article == store.get(ID) == replace(article(), first_seen=CRAWL, updated=T0)
    assert store.dirty_categories() == {}


def test_a_changed_article_replaces_its_content_but_never_its_id_publication_or_first_sighting(store):
    store.upsert(article(), CRAWL)
    drain_dirty(store)
    later = CRAWL + timedelta(hours=2)
    edited = article(title="中国电信：5G消息明年1月全面商用", body="<p>更正后的正文。</p>", minutes=30,
                     link="https://finance.eastmoney.com/a/202112212221504115.html?v=2", summary="更正后的摘要",
                     source="choice-rolling")
    result = store.upsert(edited, later)
    assert result.outcome is Outcome.UPDATED and result.added_categories == ()
    stored = store.get(ID)
    assert result.article == stored
    assert stored == replace(edited, published=T0, first_seen=CRAWL, updated=later, source="choice-media")
    assert store.count(ALL) == 1
    assert store.known_titles([ID]) == {ID: "中国电信：5G消息明年1月全面商用"}
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}


def test_updated_moves_only_when_the_content_changes(store):
    store.upsert(article(), CRAWL)
    store.upsert(article(title="改过的标题"), CRAWL + timedelta(hours=1))
    result = store.upsert(article(title="改过的标题"), CRAWL + timedelta(hours=2))
    assert result.outcome is Outcome.UNCHANGED
    assert store.get(ID).updated == CRAWL + timedelta(hours=1)


def test_an_update_marks_every_category_of_the_article_dirty(store):
    store.upsert(article(categories=EMNEWS), CRAWL)
    store.upsert(article(categories=QSZG), CRAWL)
    drain_dirty(store)
    result = store.upsert(article(title="新标题", categories=SZB), CRAWL + timedelta(hours=1))
    assert result.outcome is Outcome.UPDATED and result.added_categories == ("shanghaizhengquanbao",)
    assert set(store.dirty_categories()) == {"emnews", "quanshangzhongguo", "shanghaizhengquanbao", ALL}


# -- categories, memberships, filled fields -----------------------------------------------------

def test_an_article_in_two_lists_is_one_item_in_both_categories(store):
    store.upsert(article(categories=EMNEWS), CRAWL)
    drain_dirty(store)
    result = store.upsert(article(categories=QSZG), CRAWL + timedelta(minutes=5))
    assert result.outcome is Outcome.UNCHANGED and result.added_categories == ("quanshangzhongguo",)
    assert store.get(ID).categories == {**EMNEWS, **QSZG} == result.article.categories
    assert store.count(ALL) == 1 and store.count("emnews") == 1 and store.count("quanshangzhongguo") == 1
    assert ids(store.latest("quanshangzhongguo", 10)) == [ID] == ids(store.latest(ALL, 10))
    assert set(store.dirty_categories()) == {"quanshangzhongguo", ALL}
    assert store.known_categories([ID]) == {ID: frozenset({"emnews", "quanshangzhongguo"})}


def test_a_later_sighting_fills_empty_fields_but_never_overwrites_them(store):
    store.upsert(article(categories=EMNEWS, media=None, info_code=None, digest="", url_w=""), CRAWL)
    drain_dirty(store)
    filled = store.upsert(article(categories=EMNEWS, media="上海证券报", info_code="NW202112212221504115",
                                  digest="中国电信表示……", url_w="http://finance.eastmoney.com/news/1.html"), CRAWL)
    assert filled.outcome is Outcome.UNCHANGED and filled.added_categories == ()
    store.upsert(article(categories=EMNEWS, media="证券时报", info_code="NW0", digest="另一摘要", url_w="http://x/"),
                 CRAWL)
    stored = store.get(ID)
    assert (stored.media, stored.info_code, stored.digest, stored.url_w) == (
        "上海证券报", "NW202112212221504115", "中国电信表示……", "http://finance.eastmoney.com/news/1.html")
    assert filled.article == stored
    assert set(store.dirty_categories()) == {*EMNEWS, ALL}  # the media it gave is every entry's author


def test_filling_fields_no_entry_shows_marks_nothing_and_keeps_the_change_number(store):
    store.upsert(article(categories=EMNEWS, info_code=None, digest="", url_w=""), CRAWL)
    drain_dirty(store)
    before = store.latest_changes(ALL, 10)
    store.upsert(article(categories=EMNEWS, info_code="NW1", digest="摘要", url_w="http://x/"), CRAWL)
    assert store.get(ID).digest == "摘要"
    assert store.dirty_categories() == {} and store.latest_changes(ALL, 10) == before


def test_a_membership_adds_a_category_to_a_stored_article_only(store):
    assert store.add_membership(ID, EMNEWS, media="上海证券报", digest="摘要") is None
    assert store.get(ID) is None and store.known_titles([ID]) == {} and store.categories() == []
    store.upsert(article(digest=""), CRAWL)
    drain_dirty(store)
    assert store.add_membership(ID, EMNEWS, digest="中国电信表示……", url_w="http://x/1.html") == ("emnews",)
    assert set(store.dirty_categories()) == {"emnews", ALL}
    drain_dirty(store)
    assert store.add_membership(ID, {**EMNEWS, **SZB}, digest="另一摘要") == ()
    assert store.dirty_categories() == {}
    stored = store.get(ID)
    assert stored.categories == {**EMNEWS, **SZB}
    assert (stored.digest, stored.url_w, stored.updated) == ("中国电信表示……", "http://x/1.html", T0)
    assert ids(store.latest("emnews", 10)) == [ID] and store.count(ALL) == 1


def test_a_membership_with_a_source_hash_applies_only_to_an_article_made_from_that_source(store):
    store.upsert(article(source_hash="source-1"), CRAWL)
    drain_dirty(store)
    assert store.add_membership(ID, EMNEWS, source_hash="source-2") is None
    assert store.add_membership(ID, EMNEWS, source_hash="") is None
    assert store.get(ID).categories == SZB and store.dirty_categories() == {}
    assert store.add_membership(ID, EMNEWS, digest="中国电信表示……", source_hash="source-1") == ("emnews",)
    stored = store.get(ID)
    assert stored.categories == {**EMNEWS, **SZB} and stored.digest == "中国电信表示……"
    assert set(store.dirty_categories()) == {"emnews", ALL}
    assert store.add_membership("202112212221509999", EMNEWS, source_hash="source-1") is None


def test_an_unchanged_article_from_new_source_input_keeps_that_source_hash(store):
    store.upsert(article(source_hash="source-1"), CRAWL)
    drain_dirty(store)
    again = store.upsert(article(source_hash="source-2"), CRAWL + timedelta(hours=1))
    assert again.outcome is Outcome.UNCHANGED and again.article.updated == T0
    assert store.get(ID).source_hash == "source-2" and store.dirty_categories() == {}
    assert store.add_membership(ID, {}, source_hash="source-1") is None
    assert store.add_membership(ID, {}, source_hash="source-2") == ()


def test_an_updated_article_takes_the_source_hash_of_its_new_input(store):
    store.upsert(article(source_hash="source-1"), CRAWL)
    changed = store.upsert(article(title="中国电信：5G消息明年1月全面商用", source_hash="source-2"), CRAWL)
    assert changed.outcome is Outcome.UPDATED and changed.article.source_hash == "source-2"
    assert store.get(ID).source_hash == "source-2"


STOCK_KEYS = {"stocks/sh601688": "华泰证券", "stocks/bk0473": "证券"}
SECURITIES = {"1.601688": "华泰证券", "90.BK0473": "证券"}


def test_an_articles_securities_and_grouped_feeds_are_stored_and_listed_like_categories(store):
    store.upsert(article(categories={**SZB, **STOCK_KEYS}, securities=SECURITIES), CRAWL)
    store.upsert(article("202112212221504116", minutes=1, categories={**EMNEWS, "stocks/sh601688": "华泰证券"},
                         securities={"1.601688": "华泰证券"}), CRAWL)
    assert store.get(ID).securities == SECURITIES
    assert ids(store.latest("stocks/sh601688", 10)) == ["202112212221504116", ID]
    assert store.count("stocks/bk0473") == 1
    summaries = {c.slug: (c.name, c.count) for c in store.categories()}
    assert summaries["stocks/sh601688"] == ("华泰证券", 2) and summaries["stocks/bk0473"] == ("证券", 1)
    assert {"stocks/sh601688", "stocks/bk0473", ALL} <= set(store.dirty_categories())


def test_an_updated_article_replaces_its_securities_and_marks_its_security_feeds_dirty(store):
    store.upsert(article(categories={**SZB, **STOCK_KEYS}, securities=SECURITIES), CRAWL)
    drain_dirty(store)
    changed = article(title="改过", categories={**SZB, "stocks/sh601688": "华泰证券"}, securities={"1.601688": "华泰证券"})
    assert store.upsert(changed, CRAWL + timedelta(hours=1)).outcome is Outcome.UPDATED
    assert store.get(ID).securities == {"1.601688": "华泰证券"}
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", *STOCK_KEYS, ALL}
    assert store.upsert(changed, CRAWL + timedelta(hours=2)).article.securities == {"1.601688": "华泰证券"}


def test_pruning_an_article_out_of_the_store_drops_it_from_its_security_feeds(store):
    store.upsert(article(categories={**SZB, **STOCK_KEYS}, securities=SECURITIES), CRAWL)
    store.upsert(article("202112212221504116", minutes=1, categories=SZB), CRAWL)
    drain_dirty(store)
    assert store.prune(ALL, 1) == 1
    assert store.count("stocks/sh601688") == 0 and store.latest("stocks/bk0473", 10) == []
    assert {"stocks/sh601688", "stocks/bk0473", ALL} <= set(store.dirty_categories())


def test_known_titles_answers_a_batch_with_the_stored_ids_only(store):
    store.upsert(article(), CRAWL)
    store.upsert(article("202112212221500002", title="央行：保持流动性合理充裕"), CRAWL)
    asked = [ID, "202112212221509999", ID, "202112212221500002"]
    assert store.known_titles(asked) == {ID: TITLE, "202112212221500002": "央行：保持流动性合理充裕"}
    assert store.known_titles([]) == {} and store.known_categories([]) == {}


def test_known_categories_lists_each_stored_articles_slugs(store):
    store.upsert(article(categories=EMNEWS), CRAWL)
    store.upsert(article(categories=SZB), CRAWL)
    store.upsert(article("202112212221500002", categories={}), CRAWL)
    assert store.known_categories([ID, "202112212221500002", "202112212221509999"]) == {
        ID: frozenset({"emnews", "shanghaizhengquanbao"}), "202112212221500002": frozenset()}


# -- reading in order ---------------------------------------------------------------------------

def test_latest_is_newest_first_with_ties_by_larger_id_and_oldest_is_its_exact_reverse(store):
    # ids deliberately not in time order; three share one published second
    published = {"202112210000000005": 0, "202112210000000001": 0, "202112210000000009": 0,
                 "202112210000000003": 10, "202112210000000007": -10}
    for article_id, minutes in published.items():
        store.upsert(article(article_id, minutes=minutes, categories={**SZB, **EMNEWS}), CRAWL)
    newest_first = ["202112210000000003", "202112210000000009", "202112210000000005", "202112210000000001",
                    "202112210000000007"]
    for category in (ALL, "shanghaizhengquanbao"):
        assert ids(store.latest(category, 10)) == newest_first
        assert ids(store.oldest(category, 10)) == newest_first[::-1]
        assert ids(store.latest(category, 2, offset=1)) == newest_first[1:3]
        assert ids(store.oldest(category, 2, offset=3)) == newest_first[::-1][3:5]
        assert store.latest(category, 3, offset=5) == [] and store.latest(category, 0) == []


def test_latest_changes_lists_latests_ids_with_change_numbers_that_move_only_when_an_entry_changes(store):
    for n in range(3):
        store.upsert(article(f"20211221222150000{n}", minutes=n), CRAWL)
    listed = store.latest_changes(ALL, 10)
    assert [i for i, _ in listed] == ids(store.latest(ALL, 10))
    assert store.latest_changes("shanghaizhengquanbao", 2, 1) == listed[1:3]
    assert all(isinstance(n, int) for _, n in listed) and len({n for _, n in listed}) == 3
    store.upsert(article("202112212221500001", minutes=1), CRAWL)  # unchanged
    assert store.latest_changes(ALL, 10) == listed
    store.upsert(article("202112212221500001", minutes=1, body="<p>改过</p>"), CRAWL + timedelta(hours=1))
    store.add_membership("202112212221500000", EMNEWS)
    after = dict(store.latest_changes(ALL, 10))
    assert after["202112212221500002"] == dict(listed)["202112212221500002"]
    assert all(after[i] > dict(listed)[i] for i in ("202112212221500000", "202112212221500001"))
    assert after == {i: n for n, a in store.changes(0, 10) for i in [a.article_id]}
    assert store.latest_changes("nothing-here", 10) == [] and store.latest_changes(ALL, 0) == []


def test_get_many_answers_a_batch_with_the_stored_articles_only(store):
    store.upsert(article("202112212221500000"), CRAWL)
    store.upsert(article("202112212221500001", minutes=1, categories=EMNEWS), CRAWL)
    found = store.get_many(["202112212221500001", "202112212221599999", "202112212221500000"])
    assert found == {i: store.get(i) for i in ("202112212221500000", "202112212221500001")}
    assert store.get_many([]) == {}


def test_an_unknown_category_is_empty(store):
    store.upsert(article(), CRAWL)
    assert store.latest("wind", 10) == [] and store.oldest("wind", 10) == [] and store.count("wind") == 0


def test_categories_summarize_count_newest_item_and_latest_name(store):
    store.upsert(article("202112212221500001", minutes=0), CRAWL)
    store.upsert(article("202112212221500002", minutes=9, title="券商晨会精华：最新"), CRAWL)
    store.upsert(article("202112212221500003", minutes=20, categories=EMNEWS), CRAWL)
    store.upsert(article("202112212221500004", minutes=1, categories={"emnews": "东方财富滚动新闻"}), CRAWL)
    summaries = store.categories()
    assert [s.slug for s in summaries] == ["emnews", "shanghaizhengquanbao"]
    emnews, szb = summaries
    assert (szb.name, szb.count, szb.newest_published, szb.newest_title) == (
        "上海证券报新闻", 2, T0 + timedelta(minutes=9), "券商晨会精华：最新")
    assert (emnews.name, emnews.count, emnews.newest_published) == ("东方财富滚动新闻", 2, T0 + timedelta(minutes=20))
    assert szb.newest_published.tzinfo == BEIJING


# -- dirty marks --------------------------------------------------------------------------------

def test_a_change_between_reading_and_clearing_the_dirty_marks_survives(store):
    store.upsert(article(), CRAWL)
    seen = store.dirty_categories()
    assert set(seen) == {"shanghaizhengquanbao", ALL}
    store.upsert(article("202112212221500009"), CRAWL)  # lands while a publish works from `seen`
    store.clear_dirty(seen)
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}
    drain_dirty(store)


def test_clearing_forgets_only_the_categories_it_saw(store):
    store.upsert(article(categories=EMNEWS), CRAWL)
    seen = store.dirty_categories()
    store.upsert(article("202112212221500009", categories=SZB), CRAWL)
    store.clear_dirty(seen)
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}
    store.clear_dirty({"emnews": 1, "wind": 3})
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}


def test_mark_dirty_marks_the_given_categories(store):
    store.mark_dirty([])
    assert store.dirty_categories() == {}
    store.mark_dirty(["emnews", ALL])
    first = store.dirty_categories()
    assert set(first) == {"emnews", ALL}
    store.mark_dirty(["emnews"])
    assert store.dirty_categories()["emnews"] != first["emnews"]
    store.clear_dirty(first)
    assert set(store.dirty_categories()) == {"emnews"}


# -- pruning ------------------------------------------------------------------------------------

def test_prune_keeps_the_newest_items_of_a_category_and_their_ids_stay_known(store):
    for i in range(5):
        store.upsert(article(f"20211221222150000{i}", minutes=i, title=f"第{i}条快讯"), CRAWL)
    store.upsert(article("202112212221500002", minutes=2, title="第2条快讯", categories=EMNEWS), CRAWL)
    drain_dirty(store)
    assert store.prune("shanghaizhengquanbao", 2) == 3
    assert ids(store.latest("shanghaizhengquanbao", 10)) == ["202112212221500004", "202112212221500003"]
    assert ids(store.latest(ALL, 10)) == ["202112212221500004", "202112212221500003", "202112212221500002"]
    assert store.get("202112212221500000") is None
    assert store.get("202112212221500002").categories == EMNEWS
    assert store.known_titles(f"20211221222150000{i}" for i in range(5)) == {
        f"20211221222150000{i}": f"第{i}条快讯" for i in range(5)}
    assert store.known_categories(["202112212221500000", "202112212221500002"]) == {
        "202112212221500002": frozenset({"emnews"})}
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}
    assert [(s.slug, s.count) for s in store.categories()] == [("emnews", 1), ("shanghaizhengquanbao", 2)]


def test_prune_with_nothing_beyond_keep_drops_nothing_and_marks_nothing(store):
    store.upsert(article(), CRAWL)
    drain_dirty(store)
    assert store.prune("shanghaizhengquanbao", 1) == 0 and store.prune("wind", 0) == 0
    assert store.dirty_categories() == {} and store.count(ALL) == 1


def test_prune_of_all_drops_the_oldest_items_everywhere(store):
    for i in range(4):
        store.upsert(article(f"20211221222150000{i}", minutes=i, categories={**SZB, **EMNEWS}), CRAWL)
    drain_dirty(store)
    assert store.prune(ALL, 1) == 3
    assert ids(store.latest(ALL, 10)) == ids(store.latest("emnews", 10)) == ["202112212221500003"]
    assert store.count("shanghaizhengquanbao") == 1
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", "emnews", ALL}
    assert len(store.known_titles(f"20211221222150000{i}" for i in range(4))) == 4


def test_prune_drops_a_large_backlog_completely(store):
    total = PRUNE_BATCH * 2 + 7
    for i in range(total):
        store.upsert(article(f"2021122122{i:08d}", minutes=i, categories=EMNEWS), CRAWL)
    assert store.prune("emnews", 5) == total - 5
    assert store.count("emnews") == store.count(ALL) == 5
    assert ids(store.latest("emnews", 1)) == [f"2021122122{total - 1:08d}"]
    assert store.prune("emnews", 0) == 5 and store.categories() == []


def test_a_pruned_article_seen_again_with_a_new_title_is_stored_again(store):
    store.upsert(article(), CRAWL)
    store.prune("shanghaizhengquanbao", 0)
    later = CRAWL + timedelta(days=1)
    result = store.upsert(article(title="改过的标题"), later)
    assert result.outcome is Outcome.NEW and store.get(ID).first_seen == later
    assert store.known_titles([ID]) == {ID: "改过的标题"} and store.count(ALL) == 1


def test_changes_list_new_updated_and_newly_categorized_articles_in_change_order_once_each(store):
    store.upsert(article("202112212221500000"), CRAWL)
    store.upsert(article("202112212221500001", minutes=1), CRAWL)
    first = [(n, a.article_id) for n, a in store.changes(0, 10)]
    assert [i for _, i in first] == ["202112212221500000", "202112212221500001"] and first[0][0] < first[1][0]
    mark = first[-1][0]
    assert store.changes(mark, 10) == []
    store.upsert(article("202112212221500001", minutes=1), CRAWL)  # unchanged: no change
    store.upsert(article("202112212221500000", body="<p>改过</p>"), CRAWL + timedelta(hours=1))
    store.add_membership("202112212221500001", EMNEWS)
    later = store.changes(mark, 10)
    assert [a.article_id for _, a in later] == ["202112212221500000", "202112212221500001"]
    assert later[0][1].html == "<p>改过</p>" and set(later[1][1].categories) == {*SZB, *EMNEWS}
    assert [a.article_id for _, a in store.changes(mark, 1)] == ["202112212221500000"]
    assert [a.article_id for _, a in store.changes(0, 10)] == ["202112212221500000", "202112212221500001"]


def test_prune_keeps_items_changed_after_the_settled_change_number(store):
    for i in range(4):
        store.upsert(article(f"20211221222150000{i}", minutes=i), CRAWL)
    settled = store.changes(0, 10)[-1][0]
    store.upsert(article("202112212221500000", body="<p>改过</p>"), CRAWL + timedelta(hours=1))
    assert store.prune("shanghaizhengquanbao", 1, settled=settled) == 2
    assert ids(store.latest(ALL, 10)) == ["202112212221500003", "202112212221500000"]
    assert store.prune(ALL, 0, settled=settled) == 1 and ids(store.latest(ALL, 10)) == ["202112212221500000"]
    assert store.prune(ALL, 0) == 1 and store.changes(0, 10) == []


def test_prune_with_settled_goes_past_a_full_batch_of_unsettled_items(store):
    total = PRUNE_BATCH + 5
    for i in range(total):
        store.upsert(article(f"2021122122{i:08d}", minutes=i, categories=EMNEWS), CRAWL)
    settled = store.changes(0, total)[PRUNE_BATCH + 2][0]  # the items from PRUNE_BATCH + 3 on are unsettled
    for i in range(PRUNE_BATCH):
        store.upsert(article(f"2021122122{i:08d}", minutes=i, categories=EMNEWS, body="<p>新</p>"), CRAWL)
    assert store.prune("emnews", 0, settled=settled) == 3
    assert store.count("emnews") == total - 3


# -- runs and locks -----------------------------------------------------------------------------

def test_run_status_keeps_the_last_success_until_a_new_one(store):
    ok = RunStatus(source="choice-media", started=CRAWL, finished=CRAWL + timedelta(seconds=40), outcome="ok",
                   listed=50, new=3, unchanged=47, last_success=CRAWL + timedelta(seconds=40),
                   counts={"listed": 50, "new": 3})
    store.record_run(ok)
    store.record_run(RunStatus(source="choice-rolling", started=CRAWL, outcome="running"))
    failed = RunStatus(source="choice-media", started=CRAWL + timedelta(minutes=5), outcome="failed", errors=1,
                       message="no list could be read", counts={"errors/http_403": 1})
    store.record_run(failed)
    runs = store.runs()
    assert set(runs) == {"choice-media", "choice-rolling"}
    assert runs["choice-media"] == replace(failed, last_success=CRAWL + timedelta(seconds=40))
    assert runs["choice-media"].started.tzinfo == BEIJING
    assert runs["choice-rolling"].last_success is None
    later = CRAWL + timedelta(minutes=10)
    store.record_run(replace(ok, started=later, last_success=later))
    assert store.runs()["choice-media"].last_success == later


def test_a_lock_is_held_by_one_owner_renewed_by_it_and_released_only_by_it(store):
    assert store.lock_info("scheduler") is None
    assert store.acquire_lock("scheduler", "host-a:101", 30)
    assert not store.acquire_lock("scheduler", "host-b:202", 30)
    first = store.lock_info("scheduler")
    assert first.owner == "host-a:101" and first.expires.tzinfo == BEIJING
    assert datetime.now(BEIJING) < first.expires <= datetime.now(BEIJING) + timedelta(seconds=31)
    assert store.acquire_lock("scheduler", "host-a:101", 600)
    assert store.lock_info("scheduler").expires > first.expires
    assert store.acquire_lock("housekeeping", "host-b:202", 30)
    store.release_lock("scheduler", "host-b:202")
    assert store.lock_info("scheduler").owner == "host-a:101"
    store.release_lock("scheduler", "host-a:101")
    assert store.lock_info("scheduler") is None
    assert store.acquire_lock("scheduler", "host-b:202", 30)


def test_a_lock_whose_lease_ran_out_can_be_taken_by_another_owner(store):
    assert store.acquire_lock("scheduler", "host-a:101", 0.2)
    deadline = time.monotonic() + 10
    while not store.acquire_lock("scheduler", "host-b:202", 30):
        assert time.monotonic() < deadline, "the 0.2 s lease never ran out"
        time.sleep(0.02)
    assert store.lock_info("scheduler").owner == "host-b:202"
    assert not store.acquire_lock("scheduler", "host-a:101", 30)


# -- implementation specifics -------------------------------------------------------------------

def test_sqlite_creates_its_folder_uses_wal_and_reopens_its_data(tmp_path):
    path = tmp_path / "nested" / "data" / "finews.db"
    with SQLiteStore(str(path)) as first:
        first.upsert(article(), CRAWL)
        first.record_run(RunStatus(source="choice-media", started=CRAWL, outcome="ok", last_success=CRAWL))
    with SQLiteStore(str(path)) as again:
        assert again.get(ID) == replace(article(), first_seen=CRAWL, updated=T0)
        assert again.runs()["choice-media"].last_success == CRAWL
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_sqlite_opens_a_file_from_before_the_schema_version_and_keeps_its_runs(tmp_path):
    path = tmp_path / "finews.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE runs (source TEXT PRIMARY KEY, record TEXT NOT NULL)")
        db.execute("INSERT INTO runs VALUES ('choice-media', ?)", (
            '{"source":"choice-media","started":"2021-12-21T21:00:00+08:00","outcome":"ok",'
            '"last_success":"2021-12-21T21:00:00+08:00"}',))
    db.close()
    with SQLiteStore(str(path)) as store:
        store.record_run(RunStatus(source="choice-media", started=CRAWL + timedelta(minutes=5), outcome="failed"))
        assert store.runs()["choice-media"].last_success == CRAWL
        store.upsert(article(), CRAWL)
        assert store.known_titles([ID]) == {ID: TITLE}


def test_sqlite_opens_a_schema_1_file_whose_articles_have_no_change_numbers_yet(tmp_path):
    path = tmp_path / "finews.db"
    with SQLiteStore(str(path)) as old:
        old.upsert(article(), CRAWL)
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX articles_by_change")
        db.execute("ALTER TABLE articles DROP COLUMN changed")
        db.execute("PRAGMA user_version = 1")
    db.close()
    with SQLiteStore(str(path)) as store:
        assert store.changes(0, 10) == [] and store.get(ID) == replace(article(), first_seen=CRAWL, updated=T0)
        store.upsert(article("202112212221500001"), CRAWL)
        assert [a.article_id for _, a in store.changes(0, 10)] == ["202112212221500001"]


def test_redis_stores_under_their_prefix_do_not_see_each_other(redis_url):
    with RedisStore(redis_url) as finews, RedisStore(redis_url, prefix="staging") as staging:
        finews.upsert(article(), CRAWL)
        assert staging.get(ID) is None and staging.known_titles([ID]) == {} and staging.count(ALL) == 0
        keys = redis.Redis.from_url(redis_url, decode_responses=True).keys("*")
        assert keys and all(key.startswith("finews:") for key in keys)


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A local port bound but not listening while the block runs: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_redis_unreachable_raises_store_unavailable_naming_the_store_and_the_cause():
    with refusing_port() as port, RedisStore(f"redis://127.0.0.1:{port}/0") as store:
        with pytest.raises(StoreUnavailable, match=f"store redis://127.0.0.1:{port}/0 unavailable: ConnectionError"):
            store.upsert(article(), CRAWL)
        with pytest.raises(StoreUnavailable):
            store.known_titles([ID])


def test_a_failed_handle_fails_fast_but_still_tries_to_record_a_run(own_redis):
    """After the first failure no call waits on the store again, except the run record that reports it."""
    with RedisStore(own_redis.url) as store:
        store.upsert(article(), CRAWL)
        own_redis.kill()
        with pytest.raises(StoreUnavailable) as first:
            store.known_titles([ID])
        own_redis.start()
        with pytest.raises(StoreUnavailable) as again:
            store.get(ID)
        assert again.value is first.value
        store.record_run(RunStatus(source="choice-media", started=CRAWL, outcome="failed"))
    with RedisStore(own_redis.url) as reopened:
        assert reopened.runs()["choice-media"].outcome == "failed" and reopened.known_titles([ID]) == {ID: TITLE}


def test_a_password_never_reaches_the_store_name():
    store = RedisStore("redis://finews:s3cret@127.0.0.1:1/0")
    assert store.name == "redis://finews:***@127.0.0.1:1/0"
    store.close()
