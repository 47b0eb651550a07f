"""The pure text helpers: article ids, Beijing times, category slugs, HTML cleaning, summaries."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from lxml import html as lxml_html

from crawler.text.clean import clean_html, html_to_text, make_summary, strip_control_chars
from crawler.text.ids import NotNewsError, article_id_from
from crawler.text.slugs import category_display_name, category_slug
from crawler.text.times import BEIJING, format_jekyll, format_rfc3339, parse_time

ARTICLES = Path(__file__).parent.parent / "crawler" / "samplesite" / "data" / "articles.jsonl"
NOW = datetime(2026, 8, 19, 17, 46, 30, tzinfo=BEIJING)


@pytest.mark.parametrize("value", ["NW202112212221504115", "202112212221504115",
                                   "https://finance.eastmoney.com/a/202112212221504115.html",
                                   "https://finance.eastmoney.com/a/202112212221504115_2.html",
                                   "http://finance.eastmoney.com/news/1350,202112212221504115.html",
                                   "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202112212221504115"])
def test_every_id_form_normalizes_to_the_18_digits(value):
    assert article_id_from(value) == "202112212221504115"


def test_announcements_and_reports_are_not_news_and_junk_is_refused():
    for code in ("AN202112212221504115", "AP202112212221504115"):
        with pytest.raises(NotNewsError, match=code):
            article_id_from(code)
    for junk in ("", "12345", "NW2021", "abc"):
        with pytest.raises(ValueError):
            article_id_from(junk)


@pytest.mark.parametrize("text, expected", [
    ("2021-12-21 20:40:26", datetime(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21 20:40", datetime(2021, 12, 21, 20, 40)),
    ("2026年08月19日 17:46", datetime(2026, 8, 19, 17, 46)),
    ("2021年12月21日20:40", datetime(2021, 12, 21, 20, 40)),
    ("2021/12/21 20:40:26", datetime(2021, 12, 21, 20, 40, 26)),
    (" 2021-12-21\u300020:40 ", datetime(2021, 12, 21, 20, 40)),
    ("刚刚", datetime(2026, 8, 19, 17, 46, 30)),
    ("5分钟前", datetime(2026, 8, 19, 17, 41, 30)),
    ("3小时前", datetime(2026, 8, 19, 14, 46, 30)),
    ("今天 09:05", datetime(2026, 8, 19, 9, 5)),
    ("昨天 23:59", datetime(2026, 8, 18, 23, 59)),
    ("08-18 10:00", datetime(2026, 8, 18, 10, 0)),
    ("12-31 10:00", datetime(2025, 12, 31, 10, 0)),
    ("2021-12-21T12:40:26Z", datetime(2021, 12, 21, 20, 40, 26)),
])
def test_source_times_become_beijing_times(text, expected):
    parsed = parse_time(text, NOW)
    assert parsed == expected.replace(tzinfo=BEIJING)
    assert parsed.utcoffset() == timedelta(hours=8)


def test_the_host_zone_never_leaks_in(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now_utc = datetime(2026, 8, 19, 9, 46, 30, tzinfo=datetime.now().astimezone().tzinfo)
        assert parse_time("2021-12-21 20:40:26", NOW).isoformat() == "2021-12-21T20:40:26+08:00"
        assert parse_time("今天 09:05", now_utc.astimezone(BEIJING)).date() == (now_utc.astimezone(BEIJING)).date()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize("text", ["", "not a time", "2021-02-30 10:00", "25:00", "2021-13-01", "N分钟前"])
def test_unparseable_times_are_refused(text):
    with pytest.raises(ValueError, match="unparseable time"):
        parse_time(text, NOW)


def test_times_format_for_feeds_and_posts():
    moment = datetime(2021, 12, 21, 12, 40, 26, tzinfo=BEIJING).astimezone(BEIJING)
    assert format_rfc3339(moment) == "2021-12-21T12:40:26+08:00"
    assert format_jekyll(moment) == "2021-12-21 12:40:26 +0800"


@pytest.mark.parametrize("media, slug", [
    ("上海证券报", "shanghaizhengquanbao"), ("重庆晨报", "chongqingchenbao"),
    ("中国银行保险报", "zhongguoyinhangbaoxianbao"), ("厦门日报", "xiamenribao"),
    ("21世纪经济报道", "21shijijingjibaodao"), ("Wind", "wind"), ("36氪", "36ke"),
    ("券商中国", "quanshangzhongguo"), ("财联社", "cailianshe"), ("证券时报网", "zhengquanshibaowang"),
    ("中国证券报·中证网", "zhongguozhengquanbaozhongzhengwang"), ("../../etc", "etc"),
])
def test_media_names_become_pinyin_slugs(media, slug):
    assert category_slug(media) == slug


def test_every_sample_category_is_the_slug_of_its_media_and_overrides_win():
    for line in ARTICLES.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["kind"] == "media":
            assert category_slug(record["media"]) == record["category"]
            assert category_display_name(record["media"]) == record["category_name"]
    assert category_slug("重庆晨报", {"重庆晨报": "zhongqingchenbao"}) == "zhongqingchenbao"
    with pytest.raises(ValueError):
        category_slug("·—")


BOILERPLATE = (
    '<p style="display:none;">隐藏的开头</p>'
    '<a class="toplink" href="http://acttg.eastmoney.com/pub/x">广告推广</a>'
    '<div class="ad_context3"><script>var ad = 1;</script>广告</div>'
    '<a href="http://acttg.eastmoney.com/pub/y"><img class="em_handle_adv_close" src="x.png"></a>'
    '<p>　　正文第一段，<span id="stock_1.600519"><a class="keytip" href="http://quote.eastmoney.com/sh600519.html">'
    '贵州茅台</a></span><span id="quote_1.600519"></span>上涨。</p>'
    '<p><img src="/images/chart.png" onerror="alert(1)"><a href="javascript:alert(1)">链接</a></p>'
    '<p class="em_media">（文章来源：上海证券报）</p>'
    '<p>（责任编辑：张三）</p><p class="res-edit">编辑：李四</p>'
    '<p>郑重声明：东方财富发布此内容旨在传播更多信息，与本站立场无关。</p>'
)


def test_eastmoney_boilerplate_is_removed_and_the_text_kept():
    cleaned = clean_html(BOILERPLATE, "https://finance.eastmoney.com/a/202608193859492774.html")
    assert html_to_text(cleaned) == "正文第一段，贵州茅台上涨。链接（文章来源：上海证券报）"
    for junk in ("隐藏", "广告", "acttg", "script", "keytip", "onerror", "javascript:", "责任编辑", "郑重声明", "\u3000"):
        assert junk not in cleaned
    assert '<img src="https://finance.eastmoney.com/images/chart.png"' in cleaned
    assert 'referrerpolicy="no-referrer"' in cleaned


def test_sample_articles_clean_to_the_same_text_without_the_stock_chart():
    for line in ARTICLES.read_text(encoding="utf-8").splitlines():
        source = json.loads(line)["html"]
        cleaned = clean_html(source, "http://finance.eastmoney.com/a/1.html")
        assert "EM_StockImg" not in cleaned and "<script" not in cleaned
        without_hidden = source.replace('<p style="display:none;height:1px;overflow:hidden;"><br /></p>', "")
        assert "".join(html_to_text(cleaned).split()) == "".join(html_to_text(without_hidden).split())
        for src in __import__("re").findall(r'(?:src|href)="([^"]+)"', cleaned):
            assert src.startswith(("http://", "https://")), src


def test_summaries_use_the_digest_else_the_start_of_the_text():
    assert make_summary("【标题】摘要内容", "<p>正文</p>") == "摘要内容"
    assert make_summary("", "<p>短正文。</p>") == "短正文。"
    long = "<p>" + "很长的句子。" * 60 + "</p>"
    summary = make_summary("", long)
    assert len(summary) <= 200 and summary.endswith("。")
    assert make_summary("", "<p>" + "无标点" * 100 + "</p>").endswith("…")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_cleaning_never_lets_through_scripts_handlers_or_forbidden_characters(text):
    hostile = f'<p onclick="x()">{text}<script>{text}</script><img src="javascript:{text}" onerror="x"></p>'
    cleaned = clean_html(hostile, "https://finance.eastmoney.com/")
    if cleaned:
        tree = lxml_html.fragment_fromstring(cleaned, create_parent="div")
        assert not tree.xpath("//script | //style")
        for element in tree.iter():
            assert not [name for name in element.attrib if name.lower().startswith("on")]
            for name in ("href", "src"):
                assert not element.get(name, "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))
    assert strip_control_chars(cleaned) == cleaned
    assert clean_html(cleaned, "https://finance.eastmoney.com/") == cleaned
