"""Publishing from a real store: valid, ordered, stable and atomic feed files; only what changed is rewritten."""

from __future__ import annotations

import json
import logging
import os
import time
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from crawler.config import Config, load_config, parse_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, PUBLISH_RUN, Article, is_category, open_store
from crawler.store.sqlite import SQLiteStore
from crawler.text.times import BEIJING
from feeds.build import entry_id
from feeds.publish import IOV_MAX, UnsafeSlugError, category_dir, publish, stage, write_atomic
from feeds.reuse import RECORD

from crawlkit import expected_articles, run_finews, write_config
from feedcheck import check_atom, check_json_feed, check_rss
from outputkit import OLD_MTIME, age, built, served, snapshot

FEED_FILES = ("rss.xml", "atom.xml", "feed.json")
FOLDER_FILES = (*FEED_FILES, "index.html")
T0 = datetime(2022, 1, 7, 8, 14, 19, tzinfo=BEIJING)


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


def make_config(folder: Path, **site: object) -> Config:
    """A config publishing into `folder`/public; without archives unless asked (test_feeds_archive.py has them)."""
    return parse_config({"site": {"output_dir": "public", "base_url": "https://finews.example.com/",
                                  "archives": False, **site},
                         "store": {"url": "sqlite:///finews.db"}}, file="test.toml", base_dir=folder, environ={})


def article(n: int, categories: dict[str, str], **fields: object) -> Article:
    article_id = f"{202201070000000000 + n}"
    values = dict(article_id=article_id, title=f"标题{n}", link=f"https://finance.eastmoney.com/a/{article_id}.html",
                  published=T0 - timedelta(minutes=n), categories=categories, media="券商中国",
                  html=f"<p>正文{n}</p>", summary=f"摘要{n}", content_hash=f"hash{n}")
    values.update(fields)
    return Article(**values)


def test_every_article_is_in_all_and_in_each_of_its_categories_newest_first(site_dir):
    run_finews("publish", "--config", str(site_dir / "finews.toml"), check=True)
    public = site_dir / "public"
    expected = expected_articles()
    feeds = {"all": set(expected)}
    for article_id, want in expected.items():
        for slug in want["categories"]:
            feeds.setdefault(slug, set()).add(article_id)
    for slug, ids in feeds.items():
        order = [entry_id(i) for i in sorted(ids, key=lambda i: (expected[i]["time"], i), reverse=True)]
        atom = check_atom((public / slug / "atom.xml").read_bytes())
        rss = check_rss((public / slug / "rss.xml").read_bytes())
        feed = check_json_feed((public / slug / "feed.json").read_bytes())
        assert [e.id for e in atom.entries] == [e.id for e in rss.entries] == [i["id"] for i in feed["items"]] == order
        for entry in atom.entries:
            want = expected[entry.id.rsplit("/", 1)[1]]
            assert entry.title == want["title"]
            assert entry.published == want["time"].replace(" ", "T") + "+08:00"
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
    age(site_dir / "public")
    first = served(site_dir / "public")
    run_finews("publish", "--all", "--config", config, check=True)
    assert served(site_dir / "public") == first
    assert {"index.html", "opml.xml", "all/rss.xml", "emnews/atom.xml"} <= set(first)
    assert not [p for p in (site_dir / "public").rglob("*.tmp")]


def test_an_incremental_publish_rewrites_only_the_changed_category_all_and_the_index(site_dir):
    config = load_config(site_dir / "finews.toml")
    with open_store(config.store.url) as store:
        publish(config, store)
        age(config.site.output_dir)
        before = snapshot(config.site.output_dir)
        original = store.get("202112212221504115")
        store.upsert(replace(original, title="改过的标题", content_hash="changed"), T0)
        report = publish(config, store)
        again = publish(config, store)
    after = snapshot(config.site.output_dir)
    rewritten = {name for name in after if after[name] != before.get(name)}
    archives = {f"{slug}/archive/2021-12.{suffix}" for slug in ("shanghaizhengquanbao", "all")
                for suffix in ("atom", "json")}
    records = {f"{slug}/{RECORD}" for slug in ("shanghaizhengquanbao", "all")}
    assert rewritten == {f"{slug}/{name}" for slug in ("shanghaizhengquanbao", "all") for name in FOLDER_FILES} | {
        "index.html", ".archive-state.json"} | archives | records
    assert report.categories == ["all", "shanghaizhengquanbao"]
    assert sorted(report.written) == sorted(config.site.output_dir / name for name in rewritten - records)
    assert again.categories == again.written == []
    entry = check_atom((config.site.output_dir / "shanghaizhengquanbao" / "atom.xml").read_bytes()).entries[0]
    assert entry.title == "改过的标题" and entry.id == entry_id("202112212221504115")
    assert entry.published == "2021-12-21T20:40:26+08:00" and entry.updated == "2022-01-07T08:14:19+08:00"


