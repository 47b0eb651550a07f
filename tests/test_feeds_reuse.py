"""Publishing takes unchanged entries' bytes from the published files, and only bytes that are exactly right."""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from crawler.config import Config, parse_config
from crawler.samplesite import load_bundled
from crawler.store import ALL, Article, Store, open_store
from crawler.store.sqlite import SQLiteStore
from crawler.text.clean import clean_html
from crawler.text.times import BEIJING
from feeds import publish as publishing
from feeds.archive import subscribed
from feeds.build import FeedSpec, Fragments, spec_for
from feeds.pages import entry_rows
from feeds.publish import publish
from feeds.reuse import RECORD, Kept, Record

from outputkit import snapshot

T0 = datetime(2022, 1, 7, 8, 14, 19, tzinfo=BEIJING)
MEDIA = "shanghaizhengquanbao"


def make_config(folder: Path, output: str = "public", store: str = "sqlite:///finews.db", **site: object) -> Config:
    return parse_config({"site": {"output_dir": output, "base_url": "https://finews.example.com/", **site},
                         "store": {"url": store}}, file="test.toml", base_dir=folder, environ={})


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    return "sqlite:///finews.db" if request.param == "sqlite" else request.getfixturevalue("redis_url")


def sample_articles(count: int = 12) -> list[Article]:
    """Real articles of the sample site, cleaned as the crawl cleans them, under one media outlet, a minute apart."""
    samples = [sample for sample in load_bundled() if sample.html][:count]
    return [Article(article_id=sample.article_id, title=sample.title, link=sample.url_w,
                    published=T0 - timedelta(minutes=n), categories={MEDIA: "上海证券报"}, media=sample.media,
                    html=clean_html(sample.html, "https://finance.eastmoney.com/"), summary=sample.digest,
                    content_hash=f"sample{n}")
            for n, sample in enumerate(samples)]


def restart() -> None:
    """Forget the fragments the last publish carried, as a new process would."""
    publishing._carried.clear()


def published_files(config: Config) -> dict[str, bytes]:
    """Every published file's bytes (not the records, which say how the files were built)."""
    return {name: data for name, (data, _) in snapshot(config.site.output_dir).items() if not name.endswith(RECORD)}


def full_build(config: Config, store: Store) -> dict[str, bytes]:
    """What a full publish with the same settings into a fresh folder gives: every byte built from the store."""
    output = config.site.output_dir.with_name("rebuilt")
    shutil.rmtree(output, ignore_errors=True)
    rebuilt = config.model_copy(update={"site": config.site.model_copy(update={"output_dir": output})})
    restart()
    publish(rebuilt, store, full=True)
    return published_files(rebuilt)


def held(folder: Path, config: Config, versions: list[tuple[str, int | None]], context: str = "") -> dict[str, Kept]:
    """The entries of these versions that the folder's files hold as its record says."""
    return Record.read(folder, config.site, context).kept(versions)


def new_article(n: int) -> Article:
    return Article(article_id=f"{202201080000000000 + n}", title=f"新文章{n}", link=f"https://finance.eastmoney.com/a/{n}.html",
                   published=T0 + timedelta(minutes=n), categories={MEDIA: "上海证券报"}, media="上海证券报",
                   html=f"<p>新正文{n}</p>", summary=f"新摘要{n}", content_hash=f"new{n}")


def test_an_incremental_publish_takes_every_unchanged_entry_from_the_files_and_writes_what_a_full_build_writes(
        tmp_path, store_url):
    config = make_config(tmp_path, store=store_url)
    with open_store(config.store.url) as store:
        articles = sample_articles()
        for article in articles:
            store.upsert(article, T0)
        publish(config, store)
        restart()
        store.upsert(new_article(1), T0)
        edited = articles[3]
        store.upsert(replace(edited, title=edited.title + "（更新）", content_hash="edited"), T0 + timedelta(hours=1))
        report = publish(config, store)
        assert report.serialized == 2  # the new article and the edited one, once for all/ and its outlet
        assert report.reused == len(articles) - 1
        assert store.runs()["@publish"].counts["reused"] == report.reused
        assert published_files(config) == full_build(config, store)


