"""The crawl runtime: what a crawler's spider, pipelines and middlewares share, its state per cycle.

`CrawlRuntime` is a Scrapy extension (EXTENSIONS in crawler/settings.py), built with
`from_crawler` like Scrapy's own components; every component finds it with `runtime_of(crawler)`.
It owns the store handle, the category slugs, the run tracker and one `Cycle` per source and
cycle. A one-shot crawl (`finews crawl`) is one cycle of each source. A worker (`finews worker`)
lives for days and meets many cycles of each source, told apart by the `epoch` the scheduler puts
in each list request (crawler/distributed.py): a cycle's state is released once a newer cycle of
its source has begun and nothing of it is in flight, or once it has been quiet for `CYCLE_QUIET`
seconds, so nothing grows from one cycle to the next. A request dropped before its download (the
dupefilter, the scheduler: Scrapy's `request_dropped`) releases what it held.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from .config import Config, SourceConfig, load_config
from .filing import category_slugs
from .items import MembershipItem
from .sources import adapter_for
from .sources.base import Entry, SourceAdapter
from .status import RunTracker
from .store import RunStatus, Store, open_store
from .text.times import BEIJING

EPOCH = "epoch"
"""The request meta key of the cycle a request belongs to (None: the one cycle of a one-shot crawl)."""
CYCLE_QUIET = 300.0
"""Seconds without a request or response of its own after which a worker's cycle is released, in flight or not."""


def config_from_settings(settings: BaseSettings) -> Config:
    """The Config in `FINEWS_CONFIG`: an object (set by `finews`), a path, or None (defaults)."""
    value = settings.get("FINEWS_CONFIG")
    return value if isinstance(value, Config) else load_config(value or None)


@dataclass
class Cycle:
    """One cycle of one source: whether it is blocked, which articles are in flight."""

    source: str
    epoch: int | None
    blocked: str | None = None
    pending: set[str] = field(default_factory=set)
    """Ids of the articles being fetched."""
    fetched: set[str] = field(default_factory=set)
    """Ids of the articles fetched (their items made) in this cycle."""
    unstored: set[str] = field(default_factory=set)
    """Ids the store did not hold when listed: their input is not looked up."""
    deferred: dict[str, list[MembershipItem]] = field(default_factory=lambda: defaultdict(list))
    """Memberships of other lists' entries, for the item of an article being fetched."""
    waiting: dict[str, list[MembershipItem]] = field(default_factory=lambda: defaultdict(list))
    """Memberships of an article fetched but not yet stored."""
    active: float = field(default_factory=time.monotonic)
    """When a request or response of the cycle last went through the runtime (monotonic seconds)."""

    def give_up(self, article_id: str) -> None:
        self.pending.discard(article_id)
        self.unstored.discard(article_id)
        self.deferred.pop(article_id, None)


