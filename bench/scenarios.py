"""The benchmark scenarios: each returns rows of (scenario, figure, value, target, ratio)."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LATENCY_MS = 50


@dataclass
class Row:
    scenario: str
    figure: str
    value: float
    unit: str
    target: str = ""
    ratio: float | None = None

    def as_dict(self) -> dict:
        return {"scenario": self.scenario, "figure": self.figure, "value": round(self.value, 4),
                "unit": self.unit, "target": self.target,
                "ratio": None if self.ratio is None else round(self.ratio, 3)}


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINEWS_")}
    clean["PYTHONPATH"] = str(ROOT) + os.pathsep + clean.get("PYTHONPATH", "")
    return clean


@contextmanager
def sample_site(articles: int | None, categories: int, latency_ms: float) -> Iterator[str]:
    """`python -m crawler.samplesite` in its own process (so it does not share our GIL); None: the samples."""
    synthetic = [] if articles is None else ["--articles", str(articles), "--categories", str(categories)]
    proc = subprocess.Popen([sys.executable, "-m", "crawler.samplesite", *synthetic, "--latency-ms", str(latency_ms)],
                            cwd=ROOT, env=env(), stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        yield line.split("sample site: ")[1].strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def site_counts(base: str) -> dict[str, int]:
    with urllib.request.urlopen(base + "/_control/counts", timeout=10) as response:
        return json.loads(response.read())


def control(base: str, action: str, **params: object) -> None:
    """An action of the sample site's control API (reset_counts, set_fault, …)."""
    request = urllib.request.Request(base + "/_control", data=json.dumps({"action": action, **params}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def reset_counts(base: str) -> None:
    control(base, "reset_counts")


def config_file(folder: Path, sources: list[str], *, store_url: str, crawl: str, output_dir: str = "public") -> Path:
    """finews.toml in `folder`: these `[crawl]` lines and source tables."""
    path = folder / "finews.toml"
    path.write_text(f"""[site]
output_dir = "{output_dir}"
base_url = "http://127.0.0.1:8080/"

[store]
url = "{store_url}"

[crawl]
{crawl}download_timeout = "30s"
""" + "".join(sources), encoding="utf-8")
    return path


def write_config(folder: Path, base: str, store_url: str, *, concurrency: int, polite: bool = False) -> Path:
    crawl = ("concurrency_per_domain = 2\ndownload_delay = 0.5\nautothrottle = true\nrobotstxt_obey = true\n"
             if polite else f"concurrency_per_domain = {concurrency}\ndownload_delay = 0\nautothrottle = false\n"
                            "robotstxt_obey = false\n")
    return config_file(folder, [choice_source("bench-media", base, "type=45")], store_url=store_url, crawl=crawl)


@dataclass
class CrawlRun:
    wall: float
    crawl_phase: float
    peak_rss_mb: float
    requests: dict[str, int]


def run_crawl(config: Path, base: str) -> CrawlRun:
    """`finews crawl` in a child process: wall time, Scrapy's own elapsed time, the child's peak RSS."""
    reset_counts(base)
    script = ("import resource, subprocess, sys; "
              "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
              "sys.stderr.write(r.stderr); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script, sys.executable, "-m", "scheduler", "crawl",
                             "--config", str(config)], cwd=ROOT, env=env(), capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"finews crawl failed:\n{result.stderr[-3000:]}")
    elapsed = float(re.search(r"'elapsed_time_seconds': ([0-9.]+)", result.stderr)[1])
    return CrawlRun(wall, elapsed, int(result.stdout.strip().splitlines()[-1]) / 1024, site_counts(base))


def one_at_a_time(base: str, n: int) -> float:
    """The original cron script's way: the list, then each text, one request after another."""
    started = time.perf_counter()
    with urllib.request.urlopen(base + "/web/webapi?type=45", timeout=30) as response:
        entries = json.loads(response.read())["nodeList"][:n]
    for entry in entries:
        with urllib.request.urlopen(f"{base}/NewsData/GetNewsText.do?id={entry['infocode']}", timeout=30) as r:
            r.read()
    return time.perf_counter() - started


def files_state(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def crawl_scenarios(n: int, k: int, runs: int, polite_n: int) -> list[Row]:
    rows: list[Row] = []
    with sample_site(n, k, LATENCY_MS) as base:
        requests = n + 1
        for concurrency in (8, 16):
            walls, phases = [], []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp)
                    config = write_config(folder, base, f"sqlite:///{folder / 'f.db'}", concurrency=concurrency)
                    run = run_crawl(config, base)
                    walls.append(run.wall)
                    phases.append(run.crawl_phase)
                    if concurrency == 8 and len(walls) == 1:
                        no_change = [run_crawl(config, base) for _ in range(runs)]
                        before = files_state(folder / "public")
                        again = run_crawl(config, base)
                        written = sum(1 for p, m in files_state(folder / "public").items() if before.get(p) != m)
            bound = requests * LATENCY_MS / 1000 / concurrency
            phase = statistics.median(phases)
            rows += [
                Row("crawl", f"c={concurrency}: finews crawl wall time (N={n})", statistics.median(walls), "s"),
                Row("crawl", f"c={concurrency}: crawl phase", phase, "s", "≤ 1.25 × bound", phase / (1.25 * bound)),
                Row("crawl", f"c={concurrency}: latency bound ({requests} req × {LATENCY_MS} ms / {concurrency})",
                    bound, "s"),
            ]
            if concurrency == 8:
                eight = phase
        sequential = one_at_a_time(base, n)
        rows.append(Row("crawl", "one request at a time (the original way)", sequential, "s"))
        rows.append(Row("crawl", "speed-up over one at a time at c=8", sequential / eight, "×", "≥ 6×",
                        6 / (sequential / eight)))
        wall = statistics.median(r.wall for r in no_change)
        rows += [
            Row("no-change", "wall time of the same crawl again", wall, "s", "≤ 2 s", wall / 2),
            Row("no-change", "list requests", no_change[0].requests.get("nodeList", 0), "req"),
            Row("no-change", "text requests", again.requests.get("text", 0), "req", "0",
                1.0 if again.requests.get("text", 0) == 0 else float("inf")),
            Row("no-change", "files written", written, "files", "0", 1.0 if written == 0 else float("inf")),
        ]
    with sample_site(polite_n, min(k, polite_n), LATENCY_MS) as base, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), base, f"sqlite:///{Path(tmp) / 'f.db'}", concurrency=2, polite=True)
        run = run_crawl(config, base)
        rows.append(Row("crawl", f"default polite settings, N={polite_n} (for information)", run.crawl_phase, "s"))
    return rows