def test_an_incremental_publish_reads_from_the_store_no_article_the_archive_plan_read_already(tmp_path):
    config = make_config(tmp_path)
    asked: list[str] = []

    class CountingStore(SQLiteStore):
        def get_many(self, article_ids):
            article_ids = list(article_ids)
            asked.extend(article_ids)
            return super().get_many(article_ids)

    with open_store(config.store.url) as store:
        for article in sample_articles():
            store.upsert(article, T0)
        publish(config, store)
        restart()
        store.upsert(new_article(1), T0)
    store = CountingStore(config.store.url[len("sqlite:///"):])
    try:
        report = publish(config, store)
        assert report.categories == [ALL, MEDIA] and report.serialized == 1
        assert asked == []  # the new article came from the archive plan's read of the changes, the rest from the files
        feeds = {name: data for name, data in published_files(config).items() if "archive" not in name}
        assert feeds == {name: data for name, data in full_build(config, store).items() if "archive" not in name}
    finally:
        store.close()


def test_a_media_name_filled_in_by_a_later_sighting_reaches_every_feed_of_the_article(tmp_path, store_url):
    config = make_config(tmp_path, store=store_url)
    author = "<name>上海证券报</name>"
    with open_store(config.store.url) as store:
        articles = [replace(article, media=None) for article in sample_articles(4)]
        for article in articles:
            store.upsert(article, T0)
        publish(config, store)
        assert author not in (config.site.output_dir / MEDIA / "atom.xml").read_text("utf-8")
        store.upsert(replace(articles[1], media="上海证券报"), T0)  # seen again, now with its media
        report = publish(config, store)
        assert report.serialized == 1 and report.reused == len(articles) - 1
        for slug in (ALL, MEDIA):
            assert (config.site.output_dir / slug / "atom.xml").read_text("utf-8").count(author) == 1
        assert published_files(config) == full_build(config, store)


def test_the_bytes_held_for_an_entry_are_those_serializing_it_gives(tmp_path):
    config, folder, spec, versions = published_media(tmp_path)
    taken = held(folder, config, versions)
    assert list(taken) == [article.article_id for article in spec.entries] == [i for i, _ in versions]
    assert [kept.fragment for kept in taken.values()] == Fragments().of(config.site, spec.items)
    assert [kept.shown.row for kept in taken.values()] == entry_rows(spec.items)
    assert [kept.updated for kept in taken.values()] == [entry.updated for entry in spec.items]


def test_an_entry_whose_change_number_moved_is_not_taken_though_its_bytes_are_intact(tmp_path):
    config, folder, _, versions = published_media(tmp_path)
    moved = [(article_id, change + 1 if n == 2 else change) for n, (article_id, change) in enumerate(versions)]
    assert list(held(folder, config, moved)) == [i for n, (i, _) in enumerate(versions) if n != 2]
    assert held(folder, config, [(versions[0][0], None)]) == {}  # a store that kept no change number


def test_a_record_under_another_context_is_not_taken(tmp_path):
    config, folder, _, versions = published_media(tmp_path)
    assert held(folder, config, versions, context="a topic's definition") == {}


def test_an_entry_whose_bytes_were_changed_on_disk_is_serialized_again(tmp_path):
    config = make_config(tmp_path, archives=False)
    with open_store(config.store.url) as store:
        articles = sample_articles()
        for article in articles:
            store.upsert(article, T0)
        publish(config, store)
        title = articles[5].title.encode("utf-8")
        for slug in (ALL, MEDIA):  # the entry is in both feeds: either's bytes would do
            atom = config.site.output_dir / slug / "atom.xml"
            data = atom.read_bytes()
            assert data.count(title) == 1
            mtime = atom.stat().st_mtime_ns
            atom.write_bytes(data.replace(title, title[::-1]))  # same length: every recorded span still lines up
            os.utime(atom, ns=(mtime, mtime))  # as `cp -p` or a restore leaves it: the change time still shows it
        restart()
        store.upsert(new_article(1), T0)
        report = publish(config, store)
        assert report.reused == len(articles) - 1 and report.serialized == 2
        assert published_files(config) == full_build(config, store)


def published_media(tmp_path: Path) -> tuple[Config, Path, FeedSpec, list[tuple[str, int | None]]]:
    """The sample articles published, without archives: the config, the media outlet's folder, its feed and the
    store's versions of its entries."""
    config = make_config(tmp_path, archives=False)
    with open_store(config.store.url) as store:
        for article in sample_articles():
            store.upsert(article, T0)
        publish(config, store)
        spec = spec_for(config.site, MEDIA, "上海证券报", store.latest(MEDIA, config.site.feed_size))
        versions = store.latest_changes(MEDIA, config.site.feed_size)
    return config, config.site.output_dir / MEDIA, spec, versions


