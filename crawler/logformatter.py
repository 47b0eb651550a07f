"""Log formatting: a dropped item is already logged by the run tracker with its source and URL."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import logformatter


def describe(item: Any) -> str:
    """A short name for an item: its source and article id, never its (large) body."""
    return f"{getattr(item, 'source', '?')} article {getattr(item, 'article_id', '?')}"


class FinewsLogFormatter(logformatter.LogFormatter):
    """Scrapy's formatter, but items are named by source and id instead of dumped whole."""

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> dict[str, Any]:
        return {"level": logging.DEBUG, "msg": "Dropped %(item)s: %(exception)s",
                "args": {"item": describe(item), "exception": exception}}

    def item_error(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> dict[str, Any]:
        return {"level": logging.ERROR, "msg": "Error processing %(item)s: %(exception)r",
                "args": {"item": describe(item), "exception": exception}}
