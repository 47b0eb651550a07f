"""Building feeds from articles: the fields each format carries, stable ids and times, hostile content."""

from __future__ import annotations

import json
from html import unescape
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from lxml import etree

from crawler.config import SiteConfig
from crawler.store import ALL, Article
from crawler.text.clean import clean_html
from crawler.text.times import BEIJING
from feeds.build import (ALL_NAME, FeedSpec, Fragments, build_all, build_atom, build_json_feed, build_rss, entry_id,
                         feed_id, spec_for)

from feedcheck import ATOM_NS, CONTENT_ENCODED, XML_FORBIDDEN, check_atom, check_json_feed, check_rss

SITE = SiteConfig(title="金融消息", base_url="https://finews.example.com/")
T0 = datetime(2022, 1, 7, 8, 14, 19, tzinfo=BEIJING)
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
HOSTILE = ["&amp; & <b>", "\"quotes\" 'single'", "]]>", "emoji 📈🚀", "ctrl \x00\x01\x08\x1b\x0b\x7f\x85 end",
           "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', '<a href="javascript:alert(1)">x</a>',
           "\ufffe\uffff", "lone \ud800 surrogate", "　　缩进", "<![CDATA[ x ]]>"]
CHAR_REFS = ["&#0; &#x1; &#xD800; &#xFFFE;"]
"""References to characters XML forbids: only in raw HTML (the cleaner's lxml refuses them, see the report)."""


def article(i: int, *, title: str | None = None, html: str | None = None, summary: str = "摘要",
            media: str | None = "券商中国", categories: dict[str, str] | None = None, **fields) -> Article:
    article_id = f"2022010722393075{i:02d}"
    published = T0 - timedelta(minutes=i)
    values = dict(article_id=article_id, title=f"标题{i}" if title is None else title,
                  link=f"https://finance.eastmoney.com/a/{article_id}.html", published=published,
                  updated=published, categories=categories or {"quanshangzhongguo": "券商中国新闻"}, media=media,
                  html=f"<p>正文{i}</p>" if html is None else html, summary=summary)
    values.update(fields)
    return Article(**values)


def spec(entries: list[Article], slug: str = "quanshangzhongguo", name: str = "券商中国新闻",
         site: SiteConfig = SITE) -> FeedSpec:
    return spec_for(site, slug, name, entries)


def check_all(feed: FeedSpec) -> tuple:
    """Every format of `feed` valid, with as many entries as given, in the given order."""
    files = build_all(feed)
    atom, rss, json_feed = (check_atom(files["atom.xml"]), check_rss(files["rss.xml"]),
                            check_json_feed(files["feed.json"]))
    want = [entry_id(a.article_id) for a in feed.entries]
    assert [e.id for e in atom.entries] == [e.id for e in rss.entries] == [i["id"] for i in json_feed["items"]] == want
    for data in files.values():
        assert not XML_FORBIDDEN.search(data.decode("utf-8"))
    return atom, rss, json_feed


def test_rss_items_carry_guid_dates_summary_then_html_categories_and_creator():
    a = article(1, categories={"quanshangzhongguo": "券商中国新闻", "emnews": "东财滚动新闻"},
                updated=T0 + timedelta(hours=2))
    data = build_rss(spec([a]))
    check_rss(data)
    channel = etree.fromstring(data).find("channel")
    assert channel.findtext("title") == "券商中国新闻 - 金融消息"
    assert channel.findtext("link") == "https://finews.example.com/quanshangzhongguo/"
    assert channel.findtext("language") == "zh-CN" and channel.findtext("ttl") == "5"
    assert channel.find(f"{{{ATOM_NS}}}link").attrib == {
        "href": "https://finews.example.com/quanshangzhongguo/rss.xml", "rel": "self", "type": "application/rss+xml"}
    assert channel.findtext("lastBuildDate") == "Fri, 07 Jan 2022 10:14:19 +0800"
    item = channel.find("item")
    tags = [child.tag for child in item]
    assert tags.index("description") + 1 == tags.index(CONTENT_ENCODED)
    assert item.findtext("title") == "标题1" and item.findtext("link") == a.link
    assert item.find("guid").attrib == {"isPermaLink": "false"}
    assert item.findtext("guid") == "tag:finews.withounder.com,2021:article/202201072239307501"
    assert item.findtext("pubDate") == "Fri, 07 Jan 2022 08:13:19 +0800"
    assert item.findtext("description") == "摘要" and item.findtext(CONTENT_ENCODED) == "<p>正文1</p>"
    assert [c.text for c in item.findall("category")] == ["东财滚动新闻", "券商中国新闻"]
    assert item.findtext(DC_CREATOR) == "券商中国"


