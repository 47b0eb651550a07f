"""WebSub publishing: after a publish, tell each hub which feed URLs changed, off the publish path.

`Notifier` owns one background thread and a queue: `notify(urls)` only enqueues, so a publish
never waits on a hub. The thread sends each hub one publish request per changed feed URL
(`hub.mode=publish` with `hub.url` and, for hubs that read that name, `hub.topic`), trying
each request up to `ATTEMPTS` times with a doubling pause. A hub that still fails is logged
once for that publish, its remaining URLs are counted as failed without being tried, and
nothing else happens: a down hub never fails a publish or a crawl. What each hub did is kept
in the store as the run status of `@websub:<hub>` (crawler.store.hub_run), which `finews
status` shows.

The long-lived `finews run` keeps one Notifier for its life; the one-shot `crawl` and
`publish` commands wait for theirs at exit for at most `EXIT_WAIT` seconds.
"""

from __future__ import annotations

import http.client
import logging
import queue
import sqlite3
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import redis

from crawler.config import Config
from crawler.store import STOCKS, TOPICS, RunStatus, hub_run, open_store
from crawler.text.times import BEIJING

from .build import FILENAMES

logger = logging.getLogger(__name__)

ATTEMPTS = 3
BACKOFF = 1.0
"""Seconds before the second attempt; doubled before each next one."""
TIMEOUT = 10.0
"""Seconds one publish request may take."""
EXIT_WAIT = 30.0
"""Seconds a one-shot command waits at exit for its notifications."""
USER_AGENT = "finews (WebSub publisher)"


def changed_feeds(config: Config, written: Iterable[Path]) -> list[str]:
    """The URLs of the subscription feeds among the written files: a category's, a security's or a topic's
    (not archives, pages or OPML)."""
    output = config.site.output_dir
    urls = []
    for path in written:
        folder = path.parent
        top_level = folder.parent == output
        grouped = folder.parent.parent == output and folder.parent.name in (STOCKS, TOPICS)
        if path.name in FILENAMES.values() and (top_level or grouped):
            urls.append(config.site.url(path.relative_to(output).as_posix()))
    return urls


def ping(hub: str, url: str, timeout: float = TIMEOUT) -> None:
    """One publish request; raises OSError (URLError, HTTPError) or HTTPException unless the hub answers 2xx."""
    body = urllib.parse.urlencode({"hub.mode": "publish", "hub.url": url, "hub.topic": url}).encode("ascii")
    request = urllib.request.Request(hub, data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


class Notifier:
    """The background thread that sends the publish requests of the feeds each publish changed."""

    def __init__(self, config: Config, *, attempts: int = ATTEMPTS, backoff: float = BACKOFF):
        self.config = config
        self.attempts, self.backoff = attempts, backoff
        self.queue: queue.Queue[list[str] | None] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="finews-websub", daemon=True)
        self.thread.start()

    def notify(self, urls: Iterable[str]) -> None:
        """Queue the changed feed URLs for every hub; returns at once."""
        urls = list(dict.fromkeys(urls))
        if urls and self.config.websub.hubs:
            self.queue.put(urls)

    def close(self, timeout: float) -> bool:
        """Send what is queued for at most `timeout` seconds, then stop; whether everything was sent."""
        self.queue.put(None)
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.stopping.set()
            logger.warning("websub: gave up waiting for the hubs after %.0fs; the rest is not sent", timeout)
            return False
        return True

    def _run(self) -> None:
        while (urls := self.queue.get()) is not None:
            for hub in self.config.websub.hubs:
                sent, error = self._send(hub, urls)
                self._record(hub, sent, len(urls) - sent, error)

    def _send(self, hub: str, urls: list[str]) -> tuple[int, str]:
        """Send `urls` to `hub` in order; stops at the first URL that fails every attempt. (sent, error)"""
        for sent, url in enumerate(urls):
            for attempt in range(self.attempts):
                if attempt and self.stopping.wait(self.backoff * 2 ** (attempt - 1)):
                    return sent, "stopped"
                try:
                    ping(hub, url)
                    break
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    error = str(exc)
            else:
                logger.error("websub: hub %s failed %d times for %s (%s); %d feed URLs not notified",
                             hub, self.attempts, url, error, len(urls) - sent)
                return sent, error
        logger.info("websub: notified %s of %d changed feeds", hub, len(urls))
        return len(urls), ""

    def _record(self, hub: str, sent: int, failed: int, error: str) -> None:
        """Add this publish's counts to the hub's status in the store (a store error is only logged)."""
        now = datetime.now(BEIJING)
        try:
            with open_store(self.config.store.url) as store:
                before = store.runs().get(hub_run(hub))
                counts = dict(before.counts) if before else {}
                counts["notified"] = counts.get("notified", 0) + sent
                counts["failed"] = counts.get("failed", 0) + failed
                store.record_run(RunStatus(source=hub_run(hub), started=now, finished=now,
                                           outcome="failed" if failed else "ok", errors=counts["failed"],
                                           message=error, counts=counts, last_success=None if failed else now))
        except (redis.RedisError, sqlite3.Error, OSError) as exc:
            logger.error("websub: could not record %s's status in the store: %s", hub, exc)
