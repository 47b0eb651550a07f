"""A real Scrapy crawl of the sample site's Choice endpoints into the store (issue: the foundation)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, only_categories, open_store
from crawler.text.securities import symbol
from crawler.text.times import BEIJING

from crawlkit import expected_articles, run_finews, status_json, write_config


@pytest.fixture
def site():
    with SampleSite() as site:
        yield site


def crawl(config: Path, *extra: str) -> str:
    result = run_finews("crawl", "--no-publish", "--config", str(config), *extra)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stderr


def stored(config: Path):
    return open_store(load_config(config).store.url)


def test_crawl_stores_every_sample_article_once_in_its_categories(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    expected = expected_articles()
    with stored(config) as store:
        assert store.count(ALL) == len(expected)
        for article_id, want in expected.items():
            article = store.get(article_id)
            assert article is not None, article_id
            assert set(only_categories(article.categories)) == want["categories"]
            assert article.title == want["title"]
            assert article.published == datetime.strptime(want["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
            assert article.published.utcoffset() == timedelta(hours=8)
            assert "EM_StockImg" not in article.html and "<script" not in article.html
    assert site.count("text") == len(expected)


def test_crawl_records_each_articles_securities_from_its_quote_links_and_files_it_under_them(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    with stored(config) as store:
        article = store.get("202201072239307540")
        assert article.securities["1.601688"] == "华泰证券" and article.securities["90.BK0473"] == "证券"
        assert "quote.eastmoney.com" not in article.html and "华泰证券" in article.html
        grouped = {slug: name for slug, name in article.categories.items() if slug.startswith("stocks/")}
        assert grouped == {f"stocks/{symbol(quote)}": name for quote, name in article.securities.items()}
        assert article.article_id in [a.article_id for a in store.latest("stocks/sh601688", 10)]
        assert all(not a.securities for a in store.latest(ALL, 100) if "quote.eastmoney" not in a.content_raw
                   and "quote.eastmoney" not in a.text_raw)


def test_article_in_two_lists_is_one_item_in_both_categories(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    with stored(config) as store:
        both = store.get("202201072239307540")
        assert set(only_categories(both.categories)) == {"emnews", "quanshangzhongguo"}
        assert both.categories["quanshangzhongguo"] == "券商中国新闻"
        assert both.url_w.endswith("202201072239307540.html")
        assert both.content_raw != both.text_raw
        ids_in = {slug: [a.article_id for a in store.latest(slug, 100)] for slug in ("emnews", "quanshangzhongguo")}
    assert ids_in["emnews"].count("202201072239307540") == 1
    assert ids_in["quanshangzhongguo"] == ["202201072239307540"]


def test_second_crawl_makes_no_text_requests_and_changes_nothing(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    with stored(config) as store:
        before = {a.article_id: a for a in store.latest(ALL, 100)}
    site.reset_counts()
    crawl(config)
    assert site.count("text") == 0
    assert site.count("records") == site.count("nodeList") == site.count("record") == 1
    with stored(config) as store:
        after = {a.article_id: a for a in store.latest(ALL, 100)}
        runs = store.runs()
    assert after == before
    assert sum(run.new + run.updated for run in runs.values()) == 0
    assert all(run.outcome == "ok" for run in runs.values())


def test_edited_title_updates_the_item_with_same_id_and_published(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    article_id = "202112212221504115"
    with stored(config) as store:
        old = store.get(article_id)
    site.edit_title(article_id, "中国电信5G消息全面商用（更新）")
    site.reset_counts()
    crawl(config)
    assert site.count("text") == 1
    with stored(config) as store:
        new = store.get(article_id)
        assert store.count(ALL) == len(expected_articles())
        assert store.runs()["choice-media"].updated == 1
    assert new.title == "中国电信5G消息全面商用（更新）"
    assert new.published == old.published and new.first_seen == old.first_seen
    assert new.updated > old.updated


def test_a_title_edited_only_by_a_control_character_is_fetched_again_but_stays_unchanged(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    article_id = "202112212221504115"
    with stored(config) as store:
        old = store.get(article_id)
    site.edit_title(article_id, old.title.replace("明年", "明年\x07"))
    hashes = []
    for _ in range(2):  # the second time the source input is known: recognized before cleaning
        site.reset_counts()
        crawl(config)
        assert site.count("text") == 1
        with stored(config) as store:
            now = store.get(article_id)
            run = store.runs()["choice-media"]
        assert now == replace(old, source_hash=now.source_hash)
        assert (run.new, run.updated, run.unchanged) == (0, 0, run.listed)
        hashes.append(now.source_hash)
    assert hashes[0] == hashes[1] != old.source_hash


def test_status_records_counts_per_source(site, tmp_path):
    config = write_config(site, tmp_path)
    crawl(config)
    report = {s["name"]: s for s in status_json(config)["sources"]}
    assert {s["outcome"] for s in report.values()} == {"ok"}
    assert sum(s["new"] for s in report.values()) == len(expected_articles())
    assert sum(s["new"] + s["unchanged"] for s in report.values()) == len(site.articles)
    for name, shape in (("choice-rolling", "records"), ("choice-media", "nodeList"), ("choice-market", "record")):
        assert report[name]["listed"] == sum(1 for a in site.articles if a.list == shape)
        assert report[name]["finished"] >= report[name]["started"]


def test_crawl_with_an_unknown_source_name_fails_clearly(site, tmp_path):
    config = write_config(site, tmp_path)
    result = run_finews("crawl", "--config", str(config), "--source", "nope")
    assert result.returncode != 0
    assert "unknown source 'nope'" in result.stderr
