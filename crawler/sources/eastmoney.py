"""kind = "eastmoney": the column list API and the article pages (both templates)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from ..text.ids import page_article_id, source_article_id
from .base import (ArticleParts, BlockedError, Entry, ListPage, SourceAdapter, SourceError, is_block_page,
                   load_json_lenient, pick, text_of)

TITLE_SUFFIX_RE = re.compile(r"\s*[_|-]\s*东方财富网.*$")
MEDIA_PREFIX_RE = re.compile(r"^\s*(来源|文章来源)\s*[:：]\s*")


@dataclass
class ArticlePage:
    """What one article page gives; `continuations` are the other pages' URLs (from page 1)."""

    title: str
    time_text: str
    media: str | None
    summary: str
    body: str
    continuations: list[str] = field(default_factory=list)


@dataclass
class PagedArticle:
    """An article's pages read so far: the first, the bodies of the others, the URLs done."""

    first: ArticlePage
    rest: list[str]
    done: list[str]


class EastmoneyAdapter(SourceAdapter):
    kind = "eastmoney"

    def page_url(self, template: str, page: int) -> str:
        return template.format(page=page) if "{page}" in template else template

    def start_urls(self) -> list[str]:
        return [self.page_url(template, 1) for template in self.source.list_urls]

    def next_list_url(self, page: ListPage, url: str, template: str, page_no: int) -> str | None:
        if not page.entries or "{page}" not in template or page_no >= self.source.pages:
            return None
        return self.page_url(template, page_no + 1)

    def parse_list(self, text: str, url: str) -> ListPage:
        data = load_json_lenient(text, "column list")
        if not isinstance(data, dict):
            raise SourceError("bad_shape", f"column list is a {type(data).__name__}, not an object")
        code = text_of(data.get("code"))
        if code and code != "1":
            raise SourceError("api_error", f"column list answered code {code!r}: {text_of(data.get('message'))[:80]}")
        payload = data.get("data")
        if payload is None:
            return ListPage()
        if not isinstance(payload, dict):
            raise SourceError("bad_shape", f"data is a {type(payload).__name__}, not an object")
        return self.collect(payload.get("list") or [], lambda row: self._entry(row, url))

    def _entry(self, row: object, list_url: str) -> Entry:
        if not isinstance(row, dict):
            raise SourceError("bad_entry", f"entry is a {type(row).__name__}: {str(row)[:80]!r}")
        code = text_of(pick(row, "code", "Art_Code", "id", "newsid"))
        page_url = text_of(pick(row, "url", "uniqueUrl"))
        if not code and not page_url:
            raise SourceError("missing_id", f"entry without a code: {str(row)[:120]!r}")
        article_id = source_article_id(code, bare=True) if code else page_article_id(page_url)
        title = text_of(row.get("title"))
        if not title:
            raise SourceError("missing_title", f"entry {article_id} has no title")
        if not page_url:
            raise SourceError("missing_url", f"entry {article_id} has no url")
        fetch_url = urljoin(list_url, page_url)
        if urlsplit(fetch_url).scheme not in ("http", "https"):
            raise SourceError("bad_url", f"entry {article_id}: article URL {page_url[:120]!r} is not http(s)")
        return Entry(
            article_id=article_id,
            title=title,
            time_text=text_of(pick(row, "showTime", "showtime")),
            fetch_url=fetch_url,
            link=fetch_url,
            media=text_of(row.get("mediaName")) or None,
            summary=text_of(row.get("summary")),
        )

    def parse_article(self, text: str, url: str, entry: Entry, progress: PagedArticle | None) -> ArticleParts:
        """One page of the article; the next one to fetch, or, once all are read, the whole body
        (the entry takes the title, time, media and summary of page 1 where the page has them)."""
        if is_block_page(text) and "ContentBody" not in text:
            raise BlockedError("block page instead of the article")
        page = self.parse_page(text, url, entry.article_id)
        if progress is None:
            progress, remaining = PagedArticle(page, [], [url]), page.continuations
        else:
            progress = PagedArticle(progress.first, progress.rest + [page.body], progress.done + [url])
            remaining = progress.first.continuations
        remaining = [other for other in remaining if other not in progress.done]
        if remaining:
            return ArticleParts(next_url=remaining[0], progress=progress)
        first = progress.first
        entry.title = first.title or entry.title
        entry.time_text = entry.time_text or first.time_text
        entry.media = first.media or entry.media
        entry.summary = first.summary or entry.summary
        return ArticleParts(content="".join([first.body, *progress.rest]))

    def parse_page(self, html: str, url: str, article_id: str) -> ArticlePage:
        """One article page in either template; page 1 also lists the continuation pages."""
        sel = Selector(text=html)
        body = sel.css("#ContentBody")
        if not body:
            raise SourceError("no_content_body", "article page without #ContentBody")
        if sel.css("div.contentwrap"):
            title = _text(sel.css("div.contentwrap div.title"))
            items = sel.css("div.tipbox div.infos div.item")
            time_text = _text(items[0:1])
            media = MEDIA_PREFIX_RE.sub("", _text(items[1:2]))
            summary = _text(sel.css("div.abstract div.txt"))
        else:
            title = _text(sel.css("div.newsContent h1"))
            time_text = _text(sel.css("div.newsContent div.time, div.time"))
            source = sel.css("div.source")
            media = text_of(source.attrib.get("data-source")) if source else ""
            media = MEDIA_PREFIX_RE.sub("", media or _text(source))
            summary = _text(sel.css("div.b-review"))
        if not title:
            title = TITLE_SUFFIX_RE.sub("", _text(sel.css("title")))
        return ArticlePage(
            title=title,
            time_text=time_text,
            media=media or None,
            summary=summary,
            body="".join(body[0].xpath("node()").getall()).strip(),
            continuations=self._continuations(sel, url, article_id),
        )

    @staticmethod
    def _continuations(sel: Selector, url: str, article_id: str) -> list[str]:
        pattern = re.compile(rf"/{article_id}_(\d+)\.html(?:$|[?#])")
        pages: dict[int, str] = {}
        for href in sel.css("a::attr(href)").getall():
            absolute = urljoin(url, href.strip())
            match = pattern.search(absolute)
            if match and int(match[1]) >= 2:
                pages.setdefault(int(match[1]), absolute.split("#")[0])
        return [pages[n] for n in sorted(pages)]


def _text(sel: Selector) -> str:
    return " ".join(" ".join(sel.xpath("string()").getall()).split())
