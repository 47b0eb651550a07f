"""Source times: naive Beijing time in many spellings → aware Asia/Shanghai; never the host's zone."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from crawler.text.times import BEIJING, format_jekyll, format_rfc3339, parse_time

NOW = datetime(2026, 8, 19, 17, 46, 30, 123456, tzinfo=BEIJING)
EIGHT_HOURS = timedelta(hours=8)


def beijing(*args: int) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


@pytest.fixture
def new_york_host(monkeypatch):
    """The process's local zone is America/New_York for the test (and restored after)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("text, expected", [
    ("2021-12-21 20:40:26", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21 20:40", beijing(2021, 12, 21, 20, 40)),
    ("2021/12/21 20:40:26", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021/12/21 20:40", beijing(2021, 12, 21, 20, 40)),
    ("2026年08月19日 17:46", beijing(2026, 8, 19, 17, 46)),
    ("2021年12月21日 20:40:26", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021年12月21日20:40", beijing(2021, 12, 21, 20, 40)),
    ("2022年1月7日 8:14", beijing(2022, 1, 7, 8, 14)),
    ("2022年1月7日8:14:19", beijing(2022, 1, 7, 8, 14, 19)),
    (" 2021-12-21\u300020:40 ", beijing(2021, 12, 21, 20, 40)),
    ("\xa02021-12-21\xa0\xa020:40:26\n", beijing(2021, 12, 21, 20, 40, 26)),
    ("２０２１－１２－２１　２０：４０", beijing(2021, 12, 21, 20, 40)),
    ("刚刚", beijing(2026, 8, 19, 17, 46, 30)),
    ("10秒前", beijing(2026, 8, 19, 17, 46, 20)),
    ("5分钟前", beijing(2026, 8, 19, 17, 41, 30)),
    ("90分钟前", beijing(2026, 8, 19, 16, 16, 30)),
    ("3小时前", beijing(2026, 8, 19, 14, 46, 30)),
    ("20小时前", beijing(2026, 8, 18, 21, 46, 30)),
    ("今天 09:05", beijing(2026, 8, 19, 9, 5)),
    ("今天09:05:07", beijing(2026, 8, 19, 9, 5, 7)),
    ("昨天 23:59", beijing(2026, 8, 18, 23, 59)),
    ("前天 00:00", beijing(2026, 8, 17, 0, 0)),
    ("08-18 10:00", beijing(2026, 8, 18, 10, 0)),
    ("08-20 17:00", beijing(2026, 8, 20, 17, 0)),
    ("08-20 18:00", beijing(2025, 8, 20, 18, 0)),
    ("12-31 10:00", beijing(2025, 12, 31, 10, 0)),
    ("1-2 03:04", beijing(2026, 1, 2, 3, 4)),
])
def test_source_times_become_beijing_times(text, expected):
    parsed = parse_time(text, NOW)
    assert parsed == expected
    assert parsed.tzinfo is BEIJING and parsed.utcoffset() == EIGHT_HOURS


@pytest.mark.parametrize("text, expected", [
    ("2021-12-21T12:40:26Z", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21T12:40:26+00:00", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21T07:40:26-05:00", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21T20:40:26+0800", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21 20:40:26+08:00", beijing(2021, 12, 21, 20, 40, 26)),
    ("2021-12-21T20:40:26", beijing(2021, 12, 21, 20, 40, 26)),
])
def test_iso_times_keep_their_offset_converted_to_beijing(text, expected):
    parsed = parse_time(text, NOW)
    assert parsed == expected and parsed.utcoffset() == EIGHT_HOURS


def test_relative_times_count_from_the_crawl_time_in_beijing_whatever_zone_it_is_given_in():
    # 2026-08-18 20:00 UTC is already 2026-08-19 04:00 in Beijing: "today" is the 19th there.
    now_utc = datetime(2026, 8, 18, 20, 0, tzinfo=timezone.utc)
    assert parse_time("今天 09:05", now_utc) == beijing(2026, 8, 19, 9, 5)
    assert parse_time("昨天 09:05", now_utc) == beijing(2026, 8, 18, 9, 5)
    assert parse_time("刚刚", now_utc) == beijing(2026, 8, 19, 4, 0)
    assert parse_time("08-19 09:05", now_utc) == beijing(2026, 8, 19, 9, 5)


def test_a_naive_crawl_time_is_taken_as_beijing_time():
    assert parse_time("5分钟前", NOW.replace(tzinfo=None)) == parse_time("5分钟前", NOW)


def test_the_host_zone_never_leaks_in(new_york_host):
    assert datetime(2021, 12, 21, 12).astimezone().utcoffset() == timedelta(hours=-5)  # the setup took
    assert parse_time("2021-12-21 20:40:26", NOW).isoformat() == "2021-12-21T20:40:26+08:00"
    assert parse_time("2021年12月21日 20:40", NOW).isoformat() == "2021-12-21T20:40:00+08:00"
    assert parse_time("今天 09:05", NOW.replace(tzinfo=None)).isoformat() == "2026-08-19T09:05:00+08:00"
    assert format_rfc3339(datetime(2021, 12, 21, 20, 40, 26)) == "2021-12-21T20:40:26+08:00"
    assert format_jekyll(datetime(2021, 12, 21, 20, 40, 26)) == "2021-12-21 20:40:26 +0800"


@pytest.mark.parametrize("text", [
    "", "   ", "\u3000", "not a time", "2021-02-30 10:00", "2021-13-01 00:00", "2021-12-32 00:00",
    "2021-12-21 24:00", "2021-12-21 20:60", "25:00", "2021-12-21", "2021年12月21日", "N分钟前",
    "分钟前", "昨天", "大前天 10:00", "02-29 10:00", "13-01 10:00", "2021-12-21 20:40:26 CST",
    "99999999999999天前", "0001-01-01T00:00:00+14:00",
])
def test_unparseable_and_impossible_times_are_refused_naming_the_text(text):
    with pytest.raises(ValueError, match=r"^unparseable time ") as caught:
        parse_time(text, NOW)
    assert repr(text) in str(caught.value)


def test_times_format_for_feeds_and_posts_in_beijing_time():
    moment = datetime(2021, 12, 21, 12, 40, 26, tzinfo=timezone.utc)
    assert format_rfc3339(moment) == "2021-12-21T20:40:26+08:00"
    assert format_jekyll(moment) == "2021-12-21 20:40:26 +0800"
    assert format_rfc3339(beijing(2021, 12, 21, 20, 40, 26).replace(microsecond=5)) == "2021-12-21T20:40:26+08:00"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda dt: dt.replace(microsecond=0)))
def test_any_printed_source_time_parses_back_to_itself(naive):
    expected = naive.replace(tzinfo=BEIJING)
    assert parse_time(naive.strftime("%Y-%m-%d %H:%M:%S"), NOW) == expected
    assert parse_time(naive.strftime("%Y年%m月%d日 %H:%M"), NOW) == expected.replace(second=0)
    assert parse_time(format_rfc3339(expected), NOW) == expected