def memory_scenario(n: int, k: int) -> list[Row]:
    with sample_site(n, k, 5) as base, tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), base, f"sqlite:///{Path(tmp) / 'f.db'}", concurrency=16)
        run = run_crawl(config, base)
    return [Row("memory", f"peak RSS of finews crawl, N={n}", run.peak_rss_mb, "MB", "≤ 200 MB",
                run.peak_rss_mb / 200)]


def synthetic_items(n: int, k: int):
    from crawler.items import ArticleItem
    from crawler.samplesite import synthetic
    from crawler.text.times import BEIJING

    crawled = datetime.now(BEIJING)
    return [ArticleItem(source="bench", source_kind="choice", article_id=a.article_id, title=a.title,
                        time_text=a.time, link=f"http://127.0.0.1/s?infoCode={a.info_code}", crawled_at=crawled,
                        media=a.media, info_code=a.info_code, content=a.html, text=a.html)
            for a in synthetic(n, k)]


@contextmanager
def redis_server() -> Iterator[str]:
    import socket

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        import redis

        from crawler.store.connection import redis_client

        client = redis_client(f"redis://127.0.0.1:{port}/0")
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def store_scenario(n: int) -> list[Row]:
    from crawler.config import parse_config
    from crawler.pipelines import normalize_unless_known
    from crawler.store import Article, open_store

    config = parse_config({}, file="bench", base_dir=ROOT, environ={})
    items = synthetic_items(n, 20)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        for name, url in (("SQLite", f"sqlite:///{Path(tmp) / 'store.db'}"), ("Redis", redis_url)):
            with open_store(url) as store:
                for label, target in (("new", 3000), ("unchanged", 10000)):
                    started = time.perf_counter()
                    for item in items:
                        article = normalize_unless_known(item, config, store)
                        if isinstance(article, Article):
                            store.upsert(article, item.crawled_at)
                    rate = n / (time.perf_counter() - started)
                    rows.append(Row("store", f"{name}: normalize + dedupe + store, {label}", rate, "items/s",
                                    f"≥ {target:,}", target / rate))
    return rows


