"""The `finews` command line, and the APScheduler process behind `finews run`."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from crawler.config import Config, ConfigError, SourceConfig, load_config
from crawler.store.base import EXIT_STORE_UNAVAILABLE, STORE_UNAVAILABLE, StoreUnavailable
from crawler.text.times import BEIJING

logger = logging.getLogger("finews")

LOG_FORMAT = "%(asctime)s [%(name)s] %(levelname)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr)


def cmd_crawl(config: Config, args: argparse.Namespace) -> int:
    from crawler.runner import run_crawl

    try:
        statuses = run_crawl(config, args.source or None)
    except StoreUnavailable:
        return EXIT_STORE_UNAVAILABLE  # the crawl logged why, once
    published = publish_and_report(config, full=False) if not args.no_publish else True
    if statuses and all(status.outcome != "ok" for status in statuses.values()):
        logger.error("every source failed: %s",
                     ", ".join(f"{name} ({status.outcome})" for name, status in statuses.items()))
        return 1
    return 0 if published else 1


def publish_and_report(config: Config, full: bool) -> bool:
    """Publish and log what was done; False when a category could not be published (the log says why).

    With WebSub hubs, notify them of the changed feeds, waiting at most EXIT_WAIT for that.
    """
    from crawler.store import open_store
    from feeds.publish import publish
    from feeds.websub import EXIT_WAIT, Notifier, changed_feeds

    with open_store(config.store.url) as store:
        report = publish(config, store, full=full)
    logger.info("published %d categories: %d files written, %d unchanged, into %s",
                len(report.categories), len(report.written), len(report.unchanged), config.site.output_dir)
    unpublished = [*report.refused, *report.failed]
    if unpublished:
        logger.error("not published: %s", ", ".join(f"{slug} ({report.failed.get(slug, 'unsafe slug')})"
                                                      for slug in unpublished))
    changed = changed_feeds(config, report.written)
    if config.websub.hubs and changed:
        notifier = Notifier(config)
        notifier.notify(changed)
        notifier.close(EXIT_WAIT)
    return not unpublished


def cmd_publish(config: Config, args: argparse.Namespace) -> int:
    setup_logging()
    return 0 if publish_and_report(config, full=args.all) else 1


SCHEDULER_LOCK = "scheduler"


def crawl_command(config: Config) -> list[str]:
    """The subprocess that runs a one-shot crawl without publishing (the demo's: it shows the crawl's log)."""
    command = [sys.executable, "-m", "scheduler", "crawl", "--no-publish"]
    if config.path is not None:
        command += ["--config", str(config.path)]
    return command


def store_job(job: Callable[..., None]) -> Callable[..., None]:
    """A job that logs a failed store in one line (and runs again at its next time) instead of raising it."""

    @functools.wraps(job)
    def run(*args: Any) -> None:
        try:
            job(*args)
        except StoreUnavailable as exc:
            what = [job.__name__.removesuffix("_job").replace("_", " "),
                    *(arg.name for arg in args if isinstance(arg, SourceConfig))]
            logger.error("%s failed: %s; it runs again at its next time", " ".join(what), exc)

    return run


class FinewsScheduler:
    """APScheduler in Beijing time: one job per source, publish after each crawl, housekeeping."""

    def __init__(self, config: Config, *, standby: bool = True):
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler

        self.config = config
        self.standby = standby
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self.lost_lock = False
        self.stop_signal: int | None = None
        self.engine: Any = None  # the crawl engine's supervisor, while running on a single machine
        self.publish_lock = threading.Lock()
        self.notifier: Any = None  # the WebSub notifier, while running with hubs
        self.scheduler = BackgroundScheduler(
            timezone=BEIJING,
            executors={"default": ThreadPoolExecutor(max_workers=len(config.sources) + 3)},
            job_defaults={"max_instances": 1, "coalesce": True,
                          "misfire_grace_time": int(config.scheduler.misfire_grace)},
        )

    def store(self) -> Any:
        from crawler.store import open_store

        return open_store(self.config.store.url)

    # -- the lock ------------------------------------------------------------------------

    def take_lock(self) -> bool:
        """Hold the store's scheduler lock; waits as a standby (or returns False without --standby)."""
        ttl = self.config.scheduler.lock_ttl
        announced = False
        while not self.stopping.is_set():
            try:
                with self.store() as store:
                    if store.acquire_lock(SCHEDULER_LOCK, self.owner, ttl):
                        logger.info("scheduler %s holds the lock (lease %.0fs)", self.owner, ttl)
                        return True
                    holder = store.lock_info(SCHEDULER_LOCK)
            except StoreUnavailable as exc:
                if not announced:
                    logger.error("%s; waiting for it", exc)
                    announced = True
                self.stopping.wait(max(ttl / 4, 0.2))
                continue
            who = f"{holder.owner} until {holder.expires:%Y-%m-%d %H:%M:%S%z}" if holder else "another scheduler"
            if not self.standby:
                logger.error("another scheduler runs on this store (%s); exiting", who)
                return False
            if not announced:
                logger.warning("another scheduler runs on this store (%s); standing by", who)
                announced = True
            self.stopping.wait(max(ttl / 4, 0.2))
        return False

    @store_job
    def renew_lock(self) -> None:
        with self.store() as store:
            if not store.acquire_lock(SCHEDULER_LOCK, self.owner, self.config.scheduler.lock_ttl):
                holder = store.lock_info(SCHEDULER_LOCK)
                logger.error("lost the scheduler lock to %s; stopping", holder.owner if holder else "nobody")
                self.lost_lock = True
                self.stopping.set()

    # -- jobs ----------------------------------------------------------------------------

    def trigger(self, source: SourceConfig) -> Any:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if source.cron:
            return CronTrigger.from_crontab(source.cron, timezone=BEIJING)
        return IntervalTrigger(seconds=source.every, timezone=BEIJING)

    @store_job
    def crawl_job(self, source: SourceConfig) -> None:
        """One cycle of the source in the resident crawl engine, then publish what it changed."""
        if self.stopping.is_set() or self.engine is None:
            return
        from crawler.exporter import observe_cycle
        from crawler.store import RunStatus
        from crawler.supervisor import CycleFailed, CycleRefused

        started = time.monotonic()
        begun = datetime.now(BEIJING)
        try:
            status = self.engine.run_cycle(source.name)
        except CycleRefused as exc:
            logger.warning("crawl %s skipped: %s", source.name, exc)
            return
        except CycleFailed as exc:
            status = RunStatus(source=source.name, started=begun, finished=datetime.now(BEIJING),
                               outcome="failed", message=str(exc))
            with self.store() as store:
                store.record_run(status)
        observe_cycle(status, timed=True)
        store_failed = status.message.startswith(STORE_UNAVAILABLE)
        published = "nothing (the store failed)" if store_failed else self.publish()
        log = logger.info if status.outcome == "ok" else logger.error
        log("crawl %s: %s in %.3fs — listed %d, new %d, updated %d, unchanged %d, dropped %d, errors %d; "
            "published %s%s", source.name, status.outcome, time.monotonic() - started, status.listed, status.new,
            status.updated, status.unchanged, status.dropped, status.errors, published,
            f" ({status.message})" if status.message else "")

    @store_job
    def enqueue_job(self, source: SourceConfig) -> None:
        """Distributed mode: close the source's last cycle and push its list requests for the workers."""
        from crawler.distributed import close_cycle, connect, enqueue_source
        from crawler.exporter import observe_cycle
        from crawler.sources import adapter_for
        from crawler.store import RunStatus

        if self.stopping.is_set():
            return
        client = connect(self.config)
        try:
            with self.store() as store:
                closed = close_cycle(client, source.name)
                enqueue_source(client, source, adapter_for(source).start_urls())
                if closed is not None:
                    store.record_run(closed)
                    observe_cycle(closed, timed=False)
                    log = logger.info if closed.outcome == "ok" else logger.error
                    log("cycle %s: %s — listed %d, new %d, updated %d, unchanged %d, dropped %d, errors %d%s",
                        source.name, closed.outcome, closed.listed, closed.new, closed.updated, closed.unchanged,
                        closed.dropped, closed.errors, f" ({closed.message})" if closed.message else "")
                store.record_run(RunStatus(source=source.name, started=datetime.now(BEIJING), outcome="running"))
            logger.info("enqueued %s's list requests for the workers", source.name)
        finally:
            client.close()

    @store_job
    def publish_job(self) -> None:
        logger.info("published %s", self.publish())

    def publish(self, full: bool = False) -> str:
        from crawler.exporter import publishing
        from feeds.publish import publish
        from feeds.websub import changed_feeds

        with self.publish_lock, self.store() as store, publishing() as published:
            report = publish(self.config, store, full=full)
            published(report)
        if self.notifier is not None:
            self.notifier.notify(changed_feeds(self.config, report.written))
        return f"{len(report.categories)} categories ({len(report.written)} files written)"

    @store_job
    def housekeeping(self) -> None:
        """Prune each category to `keep_per_category`; with archives, only what the archives hold already."""
        from crawler.store import ALL, is_category
        from feeds.archive import read_mark

        keep = self.config.scheduler.keep_per_category
        pruned = 0
        settled = None
        if self.config.site.archives:
            self.publish()
            settled = read_mark(self.config.site.output_dir) or 0
        with self.store() as store:
            for category in store.categories():
                pruned += store.prune(category.slug, keep, settled)
            categories = [c for c in store.categories() if is_category(c.slug)]
            pruned += store.prune(ALL, keep * max(1, len(categories)), settled)
        logger.info("housekeeping: pruned %d items beyond %d per category; published %s",
                    pruned, keep, self.publish())

    def on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        if event.code == EVENT_JOB_MISSED:
            logger.warning("job %s missed its run at %s (coalesced into the next one)",
                           event.job_id, event.scheduled_run_time)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            logger.warning("job %s skipped: its previous run is still going", event.job_id)
        elif event.code == EVENT_JOB_ERROR:
            logger.error("job %s failed: %r", event.job_id, event.exception,
                         exc_info=(type(event.exception), event.exception, event.exception.__traceback__))

    # -- lifecycle -----------------------------------------------------------------------

    def request_stop(self, signum: int, frame: Any) -> None:
        """The signal handler: it only sets the event (the main thread logs and stops)."""
        self.stop_signal = signum
        self.stopping.set()

    def run(self) -> int:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if not self.take_lock():
            return 0 if self.stopping.is_set() else 1
        if self.config.websub.hubs:
            from feeds.websub import Notifier

            self.notifier = Notifier(self.config)
        now = datetime.now(BEIJING)
        distributed = self.config.crawl.distributed
        if not distributed:
            from crawler.supervisor import EngineSupervisor, engine_command

            crawl = self.config.crawl
            # A timed-out cycle's crawler closes once its requests in flight end: each may still
            # wait for its retries (Retry-After at most retry_after_max) and download each of them.
            in_flight = (crawl.retry_times + 1) * crawl.download_timeout + crawl.retry_times * crawl.retry_after_max
            self.engine = EngineSupervisor(engine_command(str(self.config.path) if self.config.path else None),
                                           cycle_deadline=self.config.scheduler.crawl_timeout + in_flight)
            self.engine.start()
        for source in self.config.sources:
            if source.enabled:
                self.scheduler.add_job(self.enqueue_job if distributed else self.crawl_job, self.trigger(source),
                                       args=[source], id=f"crawl:{source.name}", name=f"crawl {source.name}",
                                       next_run_time=now)
        if distributed:
            self.scheduler.add_job(self.publish_job, "interval", seconds=self.config.scheduler.publish_interval,
                                   id="publish")
        from apscheduler.triggers.cron import CronTrigger

        self.scheduler.add_job(self.housekeeping, CronTrigger.from_crontab(
            self.config.scheduler.housekeeping_cron, timezone=BEIJING), id="housekeeping")
        self.scheduler.add_job(self.renew_lock, "interval", seconds=self.config.scheduler.lock_ttl / 3,
                               id="lock")
        self.scheduler.add_listener(self.on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        self.scheduler.start()
        logger.info("scheduler running%s: %d sources, times in Asia/Shanghai; SIGTERM or Ctrl-C to stop",
                    " (distributed: workers crawl)" if distributed else "",
                    sum(1 for s in self.config.sources if s.enabled))
        while not self.stopping.wait(1.0):
            pass
        if self.stop_signal is not None:
            logger.info("received %s: starting nothing new", signal.Signals(self.stop_signal).name)
        self.shutdown()
        return 1 if self.lost_lock else 0

    def shutdown(self) -> None:
        """Start nothing new, give running crawls the grace period, then stop them; release the lock."""
        self.scheduler.pause()
        if self.engine is not None:
            grace = self.config.scheduler.shutdown_grace
            if not self.engine.idle(grace):
                logger.warning("stopping the crawls still running after the %.0fs grace period", grace)
            self.engine.stop()
        self.scheduler.shutdown(wait=True)
        if self.notifier is not None:
            from feeds.websub import EXIT_WAIT

            self.notifier.close(EXIT_WAIT)
        if not self.lost_lock:
            try:
                with self.store() as store:
                    store.release_lock(SCHEDULER_LOCK, self.owner)
            except StoreUnavailable as exc:
                logger.warning("the scheduler lock was not released (its lease runs out): %s", exc)
        logger.info("scheduler stopped")


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    setup_logging()
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return with_metrics(config, FinewsScheduler(config, standby=not args.no_standby).run)


def with_metrics(config: Config, main: Callable[[], int]) -> int:
    """Run `main` serving /metrics when `[metrics] port` is set, with a private multiprocess folder
    for this process and its crawl children (see crawler.metrics), removed afterwards."""
    if config.metrics.port is None:
        return main()
    with tempfile.TemporaryDirectory(prefix="finews-metrics-") as folder:
        # Before prometheus_client is first imported: it then keeps every value in that folder.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        from crawler.exporter import serve

        try:
            server = serve(config)
        except OSError as exc:
            logger.error("metrics: cannot listen on %s:%d: %s", config.metrics.host, config.metrics.port,
                         exc.strerror or exc)
            return 2
        try:
            return main()
        finally:
            server.shutdown()
            server.server_close()
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from feeds.serve import make_server, server_url

    setup_logging()
    server = make_server(config.site.output_dir, args.host, args.port, args.idle_timeout, hubs=config.websub.hubs,
                         base_url=config.site.base_url)
    print(f"serving {config.site.output_dir} at {server_url(server)} (Ctrl-C to stop)", flush=True)
    serve_until_stopped(server)
    return 0


def serve_until_stopped(server: Any) -> None:
    """Serve until SIGTERM or Ctrl-C, then close the socket."""
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    import json

    from crawler.status import format_status, status_report
    from crawler.store import open_store

    with open_store(config.store.url) as store:
        report = status_report(config, store, now=args.now)
    if config.crawl.distributed:
        from crawler.distributed import connect, frontier_status

        client = connect(config)
        report["frontier"] = frontier_status(client)
        client.close()
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else format_status(report))
    return 1 if report["stale"] else 0


