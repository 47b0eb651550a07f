"""The Prometheus endpoint of `finews run` and `finews worker`, scraped during real crawls of the sample site."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from crawler.config import load_config
from crawler.distributed import cycle_key
from crawler.exporter import SettledFilesCollector
from crawler.samplesite import SampleSite
from crawler.store import ALL, RunStatus, is_category, open_store

from conftest import free_port
from crawlkit import ROOT, expected_articles, finews_env, run_finews, write_config
from test_distributed import distributed_config, start_workers, stop, wait_stored
from test_scheduler import Scheduler

LIST_ROUTES = {"choice-rolling": "records", "choice-media": "nodeList", "choice-market": "record"}
ROLLING_ID = "202112082206704122"  # only in the rolling (records) list
SEED_ID = "202112212221504115"  # only in the per-media (nodeList) list
BAD_TIME_ID = "202112082206736335"  # in the rolling list


class Scrape:
    """One scrape of /metrics, parsed by prometheus_client's own parser."""

    def __init__(self, port: int):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            text = response.read().decode("utf-8")
            assert response.status == 200, text
        finally:
            connection.close()
        self.samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                        for family in text_string_to_metric_families(text) for sample in family.samples}

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """`label` → value of the samples of `name` that carry exactly `labels` besides it."""
        found = {}
        for (sample, pairs), value in self.samples.items():
            given = dict(pairs)
            if sample == name and label in given:
                key = given.pop(label)
                if given == labels:
                    found[key] = value
        return found


def poll(port: int, condition: Callable[[Scrape], bool], what: str, timeout: float = 90) -> Scrape:
    """Scrape until `condition` holds; fails with the last scrape after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            scrape = Scrape(port)
        except ConnectionRefusedError:
            scrape = None
        if scrape is not None and condition(scrape):
            return scrape
        assert time.monotonic() < deadline, f"never {what}: {scrape.samples if scrape else 'no endpoint'}"
        time.sleep(0.1)


def with_metrics(config: Path, port: int) -> Path:
    config.write_text(config.read_text(encoding="utf-8") + f"\n[metrics]\nport = {port}\n", encoding="utf-8")
    return config


def reasons(status: RunStatus, kind: str) -> dict[str, float]:
    return {key.split("/", 1)[1]: float(n) for key, n in status.counts.items() if key.startswith(f"{kind}/")}


COUNTED = ("listed", "new", "updated", "unchanged", "blocked")


def endpoint_counts(scrape: Scrape, source: str) -> dict[str, float]:
    """One source's crawl counters on the endpoint, keyed as the run tracker keys them."""
    counts = {"listed": scrape.value("finews_entries_listed_total", source=source),
              "blocked": scrape.value("finews_blocked_total", source=source),
              **scrape.by("finews_articles_total", "outcome", source=source)}
    for kind, metric in (("dropped", "finews_dropped_total"), ("errors", "finews_errors_total")):
        counts.update({f"{kind}/{reason}": n for reason, n in scrape.by(metric, "reason", source=source).items()})
    return {key: n for key, n in counts.items() if n}


def tracker_counts(counts: dict[str, int]) -> dict[str, float]:
    """The run tracker's counts (a run record's or a distributed cycle's) that the endpoint carries."""
    return {key: float(n) for key, n in counts.items()
            if n and (key in COUNTED or key.startswith(("dropped/", "errors/")))}


