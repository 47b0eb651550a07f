"""A store that fails mid-crawl: the crawl stops at once, says so in one line, and nothing is half-stored.

Real crawls of the sample site into a real store that really fails: a redis-server of the test's
own, SIGKILLed or SIGSTOPped when the sample site sees its 8th article-text request; a SQLite file
on a small tmpfs that fills up, or that is mounted read-only. After recovery the next crawl stores
every article exactly once.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, open_store

from crawlkit import expected_articles, run_finews, write_config
from test_scheduler import Scheduler, schedule

EXIT_STORE_UNAVAILABLE = 3
STOP_AT = 8  # the article-text request at which the store fails
HANDLED_RE = re.compile(r"source \S+: failed — listed \d+, new (\d+), unchanged (\d+), updated (\d+), dropped \d+, "
                        r"errors (\d+)")
ARTICLES = len(expected_articles())


@pytest.fixture
def site() -> Iterator[SampleSite]:
    with SampleSite() as site:
        yield site


def handled(result: subprocess.CompletedProcess[str]) -> int:
    """The articles the crawl took to the store (new, unchanged, updated or failed), from its per-source lines.

    Not the texts the site served: the downloader may already hold every text request when the store fails.
    """
    found = HANDLED_RE.findall(result.stderr)
    assert found, result.stderr[-3000:]
    return sum(sum(map(int, counts)) for counts in found)


def crawl(config: Path) -> subprocess.CompletedProcess[str]:
    return run_finews("crawl", "--no-publish", "--config", str(config))


def stored(config: Path) -> list[str]:
    with open_store(load_config(config).store.url) as store:
        return [article.article_id for article in store.latest(ALL, 1000)]


def runs(config: Path) -> dict:
    with open_store(load_config(config).store.url) as store:
        return store.runs()


def assert_stopped_for_the_store(result: subprocess.CompletedProcess[str], store: str, cause: str) -> None:
    """Exit 3; exactly one ERROR line, naming the store and the cause; no traceback anywhere."""
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert result.returncode == EXIT_STORE_UNAVAILABLE, result.stderr[-3000:]
    assert len(errors) == 1, "\n".join(errors)
    assert f"store {store} unavailable: " in errors[0] and cause in errors[0], errors[0]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


def assert_recovers_storing_each_article_once(config: Path, before: list[str]) -> None:
    """The next crawl stores exactly the articles the failed one did not, each once."""
    assert len(set(before)) == len(before) < ARTICLES
    result = crawl(config)
    assert result.returncode == 0, result.stderr[-3000:]
    after = stored(config)
    assert len(after) == len(set(after)) == ARTICLES and set(after) == set(expected_articles())
    statuses = runs(config)
    assert all(status.outcome == "ok" for status in statuses.values())
    assert sum(status.new for status in statuses.values()) == ARTICLES - len(before)


def test_redis_killed_mid_crawl_stops_it_and_the_next_crawl_stores_the_rest_once(site, tmp_path, own_redis):
    config = write_config(site, tmp_path, store_url=own_redis.url)
    site.on_request("text", STOP_AT, own_redis.kill)
    result = crawl(config)
    assert_stopped_for_the_store(result, own_redis.url, "ConnectionError")
    assert handled(result) < ARTICLES, result.stderr[-3000:]  # it stopped, rather than failing item after item
    own_redis.start()
    assert all(status.outcome != "ok" for status in runs(config).values())
    assert_recovers_storing_each_article_once(config, stored(config))


def test_redis_stopped_mid_crawl_times_out_once_and_the_next_crawl_stores_the_rest_once(site, tmp_path, own_redis):
    config = write_config(site, tmp_path, store_url=own_redis.url)
    site.on_request("text", STOP_AT, own_redis.pause)
    result = crawl(config)
    own_redis.resume()
    assert_stopped_for_the_store(result, own_redis.url, "TimeoutError")
    assert handled(result) < ARTICLES, result.stderr[-3000:]
    assert "failed — listed" in result.stderr and "(store_unavailable: store redis://" in result.stderr
    assert all(status.outcome != "ok" for status in runs(config).values())
    assert_recovers_storing_each_article_once(config, stored(config))


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (root with CAP_SYS_ADMIN); skips the test where that is not allowed."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def remount(folder: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def test_sqlite_on_a_full_disk_stops_the_crawl_and_the_next_crawl_stores_the_rest_once(site, tmp_path):
    with small_disk(tmp_path / "disk", "400k") as disk:
        store = f"sqlite:///{disk / 'finews.db'}"
        config = write_config(site, tmp_path, store_url=store)
        result = crawl(config)
        assert_stopped_for_the_store(result, store, "database or disk is full (SQLITE_FULL)")
        remount(disk, "size=64m")  # (opening the store writes too)
        before = stored(config)
        assert before, "the disk filled up before the first article: make it larger"
        # failed / store_unavailable when the run records still fitted on the full disk, else still running
        assert all(status.outcome != "ok" for status in runs(config).values())
        assert_recovers_storing_each_article_once(config, before)


def test_sqlite_read_only_stops_the_crawl_without_a_crash_and_a_writable_store_gets_everything(site, tmp_path):
    with small_disk(tmp_path / "disk", "64m") as disk:
        config = write_config(site, tmp_path, store_url=f"sqlite:///{disk / 'finews.db'}")
        with open_store(load_config(config).store.url):
            pass  # the file exists, and is a finews store
        remount(disk, "ro")
        result = crawl(config)
        assert_stopped_for_the_store(result, f"sqlite:///{disk / 'finews.db'}", "read-only file system")
        assert "the crawl did not start" in result.stderr and site.count("text") == 0
        status = run_finews("status", "--config", str(config))
        assert status.returncode == EXIT_STORE_UNAVAILABLE and "Traceback" not in status.stderr
        assert "read-only file system" in status.stderr
        remount(disk, "rw")
        assert_recovers_storing_each_article_once(config, stored(config))


def test_the_scheduler_logs_a_failed_store_and_its_next_cycle_stores_everything(site, tmp_path, own_redis):
    config = schedule(write_config(site, tmp_path, store_url=own_redis.url, kinds=("choice",)), every="2s")
    site.on_request("text", STOP_AT, own_redis.kill)
    scheduler = Scheduler(config, tmp_path / "scheduler.log")
    try:
        scheduler.wait_for("failed: store redis://")
        own_redis.start()
        scheduler.wait_for("crawl choice-rolling: ok", timeout=120)
        assert set(stored(config)) == set(expected_articles())
    finally:
        assert scheduler.stop() == 0
    assert "Traceback" not in scheduler.text()