DEMO_PORT_FILE = "sample-site.port"
"""Where the demo keeps its sample site's port: the stored articles link to it, so every run reuses it."""


def _demo_sample_site(workdir: Any) -> Any:
    """The sample site on the port of the demo's earlier runs (a free one the first time or when it is taken)."""
    from crawler.samplesite import SampleSite

    port_file = workdir / DEMO_PORT_FILE
    try:
        stored = int(port_file.read_text(encoding="ascii"))
    except (OSError, ValueError):
        stored = 0
    try:
        site = SampleSite(port=stored).start()
    except OSError:
        logger.warning("port %d of the earlier demo runs is busy: the articles stored then link to it", stored)
        site = SampleSite().start()
    port_file.write_text(site.base_url.rsplit(":", 1)[1], encoding="ascii")
    return site


def _demo_crawl(config: Config, verbose: bool) -> int | None:
    """Run the demo's crawl; its exit code, or None when Ctrl-C stopped it (the crawl stops on the same Ctrl-C)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEWS_")}
    quiet = {} if verbose else {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    process = subprocess.Popen(crawl_command(config), env=env, **quiet)
    try:
        log, _ = process.communicate()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C goes to the crawl alone
        process.communicate()
        return None
    if process.returncode != 0 and log:
        sys.stderr.write(log[-4000:])
    return process.returncode


def _print_demo_summary(config: Config, report: Any, base_url: str) -> None:
    from crawler.store import STOCKS, group_of, is_category, open_store

    with open_store(config.store.url) as store:
        runs = store.runs()
        keys = [c.slug for c in store.categories()]
    for source in config.sources:
        run = runs.get(source.name)
        if run is not None:
            print(f"  {source.name:<18} {run.outcome:<8} listed {run.listed}, new {run.new}, "
                  f"unchanged {run.unchanged}, updated {run.updated}, dropped {run.dropped}, errors {run.errors}")
    stocks = sum(group_of(key) == STOCKS for key in keys)
    print(f"published {sum(map(is_category, keys))} categories and {stocks} securities "
          f"({len(report.written)} files written) into {config.site.output_dir}")
    print(f"  index:        {base_url}")
    print(f"  all news RSS: {base_url}all/rss.xml   (paste into a feed reader)")
    print(f"  every category as OPML: {base_url}opml.xml   (import into a feed reader)")
    print(f"  securities:   {base_url}stocks/")


def cmd_demo(config: Config, args: argparse.Namespace) -> int:
    """Sample site → crawl → publish into ./public → serve; the whole product in one command."""
    try:
        return _demo(args)
    except KeyboardInterrupt:
        print("\ndemo stopped")
        return 130


def _demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crawler.store import open_store
    from feeds.publish import publish
    from feeds.serve import make_server, server_url

    setup_logging("INFO" if args.verbose else "WARNING")
    workdir, output = Path(args.dir).resolve(), Path(args.output).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        server = make_server(output, "127.0.0.1", args.port)
    except OSError:
        logger.warning("port %d is busy; serving on a free port instead", args.port)
        server = make_server(output, "127.0.0.1", 0)
    base_url = server_url(server)
    site = _demo_sample_site(workdir)
    try:
        config_path = workdir / "finews.toml"
        config_path.write_text(site.config_toml(
            output_dir=str(output), store_url=f"sqlite:///{workdir / 'finews.db'}",
            kinds=("choice", "eastmoney", "fastnews"), base_url=base_url), encoding="utf-8")
        print(f"sample site: {site.base_url}/ — crawling it into {workdir / 'finews.db'} …", flush=True)
        demo_config = load_config(config_path, environ={})
        code = _demo_crawl(demo_config, args.verbose)
        if code is None:
            print("\ndemo stopped during the crawl")
            return 130
        if code != 0:
            logger.error("the demo crawl failed (exit %d)", code)
            return 1
        with open_store(demo_config.store.url) as store:
            report = publish(demo_config, store, full=True)
        _print_demo_summary(demo_config, report, base_url)
        if args.no_serve:
            return 0
        print(f"serving {output} at {base_url} (the articles' links open the sample site's pages)"
              " — Ctrl-C to stop", flush=True)
        serve_until_stopped(server)
        print("demo stopped")
        return 0
    finally:
        server.server_close()
        site.stop()


def cmd_config_check(config: Config, args: argparse.Namespace) -> int:
    """Print the effective config as TOML (file + environment), secrets masked."""
    import tomli_w

    from crawler.config import overriding_variables

    variables = overriding_variables(os.environ)
    print(f"# finews config check: {config.path or '<built-in defaults>'}"
          + (f", overridden by {', '.join(variables)}" if variables else ""))
    print(tomli_w.dumps(config.effective()), end="")
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    import json

    from crawler.config import config_schema

    print(json.dumps(config_schema(), ensure_ascii=False, indent=2))
    return 0


def cmd_worker(config: Config, args: argparse.Namespace) -> int:
    if not config.store.url.startswith(("redis://", "rediss://", "unix://")):
        print("finews: config error: the worker needs a Redis store.url (or FINEWS_STORE_URL)", file=sys.stderr)
        return 2

    def work() -> int:
        """The resident engine on the shared frontier, under the same supervision as `finews run`'s."""
        from crawler.supervisor import EngineSupervisor, engine_command

        setup_logging()
        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda sig, frame: stopping.set())
        engine = EngineSupervisor(engine_command(str(config.path) if config.path else None, frontier=True),
                                  final_codes=frozenset({EXIT_STORE_UNAVAILABLE}))
        engine.start()
        while not stopping.wait(1.0) and engine.final_code is None:
            pass
        engine.stop()
        return engine.final_code or 0  # the engine logged why it stopped for good, once

    return with_metrics(config, work)