def test_the_files_a_record_describes_are_taken_as_they_are_without_checking_each_entry(tmp_path):
    config, folder, spec, versions = published_media(tmp_path)
    record = json.loads((folder / RECORD).read_bytes())
    for entry in record["entries"]:
        entry[2] = "0" * 32  # no entry's bytes match this checksum
    (folder / RECORD).write_text(json.dumps(record))
    assert len(held(folder, config, versions)) == len(spec.items)  # nothing wrote to the files since
    (folder / "feed.json").write_bytes((folder / "feed.json").read_bytes())  # the same bytes, but written
    assert held(folder, config, versions) == {}


def test_files_out_of_step_with_their_record_after_a_killed_publish_give_no_wrong_byte(tmp_path):
    config = make_config(tmp_path, archives=False)
    folders = [config.site.output_dir / slug for slug in (ALL, MEDIA)]
    with open_store(config.store.url) as store:
        for article in sample_articles():
            store.upsert(article, T0)
        publish(config, store)
        old_rss = {folder: (folder / "rss.xml").read_bytes() for folder in folders}
        store.upsert(new_article(1), T0)
        publish(config, store)
        for folder in folders:  # as if killed after renaming atom.xml and feed.json only
            (folder / "rss.xml").write_bytes(old_rss[folder])
        restart()
        store.upsert(new_article(2), T0)
        report = publish(config, store)
        assert report.reused == 0  # every entry moved in rss.xml: none of them matches its record
        assert published_files(config) == full_build(config, store)


def test_a_record_vouches_for_the_ids_its_feeds_files_hold_only_while_they_are_the_files_it_describes(tmp_path):
    config, folder, spec, versions = published_media(tmp_path)
    ids = {entry.id for entry in spec.items}
    record = Record.read(folder, config.site)
    assert record.published() == ids == set(subscribed(folder))  # known before any entry is asked for
    record.kept(versions[:1])
    assert record.published() == ids
    (folder / "feed.json").write_bytes((folder / "feed.json").read_bytes())
    record = Record.read(folder, config.site)
    assert record.published() is None
    record.kept(versions)
    assert record.published() is None


def test_a_torn_record_one_with_a_span_past_its_file_or_one_under_another_site_title_is_not_taken(tmp_path):
    config, folder, spec, versions = published_media(tmp_path)
    record = (folder / RECORD).read_bytes()
    renamed = make_config(tmp_path, archives=False, title="新站名")
    assert held(folder, renamed, versions) == {}
    (folder / RECORD).write_bytes(record[:len(record) // 2])
    assert held(folder, config, versions) == {}
    for index, value in ((3, [0, 1 << 40]), (6, "not a time"), (6, "2022-01-07T08:14:19"), (7, ["not", "a row"])):
        torn = json.loads(record)
        torn["entries"][0][index] = value  # refused before any entry is taken
        (folder / RECORD).write_text(json.dumps(torn))
        assert held(folder, config, versions) == {}, value
    (folder / RECORD).write_bytes(record)
    assert len(held(folder, config, versions)) == len(spec.items)


def test_a_record_is_never_written_or_read_through_a_symlink(tmp_path, caplog):
    config = make_config(tmp_path, archives=False)
    outside = tmp_path / "outside.json"
    with open_store(config.store.url) as store:
        for article in sample_articles(3):
            store.upsert(article, T0)
        publish(config, store)
        record = config.site.output_dir / ALL / RECORD
        outside.write_bytes(record.read_bytes())  # a record that would hold, if it were followed
        record.unlink()
        os.symlink(outside, record)
        assert held(record.parent, config, store.latest_changes(ALL, config.site.feed_size)) == {}
        store.upsert(new_article(1), T0)
        with caplog.at_level(logging.WARNING, logger="feeds.reuse"):
            report = publish(config, store)
    assert record.is_symlink() and len(json.loads(outside.read_bytes())["entries"]) == 3  # the first publish's
    assert ALL in report.categories and not report.failed
    assert f"feed folder {config.site.output_dir / ALL}: the record of its entries not written" in caplog.text
