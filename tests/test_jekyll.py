"""The Jekyll export writes the original finews posts byte for byte, through a real crawl."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from crawler.config import load_config
from crawler.samplesite import SampleSite, load_bundled
from crawler.store import Article
from crawler.text.times import BEIJING
from feeds.jekyll import JekyllExporter

from crawlkit import run_finews, write_config

DATA = Path(__file__).parent / "data"
ORIGINAL_SHARE_URL = "http://finews.zning.xyz/html_News/NewsShare.html?infoCode={info_code}"


def exact_posts() -> list[str]:
    lines = (Path(__file__).parent.parent / "crawler" / "samplesite" / "data" / "articles.jsonl").read_text("utf-8")
    return [json.loads(line)["post_file"] for line in lines.splitlines() if json.loads(line)["exact_post"]]


@pytest.fixture
def crawled(tmp_path):
    with SampleSite() as site:
        config = write_config(site, tmp_path, jekyll=True, share_url=ORIGINAL_SHARE_URL)
        run_finews("crawl", "--config", str(config), check=True)
        yield config, site


def test_every_exact_sample_post_is_reproduced_byte_for_byte(crawled):
    config, _ = crawled
    posts = Path(config).parent / "_posts"
    names = exact_posts()
    assert "2021-12-21-NW202112212221504115.md" in names and len(names) == 6
    for name in names:
        assert (posts / name).read_bytes() == (DATA / "posts" / name).read_bytes(), name
    assert (posts / "2021-12-21-NW202112212221504115.md").read_bytes() == \
        (DATA / "seed-2021-12-21-NW202112212221504115.md").read_bytes()


def test_an_unchanged_crawl_rewrites_no_post_and_an_edit_rewrites_it_in_place(crawled):
    config, site = crawled
    posts = Path(config).parent / "_posts"
    before = {p.name: p.stat().st_mtime_ns for p in posts.iterdir()}
    run_finews("crawl", "--config", str(config), check=True)
    assert {p.name: p.stat().st_mtime_ns for p in posts.iterdir()} == before
    site.edit_title("202112212221504115", "中国电信5G消息全面商用 \"引号\" 与 \\ 反斜杠")
    run_finews("crawl", "--config", str(config), check=True)
    after = {p.name: p.stat().st_mtime_ns for p in posts.iterdir()}
    assert set(after) == set(before)
    assert [name for name in after if after[name] != before[name]] == ["2021-12-21-NW202112212221504115.md"]
    text = (posts / "2021-12-21-NW202112212221504115.md").read_text(encoding="utf-8")
    assert 'title: "中国电信5G消息全面商用 \\"引号\\" 与 \\\\ 反斜杠"\n' in text


def test_a_title_with_quotes_and_backslashes_stays_readable_yaml(tmp_path):
    with SampleSite() as site:
        config = load_config(write_config(site, tmp_path, jekyll=True))
    sample = next(a for a in load_bundled() if a.article_id == "202112212221504115")
    title = 'He said "5G" \\ C:\\path'
    article = Article(article_id=sample.article_id, info_code=sample.info_code, title=title,
                      link="http://x/1", published=datetime(2021, 12, 21, 20, 40, 26, tzinfo=BEIJING),
                      categories={"shanghaizhengquanbao": "上海证券报新闻"}, text_raw=sample.html)
    post = JekyllExporter(config).post(article, "shanghaizhengquanbao")
    front = post.text.split("---\n")[1]
    assert yaml.safe_load(front)["title"] == title
    assert not post.text.endswith("\n")
