"""Each source downloads through its own slot: at most its concurrency at once, and a source that answers 429
waits out its Retry-After there while the others go on."""

from __future__ import annotations

from crawler.config import load_config
from crawler.samplesite import SampleSite
from crawler.store import ALL, open_store

from crawlkit import expected_articles, run_finews, write_config


def test_a_throttled_source_delays_no_other_source(tmp_path):
    with SampleSite() as site:
        site.set_fault("records", "rate_limit", times=1, retry_after=3600)
        config = write_config(site, tmp_path, kinds=("choice", "eastmoney"), retry_after_max="5s")
        result = run_finews("crawl", "--no-publish", "--config", str(config))
        hits = list(site.hits)
        others = {a.article_id for a in site.articles if a.list != "records"}
    assert result.returncode == 0, result.stderr[-3000:]
    throttled = [h for h in hits if h.route == "records"]
    assert [h.status for h in throttled] == [429, 200]
    before_retry = [h for h in hits if h.t < throttled[1].t]
    # Every article the other sources list was fetched while choice-rolling waited (Retry-After capped at 5 s).
    fetched = {article_id for article_id in others if any(article_id in h.path for h in before_retry)}
    assert fetched == others
    # Each other source listed before it; an article two of them list is fetched once, by whichever asks first
    # (a choice text, or the eastmoney share page), so no one route of its texts is certain to be asked for.
    assert {h.route for h in before_retry} >= {"column", "nodeList", "record"}
    with open_store(load_config(config).store.url) as store:
        assert store.count(ALL) == len(expected_articles())
        assert store.runs()["choice-rolling"].outcome == "ok"


def test_a_source_never_has_more_requests_under_way_than_its_concurrency(tmp_path):
    with SampleSite() as site:
        site.set_fault("text", "slow", delay=0.3)  # long enough for every text a slot may take to overlap
        config = write_config(site, tmp_path, kinds=("choice",))
        sources = len(load_config(config).sources)
        result = run_finews("crawl", "--no-publish", "--config", str(config))
        peak, texts = site.peak_in_flight, site.count("text")
    assert result.returncode == 0, result.stderr[-3000:]
    assert texts == len(expected_articles())
    # Scrapy's downloader would start every request the engine queued in one slot together (15 here)
    assert 2 <= peak <= 2 * sources  # concurrency_per_domain = 2, per source
