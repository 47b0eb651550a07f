"""Log formatting: a dropped item is already logged by the run tracker with its source and URL."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import logformatter


class FinewsLogFormatter(logformatter.LogFormatter):
    """Scrapy's formatter, but drops are logged at DEBUG and without the (large) item."""

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> dict[str, Any]:
        return {"level": logging.DEBUG, "msg": "Dropped: %(exception)s", "args": {"exception": exception}}
