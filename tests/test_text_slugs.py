"""Category slugs: phrase-aware pinyin of the media name, [a-z0-9-] only, config overrides first."""

from __future__ import annotations

import logging

import json
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from crawler.text.slugs import (RESERVED_SLUGS, SLUG_MAX_BYTES, CategorySlugs, category_display_name, category_slug,
                                 is_slug)

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


@given(st.text(max_size=300))
def test_a_slug_is_never_anything_but_a_short_safe_folder_name(media):
    try:
        slug = category_slug(media)
    except ValueError:
        return
    assert slug and set(slug) <= SLUG_CHARACTERS and is_slug(slug)
    assert not slug.startswith("-") and not slug.endswith("-")
    assert len(slug.encode()) <= SLUG_MAX_BYTES


def test_a_long_media_name_gets_a_capped_slug_with_a_stable_hash_suffix():
    long_name = "上海证券报" * 11
    slug = category_slug(long_name)
    assert len(slug) == SLUG_MAX_BYTES and slug.startswith("shanghaizhengquanbao")
    assert slug == category_slug(long_name) and slug != category_slug(long_name + "网")
    assert slug.rsplit("-", 1)[1] != category_slug("上海证券报" * 12).rsplit("-", 1)[1]


def test_a_sources_fixed_category_wins_over_the_media_category():
    slugs = CategorySlugs({})
    assert slugs.categories_for("emnews", "东财滚动新闻", "上海证券报") == {"emnews": "东财滚动新闻"}
    assert slugs.categories_for("kuaixun", None, None) == {"kuaixun": "kuaixun"}
    assert slugs.categories_for(None, None, "上海证券报") == {"shanghaizhengquanbao": "上海证券报新闻"}
    assert CategorySlugs({"上海证券报": "ssb"}).categories_for(None, None, "上海证券报") == {"ssb": "上海证券报新闻"}
    assert slugs.categories_for(None, None, None) == {}


@pytest.mark.parametrize("media", ["all", "ALL", "Ａｌｌ", "archive", "stocks", "topics"])
def test_a_media_name_whose_slug_is_reserved_gets_a_suffixed_slug_and_a_log_line(media, caplog):
    with caplog.at_level(logging.WARNING, logger="crawler.text.slugs"):
        (slug, name), = CategorySlugs({}).categories_for(None, None, media).items()
    assert slug not in RESERVED_SLUGS and slug.startswith(f"{category_slug(media)}-") and is_slug(slug)
    assert name == f"{media}新闻" and "reserved" in caplog.text


def test_different_media_names_with_one_pinyin_get_distinct_stable_slugs_and_the_first_keeps_its_url(caplog):
    slugs = CategorySlugs({})
    with caplog.at_level(logging.WARNING, logger="crawler.text.slugs"):
        first = slugs.categories_for(None, None, "ab")
        second = slugs.categories_for(None, None, "a/b")
        third = slugs.categories_for(None, None, "ＡＢ")
    assert first == {"ab": "ab新闻"}
    assert len({*first, *second, *third}) == 3
    assert "already 'ab新闻''s" in caplog.text
    assert slugs.categories_for(None, None, "a/b") == second
    later = CategorySlugs({}, known={**first, **second, **third})
    assert later.categories_for(None, None, "a/b") == second and later.categories_for(None, None, "ab") == first


def test_a_stored_category_keeps_its_slug_when_a_new_media_name_would_take_it():
    slugs = CategorySlugs({}, known={"ab": "a/b新闻"})
    assert slugs.categories_for(None, None, "a/b") == {"ab": "a/b新闻"}
    (slug, name), = slugs.categories_for(None, None, "ab").items()
    assert slug.startswith("ab-") and name == "ab新闻"


def test_overrides_still_merge_media_names_into_one_slug_on_purpose(caplog):
    slugs = CategorySlugs({"重庆晨报": "cq", "重庆日报": "cq"})
    with caplog.at_level(logging.WARNING, logger="crawler.text.slugs"):
        assert slugs.categories_for(None, None, "重庆晨报") == {"cq": "重庆晨报新闻"}
        assert slugs.categories_for(None, None, "重庆日报") == {"cq": "重庆日报新闻"}
    assert caplog.text == ""
