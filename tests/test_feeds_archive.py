"""RFC 5005 archives from a real store: one valid document per Beijing month, chained, stable, prune-proof."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from crawler.config import Config, parse_config
from crawler.store import ALL, Article, Store, open_store
from crawler.text.times import BEIJING
from feeds.archive import STATE_FILE, ArchiveSpec, read_entries, read_mark
from feeds.build import FH_NS, build_atom, build_json_feed, entry_id, prepare, spec_for
from feeds.publish import publish

from feedcheck import ATOM_NS, check_atom, check_json_feed, check_rss
from outputkit import age, served, snapshot

BASE = "https://finews.example.com/"
CRAWL = datetime(2022, 3, 20, 12, 0, tzinfo=BEIJING)
NS = {"a": ATOM_NS, "fh": FH_NS}
EMNEWS = {"emnews": "东财滚动新闻"}
QSZG = {"quanshangzhongguo": "券商中国新闻"}


def make_config(folder: Path, **site: object) -> Config:
    return parse_config({"site": {"output_dir": "public", "base_url": BASE, "feed_size": 5, **site},
                         "store": {"url": "sqlite:///finews.db"}}, file="test.toml", base_dir=folder, environ={})


def article(n: int, published: datetime, categories: dict[str, str], **fields: object) -> Article:
    article_id = f"{202201000000000000 + n}"
    values = dict(article_id=article_id, title=f"标题{n}", link=f"https://finance.eastmoney.com/a/{article_id}.html",
                  published=published, categories=categories, media="券商中国" if n % 2 else None,
                  html=f"<p>正文{n}</p>" if n % 3 else "", summary=f"摘要{n}", content_hash=f"hash{n}")
    values.update(fields)
    return Article(**values)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2022, month, day, hour, tzinfo=BEIJING)


# Jan: 1-3, Feb: 4-5 (and the last minute of Feb 28 in Beijing, 6), Mar: 7-9
TIMES = {1: at(1, 3), 2: at(1, 15), 3: at(1, 31, 23), 4: at(2, 1, 0), 5: at(2, 14),
         6: datetime(2022, 2, 28, 23, 59, tzinfo=BEIJING), 7: at(3, 1, 0), 8: at(3, 2), 9: at(3, 19)}


def fill(store: Store, numbers=TIMES) -> None:
    for n in numbers:
        store.upsert(article(n, TIMES[n], EMNEWS if n % 2 else {**EMNEWS, **QSZG}), CRAWL)


def archive(public: Path, slug: str, month: str, suffix: str = "atom") -> bytes:
    return (public / slug / "archive" / f"{month}.{suffix}").read_bytes()


def links(data: bytes) -> dict[str, str]:
    doc = etree.fromstring(data)
    return {link.get("rel"): link.get("href") for link in doc.xpath("/a:feed/a:link", namespaces=NS)}


def entry_ids(data: bytes) -> list[str]:
    return etree.fromstring(data).xpath("/a:feed/a:entry/a:id/text()", namespaces=NS)


def ids(*numbers: int) -> list[str]:
    return [entry_id(f"{202201000000000000 + n}") for n in numbers]


@pytest.fixture
def published(tmp_path) -> tuple[Config, Store]:
    config = make_config(tmp_path)
    with open_store(config.store.url) as store:
        fill(store)
        publish(config, store)
        yield config, store


def test_each_feed_has_one_valid_archive_per_beijing_month_holding_that_months_entries(published):
    config, _ = published
    public = config.site.output_dir
    assert sorted(p.name for p in (public / ALL / "archive").iterdir()) == [
        "2022-01.atom", "2022-01.json", "2022-02.atom", "2022-02.json", "2022-03.atom", "2022-03.json"]
    assert entry_ids(archive(public, ALL, "2022-01")) == ids(3, 2, 1)
    assert entry_ids(archive(public, ALL, "2022-02")) == ids(6, 5, 4)
    assert entry_ids(archive(public, ALL, "2022-03")) == ids(9, 8, 7)
    assert entry_ids(archive(public, "quanshangzhongguo", "2022-02")) == ids(6, 4)
    assert sorted(p.name for p in (public / "quanshangzhongguo" / "archive").glob("*.atom")) == [
        "2022-01.atom", "2022-02.atom", "2022-03.atom"]
    for path in public.rglob("archive/*.atom"):
        data = path.read_bytes()
        feed = check_atom(data)
        assert etree.fromstring(data).xpath("/a:feed/fh:archive", namespaces=NS), path
        assert feed.feed.id == f"tag:finews.withounder.com,2021:feed/{path.parent.parent.name}"
        json_feed = check_json_feed(path.with_suffix(".json").read_bytes())
        assert [i["id"] for i in json_feed["items"]] == entry_ids(data)
        assert json_feed["feed_url"] == f"{BASE}{path.parent.parent.name}/feed.json"


def test_archives_chain_from_the_subscription_feeds_to_the_oldest_month_and_back(published):
    config, _ = published
    public = config.site.output_dir
    url = f"{BASE}all/archive/"
    atom = links((public / ALL / "atom.xml").read_bytes())
    assert atom["prev-archive"] == f"{url}2022-03.atom" and "fh:archive" not in (public / ALL / "atom.xml").read_text()
    assert not etree.fromstring((public / ALL / "atom.xml").read_bytes()).xpath("//fh:archive", namespaces=NS)
    rss = etree.fromstring((public / ALL / "rss.xml").read_bytes())
    assert {link.get("rel"): link.get("href") for link in rss.iterfind(f"channel/{{{ATOM_NS}}}link")} == {
        "self": f"{BASE}all/rss.xml", "prev-archive": f"{url}2022-03.atom"}
    check_rss((public / ALL / "rss.xml").read_bytes())
    assert links(archive(public, ALL, "2022-03")) == {
        "self": f"{url}2022-03.atom", "current": f"{BASE}all/atom.xml", "prev-archive": f"{url}2022-02.atom",
        "alternate": f"{BASE}all/"}
    assert links(archive(public, ALL, "2022-02")) == {
        "self": f"{url}2022-02.atom", "current": f"{BASE}all/atom.xml", "prev-archive": f"{url}2022-01.atom",
        "next-archive": f"{url}2022-03.atom", "alternate": f"{BASE}all/"}
    assert links(archive(public, ALL, "2022-01")) == {
        "self": f"{url}2022-01.atom", "current": f"{BASE}all/atom.xml", "next-archive": f"{url}2022-02.atom",
        "alternate": f"{BASE}all/"}
    chain, document = [], json.loads((public / ALL / "feed.json").read_bytes())
    while "next_url" in document:
        chain.append(document["next_url"])
        document = json.loads((public / document["next_url"].removeprefix(BASE)).read_bytes())
    assert chain == [f"{url}2022-03.json", f"{url}2022-02.json", f"{url}2022-01.json"]


def test_publishing_again_leaves_every_archive_untouched(published):
    config, store = published
    age(config.site.output_dir)
    before = served(config.site.output_dir)
    assert publish(config, store).written == []
    assert publish(config, store, full=True).written == []
    assert served(config.site.output_dir) == before


def test_an_edited_entry_rewrites_only_its_month_in_all_and_its_categories(published):
    config, store = published
    public = config.site.output_dir
    age(public)
    before = snapshot(public)
    store.upsert(article(4, TIMES[4], {**EMNEWS, **QSZG}, title="改过的标题", content_hash="changed"),
                 CRAWL + timedelta(days=1))
    publish(config, store)
    after = snapshot(public)
    rewritten = {name for name in after if after[name] != before[name]}
    assert {name for name in rewritten if "/archive/" in name} == {
        f"{slug}/archive/2022-02.{suffix}" for slug in (ALL, "emnews", "quanshangzhongguo") for suffix in ("atom", "json")}
    entry = [e for e in check_atom(archive(public, "quanshangzhongguo", "2022-02")).entries if e.id == ids(4)[0]][0]
    assert entry.title == "改过的标题" and entry.updated == "2022-03-21T12:00:00+08:00"
    assert entry.published == "2022-02-01T00:00:00+08:00"


def whole_month(config: Config, store: Store, slug: str, month: str, **links: str | None) -> ArchiveSpec:
    """A month's document spec holding every entry the store has for it (built whole, not spliced)."""
    entries = [prepare(a) for a in store.latest(slug, 100) if f"{a.published:%Y-%m}" == month]
    base = spec_for(config.site, slug, store_names(store).get(slug), [])
    return ArchiveSpec(base.slug, base.name, [], config.site, month=month, prepared=tuple(entries), **links)


