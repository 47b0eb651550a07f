"""The resident crawl engine: one long-lived process, one Twisted reactor, a fresh Scrapy crawler per cycle.

`finews run` starts it as its child (`python -m crawler.engine`, see `crawler.supervisor`) and
talks to it in JSON lines. On stdin it reads one line per due cycle, `{"cycle": 7, "source":
"choice-media"}`; on stdout it writes each cycle's result, `{"cycle": 7, "source": …, "status":
<RunStatus as JSON>}`, and a heartbeat from the reactor once a second, `{"heartbeat": <pid>}`.
Everything else (Scrapy's log, and anything that prints) goes to stderr.

Each cycle is a new `Crawler` of the news spider for one source in the running reactor
(`CrawlerRunner`): per-cycle components and state are built by `from_crawler` as in a one-shot
crawl, and end with it; what costs a process (imports, the reactor) is paid once. A cycle ends
on its own:

- Scrapy's CloseSpider extension closes a crawl still running after `scheduler.crawl_timeout`
  (`closespider_timeout`; requests in flight end within `crawl.download_timeout`);
- a store that stops answering ends the cycle it broke (`store_unavailable`, one ERROR line, see
  `crawler.storeguard`); each cycle opens its own store handle, so the next one tries again.

Closing stdin (or SIGTERM/SIGINT) stops the crawls under way (`shutdown`), writes their results
and exits.

With `--frontier` (`finews worker`) the same engine is fed from the other queue: instead of cycle
requests on stdin it runs one crawler of the worker spider, which pops list requests from the
shared scrapy-redis frontier (crawler/spiders/worker.py) for as long as the engine runs. It
heartbeats the same way; a store that fails ends that crawler and the engine, with exit code
`EXIT_STORE_UNAVAILABLE`, which its supervisor passes on instead of restarting it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime
from typing import IO, Any

from scrapy import signals
from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.log import configure_logging
from scrapy.utils.reactor import install_reactor
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from .config import Config, load_config
from .runner import crawl_settings_for
from .runtime import final_statuses
from .store import STORE_UNAVAILABLE, RunStatus, StoreUnavailable
from .store.base import EXIT_STORE_UNAVAILABLE
from .store.codec import run_from_json, run_to_json
from .text.times import BEIJING

logger = logging.getLogger("crawler.engine")

HEARTBEAT_INTERVAL = 1.0
"""Seconds between two heartbeats of the engine's reactor."""
SETUP_LOGGERS = ("scrapy.addons", "scrapy.middleware", "scrapy.crawler", "scrapy.statscollectors", "scrapy.utils.log")
"""Scrapy's per-crawler set-up log (components, settings, the stats dump): the same every cycle, so
written for the first cycle only (about a hundred lines a cycle otherwise)."""


def cycle_request(cycle: int, source: str) -> str:
    """The line that asks the engine for one cycle of `source`."""
    return json.dumps({"cycle": cycle, "source": source}) + "\n"


def cycle_result(cycle: int, status: RunStatus) -> str:
    """The line that reports a cycle's end."""
    return json.dumps({"cycle": cycle, "source": status.source, "status": run_to_json(status)},
                      ensure_ascii=False) + "\n"


def read_message(line: str) -> tuple[str, int, RunStatus | None]:
    """("heartbeat", the engine's pid, None) or ("result", cycle id, RunStatus) from one line of the engine."""
    message = json.loads(line)
    if "heartbeat" in message:
        return "heartbeat", int(message["heartbeat"]), None
    return "result", int(message["cycle"]), run_from_json(message["status"])


