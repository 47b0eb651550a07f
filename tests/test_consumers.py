"""A consuming system walks the feeds over `finews serve`: conditional GETs, a gap, the archive chain, a prune."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from lxml import etree

from crawler.config import load_config
from crawler.store import ALL, Article, open_store
from crawler.text.times import BEIJING
from feeds.build import entry_id
from feeds.publish import publish
from scheduler import FinewsScheduler

from conftest import free_port
from crawlkit import ROOT, finews_env
from feedcheck import ATOM_NS, check_atom

A = {"a": ATOM_NS}
START = datetime(2022, 1, 20, 9, 0, tzinfo=BEIJING)
CRAWL = datetime(2022, 3, 1, 12, 0, tzinfo=BEIJING)
EMNEWS = {"emnews": "东财滚动新闻"}
QSZG = {"quanshangzhongguo": "券商中国新闻"}


def article(n: int, **fields: object) -> Article:
    """The n-th article: 7 hours after the one before (so 120 of them span two months), every other in emnews."""
    article_id = f"{202201000000000000 + n}"
    values = dict(article_id=article_id, title=f"标题{n}", link=f"https://finance.eastmoney.com/a/{article_id}.html",
                  published=START + timedelta(hours=7 * n), categories={**QSZG, **(EMNEWS if n % 2 else {})},
                  media="券商中国", html=f"<p>正文{n}</p>", summary=f"摘要{n}", content_hash=f"hash{n}")
    values.update(fields)
    return Article(**values)


@dataclass
class Consumer:
    """Polls a subscription feed with If-None-Match; after a change follows prev-archive until it meets an
    entry it had seen; keeps each entry by id at its latest `updated`."""

    port: int
    feed: str
    etag: str | None = None
    entries: dict[str, tuple[str, str]] = field(default_factory=dict)
    """id → (updated, title)."""
    documents: list[str] = field(default_factory=list)
    """The paths fetched by the last poll."""

    def get(self, path: str, etag: str | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path, headers={"If-None-Match": etag} if etag else {})
        response = conn.getresponse()
        response.body = response.read()
        conn.close()
        return response

    def poll(self) -> int:
        """One poll; the HTTP status of the subscription feed."""
        response = self.get(self.feed, self.etag)
        self.documents = [self.feed]
        if response.status == 304:
            return 304
        assert response.status == 200 and response.getheader("Content-Type").startswith("application/atom+xml")
        self.etag = response.getheader("ETag")
        known = set(self.entries)
        body = response.body
        while True:
            check_atom(body)
            doc = etree.fromstring(body)
            met = self.take(doc) & known
            prev = doc.xpath("/a:feed/a:link[@rel='prev-archive']/@href", namespaces=A)
            if met or not prev:
                return 200
            path = urlsplit(prev[0]).path
            self.documents.append(path)
            archive = self.get(path)
            assert archive.status == 200 and archive.getheader("Content-Type").startswith("application/atom+xml")
            body = archive.body

    def take(self, doc: etree._Element) -> set[str]:
        ids = set()
        for entry in doc.iterfind(f"{{{ATOM_NS}}}entry"):
            entry_id_ = entry.findtext(f"{{{ATOM_NS}}}id")
            updated = datetime.fromisoformat(entry.findtext(f"{{{ATOM_NS}}}updated"))
            ids.add(entry_id_)
            if entry_id_ not in self.entries or updated > datetime.fromisoformat(self.entries[entry_id_][0]):
                self.entries[entry_id_] = (updated.isoformat(), entry.findtext(f"{{{ATOM_NS}}}title"))
        return ids


def chain(consumer: Consumer) -> Counter[str]:
    """Every entry id of every archive document, walking prev-archive from the subscription feed to the end."""
    found: Counter[str] = Counter()
    doc = etree.fromstring(consumer.get(consumer.feed).body)
    while prev := doc.xpath("/a:feed/a:link[@rel='prev-archive']/@href", namespaces=A):
        doc = etree.fromstring(consumer.get(urlsplit(prev[0]).path).body)
        found.update(doc.xpath("/a:feed/a:entry/a:id/text()", namespaces=A))
    return found


def subscribed(consumer: Consumer) -> set[str]:
    """The entry ids of the subscription feed."""
    return set(etree.fromstring(consumer.get(consumer.feed).body).xpath("/a:feed/a:entry/a:id/text()", namespaces=A))


@pytest.fixture
def site(tmp_path):
    """`finews serve` on a free port for a config whose base_url is that port; yields (config path, port)."""
    port = free_port()
    path = tmp_path / "finews.toml"
    path.write_text(f'[site]\noutput_dir = "public"\nbase_url = "http://127.0.0.1:{port}/"\nfeed_size = 50\n'
                    f'[store]\nurl = "sqlite:///finews.db"\n[scheduler]\nkeep_per_category = 40\n', encoding="utf-8")
    (tmp_path / "public").mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "serve", "--port", str(port), "--config", str(path)],
                            cwd=ROOT, env=finews_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "serving" in proc.stdout.readline()
        yield path, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def expected(numbers, slug: str = ALL) -> set[str]:
    return {entry_id(article(n).article_id) for n in numbers if slug == ALL or slug in article(n).categories}


@pytest.mark.parametrize("slug", [ALL, "emnews"])
def test_a_consumer_that_misses_entries_catches_up_through_the_archives_and_after_a_prune(site, slug):
    config_path, port = site
    config = load_config(config_path, environ={})
    consumer = Consumer(port, f"/{slug}/atom.xml")
    with open_store(config.store.url) as store:
        for n in range(10):
            store.upsert(article(n), CRAWL)
        publish(config, store)
        assert consumer.poll() == 200 and set(consumer.entries) == expected(range(10), slug)
        assert consumer.poll() == 304 and consumer.documents == [consumer.feed]

        for n in range(10, 130):  # 120 entries arrive between two polls; the feed shows 50
            store.upsert(article(n), CRAWL)
        publish(config, store)
        assert consumer.poll() == 200
        assert set(consumer.entries) == expected(range(130), slug)
        assert len(consumer.documents) > 1 and all("/archive/" in d for d in consumer.documents[1:])

        edited = 125  # an emnews entry still in the feed
        store.upsert(article(edited, title="改过的标题", content_hash="changed"), CRAWL + timedelta(days=1))
        publish(config, store)
        assert consumer.poll() == 200
        updated, title = consumer.entries[entry_id(article(edited).article_id)]
        assert title == "改过的标题" and updated == (CRAWL + timedelta(days=1)).isoformat()
        assert set(consumer.entries) == expected(range(130), slug)

    FinewsScheduler(config).housekeeping()  # keeps 40 per category in the store
    with open_store(config.store.url) as store:
        assert store.count(ALL) < 130
        for n in range(130, 250):
            store.upsert(article(n), CRAWL)
        publish(config, store)
    assert consumer.poll() == 200
    assert set(consumer.entries) == expected(range(250), slug)

    newcomer = Consumer(port, consumer.feed)
    newcomer.poll()
    assert newcomer.entries == consumer.entries
    assert newcomer.entries[entry_id(article(edited).article_id)][1] == "改过的标题"
    walked, shown = chain(newcomer), subscribed(newcomer)
    assert set(walked) | shown == expected(range(250), slug) and set(walked.values()) == {1}
    lagging = expected(range(250), slug) - set(walked)  # April's first entries: only the feed shows them yet
    assert lagging and lagging <= shown and lagging == expected(range(243, 250), slug)