def store_names(store: Store) -> dict[str, str]:
    return {summary.slug: summary.name for summary in store.categories()}


def test_a_month_rewritten_around_its_kept_entries_is_byte_for_byte_the_month_built_whole(published):
    config, store = published
    public = config.site.output_dir
    store.upsert(article(5, TIMES[5], {**EMNEWS, **QSZG}, title="改过的五", content_hash="changed"),
                 CRAWL + timedelta(days=1))
    store.upsert(article(11, at(2, 20), EMNEWS), CRAWL)
    publish(config, store)
    url = f"{BASE}all/archive/"
    spec = whole_month(config, store, ALL, "2022-02", prev="2022-01", next="2022-03")
    assert [e.id for e in spec.prepared] == ids(6, 11, 5, 4) and spec.prepared[2].title == "改过的五"
    assert archive(public, ALL, "2022-02") == build_atom(spec)
    assert json.loads(archive(public, ALL, "2022-02", "json")) == json.loads(build_json_feed(spec))
    assert links(archive(public, ALL, "2022-02"))["prev-archive"] == f"{url}2022-01.atom"


def test_a_month_written_in_another_layout_is_read_entry_by_entry_and_keeps_its_pruned_entries(published):
    config, store = published
    public = config.site.output_dir
    spec = whole_month(config, store, ALL, "2022-01", next="2022-02")
    (public / ALL / "archive" / "2022-01.json").write_bytes(build_json_feed(spec))  # compact: one line
    assert store.prune(ALL, 7, settled=json.loads((public / STATE_FILE).read_text())["change"]) == 2
    store.upsert(article(3, TIMES[3], EMNEWS, title="改过的三", content_hash="changed"), CRAWL + timedelta(days=1))
    publish(config, store)
    document = archive(public, ALL, "2022-01", "json")
    assert [item["id"] for item in check_json_feed(document)["items"]] == ids(3, 2, 1)
    assert json.loads(document)["items"][0]["title"] == "改过的三" and document.count(b"\n") == 5
    assert entry_ids(archive(public, ALL, "2022-01")) == ids(3, 2, 1)


