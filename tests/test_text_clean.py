"""Article HTML cleaning: eastmoney boilerplate out, text kept, safe for feeds; text and summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from lxml import html as lxml_html

from crawler.text import clean as cleaning
from crawler.text.clean import clean_html, html_to_text, make_summary, strip_control_chars

DATA = Path(__file__).parent / "data"
ARTICLES = Path(__file__).parent.parent / "crawler" / "samplesite" / "data" / "articles.jsonl"
SEED = DATA / "seed-2021-12-21-NW202112212221504115.md"
BASE = "https://finance.eastmoney.com/a/202608193859492774.html"
IMG = 'referrerpolicy="no-referrer" loading="lazy"'
REL = 'rel="noopener noreferrer nofollow"'
XML_FORBIDDEN = [chr(c) for c in (*range(0, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF, 0xD800, 0xDFFF)]

# The article body of the current template (div#ContentBody.txtinfos), as sources.md describes it.
CURRENT_BODY = """
<p style="display:none;">央行今日开展逆回购操作</p>
<a class="toplink" href="https://emdesk.eastmoney.com/pc_activity/topnews.html" target="_blank">东方财富Choice数据：专业金融数据终端，免费试用</a>
<div class="ad_context3"><script type="text/javascript">var adcontext3 = {"position": "content_top"};</script></div>
<p><a href="https://acttg.eastmoney.com/pub/web_nr_txtbtm_01_01_01_0" target="_blank"><img src="https://gbres.dfcfw.com/Files/picture/20210714/ad_banner.png" class="em_handle_adv_close" alt="东方财富APP"></a></p>
<p>　　8月19日，<span id="stock_1.600519"><a class="keytip" href="http://quote.eastmoney.com/sh600519.html">贵州茅台</a></span><span id="quote_1.600519"></span>股价上涨2%。</p>
<p>　　<strong>白酒板块走强</strong></p>
<p style="text-align:center;"><img src="/images/2026/chart.png" width="552" style="border:#d1d1d1 1px solid;"></p>
<p>　　详见<a href="//data.eastmoney.com/report/" target="_blank">研报中心</a>。</p>
<p class="em_media">（文章来源：证券时报网）</p>
<p>（责任编辑：张三）</p>
<p>郑重声明：东方财富发布此内容旨在传播更多信息，与本站立场无关，不构成投资建议。据此操作，风险自担。</p>
"""
CURRENT_CLEAN = (
    "<p>8月19日，贵州茅台股价上涨2%。</p>"
    "<p><strong>白酒板块走强</strong></p>"
    f'<p><img src="https://finance.eastmoney.com/images/2026/chart.png" width="552" {IMG}></p>'
    f'<p>详见<a href="https://data.eastmoney.com/report/" {REL}>研报中心</a>。</p>'
    "<p>（文章来源：证券时报网）</p>"
)


def samples() -> list[dict]:
    return [json.loads(line) for line in ARTICLES.read_text(encoding="utf-8").splitlines()]


def seed_body() -> str:
    """The HTML body of the seed post: after the front matter, before the share link."""
    text = SEED.read_text(encoding="utf-8")
    return text.split("\n---\n", 1)[1].split("\n\n<http", 1)[0]


def compact(text: str) -> str:
    return "".join(text.split())


def elements(html: str) -> list[lxml_html.HtmlElement]:
    root = lxml_html.fragment_fromstring(html, create_parent="div")
    return [element for element in root.iter() if isinstance(element.tag, str)][1:]


def assert_feed_safe(cleaned: str) -> None:
    """No script, handler, script URL, relative URL, bare image or XML-forbidden character."""
    assert strip_control_chars(cleaned) == cleaned
    assert "<script" not in cleaned.lower() and "]]>" not in cleaned
    for element in elements(cleaned):
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (name, value)
            assert name not in ("style", "class", "id"), (name, value)
            if name in ("href", "src"):
                assert value.startswith(("http://", "https://")), value
        if element.tag == "img":
            assert element.get("referrerpolicy") == "no-referrer" and element.get("loading") == "lazy"


def test_the_current_template_body_loses_all_its_boilerplate_and_keeps_the_article():
    assert clean_html(CURRENT_BODY, BASE) == CURRENT_CLEAN


def test_the_old_template_body_loses_its_editor_line_and_disclaimer():
    body = ('<p>　　记者获悉，<span id="stock_0.002594"><a class="keytip" href="http://quote.eastmoney.com/sz002594.html">'
            '比亚迪</a></span>发布公告。</p>\n<p class="res-edit">（责任编辑：DF078）</p>\n'
            "<p>郑重声明：东方财富发布此内容旨在传播更多信息，与本站立场无关。</p>\n")
    assert clean_html(body, BASE) == "<p>记者获悉，比亚迪发布公告。</p>"


@pytest.mark.parametrize("html, expected", [
    ('<p style="display:none;height:1px;overflow:hidden;"><br></p><p>正文</p>', "<p>正文</p>"),
    ('<p style="DISPLAY: NONE">隐藏</p><p>正文</p>', "<p>正文</p>"),
    ('<p hidden>隐藏</p><p>正文<span hidden>隐藏</span></p>', "<p>正文</p>"),
    ('<a class="toplink" href="https://emdesk.eastmoney.com/pc_activity/topnews.html">Choice数据</a><p>正文</p>',
     "<p>正文</p>"),
    ('<div class="ad_context3"><script>var ad = 1;</script>广告</div><p>正文</p>', "<p>正文</p>"),
    ('<p><a href="https://acttg.eastmoney.com/pub/x" target="_blank">下载APP</a></p><p>正文</p>', "<p>正文</p>"),
    ('<p><img src="https://gbres.dfcfw.com/ad.png" class="em_handle_adv_close"></p><p>正文</p>', "<p>正文</p>"),
    ("<p>正文</p><p>（责任编辑：张三）</p>", "<p>正文</p>"),
    ("<p>正文</p><p>　　(责任编辑:李四)</p>", "<p>正文</p>"),
    ('<p>正文</p><p class="res-edit">（责任编辑：DF078）</p>', "<p>正文</p>"),
    ("<p>正文</p><p>郑重声明：本文仅供参考。</p>", "<p>正文</p>"),
    ("<p>正文</p><p>声明：东方财富发布此内容旨在传播更多信息，与本站立场无关。</p>", "<p>正文</p>"),
    ("<p>正文</p><script>alert(1)</script><style>p{color:red}</style><noscript>开启JS</noscript>", "<p>正文</p>"),
    ("<p>正文<!-- 注释 --></p><!-- EM_Comment -->", "<p>正文</p>"),
    ("<!-- EM_StockImg_Start --><p>K图 <img src=\"https://webquoteklinepic.eastmoney.com/GetPic.aspx\"></p>"
     "<!-- EM_StockImg_End --><p>正文</p>", "<p>正文</p>"),
    ('<p><a href="http://quote.eastmoney.com/unify/r/1.601728" class="EmImageRemark">'
     '<img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx"></a></p><p>正文</p>', "<p>正文</p>"),
    ("<p>　　第一段</p><p>\u3000第二段<br>　　续</p><p><strong>\u3000\u3000\u3000小标题</strong></p>",
     "<p>第一段</p><p>第二段<br>续</p><p><strong>小标题</strong></p>"),
])
def test_each_kind_of_boilerplate_is_removed(html, expected):
    assert clean_html(html, BASE) == expected


@pytest.mark.parametrize("html", [
    '<span id="stock_1.600519"><a class="keytip" href="http://quote.eastmoney.com/sh600519.html" '
    'data-code="1,600519">贵州茅台</a></span><span id="quote_1.600519"></span>',
    '<span id="Info.3306"><a href="http://data.eastmoney.com/other/qsjy.html" class="infokey">贵州茅台</a></span>',
    '<span id="bk_90.BK0473"><a href="http://quote.eastmoney.com/unify/r/90.BK0473" class="keytip" '
    'data-code="90,BK0473">贵州茅台</a></span><span id="bkquote_90.BK0473"></span>',
    '<span web="1" href="http://quote.eastmoney.com/unify/r/1.600519" class="em_stock_key_common" '
    'data-code="1,600519">贵州茅台</span>',
])
def test_inline_stock_links_become_their_plain_text(html):
    assert clean_html(f"<p>今日{html}上涨。</p>", BASE) == "<p>今日贵州茅台上涨。</p>"


def test_the_media_line_keeps_its_text():
    assert clean_html('<p class="em_media">（文章来源：上海证券报）</p>', BASE) == "<p>（文章来源：上海证券报）</p>"


@pytest.mark.parametrize("html, expected", [
    ('<a href="/a/202112212221504115.html">相关</a>',
     f'<a href="https://finance.eastmoney.com/a/202112212221504115.html" {REL}>相关</a>'),
    ('<a href="202112212221504115_2.html">下一页</a>',
     f'<a href="https://finance.eastmoney.com/a/202112212221504115_2.html" {REL}>下一页</a>'),
    ('<a href="//data.eastmoney.com/x">数据</a>', f'<a href="https://data.eastmoney.com/x" {REL}>数据</a>'),
    ('<a href="http://finance.eastmoney.com/" title="财经">财经</a>',
     f'<a href="http://finance.eastmoney.com/" title="财经" {REL}>财经</a>'),
    ('<a href="https://example.com/新闻 1?q=a b">新闻</a>',
     f'<a href="https://example.com/%E6%96%B0%E9%97%BB%201?q=a%20b" {REL}>新闻</a>'),
    ('<img src="pic.png">', f'<img src="https://finance.eastmoney.com/a/pic.png" {IMG}>'),
    ('<img src="//dfscdn.dfcfw.com/download/D1.jpg" alt="Image" width="552">',
     f'<img src="https://dfscdn.dfcfw.com/download/D1.jpg" alt="Image" width="552" {IMG}>'),
    ('<img loading="eager" referrerpolicy="unsafe-url" src="https://x.cn/1.png" height="9">',
     f'<img src="https://x.cn/1.png" height="9" {IMG}>'),
])
def test_urls_become_absolute_and_images_do_not_send_a_referrer(html, expected):
    assert clean_html(html, BASE) == expected


@pytest.mark.parametrize("html, expected", [
    ('<a href="javascript:alert(1)">链接</a>', "链接"),
    ('<a href="JaVaScRiPt:alert(1)">链接</a>', "链接"),
    ('<a href="java&#x09;script:alert(1)">链接</a>', "链接"),
    ('<a href=" javascript:alert(1)">链接</a>', "链接"),
    ('<a href="vbscript:msgbox(1)">链接</a>', "链接"),
    ('<a href="data:text/html;base64,PHNjcmlwdD4=">链接</a>', "链接"),
    ('<a href="mailto:x@example.com">链接</a>', "链接"),
    ('<img src="data:image/png;base64,iVBORw0KGgo=">', ""),
    ('<img src="javascript:alert(1)" alt="x">', ""),
    ("<img src=x onerror=alert(1)>", f'<img src="https://finance.eastmoney.com/a/x" {IMG}>'),
    ('<p onclick="alert(1)" onmouseover="alert(2)">正文</p>', "<p>正文</p>"),
    ("<svg onload=alert(1)><text>x</text></svg><p>正文</p>", "<p>正文</p>"),
    ('<iframe src="https://evil.example/"></iframe><p>正文</p>', "<p>正文</p>"),
    ('<form action="https://evil.example/"><input name="q"><button>提交</button></form><p>正文</p>', "<p>正文</p>"),
    ("<p>正文</p><base href=\"https://evil.example/\"><a href=\"x\">x</a>",
     f'<p>正文</p><a href="https://finance.eastmoney.com/a/x" {REL}>x</a>'),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"),
])
def test_hostile_markup_is_neutralized(html, expected):
    assert clean_html(html, BASE) == expected


def test_a_link_that_cannot_be_made_absolute_becomes_text():
    assert clean_html('<p><a href="/relative">相对</a><img src="x.png"></p>', "") == "<p>相对</p>"


def test_xml_forbidden_characters_go_and_emoji_stay():
    dirty = "".join(XML_FORBIDDEN) + "<p>正文\x01😀\x0bend\x7f\x85</p>&#1;&#x0B;&#xFFFE;<p>&#150;\tok</p>"
    cleaned = clean_html(dirty, BASE)
    assert cleaned == "<p>正文😀end</p><p>–\tok</p>"


@pytest.mark.parametrize("html, expected", [
    ('<p data-x="1"{"a":1}>正文</p>', "<p>正文</p>"),
    ('<p data-x="1"{"a":1}>正文&#150;</p>', "<p>正文–</p>"),
    ('<div class="ad_context3"{"position":"top"}>广告</div><p>正文</p>', "<p>正文</p>"),
    ('<p><img src="/a.png"{"w":1}>正文</p>', f'<p><img src="https://finance.eastmoney.com/a.png" {IMG}>正文</p>'),
])
def test_an_attribute_name_lxml_cannot_set_does_not_stop_cleaning(html, expected):
    assert clean_html(html, BASE) == expected


def test_cdata_terminators_never_survive_literally():
    cleaned = clean_html('<p>a]]>b</p><img src="/x]]>.png" alt="]]>">', BASE)
    assert "]]>" not in cleaned
    assert html_to_text(cleaned) == "a]]>b"


def test_empty_and_blank_input_clean_to_nothing():
    for blank in ("", "   \n", "\u3000\u3000", "<p></p>", "<p>\xa0</p><div> </div>", "<script>x</script>", "\x00"):
        assert clean_html(blank, BASE) == ""


def test_a_whole_page_gives_its_body_content_only():
    page = "<html><head><title>标题</title><script>x()</script></head><body><p>正文</p></body></html>"
    assert clean_html(page, BASE) == "<p>正文</p>"


def test_allowed_structure_is_kept():
    html = ('<h2>标题</h2><ul><li>一</li><li><em>二</em></li></ul><blockquote>引用</blockquote>'
            '<table><tbody><tr><th colspan="2">表头</th></tr><tr><td>1</td><td>2</td></tr></tbody></table>'
            "<p>H<sub>2</sub>O x<sup>2</sup> <b>b</b> <i>i</i> <u>u</u></p><hr><pre><code>a  b</code></pre>"
            "<figure><img src=\"https://x.cn/1.png\"><figcaption>图</figcaption></figure>")
    expected = html.replace('<img src="https://x.cn/1.png">', f'<img src="https://x.cn/1.png" {IMG}>')
    assert clean_html(html, BASE) == expected


@pytest.mark.parametrize("record", samples(), ids=lambda record: record["post_file"])
def test_sample_articles_keep_their_whole_text_and_lose_the_stock_chart(record):
    source = record["html"]
    cleaned = clean_html(source, "http://finance.eastmoney.com/a/1.html")
    assert html_to_text(cleaned) == html_to_text(source)  # the samples' boilerplate has no text
    assert_feed_safe(cleaned)
    for junk in ("EM_StockImg", "webquoteklinepic", "keytip", "infokey", "em_stock_key_common", "display:none",
                 "em_media"):
        assert junk not in cleaned
    content_images = source.count("dfscdn.dfcfw.com")
    assert cleaned.count("<img") == content_images
    assert clean_html(cleaned, "http://finance.eastmoney.com/a/1.html") == cleaned


def test_the_seed_post_body_cleans_to_its_text_without_the_stock_chart():
    body = seed_body()
    assert body.startswith("<!-- EM_StockImg_Start -->") and body.endswith("（文章来源：上海证券报）</p>")
    cleaned = clean_html(body, "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112212221504115")
    assert_feed_safe(cleaned)
    assert "<img" not in cleaned and "quote.eastmoney.com" not in cleaned
    assert cleaned.startswith("<p>2021中国增值电信及虚拟运营商高峰论坛")
    assert cleaned.endswith("<p>（文章来源：上海证券报）</p>")
    assert html_to_text(cleaned) == html_to_text(body)
    assert cleaned.count("<p>") == body.count("<p") - 1  # the chart's paragraph


def test_a_100_kb_body_is_cleaned_whole():
    paragraph = ('<p>　　据<span id="stock_1.600519"><a class="keytip" href="http://quote.eastmoney.com/sh600519.html">'
                 '贵州茅台</a></span>公告，公司业绩增长。<img src="/p.png" onerror="x()"></p>')
    body = paragraph * (100_000 // len(paragraph) + 1)
    cleaned = clean_html(body, BASE)
    count = body.count("<p>")
    assert cleaned == f'<p>据贵州茅台公告，公司业绩增长。<img src="https://finance.eastmoney.com/p.png" {IMG}></p>' * count


def test_cleaning_is_deterministic_and_idempotent_on_real_input():
    first = clean_html(CURRENT_BODY, BASE)
    assert clean_html(CURRENT_BODY, BASE) == first
    assert clean_html(first, BASE) == first


@pytest.mark.parametrize("html, expected", [
    ("<h2><font><h3>标题</h3></font></h2>", "<h3>标题</h3>"),
    ("<h1><font><h1><img src=x onerror=y>", f'<h1><img src="https://finance.eastmoney.com/a/x" {IMG}></h1>'),
])
def test_nesting_that_libxml2_and_html5ever_mend_differently_still_cleans_idempotently(html, expected):
    # libxml2 keeps a heading inside a heading, html5ever closes the outer one and leaves it empty.
    assert clean_html(html, BASE) == expected
    assert clean_html(expected, BASE) == expected


HOSTILE_PIECES = [
    "<p>", "</p>", "<div>", "</div>", "<span>", "</span>", "<b>", "</b>", "<h1>", "</h1>", "<font>", "</font>",
    "<table>", "<tr>", "<td>", "</table>", "<ul>", "<li>", "</ul>", "<pre>", "</pre>", "<br>", "<center>",
    "<p style='display:none'>", "<span id='stock_1.600519'>", "<a class='keytip' href='x'>", "</a>",
    "<a href='javascript:alert(1)'>", "<a href=' JAVASCRIPT:x'>", "<a href='vbscript:x'>",
    "<a href='data:text/html,x'>", "<a href='//evil.example/'>", "<a href='/rel'>",
    "<img src=x onerror=alert(1)>", "<img src='data:image/png;base64,AAAA'>", "<svg onload=alert(1)>",
    "<script>", "</script>", "<style>", "<iframe>", "<math>", "<!--", "-->",
    "<!-- EM_StockImg_Start -->", "<!-- EM_StockImg_End -->", "]]>", "<![CDATA[", "&", "<", ">", "&nbsp;",
    "&#1;", "&#xD800;", "&#150;", "\u3000", "\u3000\u3000", "\x00", "\x0b", "\r", "\n", " ", "\ufffe",
    "（责任编辑：张三）", "郑重声明：", "正文", "text", "😀",
]
hostile_html = st.one_of(
    st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=4)), max_size=30).map("".join),
    st.text(max_size=120),
)


@settings(max_examples=300, deadline=None)
@given(hostile_html)
def test_cleaning_never_lets_through_scripts_handlers_script_urls_or_forbidden_characters(html):
    cleaned = clean_html(html, BASE)
    assert_feed_safe(cleaned)
    assert clean_html(cleaned, BASE) == cleaned


@pytest.mark.parametrize("record", samples(), ids=lambda record: record["post_file"])
def test_sample_articles_are_cleaned_in_one_round(record, monkeypatch):
    rounds = []
    clean_once = cleaning._clean_once
    monkeypatch.setattr(cleaning, "_clean_once", lambda html, base: rounds.append(html) or clean_once(html, base))
    clean_html(record["html"], "http://finance.eastmoney.com/a/1.html")
    assert len(rounds) == (1 if record["html"].strip() else 0)


def assert_text_as_if_parsed_afresh(cleaned: str) -> None:
    """`html_to_text` of HTML just cleaned (read from its tree) is that of the HTML parsed anew."""
    just_cleaned = html_to_text(cleaned)
    clean_html("<p>另一篇</p>", BASE)
    assert just_cleaned == html_to_text(cleaned) == html_to_text(cleaned + " ")


@pytest.mark.parametrize("record", samples(), ids=lambda record: record["post_file"])
def test_the_text_of_a_sample_article_just_cleaned_is_that_of_its_html_parsed_afresh(record):
    assert_text_as_if_parsed_afresh(clean_html(record["html"], "http://finance.eastmoney.com/a/1.html"))


@settings(max_examples=300, deadline=None)
@given(hostile_html)
def test_the_text_of_html_just_cleaned_is_that_of_the_html_parsed_afresh(html):
    assert_text_as_if_parsed_afresh(clean_html(html, BASE))


def test_plain_text_separates_blocks_and_ignores_scripts():
    html = "<p>First  line.</p><p>Second<br>line</p>\n<ul><li>a</li><li>b</li></ul><script>x()</script>c<b>d</b>"
    assert html_to_text(html) == "First line. Second line a b cd"
    assert html_to_text("") == "" and html_to_text("  ") == ""
    assert html_to_text("<p>a\x01b</p>") == "ab"


@pytest.mark.parametrize("digest, title, expected", [
    ("【北向资金净流入超40亿元】北向资金净流入超40亿元。", "北向资金净流入超40亿元", "北向资金净流入超40亿元。"),
    ("【另一个标题】摘要内容", "标题", "摘要内容"),
    ("【含】的标题】摘要内容", "含】的标题", "摘要内容"),
    ("  摘要\n内容\x01  ", "", "摘要 内容"),
    ("摘要【不是开头】内容", "", "摘要【不是开头】内容"),
])
def test_the_summary_is_the_digest_without_its_leading_title(digest, title, expected):
    assert make_summary(digest, "<p>正文</p>", title) == expected


def test_without_a_digest_the_summary_is_the_start_of_the_text():
    assert make_summary("", "<p>短正文。</p>") == "短正文。"
    assert make_summary("【标题】", "<p>短正文。</p>", "标题") == "短正文。"
    assert make_summary("", "<p>" + "a" * 200 + "</p>") == "a" * 200


def test_a_long_text_is_cut_after_its_last_sentence_in_reach():
    sentence = "中国电信有望明年启动5G消息全面商用。"  # 19 characters
    summary = make_summary("", "<p>" + sentence * 20 + "</p>")
    assert summary == sentence * 10 + "…"
    quoted = make_summary("", "<p>" + "他说：“" + "很好" * 70 + "。”" + "后文" * 100 + "</p>")
    assert quoted.endswith("。”…") and len(quoted) <= 200


def test_a_long_text_without_a_late_sentence_end_is_cut_at_the_limit():
    summary = make_summary("", "<p>开头。" + "无标点" * 100 + "</p>")
    assert len(summary) == 200 and summary.endswith("…")
    assert make_summary("", "<p>" + "字" * 500 + "</p>", limit=50) == "字" * 49 + "…"


def test_control_characters_are_stripped_but_whitespace_cjk_and_emoji_kept():
    assert strip_control_chars("".join(XML_FORBIDDEN)) == ""
    assert strip_control_chars("a\tb\nc\rd 中文😀") == "a\tb\nc\rd 中文😀"
    assert strip_control_chars("a\x7fb\x85c\x9fd") == "abcd"
