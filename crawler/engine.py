"""The resident crawl engine: one long-lived process, one Twisted reactor, a fresh Scrapy crawler per cycle.

`finews run` starts it as its child (`python -m crawler.engine`, see `crawler.supervisor`) and
talks to it in JSON lines. On stdin it reads one line per due cycle, `{"cycle": 7, "source":
"choice-media"}`; on stdout it writes each cycle's result, `{"cycle": 7, "source": …, "status":
<RunStatus as JSON>}`, and a heartbeat from the reactor once a second, `{"heartbeat": <pid>,
"cycles": [7]}`. Everything else (Scrapy's log, and anything that prints) goes to stderr.

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

from scrapy.crawler import Crawler, CrawlerRunner
from scrapy.utils.log import configure_logging
from scrapy.utils.reactor import install_reactor
from twisted.python.failure import Failure

from .config import Config, load_config
from .runner import crawl_settings_for
from .runtime import final_statuses
from .store import STORE_UNAVAILABLE, RunStatus, StoreUnavailable
from .store.codec import run_from_json, run_to_json
from .text.times import BEIJING

logger = logging.getLogger("crawler.engine")

HEARTBEAT_INTERVAL = 1.0
"""Seconds between two heartbeats of the engine's reactor."""


def cycle_request(cycle: int, source: str) -> str:
    """The line that asks the engine for one cycle of `source`."""
    return json.dumps({"cycle": cycle, "source": source}) + "\n"


def cycle_result(cycle: int, status: RunStatus) -> str:
    """The line that reports a cycle's end."""
    return json.dumps({"cycle": cycle, "source": status.source, "status": run_to_json(status)},
                      ensure_ascii=False) + "\n"


def read_message(line: str) -> tuple[str, int, Any]:
    """("heartbeat", pid, cycle ids in flight) or ("result", cycle id, RunStatus) from one line of the engine."""
    message = json.loads(line)
    if "heartbeat" in message:
        return "heartbeat", int(message["heartbeat"]), list(message.get("cycles", []))
    return "result", int(message["cycle"]), run_from_json(message["status"])


class Engine:
    """Runs the cycles it is asked for, each in a crawler of its own, in one reactor."""

    def __init__(self, config: Config, out: IO[str]):
        from .spiders.news import NewsSpider

        self.spider_class = NewsSpider
        self.out = out
        self.runner = CrawlerRunner(crawl_settings_for(config, {
            "CLOSESPIDER_TIMEOUT": config.scheduler.crawl_timeout}))
        self.cycles: dict[int, Crawler] = {}
        self.stopping = False

    def send(self, line: str) -> None:
        self.out.write(line)
        self.out.flush()

    def heartbeat(self) -> None:
        self.send(json.dumps({"heartbeat": os.getpid(), "cycles": sorted(self.cycles)}) + "\n")

    def receive(self, line: str) -> None:
        try:
            message = json.loads(line)
            cycle, source = int(message["cycle"]), str(message["source"])
        except (ValueError, KeyError, TypeError) as exc:
            logger.error("crawl engine: unreadable cycle request %r: %s", line[:200], exc)
            return
        if self.stopping:
            self.send(cycle_result(cycle, failed(source, datetime.now(BEIJING), "the crawl engine is stopping")))
            return
        self.start_cycle(cycle, source)

    def start_cycle(self, cycle: int, source: str) -> None:
        crawler = self.runner.create_crawler(self.spider_class)
        begun = datetime.now(BEIJING)
        self.cycles[cycle] = crawler
        done = self.runner.crawl(crawler, source=[source])
        done.addBoth(self.cycle_ended, cycle, source, crawler, begun)

    def cycle_ended(self, result: Any, cycle: int, source: str, crawler: Crawler, begun: datetime) -> None:
        self.cycles.pop(cycle, None)
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


def serve(config: Config) -> None:
    """Run the engine on this process's stdin and stdout until stdin closes or SIGTERM/SIGINT."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the pipe carries our messages only
    settings = crawl_settings_for(config)
    install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
    configure_logging(settings)
    from twisted.internet import reactor, task

    engine = Engine(config, out)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda sig, frame: reactor.callFromThread(engine.stop, signal.Signals(sig).name))
    beat = task.LoopingCall(engine.heartbeat)
    reactor.callWhenRunning(beat.start, HEARTBEAT_INTERVAL, now=True)
    threading.Thread(target=read_requests, args=(engine, sys.stdin), name="cycle-requests", daemon=True).start()
    logger.info("crawl engine %d running", os.getpid())
    reactor.run(installSignalHandlers=False)
    logger.info("crawl engine %d stopped", os.getpid())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.engine", description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="PATH", default=None)
    args = parser.parse_args(argv)
    serve(load_config(args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
