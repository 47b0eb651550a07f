"""Download slots, one per source: a slot's pause before a retry, and a queue that lets no slot hoard.

Scrapy paces each download slot by its delay. A retry pauses its source's slot (`SlotPause`);
while a slot waits, the requests it holds count against `CONCURRENT_REQUESTS` like downloads under
way, so `SlotBoundQueue` gives a slot no more requests than it may download at once: a paused
source keeps its own few, and every other source keeps the rest of the downloader.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.pqueues import DownloaderAwarePriorityQueue, DownloaderInterface
from scrapy.utils.asyncio import CallLaterResult, call_later


@dataclass
class _Pause:
    delay: float
    jitter: float
    """The slot's own pace, given back when the pause ends."""
    ends: float
    """monotonic() time the pause ends."""
    ending: CallLaterResult


class SlotPause:
    """Download slots made to wait before their next request, then back to their own pace.

    A pause sets the slot's delay (as AutoThrottle adjusts it), without jitter, to the time left
    and counts it from now; the slot gets its own delay and jitter back once the pause is over.
    A pause met during another one ends when the later of the two does.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.paused: dict[str, _Pause] = {}
        """Slot key → the pause under way."""

    def pause(self, request: Request, seconds: float) -> None:
        engine = self.crawler.engine
        key = request.meta.get(Downloader.DOWNLOAD_SLOT)
        slot = engine.downloader.slots.get(key) if engine is not None and key is not None else None
        if slot is None or seconds <= 0:
            return
        now = time.monotonic()
        pause = self.paused.pop(key, None)
        if pause is not None:
            pause.ending.cancel()
            delay, jitter, ends = pause.delay, pause.jitter, max(pause.ends, now + seconds)
        else:
            delay, jitter, ends = slot.delay, slot.jitter, now + seconds
        slot.delay, slot.jitter, slot.lastseen = ends - now, 0.0, now
        self.paused[key] = _Pause(delay, jitter, ends, call_later(ends - now, self.resume, key, slot))

    def resume(self, key: str, slot: Slot) -> None:
        pause = self.paused.pop(key)
        slot.delay, slot.jitter = pause.delay, pause.jitter


class _FreeSlots(DownloaderInterface):
    """The downloader's slots as Scrapy's queue sees them, less those already holding their concurrency.

    A slot's requests are counted in `Downloader.active`, which `fetch` fills at once, not in the slot's
    own `active`, which fills only once the request has passed the downloader middlewares: the engine
    takes several requests in one go, and with the slot's count still behind, it would hand one slot
    all of them. Scrapy's downloader then starts every request queued in a slot together (the asyncio
    task that marks one as transferring has not run yet when the next is taken), so a slot given more
    than its concurrency downloads more than its concurrency at once.
    """

    def stats(self, possible_slots: Iterable[str]) -> list[tuple[int, str]]:
        held = Counter(map(self.get_slot_key, self.downloader.active))  # the meta's slot, else the host's
        return [(held[key], key) for key in possible_slots if held[key] < self._concurrency(key)]

    def _concurrency(self, key: str) -> int:
        downloader = self.downloader
        if key in downloader.slots:
            return downloader.slots[key].concurrency
        return downloader.per_slot_settings.get(key, {}).get(
            "concurrency", downloader.ip_concurrency or downloader.domain_concurrency)


class SlotBoundQueue(DownloaderAwarePriorityQueue):
    """Scrapy's downloader-aware priority queue (least busy slot first) that hands a slot no request
    while it holds as many as it may download at once; the engine asks again as downloads end."""

    def __init__(self, crawler: Crawler, *args: Any, **kwargs: Any):
        super().__init__(crawler, *args, **kwargs)
        self._downloader_interface = _FreeSlots(crawler)