def test_atom_entries_carry_id_published_updated_author_summary_html_and_labelled_categories():
    updated = article(1, updated=T0 + timedelta(hours=2))
    anonymous = article(2, media=None)
    data = build_atom(spec([updated, anonymous]))
    parsed = check_atom(data)
    feed = etree.fromstring(data)
    ns = {"a": ATOM_NS}
    assert feed.findtext("a:id", namespaces=ns) == "tag:finews.withounder.com,2021:feed/quanshangzhongguo"
    assert feed.findtext("a:title", namespaces=ns) == "券商中国新闻 - 金融消息"
    assert feed.findtext("a:updated", namespaces=ns) == "2022-01-07T10:14:19+08:00"
    assert feed.findtext("a:generator", namespaces=ns) == "finews"
    assert feed.findtext("a:author/a:name", namespaces=ns) == "金融消息"
    assert {(l.get("rel"), l.get("href")) for l in feed.findall("a:link", namespaces=ns)} == {
        ("self", "https://finews.example.com/quanshangzhongguo/atom.xml"), ("alternate", "https://finews.example.com/quanshangzhongguo/")}
    first, second = parsed.entries
    assert first.id == entry_id(updated.article_id) and first.title == "标题1" and first.link == updated.link
    assert first.published == "2022-01-07T08:13:19+08:00" and first.updated == "2022-01-07T10:14:19+08:00"
    assert first.author == "券商中国" and second.author == "金融消息"
    assert first.summary == "摘要" and first.content[0].type == "text/html" and first.content[0].value == "<p>正文1</p>"
    assert [(t.term, t.label) for t in first.tags] == [("quanshangzhongguo", "券商中国新闻")]
    assert second.published == second.updated == "2022-01-07T08:12:19+08:00"


def test_json_feed_carries_every_field_with_beijing_times():
    feed = check_json_feed(build_json_feed(spec([article(1, updated=T0 + timedelta(hours=2))])))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "券商中国新闻 - 金融消息" and feed["language"] == "zh-CN"
    assert feed["home_page_url"] == "https://finews.example.com/quanshangzhongguo/"
    assert feed["feed_url"] == "https://finews.example.com/quanshangzhongguo/feed.json"
    assert feed["description"]
    assert feed["items"] == [{
        "id": "tag:finews.withounder.com,2021:article/202201072239307501",
        "url": "https://finance.eastmoney.com/a/202201072239307501.html",
        "title": "标题1", "content_html": "<p>正文1</p>", "summary": "摘要",
        "date_published": "2022-01-07T08:13:19+08:00", "date_modified": "2022-01-07T10:14:19+08:00",
        "authors": [{"name": "券商中国"}], "tags": ["券商中国新闻"]}]


def test_the_all_feed_is_named_all_news_and_lives_under_all():
    files = build_all(spec_for(SITE, ALL, None, [article(1)]))
    assert check_rss(files["rss.xml"]).feed.title == f"{ALL_NAME} - 金融消息" == "全部新闻 - 金融消息"
    atom = check_atom(files["atom.xml"])
    assert atom.feed.id == feed_id("all")
    assert any(link.rel == "self" and link.href == "https://finews.example.com/all/atom.xml" for link in atom.feed.links)
    assert check_json_feed(files["feed.json"])["feed_url"] == "https://finews.example.com/all/feed.json"


def test_entries_keep_the_order_given_even_when_times_tie():
    entries = [article(3), article(1), article(2, published=T0 - timedelta(minutes=1))]
    atom, rss, feed = check_all(spec(entries))
    assert [e.id for e in atom.entries] == [entry_id(a.article_id) for a in entries]


def test_times_in_other_zones_are_shown_in_beijing_time_and_naive_times_are_taken_as_beijing():
    utc = article(1, published=datetime(2022, 1, 7, 0, 0, tzinfo=timezone.utc), updated=None)
    naive = article(2, published=datetime(2022, 1, 6, 23, 0), updated=None)
    atom, rss, feed = check_all(spec([utc, naive]))
    assert [e.published for e in atom.entries] == ["2022-01-07T08:00:00+08:00", "2022-01-06T23:00:00+08:00"]
    assert [e.updated for e in atom.entries] == ["2022-01-07T08:00:00+08:00", "2022-01-06T23:00:00+08:00"]
    assert [e.published for e in rss.entries] == ["Fri, 07 Jan 2022 08:00:00 +0800", "Thu, 06 Jan 2022 23:00:00 +0800"]
    assert [i["date_modified"] for i in feed["items"]] == ["2022-01-07T08:00:00+08:00", "2022-01-06T23:00:00+08:00"]


