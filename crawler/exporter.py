"""The /metrics endpoint of `finews run` and `finews worker`, and what the serving process counts.

The crawl counters come from the multiprocess files (see crawler.metrics); the store's state is
read at scrape time; cycles and publishes are counted here by the scheduler. Import this module
only once PROMETHEUS_MULTIPROC_DIR is set (`serve` checks it).
"""

from __future__ import annotations

import glob
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .config import Config
from .status import status_report
from .store import RunStatus, StoreUnavailable, open_store

if TYPE_CHECKING:
    from feeds.publish import PublishReport

logger = logging.getLogger(__name__)

CYCLES = Counter("finews_cycles_total", "Finished cycles per source, by outcome (ok, failed, blocked).",
                 ["source", "outcome"])
CYCLE_DURATION = Histogram("finews_cycle_duration_seconds", "How long a source's crawl took (single machine).",
                           ["source"], buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800))
PUBLISH_DURATION = Histogram("finews_publish_duration_seconds", "How long a successful publish took.",
                             buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
PUBLISH_FILES = Counter("finews_publish_files_written_total", "Feed and page files written by publishes.")
PUBLISH_FAILURES = Counter("finews_publish_failures_total", "Publishes that failed, or could not write a category.")


def observe_cycle(status: RunStatus, *, timed: bool) -> None:
    """Count a finished cycle by outcome; `timed`: its start and end are the crawl's own."""
    CYCLES.labels(status.source, status.outcome).inc()
    if timed and status.finished is not None:
        CYCLE_DURATION.labels(status.source).observe((status.finished - status.started).total_seconds())


@contextmanager
def publishing() -> Iterator[Callable[[PublishReport], None]]:
    """Time a publish and count its files: call what this yields with its report. A publish that
    raises, or could not write a category, counts as failed and is not timed."""
    started = time.monotonic()
    reports: list[PublishReport] = []
    try:
        yield reports.append
    except Exception:
        PUBLISH_FAILURES.inc()
        raise
    for report in reports:
        PUBLISH_FILES.inc(len(report.written))
        if report.failed:
            PUBLISH_FAILURES.inc()
        else:
            PUBLISH_DURATION.observe(time.monotonic() - started)


class SettledFilesCollector(MultiProcessCollector):
    """`MultiProcessCollector` that skips a file another process is creating this instant.

    A process makes its file empty and only then sizes it; one read in between would fail the
    whole scrape. Files only grow, so one that has its header is readable from then on.
    """

    def __init__(self, registry: CollectorRegistry, folder: str):
        super().__init__(registry, path=folder)
        self.folder = folder

    def collect(self) -> Any:
        return self.merge([path for path in glob.glob(os.path.join(self.folder, "*.db")) if has_header(path)])


def has_header(path: str) -> bool:
    try:
        return os.path.getsize(path) >= 8
    except FileNotFoundError:
        return False


class StoreCollector:
    """Gauges read from the store at scrape time: articles per category, source freshness, the frontier."""

    def __init__(self, config: Config):
        self.config = config

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            gauges, up = self.read(), 1
        except (StoreUnavailable, sqlite3.Error, redis.RedisError, OSError) as exc:
            logger.warning("metrics: cannot read the store %s: %s", self.config.store.url, exc)
            gauges, up = [], 0
        yield GaugeMetricFamily("finews_store_up", "1 when this scrape could read the store.", value=up)
        yield from gauges

    def read(self) -> list[GaugeMetricFamily]:
        with open_store(self.config.store.url) as store:
            report = status_report(self.config, store)
        articles = GaugeMetricFamily("finews_store_articles", "Articles in each category.", labels=["category"])
        for category in report["categories"]:
            articles.add_metric([category["slug"]], category["items"])
        success = GaugeMetricFamily("finews_source_last_success_timestamp_seconds",
                                    "When the source's last successful cycle ended (Unix time).", labels=["source"])
        stale = GaugeMetricFamily("finews_source_stale",
                                  "1 when an enabled source has had no success for three of its intervals.",
                                  labels=["source"])
        for source in report["sources"]:
            if source["last_success"]:
                success.add_metric([source["name"]], datetime.fromisoformat(source["last_success"]).timestamp())
            stale.add_metric([source["name"]], 1 if source["stale"] else 0)
        gauges = [articles, success, stale]
        if self.config.crawl.distributed:
            gauges += frontier_gauges(self.config)
        return gauges


def frontier_gauges(config: Config) -> list[GaugeMetricFamily]:
    from .distributed import connect, frontier_status

    client = connect(config)
    try:
        frontier = frontier_status(client)
    finally:
        client.close()
    return [
        GaugeMetricFamily("finews_queue_lists", "List requests waiting for a worker.", value=frontier["queued_lists"]),
        GaugeMetricFamily("finews_queue_requests", "Requests in the shared crawl queue.",
                          value=frontier["queued_requests"]),
        GaugeMetricFamily("finews_workers_live", "Workers seen in the last minute.", value=len(frontier["workers"])),
    ]


def serve(config: Config) -> Any:
    """Start serving /metrics on `[metrics] host:port` in a thread; returns the server (OSError if busy)."""
    if not values.ValueClass._multiprocess:
        raise RuntimeError("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set")
    registry = CollectorRegistry()
    SettledFilesCollector(registry, os.environ["PROMETHEUS_MULTIPROC_DIR"])
    registry.register(StoreCollector(config))
    server, _ = start_http_server(config.metrics.port, addr=config.metrics.host, registry=registry)
    logger.info("metrics at http://%s:%d/metrics", config.metrics.host, config.metrics.port)
    return server
