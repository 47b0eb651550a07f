"""Per-source crawl counters (Scrapy stats) and the run status they become in the store."""

from __future__ import annotations

import logging
from datetime import datetime

from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from .config import Config
from .store import PUBLISH_RUN, STORE_UNAVAILABLE, RunRecords, RunStatus, Store, StoreUnavailable, hub_run, is_category
from .storeguard import FAILURE_STAT
from .text.times import BEIJING

logger = logging.getLogger("crawler.sources")

COUNTERS = ("listed", "new", "unchanged", "updated", "dropped", "errors")
"""The counts a run status carries as fields (every count is in its `counts` too)."""
LISTS_OK = "lists_ok"
"""The count of list pages read: a run with none read failed."""


def run_status(source: str, counts: dict[str, int], started: datetime, finished: datetime | None,
               blocked: str | None = None, reason: str = "finished") -> RunStatus:
    """What a source's run came to, from its counts: one definition for a crawl and a worker cycle.

    `finished` None: still running (unless blocked). `reason` is why the crawl ended (Scrapy's
    close reason): a store failure, or any early end of a run that was going well, fails it.
    """
    if blocked:
        outcome, message = "blocked", blocked
    elif finished is None:
        outcome, message = "running", ""
    elif counts.get(LISTS_OK, 0) == 0:
        outcome, message = "failed", "no list could be read"
    else:
        outcome, message = "ok", ""
    if reason != "finished" and reason.startswith(STORE_UNAVAILABLE):
        outcome, message = "failed", reason
    elif reason != "finished" and outcome == "ok":
        outcome, message = "failed", f"crawl ended early: {reason}"
    return RunStatus(source=source, started=started, finished=finished, outcome=outcome, message=message,
                     last_success=finished if outcome == "ok" else None, counts=counts,
                     **{key: counts.get(key, 0) for key in COUNTERS})


def stat_key(source: str, key: str) -> str:
    return f"finews/{source}/{key}"


def split_stat_key(name: str) -> tuple[str, str] | None:
    """The (source, key) of a `stat_key` name; None for any other stat."""
    prefix, _, rest = name.partition("/")
    source, _, key = rest.partition("/")
    return (source, key) if prefix == "finews" and key else None


class RunTracker:
    """Counts what happens to each source during one crawl and records its run status."""

    def __init__(self, crawler: Crawler, store: RunRecords, sources: list[str], started: datetime):
        self.crawler, self.store, self.sources, self.started_at = crawler, store, sources, started

    @property
    def stats(self) -> StatsCollector:
        return self.crawler.stats

    def count(self, source: str, key: str, n: int = 1) -> None:
        self.stats.inc_value(stat_key(source, key), n)

    def get(self, source: str, key: str) -> int:
        return int(self.stats.get_value(stat_key(source, key), 0))

    def list_ok(self, source: str) -> None:
        self.count(source, LISTS_OK)

    def error(self, source: str, reason: str, url: str, message: str) -> None:
        self.count(source, "errors")
        self.count(source, f"errors/{reason}")
        logger.error("source %s: %s (%s) at %s", source, message, reason, url)

    def dropped(self, source: str, reason: str, url: str, detail: str) -> None:
        self.count(source, "dropped")
        self.count(source, f"dropped/{reason}")
        logger.warning("source %s: dropped (%s): %s at %s", source, reason, detail, url)

    def blocked(self, source: str, url: str, reason: str) -> None:
        self.count(source, "blocked")
        logger.error("source %s: blocked (%s) at %s; no more requests to it this cycle", source, reason, url)

    def started(self) -> None:
        for name in self.sources:
            self.store.record_run(RunStatus(source=name, started=self.started_at, outcome="running"))

    def finished(self, blocked: dict[str, str], reason: str) -> dict[str, RunStatus]:
        """Record every source's run status (while the store takes them); returns them (by source name)."""
        now = datetime.now(BEIJING)
        statuses = {}
        recording = True
        if reason == STORE_UNAVAILABLE:
            reason = f"{STORE_UNAVAILABLE}: {self.stats.get_value(FAILURE_STAT)}"
        for name in self.sources:
            counts = {k.split("/", 2)[2]: int(v) for k, v in self.stats.get_stats().items()
                      if k.startswith(f"finews/{name}/")}
            status = run_status(name, counts, self.started_at, now, blocked.get(name), reason)
            if recording:
                try:
                    self.store.record_run(status)
                except StoreUnavailable as exc:
                    recording = False
                    logger.warning("run status not recorded: %s", exc)
            statuses[name] = status
            logger.info("source %s: %s — listed %d, new %d, unchanged %d, updated %d, dropped %d, errors %d%s",
                        name, status.outcome, status.listed, status.new, status.unchanged, status.updated,
                        status.dropped, status.errors, f" ({status.message})" if status.message else "")
        return statuses


