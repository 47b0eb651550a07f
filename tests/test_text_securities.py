"""The securities of an article: eastmoney's quote links in every shape the samples use; hostile links refused."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, strategies as st

from crawler.text.securities import securities_in, symbol, valid_quote

from crawlkit import ROOT

SHAPES = (
    '<span id="stock_0.002752"><a href="http://quote.eastmoney.com/unify/r/0.002752" class="keytip"'
    ' data-code="0,002752">华泰证券</a></span><span id="quote_0.002752"></span>'
    '<span web="1" href="http://quote.eastmoney.com/unify/r/90.BK0473" class="em_stock_key_common"'
    ' data-code="90,BK0473">证券</span>'
    '<span id="stock_1.600519"><a class="keytip" href="http://quote.eastmoney.com/sh600519.html">贵州茅台</a></span>'
    '<a href="https://quote.eastmoney.com/unify/r/116.06030" class="keytip" data-code="116,06030">中信证券</a>'
    '<a href="http://quote.eastmoney.com/unify/r/105.AAPL" class="keytip" data-code="105,AAPL">苹果</a>'
    '<a href="http://quote.eastmoney.com/unify/r/1.601728" data-code="601728|1|1" class="EmImageRemark">'
    '<img src="http://webquotepic.eastmoney.com/GetPic.aspx?id=6017281"></a>'
)


def test_every_quote_link_shape_gives_market_code_and_name_as_linked():
    assert securities_in(f"<p>{SHAPES}</p>") == {
        "0.002752": "华泰证券", "1.600519": "贵州茅台", "105.AAPL": "苹果", "116.06030": "中信证券", "90.BK0473": "证券"}


def test_symbols_follow_the_market_mapping_and_keep_an_unknown_market_number():
    assert [symbol(q) for q in ("1.600160", "0.002752", "116.06030", "105.AAPL", "106.NIO", "107.BRK_B",
                                "90.BK0473", "155.ABC1")] == [
        "sh600160", "sz002752", "hk06030", "us-aapl", "us-nio", "us-brk-b", "bk0473", "m155-abc1"]


def test_the_bundled_samples_carry_securities_in_both_list_shapes():
    found: dict[str, str] = {}
    for line in (ROOT / "crawler" / "samplesite" / "data" / "articles.jsonl").read_text(encoding="utf-8").splitlines():
        found.update(securities_in(json.loads(line)["html"] or ""))
    assert found["1.601688"] == "华泰证券" and found["90.BK0473"] == "证券" and found["106.NIO"] == "蔚来"
    assert len(found) >= 15


@pytest.mark.parametrize("link", [
    '<a href="http://quote.eastmoney.com/unify/r/1.60016" data-code="1,60016">短代码</a>',          # 5 digits in sh
    '<a href="http://quote.eastmoney.com/unify/r/1.600160" data-code="0,600160">不一致</a>',        # marks disagree
    '<a href="http://quote.eastmoney.com/unify/r/01.600160">前导零</a>',
    '<a href="http://quote.eastmoney.com/unify/r/1.600160/../x">路径</a>',
    '<a href="http://quote.eastmoney.com.evil.example/unify/r/1.600160">假主机</a>',
    '<a href="javascript:alert(1)//quote.eastmoney.com/unify/r/1.600160">脚本</a>',
    '<a href="http://quote.eastmoney.com/unify/r/90.bk0473">小写板块</a>',
    '<a href="http://quote.eastmoney.com/unify/r/105.aapl">小写</a>',
    '<a href="http://quote.eastmoney.com/unify/r/1.600160"> </a>',                                  # no name
    '<a href="http://quote.eastmoney.com/unify/r/1.600160">' + "长" * 40 + "</a>",
    '<a class="keytip" href="http://quote.eastmoney.com/sh600519.html">没有外层编号</a>',
    '<span id="stock_1.60051"><a href="http://quote.eastmoney.com/sh600519.html">坏编号</a></span>',
    '<div href="http://quote.eastmoney.com/unify/r/1.600160">不是链接</div>',
])
def test_a_hostile_or_malformed_quote_link_names_no_security(link):
    assert securities_in(f"<p>{link}</p>") == {}


def test_names_lose_control_characters_and_markup_and_the_first_name_wins():
    html = ('<a href="http://quote.eastmoney.com/unify/r/1.600160">巨化\x01<b>股份</b></a>'
            '<a href="http://quote.eastmoney.com/unify/r/1.600160">别名</a>')
    assert securities_in(html) == {"1.600160": "巨化股份"}


@given(st.sampled_from(["0", "1", "116", "90", "105", "106", "107", "8", "155"]),
       st.from_regex(r"(BK)?[0-9A-Z]{1,8}(_[A-Z0-9]{1,2})?", fullmatch=True))
def test_any_valid_quote_maps_to_a_slug_safe_symbol_and_is_read_from_its_link(market, code):
    if valid_quote(market, code):
        result = symbol(f"{market}.{code}")
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", result)
        assert securities_in(f'<a href="http://quote.eastmoney.com/unify/r/{market}.{code}">名</a>') == {
            f"{market}.{code}": "名"}
