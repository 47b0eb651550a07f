"""The OPML lists in a real reader: Debian's newsboat imports each one and reloads the feeds served locally.

newsboat keys items by guid across feeds (its issue #898): an entry in two subscribed feeds shows
in one of them only. So each feed must show at least the entries no other feed in the list holds;
`opml.xml` leaves out `all/`, whose entries every category repeats (with it, every category that
`all/` took the entries of showed empty).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from crawler.samplesite import SampleSite
from feeds.serve import make_server, server_url

from crawlkit import run_finews, write_config
from feedcheck import check_rss

NEWSBOAT = shutil.which("newsboat")
TOPIC = '\n[[topics]]\nslug = "ev"\ntitle = "新能源车"\ninclude = ["蔚来", "新能源"]\n' \
        '[[topics]]\nslug = "brokers"\ntitle = "券商"\ninclude = ["券商", "证券"]\n'

pytestmark = pytest.mark.skipif(NEWSBOAT is None, reason="Debian's newsboat is not installed (bash .ci/run installs it)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The sample site crawled and published with topics, the output served at the config's base_url."""
    folder = tmp_path_factory.mktemp("newsboat")
    (folder / "public").mkdir()
    server = make_server(folder / "public", "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with SampleSite() as site:
            config = write_config(site, folder, base_url=server_url(server))
            config.write_text(config.read_text(encoding="utf-8") + TOPIC, encoding="utf-8")
            run_finews("crawl", "--config", str(config), check=True)
        yield folder / "public"
    finally:
        server.shutdown()
        server.server_close()


def newsboat(home: Path, *args: str) -> None:
    """newsboat with its config, urls and cache in `home` (never the user's ~/.newsboat)."""
    home.mkdir(exist_ok=True)
    (home / "config").touch()
    subprocess.run([NEWSBOAT, "-C", str(home / "config"), "-u", str(home / "urls"), "-c", str(home / "cache.db"),
                    *args], env={"HOME": str(home), "PATH": "/usr/bin:/bin", "TERM": "dumb", "LANG": "C.UTF-8"},
                   capture_output=True, text=True, timeout=120, check=True)


def shown(public: Path, opml: str, home: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per feed URL of the OPML list: the guids newsboat shows after a reload, and the guids the feed holds."""
    newsboat(home, "-i", str(public / opml))
    newsboat(home, "-x", "reload")
    urls = [o.get("xmlUrl") for o in etree.fromstring((public / opml).read_bytes()).iter("outline")]
    assert (home / "urls").read_text(encoding="utf-8").split() == urls
    with sqlite3.connect(home / "cache.db") as db:
        rows = db.execute("SELECT feedurl, guid FROM rss_item").fetchall()
    seen: dict[str, set[str]] = {url: set() for url in urls}
    for url, guid in rows:
        seen.setdefault(url, set()).add(guid)
    held = {url: {e.id for e in check_rss((public / url.split("/", 3)[3]).read_bytes()).entries} for url in urls}
    return seen, held


def only_theirs(held: dict[str, set[str]]) -> dict[str, set[str]]:
    counts = Counter(guid for guids in held.values() for guid in guids)
    return {url: {g for g in guids if counts[g] == 1} for url, guids in held.items()}


def test_opml_xml_imports_into_newsboat_without_all_and_each_category_shows_its_own_entries(served, tmp_path):
    seen, held = shown(served, "opml.xml", tmp_path / "newsboat")
    assert len(seen) >= 4 and not any("/all/" in url for url in seen)
    for url, alone in only_theirs(held).items():
        assert alone <= seen[url], url
    assert sum(bool(guids) for guids in seen.values()) >= 3
    assert set().union(*seen.values()) == set().union(*held.values())


@pytest.mark.parametrize("opml", ["topics/opml.xml", "stocks/opml.xml"])
def test_the_topic_and_security_opml_lists_import_with_each_feeds_own_entries_shown(served, tmp_path, opml):
    seen, held = shown(served, opml, tmp_path / "newsboat")
    assert len(seen) >= 2
    for url, alone in only_theirs(held).items():
        assert alone <= seen[url], url
    assert set().union(*seen.values()) == set().union(*held.values())
