"""The crawl runtime alone, on a crawler from Scrapy's `get_crawler`: cycles, dropped requests, crawl times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.config import load_config
from crawler.distributed import SharedCounters, worker_settings
from crawler.middlewares import SourceGateMiddleware
from crawler.pipelines import NormalizePipeline, StorePipeline
from crawler.store import Outcome
from crawler.runtime import CYCLE_QUIET, runtime_of
from crawler.samplesite import SampleSite
from crawler.sources.base import Entry
from crawler.spiders.news import NewsSpider
from crawler.spiders.worker import NewsWorkerSpider, SharedRuntime
from crawler.text.times import BEIJING

from crawlkit import write_config
from test_distributed import distributed_config


@pytest.fixture
def crawler(tmp_path):
    with SampleSite() as site:
        config = load_config(write_config(site, tmp_path))
    settings = {name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()}
    crawler = get_crawler(NewsSpider, {**settings, "FINEWS_CONFIG": config})
    crawler.spider = NewsSpider.from_crawler(crawler)
    yield crawler
    runtime_of(crawler).store.close()


def entry(article_id: str = "202112212221504115", title: str = "标题") -> Entry:
    return Entry(article_id=article_id, title=title, time_text="3分钟前", fetch_url="http://127.0.0.1:9/x")


def test_a_request_the_dupefilter_drops_releases_its_pending_article(crawler):
    runtime, spider = runtime_of(crawler), crawler.spider
    source = spider.sources[0]
    cycle = runtime.cycle(source.name, None)
    [request] = list(spider.handle_entry(source, cycle, entry(), datetime.now(BEIJING), {}, {}))
    assert runtime.fetching(cycle, entry().article_id)
    crawler.signals.send_catch_log(signals.request_dropped, request=request, spider=spider)
    assert not runtime.fetching(cycle, entry().article_id) and not cycle.pending


def test_a_worker_cycle_is_released_once_a_newer_one_began_and_nothing_of_it_is_in_flight(crawler):
    runtime, spider = runtime_of(crawler), crawler.spider
    source = spider.sources[0]
    first = runtime.cycle(source.name, 1)
    [request] = list(spider.handle_entry(source, first, entry(), datetime.now(BEIJING), {}, {}))
    runtime.cycle(source.name, 2)
    assert (source.name, 1) in runtime.cycles  # its article is still being fetched
    crawler.signals.send_catch_log(signals.request_dropped, request=request, spider=spider)
    crawler.signals.send_catch_log(signals.spider_idle, spider=spider)
    assert list(runtime.cycles) == [(source.name, 2)]
    for epoch in range(3, 103):
        cycle = runtime.cycle(source.name, epoch)
        list(spider.handle_entry(source, cycle, entry(title=f"标题{epoch}"), datetime.now(BEIJING), {}, {}))
        cycle.give_up(entry().article_id)
    assert list(runtime.cycles) == [(source.name, 102)]


def test_a_cycle_quiet_for_long_is_released_even_with_a_fetch_in_flight(crawler):
    runtime, spider = runtime_of(crawler), crawler.spider
    source = spider.sources[0]
    cycle = runtime.cycle(source.name, 7)
    list(spider.handle_entry(source, cycle, entry(), datetime.now(BEIJING), {}, {}))
    cycle.active -= CYCLE_QUIET + 1
    crawler.signals.send_catch_log(signals.spider_idle, spider=spider)
    assert runtime.cycles == {}


def test_an_article_is_dated_and_stored_by_the_time_its_list_was_fetched_in_a_later_cycle(crawler):
    runtime, spider = runtime_of(crawler), crawler.spider
    source = next(s for s in spider.sources)
    listed_at = datetime.now(BEIJING) + timedelta(days=3)
    cycle = runtime.cycle(source.name, 42)
    complete = Entry(article_id="202112212221504115", title="快讯", time_text="3分钟前", content="<p>x</p>",
                     complete=True)
    [item] = list(spider.handle_entry(source, cycle, complete, listed_at, {}, {}))
    assert item.crawled_at == listed_at
    normalized = NormalizePipeline.from_crawler(crawler).process_item(item)
    assert normalized.crawled_at == listed_at
    assert normalized.article.published == listed_at.replace(microsecond=0) - timedelta(minutes=3)
    stored = StorePipeline.from_crawler(crawler).process_item(normalized)
    assert stored.outcome is Outcome.NEW and runtime.tracker.get(source.name, "new") == 1
    assert runtime.store.get(complete.article_id).first_seen == listed_at


def test_a_blocked_cycle_lets_no_request_of_its_source_through_the_gate(crawler):
    runtime, spider = runtime_of(crawler), crawler.spider
    source, other = spider.sources[0], spider.sources[1]
    gate = SourceGateMiddleware.from_crawler(crawler)
    runtime.block(runtime.cycle(source.name, None), "http://127.0.0.1:9/list", "HTTP 403 on the list")
    with pytest.raises(IgnoreRequest):
        gate.process_request(spider.request(source, "http://127.0.0.1:9/a", spider.parse_article, "text", None))
    elsewhere = spider.request(other, "http://127.0.0.1:9/b", spider.parse_article, "text", None)
    assert gate.process_request(elsewhere) is None


def test_a_worker_reads_another_workers_block_at_its_next_list_page_and_never_per_request(tmp_path, redis_url):
    with SampleSite() as site:
        config = load_config(distributed_config(site, tmp_path, redis_url, every="1h"))
    settings = {name: getattr(project_settings, name) for name in dir(project_settings) if name.isupper()}
    crawler = get_crawler(NewsWorkerSpider, {**settings, **worker_settings(config), "FINEWS_CONFIG": config})
    crawler.spider = spider = NewsWorkerSpider.from_crawler(crawler)
    runtime = runtime_of(crawler)
    assert isinstance(runtime, SharedRuntime)
    gate = SourceGateMiddleware.from_crawler(crawler)
    source = spider.sources[0]
    cycle = runtime.cycle(source.name, 3)
    runtime.list_read(cycle)
    client = redis.Redis.from_url(redis_url)
    try:
        SharedCounters(client).block(source.name, "HTTP 403 on the list")  # as another worker would
        hgets = client.info("commandstats").get("cmdstat_hget", {}).get("calls", 0)
        for n in range(50):
            request = spider.request(source, f"http://127.0.0.1:9/{n}", spider.parse_article, "text", 3)
            assert gate.process_request(request) is None
        assert client.info("commandstats").get("cmdstat_hget", {}).get("calls", 0) == hgets
        runtime.list_read(cycle)
        with pytest.raises(IgnoreRequest):
            gate.process_request(spider.request(source, "http://127.0.0.1:9/x", spider.parse_article, "text", 3))
    finally:
        client.close()
        runtime.store.close()
        runtime.client.close()