class CrawlRuntime:
    """The extension that holds a crawler's shared state; see the module docstring."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.config = config_from_settings(crawler.settings)
        self.sources: dict[str, SourceConfig] = {source.name: source for source in self.config.sources}
        self.adapters: dict[str, SourceAdapter] = {s.name: adapter_for(s) for s in self.config.sources}
        self.store: Store = open_store(self.config.store.url)
        self.slugs = category_slugs(self.config, self.store)
        self.started = datetime.now(BEIJING)
        self.cycles: dict[tuple[str, int | None], Cycle] = {}
        self.final_statuses: dict[str, RunStatus] = {}
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "CrawlRuntime":
        return cls(crawler)

    @cached_property
    def tracker(self) -> RunTracker:
        """The run tracker of the sources the spider crawls."""
        return self.make_tracker([source.name for source in getattr(self.crawler.spider, "sources", [])])

    def make_tracker(self, sources: list[str]) -> RunTracker:
        return RunTracker(self.crawler, self.store, sources, self.started)

    # -- cycles ------------------------------------------------------------------------------

    def cycle(self, source: str, epoch: int | None) -> Cycle:
        """The cycle of `source` numbered `epoch`; one seen for the first time begins now."""
        cycle = self.cycles.get((source, epoch))
        if cycle is None:
            cycle = self.cycles[(source, epoch)] = Cycle(source, epoch)
            self.release_done()
        cycle.active = time.monotonic()
        return cycle

    def cycle_of(self, request: Request) -> Cycle:
        return self.cycle(request.meta["source"], request.meta.get(EPOCH))

    def release_done(self) -> None:
        """Drop the cycles a newer one of their source has replaced and that have nothing in flight,
        and those quiet for CYCLE_QUIET seconds."""
        newest: dict[str, int] = {}
        for source, epoch in self.cycles:
            if epoch is not None:
                newest[source] = max(newest.get(source, epoch), epoch)
        quiet = time.monotonic() - CYCLE_QUIET
        for key, cycle in list(self.cycles.items()):
            source, epoch = key
            if epoch is None:
                continue
            if (epoch < newest[source] and not cycle.pending) or cycle.active < quiet:
                del self.cycles[key]

    # -- what every cycle of this crawler knows ----------------------------------------------

    def round_of(self, cycle: Cycle) -> Iterable[Cycle]:
        """The cycles begun with `cycle`: every source's of a one-shot crawl; the cycle alone in a
        worker (every epoch is one source's)."""
        return [other for other in self.cycles.values() if other.epoch == cycle.epoch] or [cycle]

    def fetching(self, cycle: Cycle, article_id: str) -> bool:
        """Whether the article is being fetched in this round of cycles (whatever title it was listed with)."""
        return any(article_id in other.pending for other in self.round_of(cycle))

    def has_fetched(self, cycle: Cycle, article_id: str) -> bool:
        """Whether the article was fetched in this round of cycles."""
        return any(article_id in other.fetched for other in self.round_of(cycle))

    def wait_for_article(self, item: MembershipItem) -> bool:
        """Keep a membership whose article was fetched but is not stored yet; False if none is coming."""
        for cycle in self.cycles.values():
            if item.article_id in cycle.fetched:
                cycle.waiting[item.article_id].append(item)
                return True
        return False

    def memberships_waiting(self, article_id: str) -> list[MembershipItem]:
        """The memberships that arrived while the article was being fetched and stored."""
        return [m for cycle in self.cycles.values() for m in cycle.waiting.pop(article_id, [])]

    # -- what a source's cycle decides -------------------------------------------------------

    def list_read(self, cycle: Cycle) -> None:
        """A list page of the cycle arrived (a worker learns here what other workers blocked)."""

    def blocked(self, cycle: Cycle) -> str | None:
        return cycle.blocked

    def block(self, cycle: Cycle, url: str, reason: str) -> None:
        if cycle.blocked is None:
            cycle.blocked = reason
            self.tracker.blocked(cycle.source, url, reason)

    def claim(self, entry: Entry) -> bool:
        """Whether this crawler fetches the article (always, in one process)."""
        return True

    def defer(self, cycle: Cycle, membership: MembershipItem, title: str) -> list[MembershipItem]:
        """The article is being fetched: its item carries this membership too; nothing to yield now."""
        fetching = next((c for c in self.round_of(cycle) if membership.article_id in c.pending), cycle)
        fetching.deferred[membership.article_id].append(membership)
        return []

    def pending_notes(self, article_id: str) -> list[MembershipItem]:
        """Memberships other crawlers noted for the article (none in one process)."""
        return []

    # -- signals -----------------------------------------------------------------------------

    def request_dropped(self, request: Request) -> None:
        """A request that will never be downloaded: its article is no longer in flight."""
        entry = request.cb_kwargs.get("entry")
        if isinstance(entry, Entry) and "source" in request.meta:
            self.cycle_of(request).give_up(entry.article_id)

    def spider_idle(self) -> None:
        self.release_done()

    def spider_closed(self, reason: str) -> None:
        try:
            blocked = {c.source: c.blocked for c in self.cycles.values() if c.blocked}
            self.final_statuses = self.tracker.finished(blocked, reason)
        finally:
            self.store.close()


def runtime_of(crawler: Crawler) -> CrawlRuntime:
    """The crawler's runtime (a subclass of CrawlRuntime in worker mode)."""
    runtime = crawler.get_extension(CrawlRuntime)
    if runtime is None:
        raise RuntimeError("crawler.runtime.CrawlRuntime is not among the crawler's EXTENSIONS")
    return runtime


def final_statuses(crawler: Crawler) -> dict[str, RunStatus]:
    """Each source's run status once the crawl has ended (by source name); none when the crawl
    stopped before its runtime was made (a store that could not be opened, say)."""
    try:
        runtime = crawler.get_extension(CrawlRuntime)
    except RuntimeError:
        return {}
    return runtime.final_statuses if runtime is not None else {}