def test_a_publish_that_fails_midway_leaves_published_files_whole_and_retries_later(site_dir):
    config = load_config(site_dir / "finews.toml")
    with open_store(config.store.url) as store:
        publish(config, store, full=True)
        original = store.get("202112212221504115")
        store.upsert(replace(original, title="改过的标题", content_hash="changed"), T0)
    age(config.site.output_dir)
    before = snapshot(config.site.output_dir)

    class FailingStore(SQLiteStore):
        def latest_changes(self, category, limit, offset=0):
            if category == "shanghaizhengquanbao":
                raise RuntimeError("store went away")
            return super().latest_changes(category, limit, offset)

    store = FailingStore(config.store.url[len("sqlite:///"):])
    try:
        with pytest.raises(RuntimeError, match="store went away"):
            publish(config, store)
        assert snapshot(config.site.output_dir) == before
        assert set(store.dirty_categories()) == {"all", "shanghaizhengquanbao"}
    finally:
        store.close()
    with open_store(config.store.url) as store:
        report = publish(config, store)
        assert report.categories == ["all", "shanghaizhengquanbao"] and store.dirty_categories() == {}
    entry = check_atom((config.site.output_dir / "shanghaizhengquanbao" / "atom.xml").read_bytes()).entries[0]
    assert entry.title == "改过的标题"


def test_a_new_base_url_changes_self_links_but_never_entry_ids(site_dir):
    config = load_config(site_dir / "finews.toml")
    moved = config.model_copy(update={"site": config.site.model_copy(update={"base_url": "https://news.example.org/feeds/"})})
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
    rss = etree.fromstring((config.site.output_dir / "emnews" / "rss.xml").read_bytes())
    assert rss.find("channel/{http://www.w3.org/2005/Atom}link").get("href") == "https://news.example.org/feeds/emnews/rss.xml"


def test_index_and_opml_list_every_category_with_its_feeds(site_dir):
    run_finews("publish", "--config", str(site_dir / "finews.toml"), check=True)
    public = site_dir / "public"
    html = (public / "index.html").read_text(encoding="utf-8")
    outlines = etree.fromstring((public / "opml.xml").read_bytes()).findall(".//outline")
    config = load_config(site_dir / "finews.toml")
    with open_store(config.store.url) as store:
        categories = [c for c in store.categories() if is_category(c.slug)]
        total = store.count(ALL)
    assert len(outlines) == len(categories)
    assert not any(o.get("xmlUrl").endswith("/all/rss.xml") for o in outlines)
    for category in categories:
        assert f'href="{category.slug}/"' in html and category.name in html
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


def test_feeds_hold_the_feed_size_newest_entries_of_each_category(tmp_path):
    config = make_config(tmp_path, feed_size=3)
    with open_store(config.store.url) as store:
        for n in range(10):
            store.upsert(article(n, {"quanshangzhongguo": "券商中国新闻"} if n % 2 else {"emnews": "东财滚动新闻"}), T0)
        report = publish(config, store)
    public = config.site.output_dir
    assert report.categories == ["all", "emnews", "quanshangzhongguo"]
    ids = {slug: [e.id for e in check_atom((public / slug / "atom.xml").read_bytes()).entries]
           for slug in report.categories}
    assert ids == {"all": [entry_id(f"{202201070000000000 + n}") for n in (0, 1, 2)],
                   "emnews": [entry_id(f"{202201070000000000 + n}") for n in (0, 2, 4)],
                   "quanshangzhongguo": [entry_id(f"{202201070000000000 + n}") for n in (1, 3, 5)]}
    for slug in report.categories:
        check_rss((public / slug / "rss.xml").read_bytes())
        assert len(check_json_feed((public / slug / "feed.json").read_bytes())["items"]) == 3


def test_a_category_whose_items_were_all_pruned_keeps_its_files(tmp_path):
    config = make_config(tmp_path)
    with open_store(config.store.url) as store:
        store.upsert(article(1, {"quanshangzhongguo": "券商中国新闻", "emnews": "东财滚动新闻"}), T0)
        store.upsert(article(2, {"emnews": "东财滚动新闻"}), T0)
        publish(config, store)
        folder = config.site.output_dir / "quanshangzhongguo"
        before = snapshot(folder)
        assert store.prune("quanshangzhongguo", 0) == 1
        report = publish(config, store)
        assert store.dirty_categories() == {}
    assert "quanshangzhongguo" not in report.categories and snapshot(folder) == before
    assert [e.id for e in check_atom(before["atom.xml"][0]).entries] == [entry_id("202201070000000001")]


