"""The index page in a real browser: headless Chromium loads it from `finews serve`; every link resolves."""

from __future__ import annotations

import shutil
import subprocess
import threading
import urllib.request
from urllib.parse import urljoin

import pytest
from lxml import html as lxml_html

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import open_store
from feeds.serve import make_server

from crawlkit import run_finews, write_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash .ci/run installs it)")
def test_the_index_renders_in_chromium_and_every_category_and_feed_link_resolves(tmp_path):
    with SampleSite() as site:
        config_path = write_config(site, tmp_path)
        run_finews("crawl", "--config", str(config_path), check=True)
    config = load_config(config_path)
    server = make_server(config.site.output_dir, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    profile = tmp_path / "chromium-profile"
    try:
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", base],
                             capture_output=True, text=True, timeout=90, check=True).stdout
        screenshot = tmp_path / "index.png"
        subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                        "--window-size=412,1400", base], capture_output=True, timeout=90, check=True)
        assert screenshot.stat().st_size > 1000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        page = lxml_html.fromstring(dom)
        links = {urljoin(base, href) for href in page.xpath("//a/@href")}
        with open_store(config.store.url) as store:
            slugs = [c.slug for c in store.categories()]
        for slug in ["all", *slugs]:
            for name in ("rss.xml", "atom.xml", "feed.json"):
                assert f"{base}{slug}/{name}" in links
        for link in sorted(link for link in links if link.startswith(base)):
            with urllib.request.urlopen(link, timeout=10) as response:
                assert response.status == 200, link
        assert page.xpath("//title")[0].text_content() == config.site.title
    finally:
        server.shutdown()
        server.server_close()
