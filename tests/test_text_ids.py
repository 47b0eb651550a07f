"""Article ids: accepted only exactly as the sources send them; non-news and anything else refused."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from crawler.text.ids import (BadIdError, NotNewsError, article_version, info_code_for, page_article_id,
                              source_article_id)

ARTICLE_ID = "202112212221504115"


@pytest.mark.parametrize("value, bare", [("NW202112212221504115", False), ("NW202112212221504115", True),
                                         ("202112212221504115", True)])
def test_an_info_code_or_where_the_kind_says_so_the_bare_digits_give_the_id(value, bare):
    assert source_article_id(value, bare=bare) == ARTICLE_ID


@pytest.mark.parametrize("value", [
    "https://finance.eastmoney.com/a/202112212221504115.html",
    "http://finance.eastmoney.com/a/202112212221504115.html?from=list#comment",
    "https://finance.eastmoney.com/a/202112212221504115_2.html",
    "http://finance.eastmoney.com/news/1350,202112212221504115.html",
    "/a/202112212221504115.html",
])
def test_an_article_page_url_gives_the_id_of_its_last_path_segment(value):
    assert page_article_id(value) == ARTICLE_ID


@pytest.mark.parametrize("value, code", [
    ("AN202112212221504115", "AN202112212221504115"),
    ("AP202112212221504115", "AP202112212221504115"),
])
def test_announcements_and_reports_are_not_news_and_the_error_names_the_code(value, code):
    with pytest.raises(NotNewsError, match=code):
        source_article_id(value, bare=True)


@pytest.mark.parametrize("value", [
    "NW/../../escaped?id=NW202611309999999999", "../202112212221504115", "202112212221504115/..",
    "NW202112212221504115/../x", "nw202112212221504115", " NW202112212221504115", "NW202112212221504115\n",
    "２０２１１２２１２２２１５０４１１５", "NW２０２１１２２１２２２１５０４１１５", "http://x/?infoCode=NW202112212221504115",
    "", "12345", "20211221222150411", "2021122122215041155", "NW2021", "NWW202112212221504115",
    "NW202112212221504115\x00", "202112212221504115.md",
])
def test_anything_but_the_exact_forms_is_a_bad_id_with_the_value_quoted(value):
    with pytest.raises(BadIdError) as caught:
        source_article_id(value, bare=True)
    assert repr(value[:80]) in str(caught.value)


def test_bare_digits_are_a_bad_id_where_the_kind_sends_info_codes():
    with pytest.raises(BadIdError, match="NW"):
        source_article_id(ARTICLE_ID, bare=False)


@pytest.mark.parametrize("value", ["https://finance.eastmoney.com/a/cywjh.html", "https://finance.eastmoney.com/",
                                   "https://x/a/../202112212221504115", "http://[::1"])
def test_a_page_url_without_an_id_segment_is_a_bad_id(value):
    with pytest.raises(BadIdError):
        page_article_id(value)


@given(st.integers(min_value=0, max_value=10**18 - 1).map("{:018d}".format))
def test_any_18_digit_id_round_trips_through_its_info_code(article_id):
    assert source_article_id(info_code_for(article_id), bare=False) == article_id


@given(st.text(max_size=40))
def test_whatever_a_source_sends_an_accepted_id_is_18_ascii_digits(value):
    try:
        article_id = source_article_id(value, bare=True)
    except ValueError:
        return
    assert len(article_id) == 18 and article_id.isascii() and article_id.isdigit()


def test_an_article_version_changes_with_the_title_or_the_cycle_only():
    version = article_version("标题", 7)
    assert article_version("标题", 7) == version
    assert article_version("新标题", 7) != version
    assert article_version("标题", 8) != version
    assert version.startswith("7:")
