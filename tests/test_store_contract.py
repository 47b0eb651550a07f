"""One contract for both stores: SQLite (embedded) and Redis (shared), same behaviour."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from crawler.store import ALL, Article, Outcome, RunStatus, open_store
from crawler.text.times import BEIJING

T0 = datetime(2021, 12, 21, 20, 40, 26, tzinfo=BEIJING)
CRAWL = datetime(2021, 12, 21, 21, 0, 0, tzinfo=BEIJING)


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("redis_url")
    with open_store(url) as store:
        yield store


def article(article_id: str = "202112212221504115", *, title: str = "中国电信有望明年1月启动5G消息全面商用",
            minutes: int = 0, categories: dict | None = None, body: str = "<p>正文</p>", **extra) -> Article:
    return Article(article_id=article_id, title=title, link=f"https://finance.eastmoney.com/a/{article_id}.html",
                   published=T0 + timedelta(minutes=minutes),
                   categories=categories or {"shanghaizhengquanbao": "上海证券报新闻"},
                   media=extra.pop("media", "上海证券报"), html=body, summary="摘要", content_hash=f"{title}|{body}",
                   **extra)


def test_a_new_article_is_stored_with_first_seen_and_updated(store):
    result = store.upsert(article(), CRAWL)
    assert result.outcome is Outcome.NEW
    stored = store.get("202112212221504115")
    assert stored.first_seen == CRAWL and stored.updated == T0 and stored.published == T0
    assert stored.published.utcoffset() == timedelta(hours=8)
    assert store.known_titles(["202112212221504115", "202112212221500000"]) == {
        "202112212221504115": "中国电信有望明年1月启动5G消息全面商用"}


def test_the_same_article_again_is_unchanged_and_keeps_its_times(store):
    store.upsert(article(), CRAWL)
    result = store.upsert(article(), CRAWL + timedelta(hours=1))
    assert result.outcome is Outcome.UNCHANGED and result.added_categories == ()
    assert store.get("202112212221504115").updated == T0


def test_a_changed_title_updates_content_but_never_id_published_or_first_seen(store):
    store.upsert(article(), CRAWL)
    later = CRAWL + timedelta(hours=2)
    result = store.upsert(article(title="新标题"), later)
    assert result.outcome is Outcome.UPDATED
    stored = store.get("202112212221504115")
    assert stored.title == "新标题" and stored.updated == later
    assert stored.published == T0 and stored.first_seen == CRAWL
    assert store.count(ALL) == 1
    assert store.known_titles(["202112212221504115"])["202112212221504115"] == "新标题"


def test_an_article_in_two_lists_is_one_item_in_both_categories(store):
    store.upsert(article(categories={"emnews": "东财滚动新闻"}, media=None, url_w="http://x/1.html"), CRAWL)
    result = store.upsert(article(categories={"quanshangzhongguo": "券商中国新闻"}, media="券商中国"), CRAWL)
    assert result.outcome is Outcome.UNCHANGED and result.added_categories == ("quanshangzhongguo",)
    stored = store.get("202112212221504115")
    assert stored.categories == {"emnews": "东财滚动新闻", "quanshangzhongguo": "券商中国新闻"}
    assert stored.media == "券商中国" and stored.url_w == "http://x/1.html"
    assert store.count(ALL) == 1 and store.count("emnews") == 1 and store.count("quanshangzhongguo") == 1


def test_membership_adds_a_category_to_a_known_article_only(store):
    assert store.add_membership("202112212221504115", {"emnews": "东财滚动新闻"}) is None
    store.upsert(article(), CRAWL)
    assert store.add_membership("202112212221504115", {"emnews": "东财滚动新闻"}, digest="摘要") == ("emnews",)
    assert store.add_membership("202112212221504115", {"emnews": "东财滚动新闻"}) == ()
    assert store.get("202112212221504115").digest == "摘要"
    assert [a.article_id for a in store.latest("emnews", 10)] == ["202112212221504115"]


def test_latest_and_oldest_order_by_published_then_id(store):
    for article_id, minutes in (("202112212221500001", 0), ("202112212221500002", 0), ("202112212221500003", 5)):
        store.upsert(article(article_id, minutes=minutes), CRAWL)
    newest_first = ["202112212221500003", "202112212221500002", "202112212221500001"]
    assert [a.article_id for a in store.latest(ALL, 10)] == newest_first
    assert [a.article_id for a in store.latest("shanghaizhengquanbao", 2, offset=1)] == newest_first[1:]
    assert [a.article_id for a in store.oldest(ALL, 10)] == newest_first[::-1]


def test_categories_summarize_count_and_newest(store):
    store.upsert(article("202112212221500001", minutes=0), CRAWL)
    store.upsert(article("202112212221500002", minutes=9, title="最新"), CRAWL)
    store.upsert(article("202112212221500003", categories={"emnews": "东财滚动新闻"}), CRAWL)
    summaries = {c.slug: c for c in store.categories()}
    assert list(summaries) == ["emnews", "shanghaizhengquanbao"]
    assert summaries["shanghaizhengquanbao"].count == 2
    assert summaries["shanghaizhengquanbao"].newest_title == "最新"
    assert summaries["shanghaizhengquanbao"].newest_published == T0 + timedelta(minutes=9)
    assert summaries["emnews"].name == "东财滚动新闻"


def test_dirty_marks_survive_a_change_racing_the_publish(store):
    store.upsert(article(), CRAWL)
    seen = store.dirty_categories()
    assert set(seen) == {"shanghaizhengquanbao", ALL}
    store.upsert(article("202112212221500009"), CRAWL)
    store.clear_dirty(seen)
    assert set(store.dirty_categories()) == {"shanghaizhengquanbao", ALL}
    store.clear_dirty(store.dirty_categories())
    assert store.dirty_categories() == {}
    store.upsert(article(), CRAWL)
    assert store.dirty_categories() == {}
    store.mark_dirty(["emnews"])
    assert set(store.dirty_categories()) == {"emnews"}


def test_prune_keeps_the_newest_and_ids_stay_known(store):
    for i in range(5):
        store.upsert(article(f"20211221222150000{i}", minutes=i), CRAWL)
    store.clear_dirty(store.dirty_categories())
    assert store.prune("shanghaizhengquanbao", 2) == 3
    assert [a.article_id for a in store.latest("shanghaizhengquanbao", 10)] == [
        "202112212221500004", "202112212221500003"]
    assert store.count(ALL) == 2
    assert len(store.known_titles(f"20211221222150000{i}" for i in range(5))) == 5
    assert "shanghaizhengquanbao" in store.dirty_categories()


def test_run_status_keeps_the_last_success(store):
    ok = RunStatus(source="choice-media", started=CRAWL, finished=CRAWL, outcome="ok", new=3, last_success=CRAWL)
    store.record_run(ok)
    store.record_run(RunStatus(source="choice-media", started=CRAWL + timedelta(minutes=5), outcome="failed",
                               errors=1, message="no list could be read"))
    run = store.runs()["choice-media"]
    assert run.outcome == "failed" and run.errors == 1 and run.last_success == CRAWL


def test_a_lock_is_held_by_one_owner_until_its_lease_ends(store):
    assert store.acquire_lock("scheduler", "a", 30)
    assert not store.acquire_lock("scheduler", "b", 30)
    assert store.acquire_lock("scheduler", "a", 30)
    assert store.lock_info("scheduler").owner == "a"
    store.release_lock("scheduler", "b")
    assert store.lock_info("scheduler").owner == "a"
    store.release_lock("scheduler", "a")
    assert store.lock_info("scheduler") is None
    assert store.acquire_lock("scheduler", "b", 0.2)
    deadline = time.monotonic() + 5
    while not store.acquire_lock("scheduler", "a", 30):
        assert time.monotonic() < deadline, "the lease never ended"
        time.sleep(0.05)
    assert store.lock_info("scheduler").owner == "a"
