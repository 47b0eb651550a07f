"""The eastmoney column lists + article pages and the 7x24 fast news, against the sample site."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.samplesite.data import plain_text
from crawler.store import ALL, only_categories, open_store
from crawler.text.slugs import category_slug
from crawler.text.times import BEIJING

from crawlkit import expected_articles, run_finews, write_config


@pytest.fixture
def site():
    with SampleSite() as site:
        yield site


def crawl(config: Path, *sources: str) -> tuple[int, str]:
    args = [arg for name in sources for arg in ("--source", name)]
    result = run_finews("crawl", "--no-publish", "--config", str(config), *args)
    return result.returncode, result.stderr


def articles(config: Path) -> dict:
    with open_store(load_config(config).store.url) as store:
        return {a.article_id: a for a in store.latest(ALL, 1000)}, store.runs()


def squash(text: str) -> str:
    return "".join(text.split())


def test_column_pages_are_crawled_in_both_templates_with_clean_bodies(site, tmp_path):
    config = write_config(site, tmp_path, kinds=("eastmoney",))
    code, log = crawl(config)
    assert code == 0, log
    stored, runs = articles(config)
    expected = expected_articles()
    assert set(stored) == set(expected)
    templates = {site.template_of(i) for i in stored}
    assert templates == {"current", "old"}
    for article_id, article in stored.items():
        sample = next(a for a in site.articles if a.article_id == article_id)
        media = sample.media or "东方财富网"
        assert article.media == media
        assert set(only_categories(article.categories)) == {category_slug(media)}
        assert article.title == expected[article_id]["title"]
        assert article.published == datetime.strptime(expected[article_id]["time"],
                                                      "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        body = article.html
        for junk in ("display:none", "toplink", "ad_context3", "acttg.eastmoney.com", "责任编辑",
                     "郑重声明", "<script", "keytip", "\u3000\u3000"):
            assert junk not in body, (article_id, junk)
        want = squash(plain_text(site.texts(article_id)[0]))
        got = squash(lxml_html.fromstring(f"<div>{body}</div>").text_content())
        assert got == want, article_id
    assert runs["eastmoney-columns"].outcome == "ok"


def test_a_long_article_is_joined_from_its_continuation_pages(site, tmp_path):
    config = write_config(site, tmp_path, kinds=("eastmoney",))
    crawl(config)
    paged = site.paged_article_id
    stored, _ = articles(config)
    assert site.page_count(paged) == 3
    paths = [h.path for h in site.hits if h.route == "article" and paged in h.path]
    assert sorted(paths) == sorted([f"/a/{paged}.html", f"/a/{paged}_2.html", f"/a/{paged}_3.html"])
    want = squash(plain_text(site.texts(paged)[0]))
    got = squash(lxml_html.fromstring(f"<div>{stored[paged].html}</div>").text_content())
    assert got == want


def test_jsonp_column_lists_are_read(site, tmp_path):
    config = write_config(site, tmp_path, kinds=("eastmoney",))
    path = Path(config)
    path.write_text(path.read_text(encoding="utf-8").replace("page_size=20", "page_size=20&callback=jQuery11230_1"),
                    encoding="utf-8")
    assert crawl(config)[0] == 0
    assert set(articles(config)[0]) == set(expected_articles())


def test_a_page_without_content_body_is_dropped_and_the_rest_stored(site, tmp_path):
    victim = site.article_ids()[0]
    site.set_fault("article", "no_body", article_id=victim)
    config = write_config(site, tmp_path, kinds=("eastmoney",))
    code, log = crawl(config)
    stored, runs = articles(config)
    assert set(stored) == set(expected_articles()) - {victim}
    assert runs["eastmoney-columns"].counts["dropped/no_content_body"] == 1
    assert "without #ContentBody" in log and victim in log


def test_a_gbk_page_is_decoded_as_gb18030(site, tmp_path):
    victim = site.article_ids()[1]
    site.set_fault("article", "gbk", article_id=victim, header=False)
    config = write_config(site, tmp_path, kinds=("eastmoney",))
    crawl(config)
    stored, _ = articles(config)
    sample = next(a for a in site.articles if a.article_id == victim)
    assert stored[victim].title == sample.title
    assert squash(plain_text(site.texts(victim)[0]))[:50] in squash(
        lxml_html.fromstring(f"<div>{stored[victim].html}</div>").text_content())


def test_second_eastmoney_crawl_fetches_no_article_page(site, tmp_path):
    config = write_config(site, tmp_path, kinds=("eastmoney",))
    crawl(config)
    site.reset_counts()
    crawl(config)
    assert site.count("article") == 0
    assert site.count("column") >= 1


def test_fast_news_follows_sort_end_and_files_everything_under_its_category(site, tmp_path):
    config = write_config(site, tmp_path, kinds=("fastnews",))
    Path(config).write_text(Path(config).read_text(encoding="utf-8").replace("pageSize=50", "pageSize=10")
                            .replace("pages = 1", "pages = 5"), encoding="utf-8")
    code, log = crawl(config)
    assert code == 0, log
    stored, runs = articles(config)
    assert set(stored) == set(expected_articles())
    assert site.count("fastnews") >= 3
    paths = [h.path for h in site.hits if h.route == "fastnews"]
    assert "sortEnd=&" in paths[0] or paths[0].endswith("sortEnd=")
    assert all("req_trace=" in p for p in paths)
    for article in stored.values():
        assert set(only_categories(article.categories)) == {"kuaixun"}
        assert article.link == f"https://finance.eastmoney.com/a/{article.article_id}.html"
    assert site.count("text") == site.count("article") == 0


def test_one_source_of_each_kind_stores_every_article_once(site, tmp_path):
    config = write_config(site, tmp_path, kinds=("choice", "eastmoney", "fastnews"))
    code, log = crawl(config)
    assert code == 0, log
    stored, runs = articles(config)
    assert set(stored) == set(expected_articles())
    assert {r.outcome for r in runs.values()} == {"ok"}
    for article_id, want in expected_articles().items():
        assert want["categories"] | {"kuaixun"} <= set(only_categories(stored[article_id].categories))