def test_unsafe_category_slugs_are_refused_and_everything_else_is_published(tmp_path, caplog):
    config = make_config(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (config.site.output_dir).mkdir()
    (config.site.output_dir / "linked").symlink_to(outside, target_is_directory=True)
    with open_store(config.store.url) as store:
        store.upsert(article(1, {"../evil": "坏新闻", "good": "好新闻"}), T0)
        store.upsert(article(2, {"linked": "链接新闻", "Upper": "大写新闻"}), T0)
        with caplog.at_level(logging.ERROR, logger="feeds.publish"):
            report = publish(config, store)
        assert set(store.dirty_categories()) == {"../evil", "linked", "Upper"}
    assert report.refused == ["../evil", "Upper", "linked"]
    assert report.categories == ["all", "good"]
    assert list(outside.iterdir()) == [] and not (tmp_path / "evil").exists()
    assert sorted(p.name for p in config.site.output_dir.iterdir()) == ["all", "good", "index.html", "linked",
                                                                        "opml.xml"]
    assert "refusing to publish category '../evil'" in caplog.text and "outside" in caplog.text
    index = (config.site.output_dir / "index.html").read_text(encoding="utf-8")
    assert 'href="good/"' in index and "evil" not in index and "linked/" not in index
    with pytest.raises(UnsafeSlugError):
        category_dir(config.site.output_dir, "..")


def test_a_full_publish_writes_the_same_bytes_as_publishing_each_category_on_its_own(tmp_path):
    full, single = make_config(tmp_path), make_config(tmp_path, output_dir="single")
    with open_store(full.store.url) as store:
        for n in range(30):
            store.upsert(article(n, {f"media{n % 6}": f"媒体{n % 6}新闻"}, html=f"<p>{'正文' * n}{n}</p>"), T0)
        report = publish(full, store, full=True)
        assert report.categories == [ALL, *(f"media{c}" for c in range(6))]
        for slug in report.categories:
            store.mark_dirty([slug])
            assert publish(single, store).categories == [slug]
    published = built(full.site.output_dir)
    assert len(published) == (len(FOLDER_FILES) + 1) * 7 + 2  # each folder's files and its record; index and OPML
    assert built(single.site.output_dir) == published


def test_a_write_failing_in_a_writer_thread_fails_that_category_only_leaving_its_files_whole_and_no_temporary_file(
        tmp_path, monkeypatch, caplog):
    config = make_config(tmp_path)
    with open_store(config.store.url) as store:
        for n in range(12):
            store.upsert(article(n, {f"media{n % 3}": f"媒体{n % 3}新闻"}), T0)
        publish(config, store)
        store.upsert(article(0, {"media0": "媒体0新闻"}, title="改过的标题", content_hash="changed"), T0)
        age(config.site.output_dir)
        before = snapshot(config.site.output_dir)
        fsync = os.fsync

        def failing_fsync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(config.site.output_dir / "all" / ".feed.json.")):
                raise OSError(28, "No space left on device")
            fsync(fd)

        monkeypatch.setattr(os, "fsync", failing_fsync)
        with caplog.at_level(logging.ERROR, logger="feeds.publish"):
            report = publish(config, store)
        assert list(report.failed) == [ALL] and "No space left" in report.failed[ALL]
        assert report.categories == ["media0"]
        after = snapshot(config.site.output_dir)
        assert {name: got for name, got in after.items() if name.startswith("all/")} == \
            {name: got for name, got in before.items() if name.startswith("all/")}
        assert not [name for name in after if name.endswith(".tmp")]
        assert "category all not published: OSError" in caplog.text and "Traceback" not in caplog.text
        assert set(store.dirty_categories()) == {ALL}
        assert store.runs()[PUBLISH_RUN].outcome == "failed"
        monkeypatch.setattr(os, "fsync", fsync)
        assert publish(config, store).categories == [ALL]
        assert store.runs()[PUBLISH_RUN].outcome == "ok"
    assert check_atom((config.site.output_dir / "media0" / "atom.xml").read_bytes()).entries[0].title == "改过的标题"


