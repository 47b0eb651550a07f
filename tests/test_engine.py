"""`finews run` with its resident crawl engine: many cycles in one engine, hangs, a stopped store, a killed engine.

Each test runs a real `finews run` against the sample site and waits on what it can observe (log
lines, published feeds, processes), each with a deadline; nothing sleeps.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from crawler.samplesite import SampleSite

from crawlkit import write_config
from test_distributed import distributed_config, start_workers, stop, wait_stored
from test_scheduler import Scheduler

ROLLING_ONLY = "202112082206704122"  # listed by choice-rolling alone
MEDIA_ONLY = "202112212221504115"  # listed by choice-media alone
RESTARTED = "killed it and started a new one"


@pytest.fixture
def site():
    with SampleSite() as site:
        yield site


def config_for(site: SampleSite, folder: Path, every: str = "1s", store_url: str | None = None,
               **scheduler: str) -> Path:
    """The sample site's three Choice sources on `every`, with these [scheduler] keys."""
    config = write_config(site, folder, store_url=store_url)
    text = config.read_text(encoding="utf-8").replace('every = "5m"', f'every = "{every}"')
    table = {"lock_ttl": "60s", "shutdown_grace": "20s", **scheduler}
    text += "\n[scheduler]\n" + "".join(f'{key} = "{value}"\n' for key, value in table.items())
    config.write_text(text, encoding="utf-8")
    return config


