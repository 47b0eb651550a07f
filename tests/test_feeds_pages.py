"""The pages and OPML lists: every category, topic and security with its page and feeds, autodiscovery,
escaping, stable bytes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from lxml import etree, html as lxml_html

from crawler.config import SiteConfig, TopicConfig
from crawler.store import Article, CategorySummary
from crawler.text.times import BEIJING
from feeds.build import FeedSpec
from feeds.pages import (StockListing, category_outlines, newest_of, render_feed_page, render_index, render_opml,
                         render_stocks)

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


def test_the_index_links_every_category_name_and_subscribe_button_to_its_page_with_count_and_newest_item():
    page = index()
    for category in CATEGORIES:
        entry = page.get_element_by_id(category.slug)
        text = entry.text_content()
        assert category.name in text and f"{category.count} 篇" in text and category.newest_title in text
        assert [(a.text_content(), a.get("href")) for a in entry.iter("a")] == [
            (category.name, f"{category.slug}/"), ("订阅", f"{category.slug}/#subscribe")]
    assert "2021-12-21 20:40" in page.get_element_by_id("shanghaizhengquanbao").text_content()
    assert "2021-12-21 19:40" in page.get_element_by_id("emnews").text_content()
    all_news = page.get_element_by_id("all")
    assert "全部新闻" in all_news.text_content() and "14 篇" in all_news.text_content()
    assert NEWEST.link in [a.get("href") for a in all_news.iter("a")]
    assert {"all/", "all/#subscribe", "opml.xml"} <= set(page.xpath("//a/@href"))


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
    assert set(page.xpath("//a/@href")) == {"all/", "all/#subscribe", "opml.xml"}


def opml(categories=CATEGORIES) -> bytes:
    return render_opml(SITE, category_outlines(SITE, categories), newest_of(categories))


def test_the_opml_has_one_rss_outline_per_category_and_none_for_all_news():
    doc = etree.fromstring(opml())
    assert doc.tag == "opml" and doc.get("version") == "2.0"
    assert doc.findtext("head/title") == "金融消息"
    assert doc.findtext("head/dateModified") == "Tue, 21 Dec 2021 20:40:26 +0800"
    outlines = [dict(o.attrib) for o in doc.find("body")]
    assert outlines == [
        {"type": "rss", "text": "东财滚动新闻", "title": "东财滚动新闻",
         "xmlUrl": "https://finews.example.com/news/emnews/rss.xml",
         "htmlUrl": "https://finews.example.com/news/emnews/"},
        {"type": "rss", "text": "上海证券报新闻", "title": "上海证券报新闻",
         "xmlUrl": "https://finews.example.com/news/shanghaizhengquanbao/rss.xml",
         "htmlUrl": "https://finews.example.com/news/shanghaizhengquanbao/"},
    ]


def test_the_opml_stays_well_formed_with_hostile_names_and_without_categories():
    hostile = [CategorySummary("evil", "\"'<&>]]>\x0b\ufffe新闻", 1, T0, None)]
    doc = etree.fromstring(opml(hostile))
    assert doc.find("body")[0].get("text") == "\"'<&>]]>新闻"
    empty = etree.fromstring(opml([]))
    assert len(empty.find("body")) == 0 and empty.find("head/dateModified") is None
    assert opml(CATEGORIES) == opml(list(CATEGORIES))


def entries() -> list[Article]:
    return [Article(article_id=f"2021122122215041{n:02d}", title=f"标题{n}<i>", link=link, published=T0 - timedelta(hours=n),
                    categories={"emnews": "东财滚动新闻"}, media="证券时报" if n else None, summary=f"摘要{n}")
            for n, link in enumerate(["https://finance.eastmoney.com/a/1.html", "javascript:alert(1)"])]


def feed_page(slug: str, name: str, parent=None) -> tuple[bytes, lxml_html.HtmlElement]:
    data = render_feed_page(FeedSpec(slug, name, entries(), SITE), parent)
    return data, lxml_html.fromstring(data.decode("utf-8"))


def test_a_feed_page_lists_its_entries_linked_to_the_originals_with_beijing_time_media_and_summary():
    data, page = feed_page("emnews", "东财滚动新闻")
    items = page.xpath("//ul[@class='entries']/li")
    assert len(items) == 2
    first, second = items
    assert first.xpath(".//a/@href") == ["https://finance.eastmoney.com/a/1.html"]
    assert first.xpath(".//a")[0].text_content() == "标题0<i>"
    assert "2021-12-21 20:40" in first.text_content() and "摘要0" in first.text_content()
    assert "证券时报" in second.text_content() and "2021-12-21 19:40" in second.text_content()
    assert not second.xpath(".//a") and b"javascript:" not in data and not page.xpath("//i | //script")
    assert page.findtext(".//title") == "东财滚动新闻 - 金融消息"
    assert page.xpath("//nav//a/@href") == ["../"]


def test_a_feed_page_has_autodiscovery_and_paste_into_your_reader_links_for_its_own_feeds():
    _, page = feed_page("stocks/sh601688", "华泰证券 (sh601688) 新闻", ("按股票和板块", "../"))
    urls = ["https://finews.example.com/news/stocks/sh601688/" + name for name in ("rss.xml", "atom.xml", "feed.json")]
    assert page.xpath("//head/link[@rel='alternate']/@href") == urls
    assert page.xpath("//head/link[@rel='alternate']/@type") == [
        "application/rss+xml", "application/atom+xml", "application/feed+json"]
    subscribe = page.get_element_by_id("subscribe")
    assert "粘贴到阅读器" in subscribe.text_content()
    assert subscribe.xpath(".//a/@href") == urls and subscribe.xpath(".//code/text()") == urls
    assert page.xpath("//nav//a/@href") == ["../../", "../"]
    assert page.findtext(".//h1") == "华泰证券 (sh601688) 新闻"


def test_feed_and_stock_pages_are_byte_identical_for_the_same_input():
    assert feed_page("emnews", "东财滚动新闻")[0] == feed_page("emnews", "东财滚动新闻")[0]
    stocks = [StockListing("sh601688", "华泰证券", 3, T0, "标题"), StockListing("us-nio", "<b>蔚来</b>", 1, None, None)]
    data = render_stocks(SITE, stocks)
    assert data == render_stocks(SITE, list(stocks))
    page = lxml_html.fromstring(data.decode("utf-8"))
    assert page.get_element_by_id("sh601688").xpath(".//a/@href") == ["sh601688/"]
    assert "3 篇" in page.get_element_by_id("sh601688").text_content()
    assert "<b>蔚来</b>" in page.get_element_by_id("us-nio").text_content() and not page.xpath("//b")


def test_a_security_list_rendered_again_renders_the_changed_rows_anew_and_the_same_bytes_as_a_first_render():
    before = [StockListing("sh601688", "华泰证券", 3, T0, "标题"), StockListing("sz000001", "平安银行", 2, T0, "旧")]
    after = [StockListing("sh600000", "浦发银行", 1, T0, "新"), replace(before[0], count=4, newest_title="更新的标题")]
    render_stocks(SITE, before)
    again = render_stocks(SITE, after)
    render_stocks(SITE, [])  # a list without these securities: no row of theirs is kept
    assert again == render_stocks(SITE, after)
    page = lxml_html.fromstring(again.decode("utf-8"))
    assert page.xpath("//li/@id") == ["sh600000", "sh601688"] and page.findtext(".//h1") == "按股票和板块（2）"
    row = page.get_element_by_id("sh601688").text_content()
    assert "4 篇" in row and "更新的标题" in row and "3 篇" not in row


def test_the_index_lists_the_topics_and_links_the_securities_page():
    topics = [TopicConfig(slug="ev", title="新能源车", include=("蔚来", "比亚迪"))]
    page = lxml_html.fromstring(render_index(SITE, CATEGORIES, 14, NEWEST, topics, 17).decode("utf-8"))
    topic = page.get_element_by_id("topic-ev")
    assert topic.xpath(".//a/@href") == ["topics/ev/", "topics/ev/#subscribe"] and "蔚来、比亚迪" in topic.text_content()
    assert "stocks/" in page.get_element_by_id("stocks").xpath(".//a/@href")
    assert {"opml.xml", "topics/opml.xml", "stocks/opml.xml"} <= set(page.xpath("//footer//a/@href"))
