"""The sample articles: the bundled real records and synthetic sets built from them."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources

from pypinyin import lazy_pinyin
from w3lib.html import remove_comments, remove_tags, remove_tags_with_content, replace_entities

from ..text.times import BEIJING

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LIST_SHAPES = ("records", "nodeList", "record")

# Real outlets seen in eastmoney lists; synthetic sets number them (财经日报3) past the end.
OUTLETS = (
    "上海证券报", "中国证券报", "证券时报", "证券日报", "经济参考报", "第一财经", "21世纪经济报道",
    "每日经济新闻", "财联社", "界面新闻", "澎湃新闻", "券商中国", "新京报", "中国基金报",
    "经济观察报", "华夏时报", "中国经营报", "证券时报网", "新华社", "人民日报", "央视新闻",
    "中国新闻网", "北京商报", "南方都市报", "国际金融报", "金融时报", "期货日报", "中国经济网",
    "财新网", "蓝鲸财经", "红星新闻", "格隆汇", "智通财经", "36氪", "长江商报", "财经日报",
)


@dataclass(frozen=True, slots=True)
class SampleArticle:
    """One source record as articles.jsonl holds it (see samples/README.md)."""

    article_id: str
    info_code: str
    title: str
    time: str
    media: str | None
    kind: str
    list: str
    category: str
    category_name: str
    digest: str
    html: str
    url_w: str
    post_file: str
    exact_post: bool

    @property
    def published(self) -> datetime:
        """The list time as a naive datetime (Beijing time)."""
        return datetime.strptime(self.time, TIME_FORMAT)


_FIELDS = tuple(f.name for f in fields(SampleArticle))


def _from_json(record: dict) -> SampleArticle:
    values = {name: record.get(name) for name in _FIELDS}
    for name in ("digest", "html", "url_w", "post_file", "category", "category_name"):
        values[name] = values[name] or ""
    values["exact_post"] = bool(values["exact_post"])
    return SampleArticle(**values)


def load_bundled() -> list[SampleArticle]:
    """The bundled sample records, each (article_id, list) once, in file order."""
    text = resources.files("crawler.samplesite").joinpath("data/articles.jsonl").read_text(encoding="utf-8")
    seen: set[tuple[str, str]] = set()
    articles = []
    for line in text.splitlines():
        if not line.strip():
            continue
        article = _from_json(json.loads(line))
        key = (article.article_id, article.list)
        if key not in seen:
            seen.add(key)
            articles.append(article)
    return articles


def media_slug(name: str) -> str:
    """A media name's category slug: phrase-aware pinyin, lower case, only [a-z0-9-]."""
    return re.sub(r"[^a-z0-9-]", "", "".join(lazy_pinyin(name)).lower())


def media_names(k: int) -> list[str]:
    """`k` distinct outlet names with distinct slugs: the real ones, then numbered variants."""
    return [OUTLETS[i % len(OUTLETS)] + (str(i // len(OUTLETS) + 1) if i >= len(OUTLETS) else "")
            for i in range(k)]


def synthetic(n: int, k: int, seed: int = 0, *, now: datetime | None = None) -> list[SampleArticle]:
    """`n` per-media articles over `k` outlets, fresh ids and titles, times over the last 3 days."""
    if n < 0 or k < 1:
        raise ValueError("need n >= 0 and k >= 1")
    rng = random.Random(seed)
    bases = load_bundled()
    names = media_names(k)
    slugs = [media_slug(name) for name in names]
    newest = (now or datetime.now(BEIJING)).replace(tzinfo=None, microsecond=0)
    step = timedelta(days=3) / max(n, 1)
    articles = []
    for i in range(n):
        base = bases[rng.randrange(len(bases))]
        published = newest - step * i - timedelta(seconds=rng.randrange(max(int(step.total_seconds()), 1)))
        article_id = f"{published:%Y%m%d}{rng.randrange(10, 100)}{i:08d}"
        m = i % k
        articles.append(SampleArticle(
            article_id=article_id,
            info_code="NW" + article_id,
            title=f"{base.title}（{names[m]}第{i + 1}号）",
            time=published.strftime(TIME_FORMAT),
            media=names[m],
            kind="media",
            list="nodeList",
            category=slugs[m],
            category_name=names[m] + "新闻",
            digest="",
            html=base.html,
            url_w="",
            post_file="",
            exact_post=False,
        ))
    return articles


@lru_cache(maxsize=512)
def plain_text(html: str) -> str:
    """The visible text of an article HTML fragment, whitespace collapsed."""
    text = remove_tags(remove_tags_with_content(remove_comments(html), ("script", "style")))
    return " ".join(replace_entities(text).split())
