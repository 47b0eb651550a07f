"""Each failure mode of the Choice endpoints: a logged reason, a counted stat, everything else stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, open_store

from crawlkit import expected_articles, run_finews, write_config

SEED_ID = "202112212221504115"  # only in the per-media (nodeList) list
ROLLING_ID = "202112082206704122"  # only in the rolling (records) list


@pytest.fixture
def site():
    with SampleSite() as site:
        yield site


def crawl(config: Path) -> tuple[int, str]:
    result = run_finews("crawl", "--no-publish", "--config", str(config))
    return result.returncode, result.stderr


def stored_ids(config: Path) -> set[str]:
    with open_store(load_config(config).store.url) as store:
        return {a.article_id for a in store.latest(ALL, 1000)}


def runs(config: Path):
    with open_store(load_config(config).store.url) as store:
        return store.runs()


def all_ids() -> set[str]:
    return set(expected_articles())


def ids_of_list(site: SampleSite, shape: str) -> set[str]:
    return {a.article_id for a in site.articles if a.list == shape}


@pytest.mark.parametrize("fault", ["empty_list", "null_data", "empty_body"])
def test_an_empty_list_stores_nothing_from_it_and_everything_else(site, tmp_path, fault):
    site.set_fault("nodeList", fault)
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 0
    only_in_media = ids_of_list(site, "nodeList") - ids_of_list(site, "records") - ids_of_list(site, "record")
    assert stored_ids(config) == all_ids() - only_in_media
    status = runs(config)["choice-media"]
    assert status.outcome == "ok" and status.listed == 0 and status.new == 0
    if fault == "empty_body":
        assert status.counts["empty_lists"] == 1
        assert "choice-media" in log and "empty list body" in log


def test_a_403_block_page_stops_that_source_and_the_others_go_on(site, tmp_path):
    site.set_fault("records", "block")
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 0
    status = runs(config)
    assert status["choice-rolling"].outcome == "blocked"
    assert status["choice-media"].outcome == "ok"
    assert "source choice-rolling: blocked (HTTP 403 on the list)" in log
    assert site.url("/web/webapi?type=102") in log
    assert stored_ids(config) == all_ids() - (ids_of_list(site, "records") - ids_of_list(site, "nodeList")
                                              - ids_of_list(site, "record"))


def test_every_source_blocked_makes_the_crawl_exit_1(site, tmp_path):
    for shape in ("records", "nodeList", "record"):
        site.set_fault(shape, "soft_block")
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 1
    assert {s.outcome for s in runs(config).values()} == {"blocked"}
    assert "block page instead of the list" in log
    assert site.count("text") == 0


def test_a_block_on_the_text_endpoint_stops_further_requests_of_that_source(site, tmp_path):
    site.set_fault("text", "block", article_id=SEED_ID)
    config = write_config(site, tmp_path, concurrency_per_domain=1)
    crawl(config)
    status = runs(config)
    assert status["choice-media"].outcome == "blocked"
    blocked_at = next(h.t for h in site.hits if h.route == "text" and h.status == 403)
    later_media = [h for h in site.hits if h.t > blocked_at and h.route == "text"
                   and any(i in h.path for i in ids_of_list(site, "nodeList") - ids_of_list(site, "records"))]
    assert later_media == []
    assert ROLLING_ID in stored_ids(config)


@pytest.mark.parametrize("fault", ["jsonp", "trailing_semicolon"])
def test_jsonp_or_a_trailing_semicolon_is_still_read(site, tmp_path, fault):
    for shape in ("records", "nodeList", "record"):
        site.set_fault(shape, fault)
    site.set_fault("text", fault)
    config = write_config(site, tmp_path)
    assert crawl(config)[0] == 0
    assert stored_ids(config) == all_ids()


def test_a_broken_entry_is_dropped_and_the_rest_of_its_list_read(site, tmp_path):
    site.add_entry("records", {"id": "not-an-id", "title": "坏条目"})
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 0
    assert stored_ids(config) == all_ids()
    status = runs(config)["choice-rolling"]
    assert status.counts["dropped/bad_id"] == 1
    assert "'not-an-id'" in log


def test_empty_article_text_is_dropped_with_its_reason(site, tmp_path):
    site.set_fault("text", "empty_text", article_id=SEED_ID)
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 0
    assert stored_ids(config) == all_ids() - {SEED_ID}
    status = runs(config)["choice-media"]
    assert status.counts["dropped/empty_article"] == 1
    assert f"article {SEED_ID}" in log and "empty content and text" in log


def test_a_lost_connection_is_retried_and_the_article_stored(site, tmp_path):
    site.set_fault("text", "drop", times=1, article_id=SEED_ID)
    config = write_config(site, tmp_path, retry_backoff=0.1)
    assert crawl(config)[0] == 0
    assert stored_ids(config) == all_ids()
    assert [h.status for h in site.hits if h.route == "text" and SEED_ID in h.path] == [0, 200]


def test_a_response_slower_than_the_timeout_is_retried(site, tmp_path):
    site.set_fault("text", "slow", times=1, article_id=SEED_ID, delay=3)
    config = write_config(site, tmp_path, download_timeout="1s", retry_backoff=0.1)
    code, log = crawl(config)
    assert code == 0
    assert SEED_ID in stored_ids(config)


def test_retry_after_is_honoured_before_retrying(site, tmp_path):
    site.set_fault("text", "rate_limit", times=1, article_id=SEED_ID, retry_after=1)
    config = write_config(site, tmp_path)
    assert crawl(config)[0] == 0
    attempts = [h for h in site.hits if h.route == "text" and SEED_ID in h.path]
    assert [h.status for h in attempts] == [429, 200]
    assert attempts[1].t - attempts[0].t >= 1.0
    assert SEED_ID in stored_ids(config)


def test_control_characters_and_scripts_never_reach_the_store(site, tmp_path):
    site.set_fault("nodeList", "control_chars")
    site.set_fault("text", "control_chars")
    site.set_fault("text", "script")
    config = write_config(site, tmp_path)
    assert crawl(config)[0] == 0
    with open_store(load_config(config).store.url) as store:
        for article in store.latest(ALL, 1000):
            for text in (article.title, article.html, article.summary):
                assert not any(ch in text for ch in "\x01\x08\x1b")
            assert "<script" not in article.html and "onerror" not in article.html
            assert "javascript:" not in article.html
    assert stored_ids(config) == all_ids()


def test_an_unparseable_time_drops_only_that_entry(site, tmp_path):
    site.set_fault("nodeList", "bad_time", article_id=SEED_ID)
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 0
    assert stored_ids(config) == all_ids() - {SEED_ID}
    assert runs(config)["choice-media"].counts["dropped/bad_time"] == 1
    assert "unparseable time" in log and "choice-media" in log


def test_a_non_news_info_code_is_skipped_with_its_reason(site, tmp_path):
    site.set_fault("nodeList", "foreign_prefix")
    site.set_fault("nodeList", "missing_fields")
    config = write_config(site, tmp_path)
    code, log = crawl(config)
    assert code == 0
    assert stored_ids(config) == all_ids()
    counts = runs(config)["choice-media"].counts
    assert counts["dropped/not_news"] == 1
    assert counts["dropped/missing_id"] == 1
    assert "AN" in log and "not_news" in log
