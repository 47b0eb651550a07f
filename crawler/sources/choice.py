"""kind = "choice": the Choice share-page lists (three shapes) and the text endpoint."""

from __future__ import annotations

from typing import Any

from ..text.ids import info_code_for, source_article_id
from ..text.clean import strip_bracket_title
from .base import ArticleParts, Entry, ListPage, SourceAdapter, SourceError, load_json_lenient, pick, text_of

LIST_SHAPES = ("records", "nodeList", "record")


class ChoiceAdapter(SourceAdapter):
    kind = "choice"
    article_role = "text"

    def start_urls(self) -> list[str]:
        return list(self.source.list_urls)

    def parse_list(self, text: str, url: str) -> ListPage:
        data = load_json_lenient(text, "list")
        if not isinstance(data, dict):
            raise SourceError("bad_shape", f"list is a {type(data).__name__}, not an object")
        shape = next((key for key in LIST_SHAPES if key in data), None)
        if shape is None:
            raise SourceError("bad_shape", f"no records/nodeList/record in list (keys: {sorted(data)[:8]})")
        rows = data[shape] or []
        if not isinstance(rows, list):
            raise SourceError("bad_shape", f"{shape} is a {type(rows).__name__}, not a list")
        return self.collect(rows, lambda row: self._entry(shape, row))

    def _entry(self, shape: str, row: Any) -> Entry:
        if not isinstance(row, dict):
            raise SourceError("bad_entry", f"entry is a {type(row).__name__}: {str(row)[:80]!r}")
        code = text_of(pick(row, "infoCode", "infocode", "InfoCode"))
        bare = text_of(pick(row, "id", "code"))
        if not code and not bare:
            raise SourceError("missing_id", f"entry without an info code: {str(row)[:120]!r}")
        article_id = source_article_id(code, bare=False) if code else source_article_id(bare, bare=True)
        info_code = info_code_for(article_id)
        title = text_of(pick(row, "title", "simtitle", "Title"))
        if not title:
            raise SourceError("missing_title", f"entry {info_code} has no title")
        time_text = text_of(pick(row, "showtime", "showTime", "datetime", "ShowTime"))
        entry = Entry(
            article_id=article_id,
            info_code=info_code,
            title=title,
            time_text=time_text,
            media=text_of(pick(row, "from", "medianame", "mediaName", "Source")) or None,
            fetch_url=self.source.text_url.format(info_code=info_code),
            link=self.source.share_url.format(info_code=info_code),
        )
        if shape == "records":
            entry.digest = strip_bracket_title(text_of(row.get("digest")), title)
            entry.url_w = text_of(row.get("url_w"))
        else:
            entry.summary = strip_bracket_title(text_of(pick(row, "simdigest", "digest")), title)
        return entry

    def parse_article(self, text: str, url: str, entry: Entry, progress: Any = None) -> ArticleParts:
        """The text endpoint: `content` and `text`, both kept; error when both are empty."""
        data = load_json_lenient(text, "text")
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            data = data["data"]
        if not isinstance(data, dict):
            raise SourceError("bad_shape", f"text endpoint sent a {type(data).__name__}, not an object")
        content = text_of(pick(data, "content", "Content"))
        body = text_of(pick(data, "text", "Text"))
        if not content and not body:
            raise SourceError("empty_article", "text endpoint sent empty content and text")
        return ArticleParts(content=content, text=body)