def test_finews_run_serves_the_counts_of_its_crawl_children_while_they_crawl_and_as_the_store_records_them(tmp_path):
    port = free_port()
    with SampleSite() as site:
        site.set_fault("text", "slow", article_id=ROLLING_ID, delay=60)  # held until Scrapy's timeouts give up
        site.set_fault("text", "unavailable", article_id=SEED_ID)
        site.set_fault("records", "bad_time", article_id=BAD_TIME_ID)
        site.set_fault("record", "block")
        config = with_metrics(write_config(site, tmp_path, download_timeout="4s"), port)
        store_url = load_config(config).store.url
        scheduler = Scheduler(config, tmp_path / "run.log")
        try:
            during = poll(port, lambda s: s.value("finews_entries_listed_total", source="choice-rolling") > 0,
                          "saw choice-rolling's entries")
            with open_store(store_url) as store:
                assert store.runs()["choice-rolling"].outcome == "running"  # so it was scraped mid-crawl
            assert during.value("finews_crawl_processes") >= 1
            after = poll(port, lambda s: s.value("finews_crawl_processes") == 0 and all(
                sum(s.by("finews_cycles_total", "outcome", source=name).values()) == 1 for name in LIST_ROUTES),
                "saw every source's cycle end and its child gone")
        finally:
            assert scheduler.stop() == 0
        lists = {name: site.count(route) for name, route in LIST_ROUTES.items()}
    with open_store(store_url) as store:
        runs = store.runs()
        categories = {c.slug: c.count for c in store.categories() if is_category(c.slug)}
    assert runs["choice-market"].outcome == "blocked" and runs["choice-rolling"].outcome == "ok"
    assert reasons(runs["choice-rolling"], "dropped") and reasons(runs["choice-rolling"], "errors")
    assert reasons(runs["choice-media"], "errors") == {"http_503": 1.0}
    for name in LIST_ROUTES:
        run = runs[name]
        assert endpoint_counts(after, name) == tracker_counts(run.counts)
        assert after.value("finews_lists_fetched_total", source=name) == lists[name] == 1
        assert after.by("finews_cycles_total", "outcome", source=name) == {run.outcome: 1.0}
        assert after.value("finews_cycle_duration_seconds_count", source=name) == 1
        assert after.value("finews_cycle_duration_seconds_sum", source=name) == \
            (run.finished - run.started).total_seconds()
        assert after.value("finews_source_stale", source=name) == (run.outcome != "ok")
        if run.last_success:
            assert after.value("finews_source_last_success_timestamp_seconds", source=name) == \
                run.last_success.timestamp()
        else:
            assert ("finews_source_last_success_timestamp_seconds", (("source", name),)) not in after.samples
    assert after.value("finews_blocked_total", source="choice-market") == 1
    assert after.by("finews_store_articles", "category") == categories and categories
    assert after.value("finews_store_up") == 1
    assert after.value("finews_publish_duration_seconds_count") == 3
    assert after.value("finews_publish_files_written_total") > 0
    assert after.value("finews_publish_failures_total") == 0
    assert "finews_workers_live" not in {name for name, _ in after.samples}


def test_a_crawl_child_killed_mid_crawl_leaves_its_counts_on_the_endpoint_and_its_cycle_counts_as_failed(tmp_path):
    port = free_port()
    with SampleSite() as site:
        site.set_fault("text", "slow", article_id=ROLLING_ID, delay=120)  # choice-rolling's child waits on it
        config = with_metrics(write_config(site, tmp_path, download_timeout="60s"), port)
        store_url = load_config(config).store.url
        scheduler = Scheduler(config, tmp_path / "run.log")
        try:
            def stuck(scrape: Scrape) -> bool:
                done = [name for name in LIST_ROUTES if scrape.by("finews_cycles_total", "outcome", source=name)]
                rolling = scrape.by("finews_articles_total", "outcome", source="choice-rolling")
                return (sorted(done) == ["choice-market", "choice-media"] and scrape.value("finews_crawl_processes") == 1
                        and sum(rolling.values()) == len([a for a in site.articles if a.list == "records"]) - 1)

            before = poll(port, stuck, "saw choice-rolling's child wait on its last article")
            (child,) = psutil.Process(scheduler.proc.pid).children()
            child.kill()
            after = poll(port, lambda s: s.value("finews_crawl_processes") == 0
                         and s.value("finews_cycles_total", source="choice-rolling", outcome="failed") == 1,
                         "saw the killed child's cycle fail")
        finally:
            assert scheduler.stop() == 0
    counted = ("finews_entries_listed_total", "finews_articles_total")
    assert {k: v for k, v in after.samples.items() if k[0] in counted} == \
        {k: v for k, v in before.samples.items() if k[0] in counted}
    assert after.value("finews_entries_listed_total", source="choice-rolling") == 22
    with open_store(store_url) as store:
        assert store.runs()["choice-rolling"].outcome == "failed"
        assert sum(after.by("finews_articles_total", "source", outcome="new").values()) == store.count(ALL)