BENCH_SECURITIES = 520
"""Securities the grouped publish bench spreads its articles over: the samples' ones, then made-up A shares."""
BENCH_TOPICS = [{"slug": "brokers", "title": "券商", "include": ["券商"]},
                {"slug": "snowball", "title": "雪球产品", "include": ["雪球"], "exclude": ["广告"]},
                {"slug": "ev", "title": "新能源车", "include": ["蔚来", "新能源"], "categories": ["media03", "media04"]}]


def bench_securities(n: int) -> list[tuple[str, str]]:
    """(market.code, name) pairs: every security the bundled samples link to, then A shares up to `n`."""
    from crawler.samplesite import load_bundled
    from crawler.text.securities import securities_in

    found: dict[str, str] = {}
    for article in load_bundled():
        found.update(securities_in(article.html or ""))
    pairs = sorted(found.items())
    code = 600000
    while len(pairs) < n:
        if f"1.{code}" not in found:
            pairs.append((f"1.{code}", f"股票{code}"))
        code += 1
    return pairs


def _bench_config(tmp: str, **top: object):
    from crawler.config import parse_config

    return parse_config({"site": {"output_dir": str(Path(tmp) / "public")}, **top}, file="bench",
                        base_dir=Path(tmp), environ={})


def _bench_article(article_id: str, title: str, category: int, published: datetime, html: str):
    from crawler.store import Article

    return Article(article_id=article_id, title=title, link=f"https://finance.eastmoney.com/a/{article_id}.html",
                   published=published, categories={f"media{category:02d}": f"媒体{category}新闻"},
                   media=f"媒体{category}", html=html, summary="摘要" * 40, content_hash=article_id)


def _bench_html() -> str:
    body = (ROOT / "tests" / "data" / "posts" / "2022-01-07-NW202201072239307540.md").read_text("utf-8")
    return body.split("---\n", 2)[2].split("\n\n<http")[0]


def _write_floor(files: list[Path], output: Path, folder: Path, runs: int) -> tuple[float, int]:
    """Median time to write these files of `output` again, at the same places under `folder`, as a publish writes its
    files but with nothing built (each to a synced temporary file by the publish's writer threads, then all renamed
    over the previous ones), and how many bytes they hold.

    The files replaced are one byte shorter (a publish's usually differ in size), so checking whether a file
    already holds its bytes costs a `stat`, as it mostly does in a publish.
    """
    from concurrent.futures import ThreadPoolExecutor

    from feeds.publish import WRITERS, stage

    contents = [path.read_bytes() for path in files]
    targets = [folder / path.relative_to(output) for path in files]
    for target, data in zip(targets, contents):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[:-1])
    times = []
    for run in range(runs):
        started = time.perf_counter()
        with ThreadPoolExecutor(WRITERS) as writers:
            staged = list(writers.map(stage, targets, (data[:len(data) - run % 2] for data in contents)))
        for target, tmp in zip(targets, staged):
            os.replace(tmp, target)
        times.append(time.perf_counter() - started)
    return statistics.median(times), sum(map(len, contents))


def _full_rebuilds(config, store, runs: int) -> float:
    from feeds.publish import publish

    fulls = []
    for _ in range(runs):
        shutil.rmtree(config.site.output_dir, ignore_errors=True)
        started = time.perf_counter()
        publish(config, store, full=True)
        fulls.append(time.perf_counter() - started)
    return statistics.median(fulls)