def wait_until(condition: Callable[[], bool], what: str, scheduler: Scheduler, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if scheduler.proc.poll() is not None:
            raise AssertionError(f"scheduler exited {scheduler.proc.returncode} before {what}:\n{scheduler.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout}s:\n{scheduler.text()[-3000:]}")
        time.sleep(0.05)


def feed_titles(folder: Path, slug: str) -> set[str]:
    try:
        feed = json.loads((folder / "public" / slug / "feed.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {item["title"] for item in feed["items"]}


def engines(scheduler: Scheduler) -> list[psutil.Process]:
    return [child for child in psutil.Process(scheduler.proc.pid).children()
            if "crawler.engine" in " ".join(child.cmdline())]


def test_one_engine_runs_twenty_cycles_and_publishes_every_edit_made_between_them(site, tmp_path):
    scheduler = Scheduler(config_for(site, tmp_path), tmp_path / "run.log")
    try:
        scheduler.wait_for("crawl choice-rolling: ok")
        (engine,) = engines(scheduler)
        for n in range(20):
            title = f"第{n}次修改的标题"
            site.edit_title(ROLLING_ONLY, title)
            wait_until(lambda: title in feed_titles(tmp_path, "emnews"), f"published edit {n}", scheduler)
        assert engines(scheduler) == [engine]
        cycles = scheduler.text().count("crawl choice-rolling: ok")
    finally:
        assert scheduler.stop() == 0
    log = scheduler.text()
    assert cycles >= 20 and log.count("crawl engine started") == 1
    assert RESTARTED not in log and "Traceback" not in log
    assert site.count("records") >= cycles


def test_a_hung_source_ends_only_its_own_cycle_at_the_crawl_timeout(site, tmp_path):
    site.set_fault("text", "slow", article_id=MEDIA_ONLY, delay=120)  # choice-media's one new article hangs
    config = config_for(site, tmp_path, crawl_timeout="2s")
    scheduler = Scheduler(config, tmp_path / "run.log")
    try:
        scheduler.wait_for("crawl choice-media: failed")
        rolling = scheduler.text().count("crawl choice-rolling: ok")
        scheduler.wait_for("crawl choice-rolling: ok", count=rolling + 2)
        scheduler.wait_for("crawl choice-media: failed", count=2)
    finally:
        assert scheduler.stop() == 0
    log = scheduler.text()
    failed = [line for line in log.splitlines() if "crawl choice-media: failed" in line]
    assert all("(crawl ended early: closespider_timeout)" in line for line in failed), failed
    assert "crawl choice-market: ok" in log
    assert RESTARTED not in log and log.count("crawl engine started") == 1


def test_a_stopped_store_ends_only_the_cycles_that_meet_it_and_the_engine_goes_on(site, tmp_path, own_redis):
    config = config_for(site, tmp_path, store_url=own_redis.url)
    scheduler = Scheduler(config, tmp_path / "run.log")
    try:
        scheduler.wait_for("crawl choice-rolling: ok")
        own_redis.pause()
        try:
            scheduler.wait_for("published nothing (the store failed)")
        finally:
            own_redis.resume()
        failed_at = len(scheduler.text())
        wait_until(lambda: "crawl choice-rolling: ok" in scheduler.text()[failed_at:], "a cycle after the store came back",
                   scheduler)
    finally:
        assert scheduler.stop() == 0
    log = scheduler.text()
    # the scheduler's reports of the cycles (the engine's own summary of a source names the same reason)
    stopped = [line for line in log.splitlines() if "[finews]" in line and "(store_unavailable: store redis://" in line]
    assert all("published nothing (the store failed)" in line for line in stopped), stopped
    assert any("TimeoutError" in line for line in stopped), stopped  # the stall, not a refused connection
    assert RESTARTED not in log and log.count("crawl engine started") == 1
    assert "Traceback" not in log


def test_a_killed_engine_is_restarted_its_cycle_fails_and_sigterm_then_stops_the_run_at_once(site, tmp_path):
    site.set_fault("text", "slow", article_id=ROLLING_ONLY, delay=120)  # choice-rolling's cycle is under way
    scheduler = Scheduler(config_for(site, tmp_path, every="1h"), tmp_path / "run.log")
    try:
        wait_until(lambda: site.in_flight > 0 and len(engines(scheduler)) == 1, "a cycle under way", scheduler)
        (engine,) = engines(scheduler)
        engine.kill()
        scheduler.wait_for(RESTARTED)
        scheduler.wait_for("crawl choice-rolling: failed")
        (replacement,) = engines(scheduler)
        assert replacement.pid != engine.pid
        scheduler.proc.send_signal(signal.SIGTERM)
        code = scheduler.proc.wait(timeout=15)
    finally:
        scheduler.stop(signal.SIGKILL)
    assert code == 0
    log = scheduler.text()
    assert f"the crawl engine (pid {engine.pid}) exited with code -9: {RESTARTED} (pid {replacement.pid})" in log
    failed = next(line for line in log.splitlines() if "crawl choice-rolling: failed" in line)
    assert "(the crawl engine exited with code -9)" in failed
    assert log.rstrip().endswith("scheduler stopped")
    assert not replacement.is_running()


def test_finews_worker_runs_the_same_engine_on_the_frontier_and_restarts_it_when_it_is_killed(site, tmp_path, redis_url):
    config = distributed_config(site, tmp_path, redis_url, every="1s")
    (worker,) = start_workers(config, tmp_path, 1)
    log = tmp_path / "worker0.log"
    scheduler = Scheduler(config, tmp_path / "scheduler.log")
    try:
        wait_stored(config, len({a.article_id for a in site.articles}))
        (engine,) = psutil.Process(worker.pid).children()
        assert "crawler.engine" in engine.cmdline() and "--frontier" in engine.cmdline()
        engine.kill()
        deadline = time.monotonic() + 30
        while RESTARTED not in log.read_text(encoding="utf-8"):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")[-3000:]
            time.sleep(0.05)
        lists = site.count("records")
        while site.count("records") <= lists + 1:  # the new engine takes later cycles' list requests
            assert time.monotonic() < deadline + 30, log.read_text(encoding="utf-8")[-3000:]
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        assert scheduler.stop() == 0
        stop([worker])
    text = log.read_text(encoding="utf-8")
    assert f"the crawl engine (pid {engine.pid}) exited with code -9: {RESTARTED}" in text
    assert text.rstrip().endswith("crawl engine stopped")
