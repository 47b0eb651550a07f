"""`finews run` against the sample site: schedules, no overlap, publish, SIGTERM, one scheduler per store."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.samplesite import SampleSite

from crawlkit import ROOT, finews_env, write_config
from feedcheck import check_atom, check_json_feed, check_rss


class Scheduler:
    """A `finews run` process whose log goes to a file the test can wait on."""

    def __init__(self, config: Path, log: Path, *args: str):
        self.log = log
        self.out = log.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "scheduler", "run", "--config", str(config), *args],
                                     cwd=ROOT, env=finews_env(), stdout=self.out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, needle: str, count: int = 1, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while self.text().count(needle) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"scheduler exited {self.proc.returncode} before {needle!r}:\n{self.text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count}× {needle!r} within {timeout}s:\n{self.text()[-3000:]}")
            time.sleep(0.1)
        return self.text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self.out.close()
        return code


def schedule(config: Path, every: str, lock_ttl: str = "60s") -> Path:
    text = config.read_text(encoding="utf-8").replace('every = "5m"', f'every = "{every}"')
    assert "[scheduler]" not in text
    text += f'\n[scheduler]\nlock_ttl = "{lock_ttl}"\nshutdown_grace = "20s"\n'
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def site():
    with SampleSite() as site:
        yield site


def test_the_scheduler_crawls_each_source_again_publishes_and_stops_cleanly_on_sigterm(site, tmp_path):
    config = schedule(write_config(site, tmp_path), "2s")
    scheduler = Scheduler(config, tmp_path / "run.log")
    try:
        log = scheduler.wait_for("crawl choice-media: ok", count=2)
    finally:
        assert scheduler.stop() == 0
    assert "published" in log and "Asia/Shanghai" in log
    assert site.count("nodeList") >= 2
    assert scheduler.text().rstrip().endswith("scheduler stopped")
    public = tmp_path / "public"
    for slug in ("all", "emnews", "shanghaizhengquanbao"):
        check_rss((public / slug / "rss.xml").read_bytes())
        check_atom((public / slug / "atom.xml").read_bytes())
        check_json_feed((public / slug / "feed.json").read_bytes())
    assert not list(public.rglob("*.tmp"))


def test_a_slow_source_never_overlaps_itself(site, tmp_path):
    site.set_fault("records", "slow", delay=3)
    config = schedule(write_config(site, tmp_path, kinds=("choice",)), "1s")
    scheduler = Scheduler(config, tmp_path / "run.log")
    try:
        log = scheduler.wait_for("crawl choice-rolling: ok", count=2)
    finally:
        assert scheduler.stop() == 0
    assert "job crawl:choice-rolling skipped: its previous run is still going" in log or \
           "missed its run" in log
    arrivals = [hit.t for hit in site.hits if hit.route == "records"]
    assert len(arrivals) >= 2
    assert all(later - earlier >= 3 for earlier, later in zip(arrivals, arrivals[1:]))


def test_sigterm_during_a_crawl_lets_it_finish_and_leaves_every_file_whole(site, tmp_path):
    config = schedule(write_config(site, tmp_path, kinds=("choice",)), "1s")
    scheduler = Scheduler(config, tmp_path / "run.log")
    try:
        scheduler.wait_for("crawl choice-rolling: ok")
        site.set_fault("text", "slow", delay=1)
        site.edit_title("202112212221504115", "新标题触发抓取")
        deadline = time.monotonic() + 30
        while site.count("text") == 0 or site.in_flight == 0:
            assert time.monotonic() < deadline, "no crawl got under way"
            time.sleep(0.05)
    finally:
        assert scheduler.stop() == 0
    log = scheduler.text()
    assert "received SIGTERM: starting nothing new" in log
    assert log.index("received SIGTERM") < log.rindex("crawl choice-media:")
    for slug in ("all", "shanghaizhengquanbao"):
        check_atom((tmp_path / "public" / slug / "atom.xml").read_bytes())


def test_a_second_scheduler_on_the_same_store_stands_by_and_takes_over_when_the_first_dies(site, tmp_path, redis_url):
    config = schedule(write_config(site, tmp_path, kinds=("choice",), store_url=redis_url), "2s", lock_ttl="2s")
    first = Scheduler(config, tmp_path / "first.log")
    second = None
    try:
        first.wait_for("holds the lock")
        refused = subprocess.run([sys.executable, "-m", "scheduler", "run", "--no-standby", "--config", str(config)],
                                 cwd=ROOT, env=finews_env(), capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1
        assert "another scheduler runs on this store" in refused.stderr and "exiting" in refused.stderr
        second = Scheduler(config, tmp_path / "second.log")
        second.wait_for("standing by")
        first.wait_for("crawl choice-media: ok", count=2)
        assert "crawl choice" not in second.text()
        first.proc.kill()
        first.proc.wait()
        killed_at = time.monotonic()
        second.wait_for("holds the lock", timeout=30)
        assert time.monotonic() - killed_at <= 2 + 1.5
        second.wait_for("crawl choice-media: ok")
    finally:
        first.stop(signal.SIGKILL)
        if second is not None:
            assert second.stop() == 0