def test_finews_worker_serves_its_crawl_counts_and_the_scheduler_the_queue_and_the_live_workers(tmp_path, redis_url):
    scheduler_port, worker_port = free_port(), free_port()
    expected = expected_articles()
    with SampleSite() as site:
        site.set_fault("records", "bad_time", article_id=BAD_TIME_ID)
        config = with_metrics(distributed_config(site, tmp_path, redis_url, every="1h"), scheduler_port)
        scheduler = Scheduler(config, tmp_path / "scheduler.log")
        workers = []
        try:
            queued = poll(scheduler_port, lambda s: s.value("finews_queue_lists") == len(LIST_ROUTES),
                          "saw the list requests queued")
            assert queued.value("finews_workers_live") == 0
            worker_config = tmp_path / "worker.toml"
            worker_config.write_text(config.read_text(encoding="utf-8").replace(
                f"port = {scheduler_port}", f"port = {worker_port}"), encoding="utf-8")
            workers = start_workers(worker_config, tmp_path, 1)
            wait_stored(config, len(expected) - 1)
            client = redis.Redis.from_url(redis_url, decode_responses=True)

            def cycles() -> dict[str, dict[str, float]]:
                return {name: tracker_counts({k: int(v) for k, v in client.hgetall(cycle_key(name)).items()
                                              if k != "started"}) for name in LIST_ROUTES}

            worker = poll(worker_port, lambda s: {name: endpoint_counts(s, name) for name in LIST_ROUTES} == cycles()
                          and s.value("finews_crawl_processes") == 1, "saw the worker's counts match its cycles")
            client.close()
            frontier = poll(scheduler_port, lambda s: s.value("finews_workers_live") == 1
                            and s.value("finews_queue_lists") == 0 and s.value("finews_queue_requests") == 0,
                            "saw one live worker and an empty queue")
        finally:
            assert scheduler.stop() == 0
            stop(workers)
    for name in LIST_ROUTES:
        assert worker.value("finews_lists_fetched_total", source=name) == 1
    assert sum(worker.by("finews_articles_total", "source", outcome="new").values()) == len(expected) - 1
    assert worker.by("finews_dropped_total", "reason", source="choice-rolling") == {"bad_time": 1.0}
    assert worker.value("finews_crawl_processes") == 1
    with open_store(redis_url) as store:
        assert frontier.value("finews_store_articles", category="emnews") == store.count("emnews")
        assert store.count(ALL) == len(expected) - 1


@pytest.mark.parametrize("broken", ["output folder", "one category"])
def test_a_publish_that_fails_or_cannot_write_a_category_is_counted_as_failed_and_not_timed(tmp_path, broken):
    port = free_port()
    with SampleSite() as site:
        config = write_config(site, tmp_path)
        if broken == "output folder":
            (tmp_path / "taken").write_text("a file where the output folder's parent should be", encoding="utf-8")
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace(str(tmp_path / "public"), str(tmp_path / "taken" / "public")),
                              encoding="utf-8")
        else:
            (tmp_path / "public" / "emnews" / "rss.xml").mkdir(parents=True)  # a folder where a feed goes
        scheduler = Scheduler(with_metrics(config, port), tmp_path / "run.log")
        try:
            failed = poll(port, lambda s: s.value("finews_publish_failures_total") == len(LIST_ROUTES),
                          "saw every crawl's publish fail")
        finally:
            assert scheduler.stop() == 0
    assert failed.value("finews_publish_duration_seconds_count") == 0
    assert (failed.value("finews_publish_files_written_total") > 0) == (broken == "one category")
    assert sum(failed.by("finews_articles_total", "source", outcome="new").values()) > 0


def test_a_busy_metrics_port_stops_finews_run_with_a_message(tmp_path):
    with SampleSite() as site:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            config = with_metrics(write_config(site, tmp_path), taken.getsockname()[1])
            result = run_finews("run", "--config", str(config), timeout=60)
    assert result.returncode == 2
    assert "metrics: cannot listen on 127.0.0.1" in result.stderr and "Traceback" not in result.stderr


def test_a_crawl_child_writes_its_slots_files_and_a_scrape_skips_a_file_still_being_created(tmp_path):
    child = ("from crawler.metrics import ENTRIES_LISTED\n"
             "ENTRIES_LISTED.labels('choice-media').inc(3)\n")
    env = {**finews_env(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "FINEWS_METRICS_SLOT": "crawl-6d"}
    for _ in range(2):  # a second crawl of the source reuses the slot's file and counts on
        subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, check=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_crawl-6d.db", "gauge_livesum_crawl-6d.db"]
    (tmp_path / "counter_crawl-78.db").write_bytes(b"")  # another child, between creating and sizing it
    registry = CollectorRegistry()
    SettledFilesCollector(registry, str(tmp_path))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert [(s.labels, s.value) for s in families["finews_entries_listed"].samples] == [({"source": "choice-media"}, 6.0)]
