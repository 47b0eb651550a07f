"""Distributed mode on the test's Redis: a scheduler enqueues, three `finews worker` processes crawl."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, only_categories, open_store
from crawler.text.times import BEIJING

from crawlkit import ROOT, expected_articles, finews_env, run_finews, write_config
from feedcheck import check_atom
from test_scheduler import Scheduler


def distributed_config(site: SampleSite, folder: Path, redis_url: str, every: str) -> Path:
    config = write_config(site, folder, store_url=redis_url, concurrency_per_domain=4)
    text = config.read_text(encoding="utf-8").replace('every = "5m"', f'every = "{every}"')
    text = text.replace("[crawl]", "[crawl]\ndistributed = true")
    text += '\n[scheduler]\npublish_interval = "1s"\nlock_ttl = "5s"\nshutdown_grace = "10s"\n'
    config.write_text(text, encoding="utf-8")
    return config


def start_workers(config: Path, folder: Path, n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "scheduler", "worker", "--config", str(config)], cwd=ROOT,
                             env=finews_env(), stdout=subprocess.DEVNULL,
                             stderr=(folder / f"worker{i}.log").open("w")) for i in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


def wait_stored(config: Path, count: int, timeout: float = 90) -> None:
    url = load_config(config).store.url
    deadline = time.monotonic() + timeout
    with open_store(url) as store:
        while store.count(ALL) < count:
            assert time.monotonic() < deadline, f"only {store.count(ALL)} of {count} articles stored"
            time.sleep(0.2)


def wait_published(config: Path, timeout: float = 30) -> None:
    """Until the scheduler's publish job has caught up with every change in the store."""
    loaded = load_config(config)
    deadline = time.monotonic() + timeout
    with open_store(loaded.store.url) as store:
        while store.dirty_categories() or not (loaded.site.output_dir / "all" / "atom.xml").exists():
            assert time.monotonic() < deadline, f"still unpublished: {store.dirty_categories()}"
            time.sleep(0.2)


def test_three_workers_store_every_article_once_with_one_request_each(tmp_path, redis_url):
    expected = expected_articles()
    with SampleSite() as site:
        config = distributed_config(site, tmp_path, redis_url, every="1h")
        workers = start_workers(config, tmp_path, 3)
        scheduler = Scheduler(config, tmp_path / "scheduler.log")
        try:
            wait_stored(config, len(expected))
            wait_published(config)
            report = json.loads(run_finews("status", "--json", "--config", str(config)).stdout)
        finally:
            assert scheduler.stop() == 0
            stop(workers)
        text_requests = [h.path for h in site.hits if h.route == "text"]
    assert sorted(text_requests) == sorted(set(text_requests)) and len(text_requests) == len(expected)
    with open_store(load_config(config).store.url) as store:
        assert store.count(ALL) == len(expected)
        for article_id, want in expected.items():
            assert set(only_categories(store.get(article_id).categories)) == want["categories"]
    assert len(report["frontier"]["workers"]) == 3
    feed = check_atom((tmp_path / "public" / "all" / "atom.xml").read_bytes())
    assert len(feed.entries) == len(expected)
    assert "crawl choice" not in scheduler.text() and "enqueued choice-media" in scheduler.text()


def test_a_killed_worker_loses_no_article_after_the_next_cycle(tmp_path, redis_url):
    expected = expected_articles()
    with SampleSite() as site:
        site.set_fault("text", "slow", delay=1.5)
        config = distributed_config(site, tmp_path, redis_url, every="8s")
        workers = start_workers(config, tmp_path, 2)
        scheduler = Scheduler(config, tmp_path / "scheduler.log")
        try:
            deadline = time.monotonic() + 60
            while site.in_flight < 2:
                assert time.monotonic() < deadline, "the workers never started fetching"
                time.sleep(0.05)
            workers[0].kill()
            workers[0].wait()
            killed_at = scheduler.text().count("enqueued choice-rolling's list requests")
            site.clear_faults()
            wait_stored(config, len(expected), timeout=120)
            # The dead worker's claims lapse within one lease (download_timeout × (retry_times + 2) = 15 s,
            # two 8 s cycles); the cycle after that fetches what it held.
            assert scheduler.text().count("enqueued choice-rolling's list requests") - killed_at <= 4
        finally:
            assert scheduler.stop() == 0
            stop(workers)
    with open_store(load_config(config).store.url) as store:
        assert store.count(ALL) == len(expected)


def rss_kib(pid: int) -> int:
    """The resident memory of a process and all its descendants (a worker and its crawl engine)."""
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1])
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += rss_kib(int(child))
    return total


def test_two_workers_publish_every_edit_within_two_cycles_over_twenty_cycles(tmp_path, redis_url):
    expected = expected_articles()
    sources = ("choice-rolling", "choice-media", "choice-market")
    with SampleSite() as site:
        config = distributed_config(site, tmp_path, redis_url, every="2s")
        loaded = load_config(config)
        workers = start_workers(config, tmp_path, 2)
        scheduler = Scheduler(config, tmp_path / "scheduler.log")

        def enqueued() -> dict[str, int]:
            text = scheduler.text()
            return {name: text.count(f"enqueued {name}'s list requests") for name in sources}

        def cycles_since(before: dict[str, int]) -> int:
            now = enqueued()
            return min(now[name] - before[name] for name in sources)

        edits: dict[str, int] = {}
        try:
            wait_stored(config, len(expected))
            wait_published(config)
            start = enqueued()
            memory_before = [rss_kib(w.pid) for w in workers]
            with open_store(loaded.store.url) as store:
                for n, article_id in enumerate(sorted(expected)[:10], start=1):
                    title = f"{expected[article_id]['title']}（第{n}次更正）"
                    published = store.get(article_id).published
                    before, edited_at = enqueued(), datetime.now(BEIJING).replace(microsecond=0)
                    site.edit_title(article_id, title)
                    while (stored := store.get(article_id)).title != title:
                        assert cycles_since(before) < 3, f"edit {n} of {article_id} not stored within two cycles"
                        time.sleep(0.1)
                    assert edited_at <= stored.updated <= datetime.now(BEIJING)
                    assert stored.published == published
                    feed = loaded.site.output_dir / "all" / "atom.xml"
                    while title not in feed.read_text(encoding="utf-8"):
                        assert cycles_since(before) < 3, f"edit {n} of {article_id} not published within two cycles"
                        time.sleep(0.1)
                    edits[article_id] = edits.get(article_id, 0) + 1
                while cycles_since(start) < 20:
                    assert all(w.poll() is None for w in workers), "a worker died"
                    time.sleep(0.2)
            memory_after = [rss_kib(w.pid) for w in workers]
        finally:
            assert scheduler.stop() == 0
            stop(workers)
        hits = [h.path for h in site.hits if h.route == "text"]
    for article_id in expected:
        assert sum(article_id in path for path in hits) == 1 + edits.get(article_id, 0), article_id
    with open_store(loaded.store.url) as store:
        assert store.count(ALL) == len(expected)
        for article_id in edits:
            assert "更正" in store.get(article_id).title
    for before_kib, after_kib in zip(memory_before, memory_after):
        assert after_kib - before_kib < 10 * 1024, f"worker and engine RSS grew from {before_kib} to {after_kib} KiB"