def test_build_time_is_the_newest_entry_update_and_building_twice_gives_identical_bytes():
    entries = [article(1), article(2, updated=T0 + timedelta(days=1)), article(3)]
    feed = spec(entries)
    assert build_all(feed) == build_all(spec(list(entries)))
    assert build_all(feed) == {"rss.xml": build_rss(feed), "atom.xml": build_atom(feed),
                               "feed.json": build_json_feed(feed)}
    assert check_atom(build_atom(feed)).feed.updated == "2022-01-08T08:14:19+08:00"
    assert b"<lastBuildDate>Sat, 08 Jan 2022 08:14:19 +0800</lastBuildDate>" in build_rss(feed)


def test_ids_come_from_the_article_id_alone_while_self_links_follow_base_url():
    before = build_all(spec([article(1)]))
    moved = SITE.model_copy(update={"base_url": "https://news.example.org/sub/", "title": "另一个标题"})
    after = build_all(spec([article(1, title="改过的标题", link="https://example.org/other")], site=moved))
    old, new = check_atom(before["atom.xml"]), check_atom(after["atom.xml"])
    assert new.feed.id == old.feed.id and new.entries[0].id == old.entries[0].id
    assert check_rss(after["rss.xml"]).entries[0].id == check_rss(before["rss.xml"]).entries[0].id
    assert json.loads(after["feed.json"])["items"][0]["id"] == json.loads(before["feed.json"])["items"][0]["id"]
    assert [l.href for l in new.feed.links if l.rel == "self"] == ["https://news.example.org/sub/quanshangzhongguo/atom.xml"]
    assert check_rss(after["rss.xml"]).feed.links[0].href == "https://news.example.org/sub/quanshangzhongguo/"


def test_an_updated_article_changes_the_entry_updated_but_not_its_published_or_id():
    original = article(1)
    edited = replace(original, title="改过的标题", html="<p>改过</p>", updated=T0 + timedelta(hours=3))
    old = check_atom(build_atom(spec([original]))).entries[0]
    new = check_atom(build_atom(spec([edited]))).entries[0]
    assert (new.id, new.published) == (old.id, old.published)
    assert old.updated == old.published and new.updated == "2022-01-07T11:14:19+08:00"
    old_item, new_item = (json.loads(build_json_feed(spec([a])))["items"][0] for a in (original, edited))
    assert new_item["date_published"] == old_item["date_published"] != new_item["date_modified"]


def test_an_article_without_html_or_summary_still_gives_valid_feeds():
    bare = article(1, html="", summary="", media=None)
    atom, rss, feed = check_all(spec([bare]))
    assert feed["items"][0]["content_text"] == "标题1" and "content_html" not in feed["items"][0]
    assert atom.entries[0].summary == "标题1" and rss.entries[0].description == "标题1"
    assert atom.entries[0].content[0].value == "标题1" and "authors" not in feed["items"][0]
    with_body = article(2, summary="", html="<p>" + "很长的正文。" * 100 + "</p>")
    assert check_json_feed(build_json_feed(spec([with_body])))["items"][0]["summary"] == ("很长的正文。" * 40)[:200]


def test_the_rss_description_is_the_summary_escaped_as_html_while_atom_and_json_keep_plain_text():
    plain = "营收<预期 & 利润>10% <b>不是标签</b>"
    files = build_all(spec([article(1, summary=plain, html="")]))
    item = etree.fromstring(files["rss.xml"]).find("channel/item")
    assert item.findtext("description") == "营收&lt;预期 &amp; 利润&gt;10% &lt;b&gt;不是标签&lt;/b&gt;"
    assert item.findtext(CONTENT_ENCODED) == item.findtext("description")
    described = check_rss(files["rss.xml"]).entries[0].description_detail
    assert described.type == "text/html" and unescape(described.value) == plain
    entry = check_atom(files["atom.xml"]).entries[0]
    assert entry.summary == plain and entry.summary_detail.type == "text/plain"
    assert check_json_feed(files["feed.json"])["items"][0]["summary"] == plain


def test_links_are_reduced_to_uri_characters():
    a = article(1, link="https://finance.eastmoney.com/a/新闻 1.html?q=a|b")
    atom, rss, feed = check_all(spec([a]))
    want = "https://finance.eastmoney.com/a/%E6%96%B0%E9%97%BB%201.html?q=a%7Cb"
    assert atom.entries[0].link == rss.entries[0].link == feed["items"][0]["url"] == want


