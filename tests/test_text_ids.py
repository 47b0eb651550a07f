"""Article ids: every form eastmoney uses normalizes to the 18 digits; non-news and junk are refused."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from crawler.text.ids import NotNewsError, article_id_from, article_version, info_code_for

ARTICLE_ID = "202112212221504115"


@pytest.mark.parametrize("value", [
    "NW202112212221504115",
    "nw202112212221504115",
    "202112212221504115",
    "  NW202112212221504115\n",
    "https://finance.eastmoney.com/a/202112212221504115.html",
    "http://finance.eastmoney.com/a/202112212221504115.html?from=list#comment",
    "https://finance.eastmoney.com/a/202112212221504115_2.html",
    "https://finance.eastmoney.com/a/202112212221504115_12.html",
    "http://finance.eastmoney.com/news/1350,202112212221504115.html",
    "http://hk.eastmoney.com/news/11362,202112212221504115.html",
    "//finance.eastmoney.com/a/202112212221504115.html",
    "/a/202112212221504115.html",
    "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW202112212221504115",
    "http://finews.zning.xyz/html_News/NewsShare.html?infoCode=NW202112212221504115",
    "https://np-listapi.eastmoney.com/comm/web/getNewsByColumns?code=202112212221504115&x=1",
])
def test_every_id_form_normalizes_to_the_18_digits(value):
    assert article_id_from(value) == ARTICLE_ID


@pytest.mark.parametrize("value, code", [
    ("AN202112212221504115", "AN202112212221504115"),
    ("AP202112212221504115", "AP202112212221504115"),
    ("an202112212221504115", "an202112212221504115"),
    ("http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=AN202112212221504115",
     "AN202112212221504115"),
])
def test_announcements_and_reports_are_not_news_and_the_error_names_the_code(value, code):
    with pytest.raises(NotNewsError, match=code):
        article_id_from(value)


def test_not_news_is_a_value_error_so_callers_that_skip_bad_ids_skip_it_too():
    assert issubclass(NotNewsError, ValueError)


@pytest.mark.parametrize("value", [
    "", "   ", "12345", "20211221222150411", "2021122122215041155", "NW2021", "abc",
    "NW20211221222150411x", "20211221222150411X", "NWW202112212221504115",
    "https://finance.eastmoney.com/a/2021122122215041155.html",
    "https://finance.eastmoney.com/a/cywjh.html",
    "http://choicewzp1.eastmoney.com/html_News/NewsShare.html?infoCode=NW2021",
    "https://finance.eastmoney.com/",
])
def test_junk_is_refused_with_the_value_quoted(value):
    with pytest.raises(ValueError) as caught:
        article_id_from(value)
    assert not isinstance(caught.value, NotNewsError)
    assert repr(value.strip()) in str(caught.value)


def test_the_info_code_is_nw_and_the_id():
    assert info_code_for(ARTICLE_ID) == "NW202112212221504115"
    assert article_id_from(info_code_for(ARTICLE_ID)) == ARTICLE_ID


@given(st.integers(min_value=0, max_value=10**18 - 1).map("{:018d}".format))
def test_any_18_digit_id_round_trips_through_its_info_code_and_page_url(article_id):
    assert article_id_from(info_code_for(article_id)) == article_id
    assert article_id_from(f"https://finance.eastmoney.com/a/{article_id}.html") == article_id


def test_an_article_version_changes_with_the_title_or_the_cycle_only():
    version = article_version("标题", 7)
    assert article_version("标题", 7) == version
    assert article_version("新标题", 7) != version
    assert article_version("标题", 8) != version
    assert version.startswith("7:")
