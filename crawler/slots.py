"""Download slots, one per source: a slot's pause before a retry, and a queue that lets no slot hoard.

Scrapy paces each download slot by its delay. A retry pauses its source's slot (`SlotPause`);
while a slot waits, the requests it holds count against `CONCURRENT_REQUESTS` like downloads under
way, so `SlotBoundQueue` gives a slot no more requests than it may download at once: a paused
source keeps its own few, and every other source keeps the rest of the downloader.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.pqueues import DownloaderAwarePriorityQueue, DownloaderInterface
from scrapy.utils.asyncio import CallLaterResult, call_later


class SlotPause:
    """Download slots made to wait before their next request, then back to their own pace.

    A pause raises the slot's delay (as AutoThrottle adjusts it) counted from now, and gives the
    slot its delay back once the pause is over; a longer pause met meanwhile extends it.
    """

    def __init__(self, crawler: Crawler):
        self.crawler = crawler
        self.paused: dict[str, tuple[float, CallLaterResult]] = {}
        """Slot key → its delay before the pause, and the call that ends the pause."""

    def pause(self, request: Request, seconds: float) -> None:
        engine = self.crawler.engine
        key = request.meta.get(Downloader.DOWNLOAD_SLOT)
        slot = engine.downloader.slots.get(key) if engine is not None and key is not None else None
        if slot is None or seconds <= 0:
            return
        before = slot.delay
        if key in self.paused:
            before, ending = self.paused.pop(key)
            ending.cancel()
        slot.delay = max(before, seconds)
        slot.lastseen = time.monotonic()
        self.paused[key] = (before, call_later(seconds, self.resume, key, slot))

    def resume(self, key: str, slot: Slot) -> None:
        before, _ = self.paused.pop(key)
        slot.delay = before


class _FreeSlots(DownloaderInterface):
    """The downloader's slots as Scrapy's queue sees them, less those already holding their concurrency."""

    def stats(self, possible_slots: Iterable[str]) -> list[tuple[int, str]]:
        slots = self.downloader.slots
        return [(active, key) for active, key in super().stats(possible_slots)
                if key not in slots or active < slots[key].concurrency]


class SlotBoundQueue(DownloaderAwarePriorityQueue):
    """Scrapy's downloader-aware priority queue (least busy slot first) that hands a slot no request
    while it holds as many as it may download at once; the engine asks again as downloads end."""

    def __init__(self, crawler: Crawler, *args: Any, **kwargs: Any):
        super().__init__(crawler, *args, **kwargs)
        self._downloader_interface = _FreeSlots(crawler)