def test_a_feed_without_entries_is_refused_rather_than_dated_now():
    with pytest.raises(ValueError, match="no entries"):
        build_atom(spec([]))


@pytest.mark.parametrize("cleaned", [True, False], ids=["cleaned-html", "raw-html"])
def test_hostile_titles_bodies_and_summaries_give_valid_feeds(cleaned):
    entries = [article(i, title=f"标题 {text}", summary=text, media=f"媒体{text}",
                       categories={"quanshangzhongguo": f"券商{text}新闻"},
                       html=clean_html(f"<p>{text}</p>" * 3, "https://finance.eastmoney.com/a/1.html")
                       if cleaned else f"<p>{text}</p>")
               for i, text in enumerate(HOSTILE if cleaned else HOSTILE + CHAR_REFS)]
    atom, rss, feed = check_all(spec(entries))
    if cleaned:
        bodies = [c.value for e in atom.entries for c in e.get("content", [])]
        bodies += [i.get("content_html", "") for i in feed["items"]]
        for body in bodies:
            assert "<script" not in body.lower() and "onerror" not in body.lower() and "javascript:" not in body.lower()
    assert "标题 ]]>" in [e.title for e in atom.entries]
    assert "标题 emoji 📈🚀" in [i["title"] for i in feed["items"]]


def test_a_100_kb_body_is_carried_whole():
    body = "<p>" + "长" * 100_000 + "</p>"
    atom, rss, feed = check_all(spec([article(0, html=body)]))
    assert atom.entries[0].content[0].value == rss.entries[0].content[0].value == feed["items"][0]["content_html"] == body


HOSTILE_PIECES = st.sampled_from(["&", "<", ">", "\"", "'", "]]>", "<![CDATA[", "-->", "&amp;", "&#0;", "📈",
                                  "\x00", "\x0b", "\x1f", "\x7f", "\x85", "\r", "\ufffe", "\uffff", "\ud800",
                                  "<script>alert(1)</script>", "<p>", "</p>", "　", "  </entry>\n", "    </item>\n",
                                  "</feed>\n", '"items":[]', "\n"])
TEXT = st.lists(st.one_of(st.characters(), st.characters(categories=["Cs", "Cc"]), HOSTILE_PIECES),
                max_size=40).map("".join)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=TEXT, html=TEXT, summary=TEXT, media=TEXT)
def test_any_text_gives_well_formed_valid_feeds_without_forbidden_characters(title, html, summary, media):
    check_all(spec([article(1, title=title, html=html, summary=summary, media=media or None,
                            categories={"quanshangzhongguo": media or "券商中国新闻"})]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=TEXT, html=TEXT, summary=TEXT, media=TEXT)
def test_feeds_spliced_from_shared_entries_are_byte_for_byte_the_documents_feedgen_builds_whole(title, html, summary,
                                                                                                  media):
    fragments = Fragments()
    hostile = article(1, title=title, html=html, summary=summary, media=media or None)
    build_all(spec_for(SITE, ALL, None, [hostile, article(2)]), fragments)  # the entries serialized for all/ first
    feed = replace(spec([article(0), hostile, article(2, html="", media=None)]), hubs=("https://hub.example/",),
                   archive="2022-01")
    assert build_all(feed, fragments) == {"rss.xml": build_rss(feed), "atom.xml": build_atom(feed),
                                          "feed.json": build_json_feed(feed)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=TEXT, html=TEXT, summary=TEXT, media=TEXT)
def test_feeds_spliced_from_an_earlier_publishs_fragments_are_byte_for_byte_the_documents_feedgen_builds_whole(
        title, html, summary, media):
    earlier = Fragments()
    hostile = article(1, title=title, html=html, summary=summary, media=media or None)
    shown = spec_for(SITE, ALL, None, [hostile, article(2)])
    build_all(shown, earlier)
    feed = replace(spec([article(0), hostile, article(2, html="", media=None)]), archive="2022-01")
    assert build_all(feed, Fragments(earlier.newest(shown.items, 1))) == {
        "rss.xml": build_rss(feed), "atom.xml": build_atom(feed), "feed.json": build_json_feed(feed)}


def test_entries_serialized_over_several_batches_are_spliced_in_the_order_given():
    feed = spec([article(i % 90, article_id=f"2022010722{i:08d}") for i in range(2 * Fragments.BATCH + 50)])
    assert build_all(feed, Fragments()) == {"rss.xml": build_rss(feed), "atom.xml": build_atom(feed),
                                            "feed.json": build_json_feed(feed)}
