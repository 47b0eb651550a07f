"""Publishing a crawled sample site: valid, ordered, stable and atomic feeds."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, open_store
from crawler.store.sqlite import SQLiteStore
from feeds.build import entry_id
from feeds.publish import publish

from crawlkit import expected_articles, run_finews, write_config
from feedcheck import check_atom, check_json_feed, check_rss


@pytest.fixture(scope="module")
def crawled(tmp_path_factory) -> Path:
    """A folder holding a config and a store with the sample site crawled (and nothing published)."""
    folder = tmp_path_factory.mktemp("crawled")
    with SampleSite() as site:
        config = write_config(site, folder)
        run_finews("crawl", "--no-publish", "--config", str(config), check=True)
    return folder


@pytest.fixture
def site_dir(crawled, tmp_path) -> Path:
    shutil.copytree(crawled, tmp_path / "site")
    config = tmp_path / "site" / "finews.toml"
    text = config.read_text(encoding="utf-8").replace(str(crawled), str(tmp_path / "site"))
    config.write_text(text, encoding="utf-8")
    return tmp_path / "site"


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_article_is_in_all_and_in_each_of_its_categories_newest_first(site_dir):
    run_finews("publish", "--config", str(site_dir / "finews.toml"), check=True)
    public = site_dir / "public"
    expected = expected_articles()
    feeds = {"all": set(expected)}
    for article_id, want in expected.items():
        for slug in want["categories"]:
            feeds.setdefault(slug, set()).add(article_id)
    for slug, ids in feeds.items():
        atom = check_atom((public / slug / "atom.xml").read_bytes())
        rss = check_rss((public / slug / "rss.xml").read_bytes())
        feed = check_json_feed((public / slug / "feed.json").read_bytes())
        for parsed_ids in ([e.id for e in atom.entries], [e.id for e in rss.entries], [i["id"] for i in feed["items"]]):
            assert sorted(parsed_ids) == sorted(entry_id(i) for i in ids)
        times = [e.published_parsed for e in atom.entries]
        assert times == sorted(times, reverse=True)
        published = [i["date_published"] for i in feed["items"]]
        assert all(p.endswith("+08:00") for p in published)
        for entry in rss.entries:
            want = expected[entry.id.rsplit("/", 1)[1]]
            assert entry.title == want["title"]
    seed = check_atom((public / "shanghaizhengquanbao" / "atom.xml").read_bytes()).entries[0]
    assert seed.published == "2021-12-21T20:40:26+08:00"
    assert seed.tags[0].term == "shanghaizhengquanbao" and seed.tags[0].label == "上海证券报新闻"
    assert "5G消息联合实验室" in seed.content[0].value and seed.author == "上海证券报"
    rss_item = check_rss((public / "shanghaizhengquanbao" / "rss.xml").read_bytes()).entries[0]
    assert rss_item.published == "Tue, 21 Dec 2021 20:40:26 +0800"
    assert rss_item.tags[0].term == "上海证券报新闻"
    assert rss_item.guidislink is False


def test_publishing_all_twice_leaves_every_file_identical_and_untouched(site_dir):
    config = str(site_dir / "finews.toml")
    run_finews("publish", "--all", "--config", config, check=True)
    first = snapshot(site_dir / "public")
    run_finews("publish", "--all", "--config", config, check=True)
    assert snapshot(site_dir / "public") == first
    assert {"index.html", "opml.xml", "all/rss.xml", "emnews/atom.xml"} <= set(first)
    assert not [p for p in (site_dir / "public").rglob("*.tmp")]


def test_an_incremental_publish_rewrites_only_the_changed_category(site_dir):
    config = load_config(site_dir / "finews.toml")
    with open_store(config.store.url) as store:
        publish(config, store)
        before = snapshot(config.site.output_dir)
        changed = store.get("202112212221504115")
        store.upsert(replace(changed, title="改过的标题", content_hash="changed"), changed.first_seen)
        report = publish(config, store)
    after = snapshot(config.site.output_dir)
    rewritten = {name for name in after if after[name] != before.get(name)}
    assert rewritten == {f"{slug}/{name}" for slug in ("shanghaizhengquanbao", "all")
                         for name in ("rss.xml", "atom.xml", "feed.json")} | {"index.html"}
    assert report.categories == ["all", "shanghaizhengquanbao"]
    feed = check_atom((config.site.output_dir / "shanghaizhengquanbao" / "atom.xml").read_bytes())
    assert feed.entries[0].title == "改过的标题"
    assert feed.entries[0].id == entry_id("202112212221504115")
    assert feed.entries[0].updated != feed.entries[0].published


def test_a_publish_that_fails_midway_leaves_published_files_whole_and_retries_later(site_dir):
    config = load_config(site_dir / "finews.toml")
    with open_store(config.store.url) as store:
        publish(config, store, full=True)
    before = snapshot(config.site.output_dir)

    class FailingStore(SQLiteStore):
        def latest(self, category, limit, offset=0):
            if category == "shanghaizhengquanbao":
                raise RuntimeError("store went away")
            return super().latest(category, limit, offset)

    store = FailingStore(config.store.url[len("sqlite:///"):])
    store.mark_dirty(["emnews", "shanghaizhengquanbao"])
    with pytest.raises(RuntimeError):
        publish(config, store)
    assert snapshot(config.site.output_dir) == before
    assert set(store.dirty_categories()) >= {"emnews", "shanghaizhengquanbao"}
    assert not [p for p in config.site.output_dir.rglob("*.tmp")]
    store.close()


def test_a_new_base_url_changes_self_links_but_never_entry_ids(site_dir):
    config = load_config(site_dir / "finews.toml")
    moved = replace(config, site=replace(config.site, base_url="https://news.example.org/feeds/"))
    with open_store(config.store.url) as store:
        publish(config, store, full=True)
        old = check_atom((config.site.output_dir / "all" / "atom.xml").read_bytes())
        publish(moved, store, full=True)
    new = check_atom((config.site.output_dir / "all" / "atom.xml").read_bytes())
    assert [e.id for e in new.entries] == [e.id for e in old.entries]
    assert new.feed.id == old.feed.id
    assert any(link.href == "https://news.example.org/feeds/all/atom.xml" for link in new.feed.links)
    feed = json.loads((config.site.output_dir / "all" / "feed.json").read_bytes())
    assert feed["feed_url"] == "https://news.example.org/feeds/all/feed.json"


def test_index_and_opml_list_every_category_with_its_feeds(site_dir):
    run_finews("publish", "--config", str(site_dir / "finews.toml"), check=True)
    public = site_dir / "public"
    html = (public / "index.html").read_text(encoding="utf-8")
    opml = (public / "opml.xml").read_bytes()
    from lxml import etree

    outlines = etree.fromstring(opml).findall(".//outline")
    config = load_config(site_dir / "finews.toml")
    with open_store(config.store.url) as store:
        categories = store.categories()
        total = store.count(ALL)
    assert len(outlines) == len(categories) + 1
    for category in categories:
        assert f'href="{category.slug}/rss.xml"' in html and category.name in html
        assert f"{category.count} 篇" in html
        assert any(o.get("xmlUrl") == f"http://127.0.0.1:8080/{category.slug}/rss.xml" and o.get("type") == "rss"
                   and o.get("text") == category.name for o in outlines)
    assert f"{total} 篇" in html
    assert 'rel="alternate" type="application/atom+xml"' in html and "all/atom.xml" in html
    assert '<meta name="viewport"' in html


def test_an_empty_store_publishes_the_index_and_opml_only(tmp_path):
    (tmp_path / "finews.toml").write_text(f'[store]\nurl = "sqlite:///{tmp_path}/empty.db"\n'
                                          f'[site]\noutput_dir = "{tmp_path}/public"\n', encoding="utf-8")
    run_finews("publish", "--config", str(tmp_path / "finews.toml"), check=True)
    assert sorted(p.name for p in (tmp_path / "public").iterdir()) == ["index.html", "opml.xml"]
