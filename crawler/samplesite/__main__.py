"""`python -m crawler.samplesite`: serve the sample site until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading

from .data import load_bundled, synthetic
from .server import SampleSite


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m crawler.samplesite", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay every response by this")
    parser.add_argument("--articles", type=int, help="serve N synthetic articles instead of the samples")
    parser.add_argument("--categories", type=int, default=20, help="media categories of the synthetic set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic set")
    args = parser.parse_args(argv)
    articles = synthetic(args.articles, args.categories, args.seed) if args.articles is not None else load_bundled()
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    with SampleSite(articles, latency_ms=args.latency_ms, port=args.port) as site:
        print(f"sample site: {site.base_url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