def build_parser() -> argparse.ArgumentParser:
    from feeds.serve import IDLE_TIMEOUT

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: ./finews.toml if present, else built-in defaults)")
    parser = argparse.ArgumentParser(
        prog="finews", parents=[common],
        description="Crawl eastmoney financial news and publish RSS, Atom and JSON feeds.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    crawl = commands.add_parser("crawl", parents=[common], help="crawl the sources once, then publish")
    crawl.add_argument("--source", action="append", metavar="NAME", help="only this source (repeatable)")
    crawl.add_argument("--no-publish", action="store_true", help="store only; do not publish feeds")
    crawl.set_defaults(handler=cmd_crawl, needs_sources=True)

    publish = commands.add_parser("publish", parents=[common], help="rebuild feeds from the store")
    publish.add_argument("--all", action="store_true", help="rebuild every category, not only changed ones, and every entry anew (none taken from the published files)")
    publish.set_defaults(handler=cmd_publish)

    run = commands.add_parser("run", parents=[common], help="the scheduler: crawl each source on its schedule")
    run.add_argument("--no-standby", action="store_true",
                     help="exit (code 1) instead of standing by when another scheduler holds the store lock")
    run.set_defaults(handler=cmd_run, needs_sources=True)

    serve = commands.add_parser("serve", parents=[common], help="serve the output folder over HTTP")
    serve.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT, metavar="SECONDS",
                       help=f"close a connection silent this long (default {IDLE_TIMEOUT:g})")
    serve.set_defaults(handler=cmd_serve)

    status = commands.add_parser("status", parents=[common],
                                 help="last crawl of each source and the categories; exit 1 when a source is stale")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--now", type=datetime.fromisoformat, default=None, metavar="ISO-TIME",
                        help="judge staleness as of this time (default: now)")
    status.set_defaults(handler=cmd_status)

    worker = commands.add_parser("worker", parents=[common],
                                 help="distributed mode: crawl what the scheduler enqueues, until SIGTERM")
    worker.set_defaults(handler=cmd_worker)

    demo = commands.add_parser("demo", parents=[common],
                               help="crawl the bundled sample site, publish into ./public and serve it")
    demo.add_argument("--port", type=int, default=8080, help="port to serve on (a free one if busy)")
    demo.add_argument("--output", default="public", help="output folder (default ./public)")
    demo.add_argument("--dir", default=".finews-demo", help="folder for the demo's config and store")
    demo.add_argument("--no-serve", action="store_true", help="stop after publishing")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the crawl's Scrapy log")
    demo.set_defaults(handler=cmd_demo)

    config = commands.add_parser("config", parents=[common], help="check the config, or print its JSON Schema")
    checks = config.add_subparsers(dest="config_command", required=True, metavar="check|schema")
    checks.add_parser("check", parents=[common], help="validate and print the effective config (secrets masked); "
                      "exit 2 when it is bad").set_defaults(handler=cmd_config_check)
    checks.add_parser("schema", parents=[common], help="print the JSON Schema of finews.toml").set_defaults(
        handler=cmd_config_schema, needs_config=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not getattr(args, "needs_config", True):
        return args.handler(args)
    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        for file, key, reason in exc.problems:
            print(f"finews: config error: {file}: {key}: {reason}", file=sys.stderr)
        return 2
    if getattr(args, "needs_sources", False) and not getattr(args, "source", None) and not config.enabled_sources:
        print(f"finews: config error: {config.path or '<built-in defaults>'}: sources: no enabled source, "
              "nothing to crawl", file=sys.stderr)
        return 2
    try:
        return args.handler(config, args)
    except StoreUnavailable as exc:
        print(f"finews: {exc}", file=sys.stderr)
        return EXIT_STORE_UNAVAILABLE


if __name__ == "__main__":
    sys.exit(main())