def test_write_atomic_skips_identical_bytes_and_replaces_changed_ones_with_a_readable_file(tmp_path):
    path = tmp_path / "feeds" / "all" / "rss.xml"
    assert write_atomic(path, b"one") is True
    os.utime(path, (OLD_MTIME, OLD_MTIME))
    assert write_atomic(path, b"one") is False
    assert path.stat().st_mtime == OLD_MTIME
    inode = path.stat().st_ino
    assert write_atomic(path, b"two") is True
    assert path.read_bytes() == b"two" and path.stat().st_mtime != OLD_MTIME
    assert path.stat().st_ino != inode
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["rss.xml"]


def test_a_document_staged_from_more_pieces_than_one_system_call_takes_holds_them_all_in_order(tmp_path):
    path = tmp_path / "archive" / "2026-08.atom"
    pieces = [f"<entry>{n}</entry>\n".encode() if n % 7 else memoryview(b"") for n in range(3 * IOV_MAX + 5)]
    pieces += [memoryview(b"x" * 300_000)[1:]]
    tmp = stage(path, pieces)
    assert tmp is not None and tmp.parent == path.parent
    assert tmp.read_bytes() == b"".join(pieces) and tmp.stat().st_mode & 0o777 == 0o644
    os.replace(tmp, path)
    assert stage(path, pieces) is None  # the file holds these bytes already


def test_write_atomic_leaves_the_old_file_and_no_temporary_file_when_writing_fails(tmp_path):
    path = tmp_path / "rss.xml"
    write_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["rss.xml"]
    folder = tmp_path / "feed.json"
    (folder / "occupied").mkdir(parents=True)
    with pytest.raises(OSError):
        write_atomic(folder, b"new")
    assert [p.name for p in folder.iterdir()] == ["occupied"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed.json", "rss.xml"]


def test_a_publish_removes_stale_temporary_files_of_its_own_pattern_only(tmp_path):
    config = make_config(tmp_path)
    output = config.site.output_dir
    (output / "all").mkdir(parents=True)
    stale = [output / ".index.html.k3j_9x2a.tmp", output / "all" / ".rss.xml.abcd1234.tmp",
             output / "..archive-state.json.x1y2z3w4.tmp"]  # a dotfile's: its name begins with its own dot
    kept = [output / "all" / ".notes.tmp", output / "all" / "mine.tmp", output / ".rss.xml.ABCD1234.tmp"]
    for path in stale + kept:
        path.write_bytes(b"partial")
        os.utime(path, (OLD_MTIME, OLD_MTIME))
    fresh = output / "all" / ".atom.xml.zzzz0000.tmp"
    fresh.write_bytes(b"a running publish's")
    os.utime(fresh, (time.time() + 3600, time.time() + 3600))
    with open_store(config.store.url) as store:
        store.upsert(article(1, {"good": "好新闻"}), T0)
        report = publish(config, store)
    assert sorted(report.stale_removed) == sorted(stale)
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept + [fresh])


def test_a_publish_removes_stale_temporary_files_where_it_writes_and_a_full_one_everywhere(tmp_path):
    config = make_config(tmp_path, archives=True)
    output = config.site.output_dir
    with open_store(config.store.url) as store:
        store.upsert(article(1, {"good": "好新闻"}), T0)
        store.upsert(article(2, {"other": "别的新闻"}), T0)
        publish(config, store)
        stale = {folder: output / folder / ".rss.xml.abcd1234.tmp" for folder in ("good", "other", "all/archive")}
        for path in stale.values():
            path.write_bytes(b"partial")
            os.utime(path, (OLD_MTIME, OLD_MTIME))
        store.upsert(article(3, {"good": "好新闻"}), T0)
        assert sorted(publish(config, store).stale_removed) == [stale["all/archive"], stale["good"]]
        assert stale["other"].exists()
        assert publish(config, store, full=True).stale_removed == [stale["other"]]


def test_a_publish_after_one_with_another_site_title_shows_the_new_title_on_entries_without_media(tmp_path):
    first, renamed = make_config(tmp_path, output_dir="first"), make_config(tmp_path, output_dir="renamed", title="新站名")
    with open_store(first.store.url) as store:
        store.upsert(article(1, {"media1": "媒体1新闻"}, media=None), T0)
        publish(first, store, full=True)  # leaves its fragments, with the first title, to the next publish
        publish(renamed, store, full=True)
    atom = etree.parse(str(renamed.site.output_dir / "media1" / "atom.xml"))
    names = atom.findall("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}author/"
                         "{http://www.w3.org/2005/Atom}name")
    assert [name.text for name in names] == ["新站名"]
