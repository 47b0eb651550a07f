"""Security and topic feeds: published from a real crawl and store, valid, byte-stable, rebuilt only when changed."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree, html as lxml_html

from crawler.config import Config, parse_config
from crawler.grouping import searchable_text
from crawler.samplesite import SampleSite, load_bundled
from crawler.store import Article, open_store
from crawler.text.clean import clean_html, html_to_text
from crawler.text.securities import symbol
from crawler.text.times import BEIJING
from feeds.build import entry_id
from feeds.publish import publish
from feeds.reuse import RECORD

from crawlkit import run_finews, write_config
from feedcheck import check_atom, check_json_feed, check_rss
from outputkit import age, built, snapshot

T0 = datetime(2022, 1, 7, 8, 14, 19, tzinfo=BEIJING)
FEED_FILES = ("rss.xml", "atom.xml", "feed.json", "index.html")
TOPICS = [{"slug": "ev", "title": "新能源车", "include": ["蔚来", "新能源"]}]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> Path:
    """The sample site crawled and published with a topic configured."""
    folder = tmp_path_factory.mktemp("grouped")
    with SampleSite() as site:
        config = write_config(site, folder)
        config.write_text(config.read_text(encoding="utf-8") + '\n[[topics]]\nslug = "ev"\ntitle = "新能源车"\n'
                          'include = ["蔚来", "新能源"]\n', encoding="utf-8")
        run_finews("crawl", "--config", str(config), check=True)
    return folder / "public"


def make_config(folder: Path, topics=(), **site: object) -> Config:
    return parse_config({"site": {"output_dir": "public", "base_url": "https://finews.example.com/", **site},
                         "store": {"url": "sqlite:///finews.db"}, "topics": list(topics)},
                        file="test.toml", base_dir=folder, environ={})


def article(n: int, title: str = "", stocks: dict[str, str] | None = None, **fields: object) -> Article:
    article_id = f"{202201070000000000 + n}"
    stocks = {"1.601688": "华泰证券"} if stocks is None else stocks
    values = dict(article_id=article_id, title=title or f"标题{n}", link=f"https://finance.eastmoney.com/a/{article_id}.html",
                  published=T0 - timedelta(minutes=n), media="券商中国", html=f"<p>正文{n}</p>", summary=f"摘要{n}",
                  content_hash=f"hash{n}", securities=stocks,
                  categories={"quanshangzhongguo": "券商中国新闻",
                              **{f"stocks/{symbol(q)}": name for q, name in stocks.items()}})
    values.update(fields)
    return Article(**values)


def test_every_security_the_samples_link_to_gets_valid_feeds_titled_with_name_and_symbol(crawled):
    atom = check_atom((crawled / "stocks" / "sh601688" / "atom.xml").read_bytes())
    assert atom.feed.title == "华泰证券 (sh601688) 新闻 - 金融消息"
    assert [e.id for e in atom.entries] == [entry_id("202201072239307540")]
    check_rss((crawled / "stocks" / "sh601688" / "rss.xml").read_bytes())
    check_json_feed((crawled / "stocks" / "sh601688" / "feed.json").read_bytes())
    for name in ("bk0473", "us-nio", "sz000776"):
        assert check_atom((crawled / "stocks" / name / "atom.xml").read_bytes()).entries
    sector = check_atom((crawled / "stocks" / "bk0473" / "atom.xml").read_bytes())
    assert [e.published for e in sector.entries] == sorted((e.published for e in sector.entries), reverse=True)
    assert {t.term for e in sector.entries for t in e.tags} <= {"emnews", "quanshangzhongguo", "shanghaizhengquanbao",
                                                                 "cailianshe"}


def test_the_securities_page_lists_each_with_its_count_and_the_opml_lists_each_feed(crawled):
    page = lxml_html.fromstring((crawled / "stocks" / "index.html").read_bytes().decode("utf-8"))
    listed = {li.get("id"): li.text_content() for li in page.xpath("//ul[@class='categories']/li")}
    folders = sorted(p.name for p in (crawled / "stocks").iterdir() if p.is_dir())
    assert sorted(listed) == folders and "2 篇" in listed["bk0473"] and "华泰证券" in listed["sh601688"]
    outlines = etree.fromstring((crawled / "stocks" / "opml.xml").read_bytes()).findall(".//outline")
    assert sorted(o.get("xmlUrl").split("/")[-2] for o in outlines) == folders
    assert "华泰证券 (sh601688) 新闻" in [o.get("text") for o in outlines]


def test_the_main_opml_lists_the_categories_but_not_all_and_the_topics_opml_the_topics(crawled):
    urls = [o.get("xmlUrl") for o in etree.fromstring((crawled / "opml.xml").read_bytes()).findall(".//outline")]
    assert "http://127.0.0.1:8080/emnews/rss.xml" in urls and not any("/all/" in u or "/stocks/" in u for u in urls)
    topics = etree.fromstring((crawled / "topics" / "opml.xml").read_bytes()).findall(".//outline")
    assert [o.get("xmlUrl") for o in topics] == ["http://127.0.0.1:8080/topics/ev/rss.xml"]


def test_a_topic_feed_holds_the_articles_whose_title_or_text_has_a_keyword(crawled):
    feed = check_json_feed((crawled / "topics" / "ev" / "feed.json").read_bytes())
    assert feed["title"] == "新能源车 - 金融消息" and feed["items"]
    for item in feed["items"]:
        assert "蔚来" in item["title"] + item["content_html"] or "新能源" in item["title"] + item["content_html"]


def test_an_incremental_publish_rewrites_only_the_changed_securities_feeds(tmp_path):
    config = make_config(tmp_path)
    with open_store(config.store.url) as store:
        for n in range(6):
            store.upsert(article(n, stocks={f"1.60000{n}": f"股票{n}"}), T0)
        publish(config, store)
        age(config.site.output_dir)
        before = snapshot(config.site.output_dir)
        store.upsert(article(2, title="改过", stocks={"1.600002": "股票2"}, content_hash="changed"),
                     T0 + timedelta(hours=1))
        report = publish(config, store)
    after = snapshot(config.site.output_dir)
    rewritten = {name for name in after if after[name] != before.get(name)}
    folders = ("stocks/sh600002", "quanshangzhongguo", "all")
    archives = {f"{folder}/archive/2022-01.{suffix}" for folder in folders for suffix in ("atom", "json")}
    assert rewritten == {f"{folder}/{name}" for folder in folders for name in (*FEED_FILES, RECORD)} | {
        "stocks/index.html", ".archive-state.json"} | archives
    assert sorted(report.categories) == ["all", "quanshangzhongguo", "stocks/sh600002"]


def test_a_full_publish_twice_gives_the_same_bytes_for_every_grouped_feed_and_page(tmp_path):
    config = make_config(tmp_path, topics=TOPICS)
    with open_store(config.store.url) as store:
        for n in range(5):
            store.upsert(article(n, title="蔚来" if n % 2 else ""), T0)
        publish(config, store, full=True)
        first = built(config.site.output_dir)
        shutil.rmtree(config.site.output_dir)
        publish(config, store, full=True)
    assert built(config.site.output_dir) == first
    assert "stocks/sh601688/atom.xml" in first and "topics/ev/index.html" in first


def test_security_feeds_are_off_with_stock_feeds_false(tmp_path):
    config = make_config(tmp_path, stock_feeds=False)
    with open_store(config.store.url) as store:
        store.upsert(article(1), T0)
        publish(config, store, full=True)
    assert not (config.site.output_dir / "stocks").exists() and (config.site.output_dir / "all" / "atom.xml").exists()


def topic_ids(config: Config, slug: str = "ev") -> list[str]:
    return [e.id for e in check_atom((config.site.output_dir / "topics" / slug / "atom.xml").read_bytes()).entries]


def test_changing_a_topics_keywords_rebuilds_its_feed_on_the_next_publish(tmp_path):
    config = make_config(tmp_path, topics=TOPICS)
    with open_store(config.store.url) as store:
        store.upsert(article(1, title="蔚来汽车发布新车"), T0)
        store.upsert(article(2, title="比亚迪销量创新高"), T0)
        store.upsert(article(3, title="银行板块走强", html="<p>正文提到新能源</p>"), T0)
        publish(config, store)
        assert topic_ids(config) == [entry_id("202201070000000001"), entry_id("202201070000000003")]
        changed = make_config(tmp_path, topics=[{**TOPICS[0], "include": ["比亚迪", "蔚来"]}])
        assert store.dirty_categories() == {}
        report = publish(changed, store)
        assert "topics/ev" in report.categories
        assert topic_ids(changed) == [entry_id("202201070000000001"), entry_id("202201070000000002")]
        assert publish(changed, store).categories == []


def test_a_topic_honours_exclude_and_its_categories(tmp_path):
    topics = [{"slug": "ev", "title": "新能源车", "include": ["蔚来"], "exclude": ["广告"], "categories": ["emnews"]}]
    config = make_config(tmp_path, topics=topics)
    with open_store(config.store.url) as store:
        store.upsert(article(1, title="蔚来一", categories={"emnews": "东财滚动新闻"}), T0)
        store.upsert(article(2, title="蔚来二 广告", categories={"emnews": "东财滚动新闻"}), T0)
        store.upsert(article(3, title="蔚来三"), T0)
        publish(config, store)
    assert topic_ids(config) == [entry_id("202201070000000001")]


def test_topics_match_against_the_same_text_the_feeds_summaries_are_made_from():
    for sample in load_bundled():
        cleaned = clean_html(sample.html or "", "https://finance.eastmoney.com/")
        assert searchable_text(cleaned) == html_to_text(cleaned)
    assert searchable_text('<p>新能<b>源</b>车</p><p>比亚迪 &amp; <img alt="a>b" src="x">蔚来</p>') == "新能源车 比亚迪 & 蔚来"
