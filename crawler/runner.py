"""Run one crawl in this process (Scrapy's reactor starts once per process)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from twisted.python.failure import Failure

from .config import Config
from .runtime import final_statuses
from .spiders.news import NewsSpider
from .store import RunStatus, StoreUnavailable
from .storeguard import StoreGuard

logger = logging.getLogger(__name__)


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
    """Crawl the sources (all enabled ones by default); returns each source's run status.

    Raises StoreUnavailable when the store failed (the crawl has logged it).
    """
    process = CrawlerProcess(crawl_settings_for(config, overrides))
    crawler = process.create_crawler(NewsSpider)
    run(process, crawler, source=sources or None)
    spider = crawler.spider
    if spider is None:
        raise RuntimeError("the crawl did not start")
    return final_statuses(crawler)


def run(process: CrawlerProcess, crawler: Crawler, **kwargs: Any) -> None:
    """Run the crawl to its end; raises StoreUnavailable when the store stopped it (or kept it from starting)."""
    failures: list[Failure] = []
    process.crawl(crawler, **kwargs).addErrback(failures.append)
    process.start()
    if failures:
        if failures[0].check(StoreUnavailable):
            logger.error("%s; the crawl did not start", failures[0].value)
        failures[0].raiseException()
    guard = crawler.get_extension(StoreGuard)
    if guard is not None and guard.failure is not None:
        raise guard.failure