def walk(public: Path, slug: str) -> dict[str, tuple[str, str]]:
    """What a consumer gets from a feed: its subscription document, then every month down the prev-archive
    chain (each link to a document that exists, each entry in one month only); id → (updated, title) of
    the latest version."""
    found: dict[str, tuple[str, str]] = {}
    archived: list[str] = []
    data = (public / slug / "atom.xml").read_bytes()
    while True:
        for entry in check_atom(data).entries:
            if entry.id not in found or entry.updated > found[entry.id][0]:
                found[entry.id] = (entry.updated, entry.title)
        prev = links(data).get("prev-archive")
        if prev is None:
            break
        data = (public / prev.removeprefix(BASE)).read_bytes()
        archived += entry_ids(data)
    assert len(archived) == len(set(archived))
    return found


def assert_complete(public: Path, store: Store, *slugs: str) -> None:
    """Every stored entry of these feeds reaches a consumer, at its stored version."""
    for slug in slugs:
        stored = {entry.id: entry for entry in map(prepare, store.latest(slug, 100))}
        got = walk(public, slug)
        assert set(got) >= set(stored), slug
        assert {id: got[id][1] for id in stored} == {id: entry.title for id, entry in stored.items()}, slug


def archive_files(report) -> set[str]:
    return {f"{path.parent.parent.name}/{path.name}" for path in report.written if path.parent.name == "archive"}


@pytest.fixture
def lagging(published) -> tuple[Config, Store]:
    """The published store and a new entry, 10, that only the subscription documents show."""
    config, store = published
    store.upsert(article(10, at(3, 20), EMNEWS), CRAWL)
    publish(config, store)
    return config, store


def test_new_entries_that_fit_in_the_subscription_document_write_no_archive_document(published):
    config, store = published
    public = config.site.output_dir
    age(public)
    before = snapshot(public)
    store.upsert(article(10, at(3, 20), EMNEWS), CRAWL)
    report = publish(config, store)
    assert archive_files(report) == set()
    assert {name for name in snapshot(public) if "/archive/" in name and snapshot(public)[name] != before[name]} == set()
    assert ids(10)[0] in entry_ids((public / ALL / "atom.xml").read_bytes())
    assert ids(10)[0] not in entry_ids(archive(public, ALL, "2022-03"))
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")


