"""Run one crawl in this process (Scrapy's reactor starts once per process)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from .config import Config
from .spiders.news import NewsSpider
from .store import RunStatus


def crawl_settings_for(config: Config, overrides: Mapping[str, Any] | None = None) -> Settings:
    """The project's Scrapy settings with the config object and command-line overrides."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("FINEWS_CONFIG", config, priority="cmdline")
    for name, value in (overrides or {}).items():
        settings.set(name, value, priority="cmdline")
    return settings


def run_crawl(config: Config, sources: list[str] | None = None,
              overrides: Mapping[str, Any] | None = None) -> dict[str, RunStatus]:
    """Crawl the sources (all enabled ones by default); returns each source's run status."""
    process = CrawlerProcess(crawl_settings_for(config, overrides))
    crawler = process.create_crawler(NewsSpider)
    process.crawl(crawler, source=sources or None)
    process.start()
    spider = crawler.spider
    if spider is None:
        raise RuntimeError("the crawl did not start")
    return spider.final_statuses


def run_worker(config: Config, overrides: Mapping[str, Any] | None = None) -> None:
    """Consume the shared crawl frontier until SIGTERM/SIGINT (distributed mode)."""
    from .distributed import worker_settings
    from .spiders.worker import NewsWorkerSpider

    settings = crawl_settings_for(config, {**worker_settings(config), **(overrides or {})})
    process = CrawlerProcess(settings)
    process.crawl(process.create_crawler(NewsWorkerSpider))
    process.start()
