"""The normalize step against a real store: unchanged source input is recognized before cleaning."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from crawler.config import parse_config
from crawler.items import ArticleItem, UnchangedSource
from crawler.pipelines import normalize, normalize_unless_known
from crawler.samplesite import synthetic
from crawler.store import Article, Outcome, only_categories, open_store
from crawler.text.times import BEIJING

CRAWLED = datetime(2026, 8, 1, 9, 0, tzinfo=BEIJING)


@pytest.fixture
def config(tmp_path: Path):
    return parse_config({}, file="test", base_dir=tmp_path, environ={})


@pytest.fixture
def store(tmp_path: Path):
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


@pytest.fixture
def item() -> ArticleItem:
    sample = synthetic(1, 1)[0]
    return ArticleItem(source="choice-media", source_kind="choice", article_id=sample.article_id,
                       title=sample.title, time_text=sample.time, crawled_at=CRAWLED, media="上海证券报",
                       link=f"https://finance.eastmoney.com/a/{sample.article_id}.html",
                       content=sample.html)


def test_an_item_from_stored_source_input_is_not_cleaned_again_and_gains_its_new_category(config, store, item):
    first = normalize_unless_known(item, config, store)
    assert isinstance(first, Article) and first.html and first.source_hash
    assert store.upsert(first, CRAWLED).outcome is Outcome.NEW
    again = normalize_unless_known(replace(item, media="证券时报"), config, store)
    assert again == UnchangedSource("choice-media", first.article_id, ("zhengquanshibao",))
    stored = store.get(first.article_id)
    assert set(only_categories(stored.categories)) == {"shanghaizhengquanbao", "zhengquanshibao"}
    assert (stored.html, stored.updated) == (first.html, first.published)


def test_an_item_listed_as_not_stored_is_cleaned_without_asking_the_store(config, store, item):
    store.upsert(normalize(item, config), CRAWLED)
    listed_new = normalize_unless_known(replace(item, maybe_stored=False), config, store)
    assert isinstance(listed_new, Article) and listed_new.html
    assert store.upsert(listed_new, CRAWLED).outcome is Outcome.UNCHANGED


def test_an_item_with_edited_content_is_cleaned_and_updates_the_article(config, store, item):
    store.upsert(normalize(item, config), CRAWLED)
    edited = replace(item, content=item.content + "<p>（更正）</p>")
    changed = normalize_unless_known(edited, config, store)
    assert isinstance(changed, Article) and "（更正）" in changed.html
    result = store.upsert(changed, CRAWLED)
    assert result.outcome is Outcome.UPDATED and result.article.source_hash == changed.source_hash


def test_normalizing_the_same_item_twice_gives_equal_articles_with_equal_hashes(config, item):
    assert normalize(item, config) == normalize(item, config)
    assert normalize(item, config).source_hash != normalize(replace(item, title=item.title + "！"), config).source_hash