def test_once_lagging_entries_leave_the_subscription_document_their_month_is_written_with_all_of_them(lagging):
    config, store = lagging
    public = config.site.output_dir
    for n in range(11, 14):  # all/ and emnews show 13…9 (feed size 5): 10 is still shown
        store.upsert(article(n, at(3, 20 + n - 10), EMNEWS), CRAWL)
        assert archive_files(publish(config, store)) == set()
        assert_complete(public, store, ALL, "emnews")
    store.upsert(article(14, at(3, 25), EMNEWS), CRAWL)  # 14…10 shown: 9 was in the month's document already
    assert archive_files(publish(config, store)) == set()
    store.upsert(article(15, at(3, 26), EMNEWS), CRAWL)  # 15…11 shown: 10 would be nowhere
    assert archive_files(publish(config, store)) == {
        f"{slug}/2022-03.{suffix}" for slug in (ALL, "emnews") for suffix in ("atom", "json")}
    assert entry_ids(archive(public, ALL, "2022-03")) == ids(15, 14, 13, 12, 11, 10, 9, 8, 7)
    assert [i["id"] for i in check_json_feed(archive(public, ALL, "2022-03", "json"))["items"]] == \
        ids(15, 14, 13, 12, 11, 10, 9, 8, 7)
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")


def test_an_edit_of_an_entry_the_newest_month_holds_rewrites_that_month_at_once(lagging):
    config, store = lagging
    public = config.site.output_dir
    store.upsert(article(8, TIMES[8], {**EMNEWS, **QSZG}, title="改过的八", content_hash="changed"),
                 CRAWL + timedelta(days=1))
    assert archive_files(publish(config, store)) == {
        f"{slug}/2022-03.{suffix}" for slug in (ALL, "emnews", "quanshangzhongguo") for suffix in ("atom", "json")}
    month = check_atom(archive(public, ALL, "2022-03")).entries
    assert [e.id for e in month] == ids(10, 9, 8, 7) and month[2].title == "改过的八"  # the lagging 10 too
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")


def test_an_edit_of_a_lagging_entry_still_shown_writes_no_archive_document(lagging):
    config, store = lagging
    public = config.site.output_dir
    store.upsert(article(10, at(3, 20), EMNEWS, title="改过的十", content_hash="changed"), CRAWL + timedelta(days=1))
    assert archive_files(publish(config, store)) == set()
    assert walk(public, ALL)[ids(10)[0]][1] == "改过的十"
    assert_complete(public, store, ALL, "emnews")


def test_the_first_entries_of_a_new_month_wait_and_the_feeds_link_the_newest_document_there_is(published):
    config, store = published
    public = config.site.output_dir
    url = f"{BASE}all/archive/"
    age(public)
    before = snapshot(public)
    store.upsert(article(10, at(4, 1, 0), EMNEWS), CRAWL)
    assert archive_files(publish(config, store)) == set()
    assert {name for name, value in snapshot(public).items() if "/archive/" in name and value != before[name]} == set()
    assert links((public / ALL / "atom.xml").read_bytes())["prev-archive"] == f"{url}2022-03.atom"
    assert json.loads((public / ALL / "feed.json").read_bytes())["next_url"] == f"{url}2022-03.json"
    assert "next-archive" not in links(archive(public, ALL, "2022-03"))
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")
    for n in range(11, 16):  # 10 leaves the subscription documents: April is written, March links it
        store.upsert(article(n, at(4, n - 9), EMNEWS), CRAWL)
    assert archive_files(publish(config, store)) == {
        f"{slug}/{name}" for slug in (ALL, "emnews") for name in ("2022-03.atom", "2022-04.atom", "2022-04.json")}
    assert entry_ids(archive(public, ALL, "2022-04")) == ids(15, 14, 13, 12, 11, 10)
    assert links(archive(public, ALL, "2022-03"))["next-archive"] == f"{url}2022-04.atom"
    assert links((public / ALL / "atom.xml").read_bytes())["prev-archive"] == f"{url}2022-04.atom"
    assert links((public / "quanshangzhongguo" / "atom.xml").read_bytes())["prev-archive"] == \
        f"{BASE}quanshangzhongguo/archive/2022-03.atom"
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")


