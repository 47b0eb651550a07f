"""`finews status` (text and JSON, stale exit code) and `finews demo` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from crawler.samplesite import SampleSite

from crawlkit import expected_articles, finews_env, run_finews, write_config
from feedcheck import check_atom, check_rss


def test_status_shows_each_source_and_category_and_exits_1_when_stale(tmp_path):
    with SampleSite() as site:
        config = write_config(site, tmp_path)
        run_finews("crawl", "--config", str(config), check=True)
        assert run_finews("status", "--config", str(config)).returncode == 0
        site.set_fault("record", "block")
        run_finews("crawl", "--config", str(config), check=True)
    text = run_finews("status", "--config", str(config))
    assert text.returncode == 0, text.stdout
    assert "choice-rolling" in text.stdout and "choice-market" in text.stdout and "blocked" in text.stdout
    assert "shanghaizhengquanbao" in text.stdout and "上海证券报新闻" in text.stdout
    report = json.loads(run_finews("status", "--json", "--config", str(config)).stdout)
    sources = {s["name"]: s for s in report["sources"]}
    assert sources["choice-market"]["outcome"] == "blocked" and sources["choice-market"]["stale"] is False
    assert sources["choice-market"]["last_success"] is not None
    assert sources["choice-rolling"]["outcome"] == "ok" and sources["choice-rolling"]["stale"] is False
    assert sources["choice-rolling"]["unchanged"] > 0 and sources["choice-rolling"]["started"].endswith("+08:00")
    assert {c["slug"] for c in report["categories"]} >= {"emnews", "shanghaizhengquanbao"}
    assert report["stale"] == []
    stale = run_finews("status", "--json", "--config", str(config), "--now", "2099-01-01T00:00:00+08:00")
    assert stale.returncode == 1
    assert set(json.loads(stale.stdout)["stale"]) == {"choice-rolling", "choice-media", "choice-market"}


def test_status_before_any_crawl_says_never_and_is_stale(tmp_path):
    (tmp_path / "finews.toml").write_text(
        f'[store]\nurl = "sqlite:///s.db"\n[[sources]]\nname = "f"\nkind = "fastnews"\n'
        f'list_url = "http://127.0.0.1:9/x"\ncategory = "kuaixun"\n', encoding="utf-8")
    result = run_finews("status", "--config", str(tmp_path / "finews.toml"))
    assert result.returncode == 1 and "never" in result.stdout


def test_demo_crawls_publishes_and_serves_the_samples_with_working_article_links(tmp_path):
    # the log goes to a file: a pipe nobody reads fills up and blocks the demo mid-shutdown
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "demo", "--port", "0"], cwd=tmp_path,
                            env=finews_env(), stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        output = "".join(lines)
        base = output.split("index:")[1].split()[0]
        assert "all/rss.xml" in output and "stocks/" in output
        with urllib.request.urlopen(base + "all/rss.xml", timeout=10) as response:
            rss = check_rss(response.read())
        with urllib.request.urlopen(base + "all/atom.xml", timeout=10) as response:
            check_atom(response.read())
        assert len(rss.entries) == len(expected_articles())
        for entry in rss.entries[:3]:
            with urllib.request.urlopen(entry.link, timeout=10) as response:
                assert response.status == 200 and entry.title.split()[0] in response.read().decode("utf-8", "replace")
        assert (tmp_path / "public" / "index.html").exists()
        assert (tmp_path / ".finews-demo" / "finews.db").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            log.close()
    assert code == 0, (tmp_path / "demo.log").read_text()[-3000:]
    port = (tmp_path / ".finews-demo" / "sample-site.port").read_text()
    assert rss.entries[0].link.startswith(f"http://127.0.0.1:{port}/")
    again = subprocess.run([sys.executable, "-m", "scheduler", "demo", "--port", "0", "--no-serve"], cwd=tmp_path,
                           env=finews_env(), capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "new 0" in again.stdout and f"127.0.0.1:{port}/" in again.stdout


def test_the_demo_prints_a_short_summary_per_source_and_the_scrapy_log_only_with_v(tmp_path):
    quiet = subprocess.run([sys.executable, "-m", "scheduler", "demo", "--port", "0", "--no-serve"], cwd=tmp_path,
                           env=finews_env(), capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "[scrapy" not in quiet.stdout + quiet.stderr and len((quiet.stdout + quiet.stderr).splitlines()) <= 15
    for source in ("choice-rolling", "choice-media", "eastmoney", "fastnews"):
        assert any(line.strip().startswith(source) and " ok " in line for line in quiet.stdout.splitlines()), source
    verbose = subprocess.run([sys.executable, "-m", "scheduler", "demo", "--port", "0", "--no-serve", "-v"],
                             cwd=tmp_path, env=finews_env(), capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 0 and "[scrapy.core.engine] INFO: Spider opened" in verbose.stderr


def test_ctrl_c_during_the_demo_crawl_stops_it_without_a_traceback(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "scheduler", "demo", "--port", "0", "--no-serve", "-v"],
                            cwd=tmp_path, env=finews_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Spider opened" in line:
                os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
                break
        lines += proc.stdout.readlines()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    assert code == 130, output[-3000:]
    assert "demo stopped during the crawl" in output and "Traceback" not in output, output[-3000:]
