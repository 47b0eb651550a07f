"""kind = "fastnews": the 7x24 fast-news list; items are complete, no article fetch."""

from __future__ import annotations

import html
import time

from w3lib.url import add_or_replace_parameters

from ..text.ids import source_article_id
from ..text.clean import strip_bracket_title
from .base import Entry, ListPage, SourceAdapter, SourceError, load_json_lenient, pick, text_of

ARTICLE_URL = "https://finance.eastmoney.com/a/{article_id}.html"


class FastNewsAdapter(SourceAdapter):
    kind = "fastnews"

    def list_url(self, template: str, sort_end: str = "") -> str:
        """The list URL with the `sortEnd` cursor and a `req_trace` (without them the API sends null)."""
        return add_or_replace_parameters(
            template, {"sortEnd": sort_end, "req_trace": str(int(time.time() * 1000))})

    def start_urls(self) -> list[str]:
        return [self.list_url(template) for template in self.source.list_urls]

    def parse_list(self, text: str, url: str) -> ListPage:
        data = load_json_lenient(text, "fast-news list")
        if not isinstance(data, dict):
            raise SourceError("bad_shape", f"fast-news list is a {type(data).__name__}, not an object")
        payload = data.get("data")
        if payload is None:
            return ListPage()
        if not isinstance(payload, dict):
            raise SourceError("bad_shape", f"data is a {type(payload).__name__}, not an object")
        page = self.collect(payload.get("fastNewsList") or [], self._entry)
        sort_end = text_of(payload.get("sortEnd"))
        if sort_end and page.entries:
            page.cursor = sort_end
        return page

    def next_list_url(self, page: ListPage, url: str, template: str, page_no: int) -> str | None:
        if not page.cursor or page_no >= self.source.pages:
            return None
        return self.list_url(url, page.cursor)

    def _entry(self, row: object) -> Entry:
        if not isinstance(row, dict):
            raise SourceError("bad_entry", f"entry is a {type(row).__name__}: {str(row)[:80]!r}")
        code = text_of(pick(row, "code", "id"))
        if not code:
            raise SourceError("missing_id", f"entry without a code: {str(row)[:120]!r}")
        article_id = source_article_id(code, bare=True)
        title = text_of(row.get("title"))
        summary = text_of(row.get("summary"))
        if not title:
            raise SourceError("missing_title", f"entry {article_id} has no title")
        body = strip_bracket_title(summary, title) or title
        return Entry(
            article_id=article_id,
            title=title,
            time_text=text_of(pick(row, "showTime", "showtime")),
            link=ARTICLE_URL.format(article_id=article_id),
            digest=body,
            content=f"<p>{html.escape(body, quote=False)}</p>",
            complete=True,
        )