def test_a_lagging_month_is_written_whole_when_a_newer_month_begins(lagging):
    config, store = lagging
    public = config.site.output_dir
    store.upsert(article(11, at(4, 1), EMNEWS), CRAWL)
    assert archive_files(publish(config, store)) == {
        f"{slug}/2022-03.{suffix}" for slug in (ALL, "emnews") for suffix in ("atom", "json")}
    assert entry_ids(archive(public, ALL, "2022-03")) == ids(10, 9, 8, 7)
    assert not (public / ALL / "archive" / "2022-04.atom").exists()
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")


def test_housekeeping_prunes_no_entry_its_month_still_lacks(lagging):
    config, store = lagging
    public = config.site.output_dir
    settled = read_mark(public)
    assert store.prune(ALL, 0, settled=settled) == 9  # all but 10, which only the subscription documents hold
    assert [a.article_id for a in store.latest(ALL, 10)] == [article(10, at(3, 20), EMNEWS).article_id]
    for n in range(11, 16):
        store.upsert(article(n, at(3, 20 + n - 10), EMNEWS), CRAWL)
    publish(config, store)
    assert entry_ids(archive(public, ALL, "2022-03")) == ids(15, 14, 13, 12, 11, 10, 9, 8, 7)
    assert read_mark(public) == json.loads((public / STATE_FILE).read_text())["read"]
    store.prune(ALL, 0, settled=read_mark(public))
    assert set(walk(public, ALL)) == set(ids(*TIMES, *range(10, 16)))


def test_pruned_entries_stay_in_their_archives_exactly_once_at_their_latest_version(published):
    config, store = published
    public = config.site.output_dir
    settled = json.loads((public / STATE_FILE).read_text())["change"]
    store.upsert(article(2, TIMES[2], EMNEWS, title="改过的二", content_hash="changed"), CRAWL)
    assert store.prune(ALL, 2, settled=settled) == 6  # 2 was changed after the mark: kept for now
    assert store.get(f"{202201000000000000 + 2}") is not None
    publish(config, store)
    assert store.prune(ALL, 2, settled=json.loads((public / STATE_FILE).read_text())["change"]) == 1
    publish(config, store, full=True)
    everything = [e for month in ("2022-01", "2022-02", "2022-03")
                  for e in check_atom(archive(public, ALL, month)).entries]
    assert sorted(e.id for e in everything) == sorted(ids(*TIMES))
    assert [e.title for e in everything if e.id == ids(2)[0]] == ["改过的二"]
    assert entry_ids(archive(public, "quanshangzhongguo", "2022-01")) == ids(2)


def test_an_archive_read_back_gives_the_entries_it_was_built_from(published):
    config, store = published
    read = read_entries(config.site.output_dir / ALL / "archive" / "2022-01.atom", config.site.title)
    assert read == {entry.id: entry for entry in map(prepare, store.oldest(ALL, 3))}


def test_archives_off_writes_no_archive_and_links_none(tmp_path):
    config = make_config(tmp_path, archives=False)
    with open_store(config.store.url) as store:
        fill(store)
        publish(config, store)
    public = config.site.output_dir
    assert not list(public.rglob("archive")) and not (public / STATE_FILE).exists()
    assert "prev-archive" not in links((public / ALL / "atom.xml").read_bytes())
    assert "next_url" not in json.loads((public / ALL / "feed.json").read_bytes())


def test_a_state_from_before_archives_could_lag_reads_as_nothing_lagging(published):
    config, store = published
    public = config.site.output_dir
    (public / STATE_FILE).write_text(json.dumps({"change": read_mark(public)}) + "\n", encoding="utf-8")
    store.upsert(article(10, at(3, 20), EMNEWS), CRAWL)
    assert archive_files(publish(config, store)) == set()
    assert json.loads((public / STATE_FILE).read_text())["pending"] == {
        slug: {article(10, at(3, 20), EMNEWS).article_id: read_mark(public) + 1} for slug in (ALL, "emnews")}
    assert_complete(public, store, ALL, "emnews", "quanshangzhongguo")