def publish_scenario(categories: int = 50, per_category: int = 50, runs: int = 5) -> list[Row]:
    """A full rebuild; then new articles one publish at a time (all/'s newest month lags until one publish
    has to write it), and edits of archived entries (each rewrites its months)."""
    from crawler.store import ALL, open_store
    from crawler.text.times import BEIJING
    from feeds.publish import publish

    with tempfile.TemporaryDirectory() as tmp:
        config = _bench_config(tmp)
        output = config.site.output_dir
        base_time = datetime(2026, 8, 1, 9, 0, tzinfo=BEIJING)
        html = _bench_html()
        with open_store(f"sqlite:///{Path(tmp) / 'store.db'}") as store:
            for c in range(categories):
                for i in range(per_category):
                    store.upsert(_bench_article(f"20260801{c:04d}{i:06d}", f"第{c}类第{i}条新闻标题", c,
                                                base_time + timedelta(minutes=c * per_category + i), html),
                                 base_time)
            full = _full_rebuilds(config, store, runs)
            month = output / ALL / "archive" / "2026-08.atom"
            lagged, rewrote, lagged_written, rewrote_written, added = [], [], [], [], 0
            while len(rewrote) < runs:
                store.upsert(_bench_article(f"20260802{7:04d}{added:06d}", f"新的第{added}条", 7,
                                            base_time + timedelta(minutes=categories * per_category + added), html),
                             base_time)
                added += 1
                started = time.perf_counter()
                report = publish(config, store)
                elapsed = time.perf_counter() - started
                written = sorted(str(p.relative_to(output)) for p in report.written)
                if month in report.written:
                    rewrote.append(elapsed)
                    rewrote_written, size = written, month.stat().st_size
                else:
                    lagged.append(elapsed)
                    lagged_written = written
            edits, edit_written = [], []
            for i in range(runs):
                changed = store.get(f"20260801{7:04d}{i:06d}")
                store.upsert(replace(changed, title=changed.title + "（更新）", content_hash=f"v{i}"), base_time)
                started = time.perf_counter()
                report = publish(config, store)
                edits.append(time.perf_counter() - started)
                edit_written = sorted(str(p.relative_to(output)) for p in report.written)
    new, rewrite, edit = (statistics.median(values) * 1000 for values in (lagged, rewrote, edits))
    entries = categories * per_category + added
    return [
        Row("publish", f"full rebuild --all ({categories}×{per_category} + all/)", full, "s", "≤ 0.5 s", full / 0.5),
        Row("publish", f"incremental, one new article in one category ({len(lagged)} publishes)", new, "ms",
            "≤ 50 ms", new / 50),
        Row("publish", "files written by it: " + ", ".join(lagged_written), len(lagged_written), "files"),
        Row("publish", f"the 1 in ~{config.site.feed_size} that writes all/'s month ({entries} entries, "
            f"{size / 1e6:.0f} MB Atom; {len(rewrote)} publishes)", rewrite, "ms"),
        Row("publish", "files written by it: " + ", ".join(rewrote_written), len(rewrote_written), "files"),
        Row("publish", "incremental, an edit of an archived entry (rewrites its months)", edit, "ms"),
        Row("publish", "files written by it: " + ", ".join(edit_written), len(edit_written), "files"),
    ]


