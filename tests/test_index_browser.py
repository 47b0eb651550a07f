"""The pages in a real browser: headless Chromium loads them from `finews serve`; every link resolves.

A screenshot of each page type is left in the test's tmp folder (`<page>.png`).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import pytest
from lxml import html as lxml_html

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import is_category, open_store
from feeds.serve import make_server

from crawlkit import run_finews, write_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
TOPIC = '\n[[topics]]\nslug = "ev"\ntitle = "新能源车"\ninclude = ["蔚来", "新能源"]\n'
PAGES = {"index": "", "category": "shanghaizhengquanbao/", "all": "all/", "stocks": "stocks/",
         "stock": "stocks/sh601688/", "topic": "topics/ev/"}

needs_chromium = pytest.mark.skipif(CHROMIUM is None,
                                    reason="Debian's chromium is not installed (bash .ci/run installs it)")


class Chromium:
    """Headless Chromium with its own profile folder."""

    def __init__(self, profile: Path):
        self.profile = profile

    def run(self, *args: str) -> str:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", *args],
                              capture_output=True, text=True, timeout=90, check=True).stdout

    def dom(self, url: str) -> lxml_html.HtmlElement:
        return lxml_html.fromstring(self.run("--dump-dom", url))

    def screenshot(self, url: str, path: Path, size: str = "412,1400") -> bytes:
        self.run(f"--screenshot={path}", f"--window-size={size}", url)
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
        return data


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The sample site crawled and published (with a topic), served by `finews serve`'s server."""
    folder = tmp_path_factory.mktemp("browser")
    with SampleSite() as site:
        config_path = write_config(site, folder)
        config_path.write_text(config_path.read_text(encoding="utf-8") + TOPIC, encoding="utf-8")
        run_finews("crawl", "--config", str(config_path), check=True)
    config = load_config(config_path)
    server = make_server(config.site.output_dir, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield config, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@needs_chromium
def test_cjk_text_renders_with_real_glyphs_not_empty_boxes(tmp_path):
    chromium = Chromium(tmp_path / "profile")
    shots = []
    for n, text in enumerate(["金融消息", "新闻订阅"]):
        page = tmp_path / f"cjk{n}.html"
        page.write_text(f'<!DOCTYPE html><meta charset="utf-8"><p style="font-size:48px">{text}</p>', encoding="utf-8")
        shots.append(chromium.screenshot(page.as_uri(), tmp_path / f"cjk{n}.png", "600,200"))
    assert shots[0] != shots[1], "two different CJK strings render the same: no CJK font (install fonts-noto-cjk)"


@needs_chromium
def test_every_page_type_renders_in_chromium_and_every_link_on_it_resolves(served, tmp_path):
    config, base = served
    chromium = Chromium(tmp_path / "profile")
    links: set[str] = set()
    for name, path in PAGES.items():
        page = chromium.dom(base + path)
        chromium.screenshot(base + path, tmp_path / f"{name}.png")
        assert page.xpath("//title")[0].text_content().strip()
        links |= {urljoin(base + path, href).split("#")[0] for href in page.xpath("//a/@href | //link/@href")}
    local = sorted(link for link in links if link.startswith(base) or link.startswith("http://127.0.0.1:8080/"))
    for link in local:
        with urllib.request.urlopen(link.replace("http://127.0.0.1:8080/", base), timeout=10) as response:
            assert response.status == 200, link


@needs_chromium
def test_the_index_links_each_category_name_to_its_page_which_lists_its_articles(served, tmp_path):
    config, base = served
    chromium = Chromium(tmp_path / "profile")
    index = chromium.dom(base)
    with open_store(config.store.url) as store:
        categories = [c for c in store.categories() if is_category(c.slug)]
        newest = {c.slug: store.latest(c.slug, 1)[0] for c in categories}
    for category in categories:
        assert index.get_element_by_id(category.slug).xpath(".//a[@class='name']/@href") == [f"{category.slug}/"]
        page = chromium.dom(f"{base}{category.slug}/")
        assert page.findtext(".//h1") == category.name
        assert newest[category.slug].link in page.xpath("//ul[@class='entries']//a/@href")
        assert page.xpath("//head/link[@rel='alternate']/@href") == [
            config.site.url(f"{category.slug}/{name}") for name in ("rss.xml", "atom.xml", "feed.json")]
    assert index.findtext(".//title") == config.site.title