class Engine:
    """Runs the cycles it is asked for, each in a crawler of its own, in one reactor."""

    def __init__(self, config: Config, out: IO[str], *, frontier: bool = False):
        from .spiders.news import NewsSpider

        self.spider_class = NewsSpider
        self.out = out
        self.frontier = frontier
        if frontier:
            from .distributed import worker_settings

            overrides = worker_settings(config)
        else:
            overrides = {"CLOSESPIDER_TIMEOUT": config.scheduler.crawl_timeout}
        self.runner = CrawlerRunner(crawl_settings_for(config, overrides))
        self.cycles: dict[int, Crawler] = {}
        self.stopping = False
        self.exit_code = 0

    def send(self, line: str) -> None:
        try:
            self.out.write(line)
            self.out.flush()
        except OSError:  # the supervisor is gone: nobody waits for these crawls
            self.stop("its supervisor is gone")

    def crawl(self, crawler: Crawler, **kwargs: Any) -> Deferred[None]:
        crawler.signals.connect(self.started, signal=signals.engine_started)
        return self.runner.crawl(crawler, **kwargs)

    def started(self, sender: Crawler) -> Deferred[None] | None:
        """A crawler still starting when the engine began to stop (`stop` could not reach it yet) stops now."""
        return deferred_from_coro(sender.engine.stop_async()) if self.stopping else None

    def heartbeat(self) -> None:
        self.send(json.dumps({"heartbeat": os.getpid()}) + "\n")

    def receive(self, line: str) -> None:
        try:
            message = json.loads(line)
            cycle, source = int(message["cycle"]), str(message["source"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("crawl engine: unreadable cycle request %r: %s", line[:200], exc)
            return
        if self.frontier:
            logger.error("crawl engine: a frontier engine takes no cycle requests (got one for %s)", source)
            return
        if self.stopping:
            self.send(cycle_result(cycle, failed(source, datetime.now(BEIJING), "the crawl engine is stopping")))
            return
        self.start_cycle(cycle, source)

    def start_cycle(self, cycle: int, source: str) -> None:
        crawler = self.runner.create_crawler(self.spider_class)
        begun = datetime.now(BEIJING)
        self.cycles[cycle] = crawler
        done = self.crawl(crawler, source=[source])
        done.addBoth(self.cycle_ended, cycle, source, crawler, begun)

    def cycle_ended(self, result: Any, cycle: int, source: str, crawler: Crawler, begun: datetime) -> None:
        self.cycles.pop(cycle, None)
        for name in SETUP_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        status = final_statuses(crawler).get(source)
        if isinstance(result, Failure):
            if result.check(StoreUnavailable):
                logger.error("%s; the crawl of %s did not start", result.value, source)
                message = f"{STORE_UNAVAILABLE}: {result.value}"
            else:
                logger.error("crawl of %s failed: %s", source, result.getErrorMessage(),
                             exc_info=(result.type, result.value, result.getTracebackObject()))
                message = f"crawl failed: {result.getErrorMessage()}"
            status = status or failed(source, begun, message)
        self.send(cycle_result(cycle, status or failed(source, begun, "the crawl recorded no run status")))

    def start_frontier(self) -> None:
        """Worker mode: one crawler of the worker spider, on the shared frontier until the engine stops."""
        from .spiders.worker import NewsWorkerSpider
        from .storeguard import StoreGuard

        crawler = self.runner.create_crawler(NewsWorkerSpider)

        def ended(result: Any) -> None:
            guard = crawler.get_extension(StoreGuard) if getattr(crawler, "extensions", None) else None
            if isinstance(result, Failure) and result.check(StoreUnavailable):
                logger.error("%s; the worker did not start", result.value)
                self.exit_code = EXIT_STORE_UNAVAILABLE
            elif isinstance(result, Failure):
                logger.error("the worker's crawl failed: %s", result.getErrorMessage(),
                             exc_info=(result.type, result.value, result.getTracebackObject()))
                self.exit_code = 1
            elif guard is not None and guard.failure is not None:
                self.exit_code = EXIT_STORE_UNAVAILABLE
            self.stop("the worker's crawl ended")

        self.crawl(crawler).addBoth(ended)

    def stop(self, why: str) -> None:
        """Stop the crawls under way (their results are sent), then the reactor."""
        from twisted.internet import reactor

        if self.stopping:
            return
        self.stopping = True
        logger.info("crawl engine stopping (%s): %d cycles under way", why, len(self.cycles))
        stopped = self.runner.stop()
        stopped.addBoth(lambda _: self.runner.join())
        stopped.addBoth(lambda _: reactor.stop())


def failed(source: str, begun: datetime, message: str) -> RunStatus:
    return RunStatus(source=source, started=begun, finished=datetime.now(BEIJING), outcome="failed", message=message)


def read_requests(engine: Engine, stdin: IO[str]) -> None:
    """The stdin thread: hand each line to the reactor; end of input stops the engine."""
    from twisted.internet import reactor

    for line in stdin:
        if line.strip():
            reactor.callFromThread(engine.receive, line)
    reactor.callFromThread(engine.stop, "end of input")


def serve(config: Config, *, frontier: bool = False) -> int:
    """Run the engine on this process's stdin and stdout until stdin closes or SIGTERM/SIGINT; its exit code."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the pipe carries our messages only
    settings = crawl_settings_for(config)
    install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
    configure_logging(settings)
    from twisted.internet import reactor, task

    engine = Engine(config, out, frontier=frontier)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda sig, frame: reactor.callFromThread(engine.stop, signal.Signals(sig).name))
    beat = task.LoopingCall(engine.heartbeat)
    reactor.callWhenRunning(beat.start, HEARTBEAT_INTERVAL, now=True)
    if frontier:
        reactor.callWhenRunning(engine.start_frontier)
    threading.Thread(target=read_requests, args=(engine, sys.stdin), name="cycle-requests", daemon=True).start()
    logger.info("crawl engine %d running%s", os.getpid(), " on the shared frontier" if frontier else "")
    reactor.run(installSignalHandlers=False)
    logger.info("crawl engine %d stopped", os.getpid())
    return engine.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.engine", description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="PATH", default=None)
    parser.add_argument("--frontier", action="store_true", help="crawl the shared frontier (finews worker)")
    args = parser.parse_args(argv)
    return serve(load_config(args.config), frontier=args.frontier)


if __name__ == "__main__":
    sys.exit(main())