def status_report(config: Config, store: Store, now: datetime | None = None) -> dict:
    """What `finews status` shows: every configured source's last run, every category's counts, every hub's."""
    now = now or datetime.now(BEIJING)
    runs = store.runs()
    sources = []
    for source in config.sources:
        run = runs.get(source.name)
        stale_after = 3 * source.interval
        last_success = run.last_success if run else None
        stale = source.enabled and (last_success is None or (now - last_success).total_seconds() > stale_after)
        sources.append({
            "name": source.name,
            "kind": source.kind,
            "enabled": source.enabled,
            "schedule": source.cron or f"every {source.every:g}s",
            "started": run.started.isoformat() if run else None,
            "finished": run.finished.isoformat() if run and run.finished else None,
            "outcome": run.outcome if run else "never",
            **{key: getattr(run, key) if run else 0 for key in COUNTERS},
            "message": run.message if run else "",
            "last_success": last_success.isoformat() if last_success else None,
            "stale": bool(stale),
        })
    categories = [{
        "slug": c.slug, "name": c.name, "items": c.count,
        "newest": c.newest_published.isoformat() if c.newest_published else None,
        "newest_title": c.newest_title,
    } for c in store.categories() if is_category(c.slug)]
    hubs = []
    for hub in config.websub.hubs:
        run = runs.get(hub_run(hub))
        hubs.append({"hub": hub, "outcome": run.outcome if run else "never",
                     "notified": run.counts.get("notified", 0) if run else 0,
                     "failed": run.counts.get("failed", 0) if run else 0,
                     "last_success": run.last_success.isoformat() if run and run.last_success else None,
                     "message": run.message if run else ""})
    published = runs.get(PUBLISH_RUN)
    publish = {"outcome": published.outcome, "finished": published.finished.isoformat() if published.finished else None,
               "categories": published.listed, "failed": published.errors, "message": published.message,
               } if published else {"outcome": "never"}
    return {"now": now.isoformat(), "store": config.store.url, "output_dir": str(config.site.output_dir),
            "sources": sources, "categories": categories, "publish": publish, "hubs": hubs,
            "stale": [s["name"] for s in sources if s["stale"]]}


def _short(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def format_status(report: dict) -> str:
    """The report as two aligned text tables."""
    source_rows = [("SOURCE", "OUTCOME", "STARTED", "FINISHED", "LISTED", "NEW", "UPDATED",
                    "DROPPED", "ERRORS", "LAST SUCCESS", "")]
    for s in report["sources"]:
        source_rows.append((s["name"], s["outcome"], _short(s["started"]), _short(s["finished"]),
                            str(s["listed"]), str(s["new"]), str(s["updated"]), str(s["dropped"]),
                            str(s["errors"]), _short(s["last_success"]), "STALE" if s["stale"] else ""))
    category_rows = [("CATEGORY", "NAME", "ITEMS", "NEWEST")]
    for c in report["categories"]:
        category_rows.append((c["slug"], c["name"], str(c["items"]), _short(c["newest"])))
    lines = [f"store: {report['store']}", f"output: {report['output_dir']}", ""]
    lines += _table(source_rows) + [""] + _table(category_rows)
    publish = report["publish"]
    lines += ["", f"last publish: {publish['outcome']}" + (f" at {_short(publish['finished'])}, "
                                                           f"{publish['categories']} categories"
                                                           if publish.get("finished") else "")]
    if publish.get("message"):
        lines.append(f"  not published: {publish['message']}")
    if report.get("hubs"):
        hub_rows = [("WEBSUB HUB", "OUTCOME", "NOTIFIED", "FAILED", "LAST SUCCESS")]
        hub_rows += [(h["hub"], h["outcome"], str(h["notified"]), str(h["failed"]), _short(h["last_success"]))
                     for h in report["hubs"]]
        lines += [""] + _table(hub_rows)
    messages = [f"  {s['name']}: {s['message']}" for s in report["sources"] if s["message"]]
    messages += [f"  {h['hub']}: {h['message']}" for h in report.get("hubs", []) if h["message"]]
    if messages:
        lines += ["", "messages:"] + messages
    frontier = report.get("frontier")
    if frontier:
        lines += ["", f"frontier: {frontier['queued_lists']} list requests and {frontier['queued_requests']} "
                      f"requests queued; workers seen in the last minute: {', '.join(frontier['workers']) or 'none'}"]
    if report["stale"]:
        lines += ["", f"stale (no success in three intervals): {', '.join(report['stale'])}"]
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    from unicodedata import east_asian_width

    def width(text: str) -> int:
        return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)

    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell + " " * (w - width(cell)) for cell, w in zip(row, widths)).rstrip()
            for row in rows]
