"""Several OS processes upsert overlapping articles into one store at once: each is stored exactly once."""

from __future__ import annotations

import hashlib
import multiprocessing
from datetime import datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from zoneinfo import ZoneInfo

import pytest

from crawler.store import ALL, Article, Outcome, only_categories, open_store

BEIJING = ZoneInfo("Asia/Shanghai")
T0 = datetime(2022, 1, 7, 9, 30, tzinfo=BEIJING)
LISTS = [("emnews", "东财滚动新闻"), ("shanghaizhengquanbao", "上海证券报新闻"),
         ("zhengquanshibao", "证券时报新闻"), ("zhongguozhengquanbao", "中国证券报新闻")]
ARTICLES = 150
IDS = [f"20220107{i:010d}" for i in range(ARTICLES)]


def listed_by(worker: int) -> list[str]:
    """The ids worker `worker`'s list shows: three workers of four list each article."""
    ids = [article_id for i, article_id in enumerate(IDS) if (i + worker) % len(LISTS) != 0]
    return ids if worker % 2 == 0 else ids[::-1]


def article(article_id: str, worker: int) -> Article:
    n = IDS.index(article_id)
    title = f"沪深两市第{n}条快讯：北向资金净买入{n}亿元"
    html = f"<p>{title}。</p><p>数据显示，截至收盘北向资金净买入{n}亿元。</p>"
    slug, name = LISTS[worker]
    return Article(article_id=article_id, title=title, link=f"https://finance.eastmoney.com/a/{article_id}.html",
                   published=T0 + timedelta(minutes=n % 7), categories={slug: name}, media=name.removesuffix("新闻"),
                   html=html, summary=title, source=f"list-{slug}",
                   content_hash=hashlib.sha256(f"{title}\0{html}".encode()).hexdigest())


def upsert_list(url: str, worker: int, start: Barrier, results: Queue) -> None:
    """One crawl process: wait for the others, then store every article of its list."""
    with open_store(url) as store:
        start.wait(timeout=60)
        crawled = T0 + timedelta(hours=1, seconds=worker)
        outcomes = []
        for article_id in listed_by(worker):
            result = store.upsert(article(article_id, worker), crawled)
            outcomes.append((article_id, result.outcome.value, result.added_categories))
    results.put((worker, outcomes))


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_concurrent_processes_store_each_article_once_with_the_union_of_categories(kind, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'store.db'}" if kind == "sqlite" else request.getfixturevalue("redis_url")
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(len(LISTS)), context.Queue()
    workers = [context.Process(target=upsert_list, args=(url, worker, start, results)) for worker in range(len(LISTS))]
    for process in workers:
        process.start()
    reports = dict(results.get(timeout=120) for _ in workers)
    for process in workers:
        process.join(timeout=30)
    assert [process.exitcode for process in workers] == [0] * len(LISTS)

    outcomes = [outcome for worker in reports.values() for outcome in worker]
    new = [article_id for article_id, outcome, _ in outcomes if outcome == Outcome.NEW.value]
    assert sorted(new) == IDS
    assert {outcome for _, outcome, _ in outcomes} <= {Outcome.NEW.value, Outcome.UNCHANGED.value}
    added = sorted((article_id, slug) for article_id, _, slugs in outcomes for slug in slugs)
    expected = sorted((article_id, slug) for worker, (slug, _) in enumerate(LISTS) for article_id in listed_by(worker))
    assert added == expected  # every membership was reported added by exactly one process

    with open_store(url) as store:
        assert store.count(ALL) == ARTICLES
        assert sorted(a.article_id for a in store.latest(ALL, ARTICLES * 2)) == IDS
        for worker, (slug, _) in enumerate(LISTS):
            assert sorted(a.article_id for a in store.latest(slug, ARTICLES * 2)) == sorted(listed_by(worker))
        filed = store.known_categories(IDS)
        for article_id in IDS:
            want = {LISTS[worker][0] for worker in range(len(LISTS)) if article_id in listed_by(worker)}
            assert filed[article_id] == want and set(only_categories(store.get(article_id).categories)) == want
        assert len(store.known_titles(IDS)) == ARTICLES
        assert set(store.dirty_categories()) == {slug for slug, _ in LISTS} | {ALL}
