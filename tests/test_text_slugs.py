"""Category slugs: phrase-aware pinyin of the media name, [a-z0-9-] only, config overrides first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from crawler.text.slugs import categories_for, category_display_name, category_slug

ARTICLES = Path(__file__).parent.parent / "crawler" / "samplesite" / "data" / "articles.jsonl"
SLUG_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@pytest.mark.parametrize("media, slug", [
    ("上海证券报", "shanghaizhengquanbao"),
    ("重庆晨报", "chongqingchenbao"),
    ("中国银行保险报", "zhongguoyinhangbaoxianbao"),
    ("厦门日报", "xiamenribao"),
    ("21世纪经济报道", "21shijijingjibaodao"),
    ("Wind", "wind"),
    ("36氪", "36ke"),
    ("券商中国", "quanshangzhongguo"),
    ("财联社", "cailianshe"),
    ("证券时报网", "zhengquanshibaowang"),
    ("界面新闻", "jiemianxinwen"),
    ("中国证券报·中证网", "zhongguozhengquanbaozhongzhengwang"),
])
def test_media_names_become_phrase_aware_pinyin_slugs(media, slug):
    assert category_slug(media) == slug


@pytest.mark.parametrize("media, slug", [
    ("  上海证券报\n", "shanghaizhengquanbao"),
    ("Ｗｉｎｄ", "wind"),
    ("３６氪", "36ke"),
    ("e公司", "egongsi"),
    ("Wall Street Journal", "wallstreetjournal"),
    ("A-Share News", "a-sharenews"),
    ("../../etc/passwd", "etcpasswd"),
    ("..\\..\\财联社", "cailianshe"),
    ("证券时报/深圳", "zhengquanshibaoshenzhen"),
])
def test_slugs_keep_only_lower_case_letters_digits_and_hyphens(media, slug):
    assert category_slug(media) == slug


def test_every_sample_category_is_the_slug_and_display_name_of_its_media():
    records = [json.loads(line) for line in ARTICLES.read_text(encoding="utf-8").splitlines()]
    media_records = [record for record in records if record["kind"] == "media"]
    assert len(media_records) >= 3
    for record in media_records:
        assert category_slug(record["media"]) == record["category"]
        assert category_display_name(record["media"]) == record["category_name"]


def test_the_display_name_is_the_media_name_and_news():
    assert category_display_name("上海证券报") == "上海证券报新闻"
    assert category_display_name(" 财联社 ") == "财联社新闻"


def test_an_override_wins_for_that_exact_media_name_only():
    overrides = {"重庆晨报": "cqcb", "券商中国": "quanshang-china"}
    assert category_slug("重庆晨报", overrides) == "cqcb"
    assert category_slug(" 重庆晨报 ", overrides) == "cqcb"
    assert category_slug("券商中国", overrides) == "quanshang-china"
    assert category_slug("重庆日报", overrides) == "chongqingribao"
    assert category_slug("重庆晨报", {}) == "chongqingchenbao"


def test_an_override_that_is_not_a_slug_is_refused():
    with pytest.raises(ValueError, match="not"):
        category_slug("重庆晨报", {"重庆晨报": "../cq"})


@pytest.mark.parametrize("media", ["", "   ", "·—", "！！！", "../..", "《》"])
def test_a_media_name_without_slug_characters_is_refused(media):
    with pytest.raises(ValueError, match="no usable category slug"):
        category_slug(media)


@given(st.text(max_size=30))
def test_a_slug_is_never_anything_but_a_safe_folder_name(media):
    try:
        slug = category_slug(media)
    except ValueError:
        return
    assert slug and set(slug) <= SLUG_CHARACTERS
    assert not slug.startswith("-") and not slug.endswith("-")


def test_a_sources_fixed_category_wins_over_the_media_category():
    assert categories_for({}, "emnews", "东财滚动新闻", "上海证券报") == {"emnews": "东财滚动新闻"}
    assert categories_for({}, "kuaixun", None, None) == {"kuaixun": "kuaixun"}
    assert categories_for({}, None, None, "上海证券报") == {"shanghaizhengquanbao": "上海证券报新闻"}
    assert categories_for({"上海证券报": "ssb"}, None, None, "上海证券报") == {"ssb": "上海证券报新闻"}
    assert categories_for({}, None, None, None) == {}
