"""Two crawls at once against one Redis store: each article stored exactly once."""

from __future__ import annotations

import subprocess
import sys

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, only_categories, open_store

from crawlkit import ROOT, expected_articles, finews_env, write_config


def test_two_simultaneous_crawls_store_each_article_once(tmp_path, redis_url):
    with SampleSite(latency_ms=20) as site:
        configs = []
        for name in ("one", "two"):
            folder = tmp_path / name
            folder.mkdir()
            configs.append(write_config(site, folder, store_url=redis_url, concurrency_per_domain=4))
        procs = [subprocess.Popen([sys.executable, "-m", "scheduler", "crawl", "--no-publish", "--config", str(c)],
                                  cwd=ROOT, env=finews_env(), stderr=subprocess.PIPE, text=True) for c in configs]
        logs = [proc.communicate(timeout=120)[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    expected = expected_articles()
    with open_store(load_config(configs[0]).store.url) as store:
        assert store.count(ALL) == len(expected)
        for article_id, want in expected.items():
            assert set(only_categories(store.get(article_id).categories)) == want["categories"]
            for slug in want["categories"]:
                assert [a.article_id for a in store.latest(slug, 100)].count(article_id) == 1
        runs = store.runs()
    news = [int(line.split("new ")[1].split(",")[0]) for log in logs for line in log.splitlines()
            if "source choice-" in line and "listed" in line]
    assert sum(news) == len(expected)
    assert set(runs) == {"choice-rolling", "choice-media", "choice-market"}
