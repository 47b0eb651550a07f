"""The crawl runtime alone, on a crawler from Scrapy's `get_crawler`: cycles, dropped requests, crawl times."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from scrapy import signals
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.config import load_config
from crawler.pipelines import NormalizePipeline
from crawler.runtime import CYCLE_QUIET, runtime_of
from crawler.samplesite import SampleSite
from crawler.sources.base import Entry
from crawler.spiders.news import NewsSpider
from crawler.text.times import BEIJING

from crawlkit import write_config


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


def test_an_article_item_carries_the_time_its_list_was_fetched_in_a_later_cycle(crawler):
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
