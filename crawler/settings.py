"""Scrapy settings of the finews project: politeness, middlewares, pipelines.

The `[crawl]` table of the finews config overrides the politeness values at spider priority
(see `crawler.spiders.news.crawl_settings`); `-s NAME=VALUE` on the command line beats both.
"""

import os

BOT_NAME = "finews"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Path of the finews config (None: finews.toml in the working folder, else built-in defaults).
FINEWS_CONFIG = os.environ.get("FINEWS_CONFIG")

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
DEFAULT_REQUEST_HEADERS = {
    "Accept": "application/json, text/javascript, text/html, */*;q=0.8",
    "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.6",
}
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy's remote-control HTTP server: one more listening port per crawl, and nothing here uses it.
REMOTE_CONTROL_ENABLED = False

CONCURRENT_REQUESTS = 16
# The pipelines are synchronous, so processing a callback's items concurrently gains nothing,
# while Scrapy starts this many asyncio workers for every callback (100 by default: 200,000
# tasks for a crawl of 2,000 articles, most of its CPU time).
CONCURRENT_ITEMS = 1
# Scrapy checks every callback for a generator that returns a value by reading its source and
# parsing it (inspect + ast); its cache is keyed by the bound method, so it parsed the article
# callback again hundreds of times a crawl. None of the spiders' callbacks returns a value.
WARN_ON_GENERATOR_RETURN_VALUE = False
CONCURRENT_REQUESTS_PER_DOMAIN = 2  # per source: its download slot
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
# Each source downloads through its own slot (the spider names it in `download_slot`): the delay,
# the concurrency and a retry's pause apply per source, and the scheduler gives no slot more
# requests than it may download at once (crawler/slots.py): a paused source never crowds out the others.
SCHEDULER_PRIORITY_QUEUE = "crawler.slots.SlotBoundQueue"
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024

RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 1.0
RETRY_AFTER_MAX = 60.0

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.SourceGateMiddleware": 50,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
}
# A failing store stops the crawl (reason `store_unavailable`) with one log line: crawler/storeguard.py.
# The runtime holds the store, the run tracker and each cycle's state for every component: crawler/runtime.py.
EXTENSIONS = {
    "crawler.storeguard.StoreGuard": 0,
    "crawler.runtime.CrawlRuntime": 10,
    "crawler.metrics.CrawlMetrics": 500,
}
SPIDER_MIDDLEWARES = {
    "crawler.storeguard.StoreGuardMiddleware": 950,
}
ITEM_PIPELINES = {
    "crawler.pipelines.NormalizePipeline": 100,
    "crawler.pipelines.StorePipeline": 200,
    "crawler.pipelines.JekyllPipeline": 300,
}

LOG_LEVEL = "INFO"
LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"
LOG_FORMATTER = "crawler.logformatter.FinewsLogFormatter"

# How often the metrics extension copies the per-source stats into the Prometheus counters (seconds).
METRICS_SYNC_INTERVAL = 1.0
