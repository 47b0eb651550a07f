"""index.html and opml.xml: every category with its feeds, autodiscovery, escaping, stable bytes."""

from __future__ import annotations

from datetime import datetime, timedelta

from lxml import etree, html as lxml_html

from crawler.config import SiteConfig
from crawler.store import Article, CategorySummary
from crawler.text.times import BEIJING
from feeds.pages import render_index, render_opml

SITE = SiteConfig(title="金融消息", base_url="https://finews.example.com/news/")
T0 = datetime(2021, 12, 21, 20, 40, 26, tzinfo=BEIJING)
CATEGORIES = [
    CategorySummary("emnews", "东财滚动新闻", 12, T0 - timedelta(hours=1), "滚动标题"),
    CategorySummary("shanghaizhengquanbao", "上海证券报新闻", 3, T0, "5G消息联合实验室成立"),
]
NEWEST = Article(article_id="202112212221504115", title="5G消息联合实验室成立",
                 link="https://finance.eastmoney.com/a/202112212221504115.html", published=T0,
                 categories={"shanghaizhengquanbao": "上海证券报新闻"})


def index(categories=CATEGORIES, total=14, newest=NEWEST, site=SITE) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(render_index(site, categories, total, newest).decode("utf-8"))


def test_the_index_lists_every_category_with_count_newest_item_beijing_time_and_relative_feed_links():
    page = index()
    for category in CATEGORIES:
        entry = page.get_element_by_id(category.slug)
        text = entry.text_content()
        assert category.name in text and f"{category.count} 篇" in text and category.newest_title in text
        assert [a.get("href") for a in entry.iter("a")] == [
            f"{category.slug}/rss.xml", f"{category.slug}/atom.xml", f"{category.slug}/feed.json"]
    assert "2021-12-21 20:40" in page.get_element_by_id("shanghaizhengquanbao").text_content()
    assert "2021-12-21 19:40" in page.get_element_by_id("emnews").text_content()
    all_news = page.get_element_by_id("all")
    assert "全部新闻" in all_news.text_content() and "14 篇" in all_news.text_content()
    assert NEWEST.link in [a.get("href") for a in all_news.iter("a")]
    assert {"all/rss.xml", "all/atom.xml", "all/feed.json", "opml.xml"} <= set(page.xpath("//a/@href"))


def test_the_index_head_has_autodiscovery_for_the_all_news_feeds_and_works_on_a_phone():
    page = index()
    alternates = {link.get("type"): link.get("href") for link in page.xpath("//head/link[@rel='alternate']")}
    assert alternates == {"application/rss+xml": "https://finews.example.com/news/all/rss.xml",
                          "application/atom+xml": "https://finews.example.com/news/all/atom.xml",
                          "application/feed+json": "https://finews.example.com/news/all/feed.json"}
    assert page.xpath("//meta[@name='viewport']/@content") == ["width=device-width, initial-scale=1"]
    assert page.xpath("//meta/@charset") == ["utf-8"] and page.xpath("/html/@lang") == ["zh-CN"]
    assert page.findtext(".//title") == "金融消息"
    assert not page.xpath("//script | //link[@rel='stylesheet'] | //img | //iframe")


def test_the_index_escapes_hostile_names_and_drops_forbidden_characters():
    hostile = [CategorySummary("evil", "<script>alert(1)</script>\x01新闻", 1, T0, '"><img src=x onerror=alert(1)>')]
    newest = Article(article_id="1", title="<b>&</b>", link="javascript:alert(1)", published=T0, categories={})
    data = render_index(SITE, hostile, 1, newest)
    page = lxml_html.fromstring(data.decode("utf-8"))
    assert not page.xpath("//script | //img | //b") and "javascript:" not in data.decode("utf-8")
    assert "<script>alert(1)</script>新闻" in page.get_element_by_id("evil").text_content()
    assert "<b>&</b>" in page.get_element_by_id("all").text_content()
    assert b"\x01" not in data


def test_the_index_is_byte_identical_for_the_same_input_and_works_for_an_empty_store():
    assert render_index(SITE, CATEGORIES, 14, NEWEST) == render_index(SITE, list(CATEGORIES), 14, NEWEST)
    page = index(categories=[], total=0, newest=None)
    assert "0 篇" in page.get_element_by_id("all").text_content()
    assert set(page.xpath("//a/@href")) == {"all/rss.xml", "all/atom.xml", "all/feed.json", "opml.xml"}


def test_the_opml_has_one_rss_outline_for_all_news_and_per_category():
    doc = etree.fromstring(render_opml(SITE, CATEGORIES))
    assert doc.tag == "opml" and doc.get("version") == "2.0"
    assert doc.findtext("head/title") == "金融消息"
    assert doc.findtext("head/dateModified") == "Tue, 21 Dec 2021 20:40:26 +0800"
    outlines = [dict(o.attrib) for o in doc.find("body")]
    assert outlines == [
        {"type": "rss", "text": "全部新闻", "title": "全部新闻",
         "xmlUrl": "https://finews.example.com/news/all/rss.xml", "htmlUrl": "https://finews.example.com/news/"},
        {"type": "rss", "text": "东财滚动新闻", "title": "东财滚动新闻",
         "xmlUrl": "https://finews.example.com/news/emnews/rss.xml",
         "htmlUrl": "https://finews.example.com/news/#emnews"},
        {"type": "rss", "text": "上海证券报新闻", "title": "上海证券报新闻",
         "xmlUrl": "https://finews.example.com/news/shanghaizhengquanbao/rss.xml",
         "htmlUrl": "https://finews.example.com/news/#shanghaizhengquanbao"},
    ]


def test_the_opml_stays_well_formed_with_hostile_names_and_without_categories():
    hostile = [CategorySummary("evil", "\"'<&>]]>\x0b\ufffe新闻", 1, T0, None)]
    doc = etree.fromstring(render_opml(SITE, hostile))
    assert doc.find("body")[1].get("text") == "\"'<&>]]>新闻"
    empty = etree.fromstring(render_opml(SITE, []))
    assert len(empty.find("body")) == 1 and empty.find("head/dateModified") is None
    assert render_opml(SITE, CATEGORIES) == render_opml(SITE, list(CATEGORIES))