def grouped_publish_scenario(categories: int = 50, per_category: int = 50, runs: int = 5,
                             securities: int = BENCH_SECURITIES, touched: int = 20) -> list[Row]:
    """Publish with security and topic feeds on: a full rebuild, then crawls that each touch `touched` securities,
    until `runs` of their publishes wrote only the touched feeds, all/ and the indexes (the incremental figure is
    their median; the others also wrote archive months, and the slowest of all is shown apart)."""
    from crawler.grouping import file_grouped
    from crawler.store import open_store
    from crawler.text.times import BEIJING
    from feeds.publish import publish

    pairs = bench_securities(securities)
    with tempfile.TemporaryDirectory() as tmp:
        config = _bench_config(tmp, topics=BENCH_TOPICS)
        base_time = datetime(2026, 8, 1, 9, 0, tzinfo=BEIJING)
        html = _bench_html()
        with open_store(f"sqlite:///{Path(tmp) / 'store.db'}") as store:
            for c in range(categories):
                for i in range(per_category):
                    n = c * per_category + i
                    article = _bench_article(f"20260801{c:04d}{i:06d}", f"第{c}类第{i}条新闻标题", c,
                                             base_time + timedelta(minutes=n), html)
                    article.securities = dict(pairs[(n * k * 7 + k) % len(pairs)] for k in (1, 2, 3))
                    store.upsert(file_grouped(article, config), base_time)
            mentioned = sum(1 for c in store.categories() if c.slug.startswith("stocks/"))
            publish(config, store)
            full = _full_rebuilds(config, store, runs)
            incrementals, typicals, written, typical, expected_ok = [], [], [], [], True
            for run in range(len(pairs) // touched):
                if len(typicals) == runs:
                    break
                crawled = pairs[run * touched:(run + 1) * touched]
                for j, (quote, name) in enumerate(crawled):
                    article = _bench_article(f"20260901{run:04d}{j:06d}", f"新的第{run}轮第{j}条", 7,
                                             base_time + timedelta(days=30, minutes=run * touched + j), html)
                    article.securities = {quote: name}
                    store.upsert(file_grouped(article, config), base_time)
                started = time.perf_counter()
                report = publish(config, store)
                incrementals.append(time.perf_counter() - started)
                written = sorted(str(p.relative_to(config.site.output_dir)) for p in report.written)
                if not any("/archive/" in path for path in written):
                    typical = report.written
                    typicals.append(incrementals[-1])
                folders = {path.rsplit("/", 1)[0].removesuffix("/archive") for path in written if "/" in path}
                stock_folders = {folder for folder in folders if folder.startswith("stocks/") and folder != "stocks"}
                expected_ok &= len(stock_folders) == touched and folders - stock_folders <= {
                    "all", "media07", "stocks", "topics", *(f"topics/{t['slug']}" for t in BENCH_TOPICS)}
            floor, size = _write_floor(typical, config.site.output_dir, Path(tmp) / "floor", max(runs, 5))
    incremental = statistics.median(typicals)
    return [
        Row("publish", f"with {mentioned} securities and {len(BENCH_TOPICS)} topics: full rebuild --all",
            full, "s"),
        Row("publish", f"incremental after a crawl that touched {touched} securities", incremental * 1000, "ms",
            "≤ 100 ms", incremental * 1000 / 100),
        Row("publish", f"baseline: one's {len(typical)} files ({size / 1e6:.1f} MB) written as a publish writes them",
            floor * 1000, "ms"),
        Row("publish", f"the slowest of all {len(incrementals)} (all/'s month is written about once per "
            f"{config.site.feed_size} new articles)", max(incrementals) * 1000, "ms"),
        Row("publish", f"files written by it: only the touched feeds', all/'s, indexes: {'yes' if expected_ok else 'NO'}",
            len(written), "files"),
    ]


# -- the resident crawl engine ---------------------------------------------------------------------

ENGINE_LATENCY_MS = 5
"""Latency of the sample site in the engine scenarios: a no-change cycle is about one round trip."""
CHOICE_LISTS = (("bench-rolling", "type=102"), ("bench-media", "type=45"), ("bench-market", "marketType=37"))


def choice_source(name: str, site: str, query: str, every: str = "5m") -> str:
    """A Choice source reading the sample site's list `query` (its texts from the same site)."""
    return f"""
[[sources]]
name = "{name}"
kind = "choice"
list_url = "{site}/web/webapi?{query}"
text_url = "{site}/NewsData/GetNewsText.do?id={{info_code}}"
share_url = "{site}/html_News/NewsShare.html?infoCode={{info_code}}"
every = "{every}"
"""


def column_source(name: str, site: str, page: str = "{page}", pages: int = 1) -> str:
    """An eastmoney source reading the sample site's column list (20 a page) and article pages."""
    return f"""
[[sources]]
name = "{name}"
kind = "eastmoney"
list_url = "{site}/api/getNewsByColumns?column=350&page_index={page}&page_size=20"
pages = {pages}
"""


def engine_config(folder: Path, sources: list[str]) -> Path:
    """A config of these source tables, a SQLite store in `folder`, no politeness delays."""
    return config_file(folder, sources, store_url=f"sqlite:///{folder / 'f.db'}", output_dir=str(folder / "public"),
                       crawl="concurrency_per_domain = 8\ndownload_delay = 0\nautothrottle = false\n"
                             "robotstxt_obey = false\n")


def tree_cpu(pid: int) -> float:
    """CPU-seconds (user + system) of a process and its live descendants."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


CYCLE_LINE = re.compile(r"crawl (\S+): ok in ([0-9.]+)s — listed \d+, new 0, updated 0,")


def engine_cycles(config: Path, log: Path, seconds: float) -> tuple[int, float, float]:
    """`finews run` for `seconds` after its first cycle of each source: (no-change cycles, CPU-s, median wall)."""
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scheduler", "run", "--config", str(config)], cwd=ROOT,
                                env=env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while len({m[1] for m in CYCLE_LINE.finditer(log.read_text("utf-8"))}) < len(CHOICE_LISTS):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"finews run did not get going:\n{log.read_text('utf-8')[-3000:]}")
            time.sleep(0.2)
        skip = len(CYCLE_LINE.findall(log.read_text("utf-8")))
        cpu = tree_cpu(proc.pid)
        time.sleep(seconds)
        cpu = tree_cpu(proc.pid) - cpu
        walls = [float(m[2]) for m in CYCLE_LINE.finditer(log.read_text("utf-8"))][skip:]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return len(walls), cpu, statistics.median(walls)


def process_per_crawl(config: Path, rounds: int) -> tuple[int, float, float]:
    """The way `finews run` crawled before the engine: per due source a `finews crawl --no-publish`
    child (the three at once, as the scheduler's threads started them), then a publish in this
    process. (cycles, CPU-s of the children and the publishes, median wall per cycle)."""
    import resource

    from crawler.config import load_config
    from crawler.store import open_store
    from feeds.publish import publish

    settings = load_config(config)
    cycles, walls = 0, []
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(rounds):
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "scheduler", "crawl", "--no-publish", "--source", name,
                                   "--config", str(config)], cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for name, _ in CHOICE_LISTS]
        for proc in procs:
            if proc.wait() != 0:
                raise RuntimeError("finews crawl failed")
            with open_store(settings.store.url) as store:
                publish(settings, store)
            walls.append(time.perf_counter() - started)
            cycles += 1
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    after_own = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after_children.ru_utime + after_children.ru_stime - children.ru_utime - children.ru_stime
           + after_own.ru_utime + after_own.ru_stime - own.ru_utime - own.ru_stime)
    return cycles, cpu, statistics.median(walls)


def cycles_scenario(seconds: float, rounds: int = 5) -> list[Row]:
    """`finews run`, 3 sources every 2 s over an unchanged store, beside the process-per-crawl way."""
    with sample_site(None, 1, ENGINE_LATENCY_MS) as base, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = engine_config(folder, [choice_source(name, base, query, "2s") for name, query in CHOICE_LISTS])
        subprocess.run([sys.executable, "-m", "scheduler", "crawl", "--config", str(config)], cwd=ROOT, env=env(),
                       capture_output=True, check=True)  # the store holds every article: cycles change nothing
        cycles, cpu, wall = engine_cycles(config, folder / "run.log", seconds)
        old_cycles, old_cpu, old_wall = process_per_crawl(config, rounds)
    return [
        Row("cycles", f"engine: process tree CPU per no-change cycle ({cycles} in {seconds:.0f} s)",
            cpu / cycles, "CPU-s", "≤ 0.05", cpu / cycles / 0.05),
        Row("cycles", "engine: wall per no-change cycle (crawl + publish, median)", wall, "s", "≤ 0.1 s",
            wall / 0.1),
        Row("cycles", f"process per crawl: CPU per no-change cycle ({old_cycles} cycles)",
            old_cpu / old_cycles, "CPU-s"),
        Row("cycles", "process per crawl: wall per no-change cycle (median)", old_wall, "s"),
    ]


@contextmanager
def engine(config: Path, log: Path) -> Iterator[object]:
    """A resident crawl engine on `config` under its supervisor (as `finews run` has it), its log in `log`."""
    from crawler.supervisor import EngineSupervisor, engine_command

    with log.open("w") as out:
        supervisor = EngineSupervisor(engine_command(str(config)), cycle_deadline=600, log=out)
        supervisor.start()
        try:
            yield supervisor
        finally:
            supervisor.stop()


def crawl_seconds(status) -> float:
    return (status.finished - status.started).total_seconds()


THROTTLED_RETRY_AFTER = 5


def throttled_scenario(runs: int) -> list[Row]:
    """Two sources in one engine, one answered 429 + Retry-After to every article text: the other's crawl
    time beside it and alone (medians of `runs`, each in a new engine and store)."""
    import threading

    with sample_site(None, 1, LATENCY_MS) as base:
        other = base.replace("127.0.0.1", "localhost")  # another host: its own download slot, as another site
        times: dict[str, list[float]] = {"alone": [], "beside": []}
        for label in ("alone", "beside") * runs:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                config = engine_config(folder, [choice_source("bench-rolling", base, "type=102"),
                                                choice_source("bench-warm-up", base, "type=45"),
                                                column_source("bench-columns", other, pages=3)])
                with engine(config, folder / "engine.log") as supervisor:
                    supervisor.run_cycle("bench-warm-up")  # the first cycle of an engine imports what crawls need
                    throttled = None
                    if label == "beside":
                        control(base, "set_fault", route="text", fault="rate_limit",
                                params={"retry_after": THROTTLED_RETRY_AFTER})
                        throttled = threading.Thread(target=supervisor.run_cycle, args=("bench-rolling",))
                        throttled.start()
                    times[label].append(crawl_seconds(supervisor.run_cycle("bench-columns")))
                    if throttled is not None:
                        throttled.join()
                        control(base, "clear_faults")
    alone, beside = statistics.median(times["alone"]), statistics.median(times["beside"])
    return [
        Row("throttled", "eastmoney source's crawl alone", alone, "s"),
        Row("throttled", f"the same beside a source answered 429, Retry-After: {THROTTLED_RETRY_AFTER}",
            beside, "s"),
        Row("throttled", "beside / alone", beside / alone, "×", "≤ 1.2×", beside / alone / 1.2),
    ]


def rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2 ** 20


def soak_scenario(no_change: int, new_cycles: int = 100, warm_up: int = 50) -> list[Row]:
    """One engine: `no_change` cycles over an unchanged list page, then `new_cycles` cycles each reading
    another page of 20 articles the store does not hold yet: the engine's RSS growth."""
    with sample_site(20 * (new_cycles + 1), 20, 0) as base, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pages = [f"soak-page-{k}" for k in range(2, new_cycles + 2)]
        config = engine_config(folder, [column_source("soak-steady", base, page="1"),
                                        *(column_source(name, base, page=name.rsplit("-", 1)[1]) for name in pages)])
        with engine(config, folder / "engine.log") as supervisor:
            pid = supervisor.proc.pid
            for _ in range(warm_up):
                supervisor.run_cycle("soak-steady")
            warm = rss_mb(pid)
            changed = sum(supervisor.run_cycle("soak-steady").new for _ in range(no_change))
            steady = rss_mb(pid)
            new = sum(supervisor.run_cycle(name).new for name in pages)
            end = rss_mb(pid)
    return [
        Row("soak", f"engine RSS after {warm_up} warm-up cycles", warm, "MB"),
        Row("soak", f"RSS growth over {no_change} no-change cycles ({changed} new)", steady - warm, "MB",
            "≤ 10 MB", (steady - warm) / 10),
        Row("soak", f"RSS growth over {new_cycles} cycles of 20 new articles ({new} stored)", end - steady, "MB"),
        Row("soak", "RSS growth over the whole soak", end - warm, "MB", "≤ 10 MB", (end - warm) / 10),
    ]
