"""The Jekyll export: posts in exactly the original finews format, one per article and category."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from w3lib.url import safe_url_string

from crawler.config import Config
from crawler.store import Article, is_category
from crawler.text.clean import source_html_or_clean
from crawler.text.ids import info_code_for, is_article_id
from crawler.text.times import BEIJING, format_jekyll

from .pages import web_url
from .paths import UnsafePathError, inside
from .publish import write_atomic

INDENT = "\u3000\u3000"


@dataclass(frozen=True)
class Post:
    path: Path
    text: str


def yaml_quoted(value: str) -> str:
    """A YAML double-quoted scalar: only `\\` and `"` need escaping for Jekyll to read it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _link(url: str) -> str:
    """A link for the post's `<…>` autolink: an http(s) URL with only URI characters, else nothing."""
    return safe_url_string(url) if web_url(url) else ""


class JekyllExporter:
    """Builds and writes the posts of an article for each of its categories."""

    def __init__(self, config: Config):
        assert config.jekyll is not None
        self.jekyll = config.jekyll
        self.fixed = {s.category: s for s in config.sources if s.category}
        self.media_link = next((s.jekyll_category_url for s in config.sources
                                if not s.category and s.jekyll_category_url), None)

    def category_url(self, slug: str) -> str:
        """The back link of a category: a source's `jekyll_category_url`, else the default.

        A fixed category (a source's `category`) defaults to `<home_url><slug>/`, where the
        original site kept its rolling news; a media category to `category_url`.
        """
        source = self.fixed.get(slug)
        if source is not None:
            template = source.jekyll_category_url or self.jekyll.home_url + "{category}/"
        else:
            template = self.media_link or self.jekyll.category_url
        return template.format(category=slug)

    def is_rolling(self, article: Article, slug: str) -> bool:
        """The rolling-news format: a fixed category whose list gave the article's `url_w`."""
        return slug in self.fixed and bool(article.url_w)

    def post(self, article: Article, slug: str) -> Post:
        """The post of `article` in category `slug`; its file name is made of the checked id and date only."""
        if not is_article_id(article.article_id):
            raise UnsafePathError(f"article id {article.article_id[:80]!r} is not 18 digits")
        name = article.categories.get(slug, slug)
        day = article.published.astimezone(BEIJING).strftime("%Y-%m-%d")
        front = (f"---\nlayout: post\ntitle: {yaml_quoted(article.title)}\n"
                 f"date: {format_jekyll(article.published)}\ncategories: {slug}\ntags: {name}\n---\n")
        back = f"[返回{name}]({self.category_url(slug)})｜[返回首页]({self.jekyll.home_url})"
        if self.is_rolling(article, slug):
            body = source_html_or_clean(article.content_raw or article.text_raw, article.link).replace(INDENT, "")
            quote = f"> {article.digest}\n\n" if article.digest else ""
            text = f"{front}{quote}{body}\n\n<{_link(article.url_w)}>\n\n{back}"
            filename = f"{day}-{article.article_id}.md"
        else:
            body = source_html_or_clean(article.text_raw or article.content_raw, article.link).replace(INDENT, "")
            text = f"{front}{body}\n\n<{_link(article.link)}>\n\n{back}"
            filename = f"{day}-{info_code_for(article.article_id)}.md"
        return Post(inside(self.jekyll.posts_dir, filename), text)

    def export(self, article: Article, only: tuple[str, ...] | None = None) -> list[Path]:
        """Write the article's posts (for `only` these categories); returns the files rewritten."""
        written = []
        for slug in sorted(article.categories):
            if not is_category(slug) or only is not None and slug not in only:
                continue
            post = self.post(article, slug)
            if write_atomic(post.path, post.text.encode("utf-8")):
                written.append(post.path)
        return written
