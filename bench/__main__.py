"""`python -m bench [SCENARIO ...] [--out PATH]`: run the benchmarks, print one table, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from . import scenarios

SCENARIOS = ("crawl", "publish", "store", "memory", "cycles", "throttled", "soak")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def table(rows: list[scenarios.Row]) -> str:
    lines = [f"{'scenario':<10} {'figure':<72} {'value':>12} {'unit':<8} {'target':<16} {'ratio':>7}"]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(f"{row.scenario:<10} {row.figure[:72]:<72} {row.value:>12.3f} {row.unit:<8} "
                     f"{row.target:<16} {ratio:>7}")
    lines.append("ratio = figure / target (time) or target / figure (rate): ≤ 1.00 meets the target")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all; crawl includes no-change)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--articles", type=int, default=2000, help="N of the crawl scenario (default 2000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; medians are reported")
    parser.add_argument("--memory-articles", type=int, default=10000, help="N of the memory scenario")
    parser.add_argument("--cycles-seconds", type=float, default=60.0,
                        help="how long the cycles scenario runs finews run (default 60; shorter for a smoke run)")
    parser.add_argument("--soak-cycles", type=int, default=1000,
                        help="no-change cycles of the soak scenario (default 1000; then 100 with 20 new articles)")
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(SCENARIOS)
    rows: list[scenarios.Row] = []
    for name in chosen:
        print(f"running {name} …", file=sys.stderr, flush=True)
        if name == "crawl":
            rows += scenarios.crawl_scenarios(args.articles, 20, args.runs, polite_n=50)
        elif name == "publish":
            rows += scenarios.publish_scenario(runs=max(args.runs, 5))
            rows += scenarios.grouped_publish_scenario(runs=max(args.runs, 5))
        elif name == "store":
            rows += scenarios.store_scenario(10_000)
        elif name == "memory":
            rows += scenarios.memory_scenario(args.memory_articles, 20)
        elif name == "cycles":
            rows += scenarios.cycles_scenario(args.cycles_seconds)
        elif name == "throttled":
            rows += scenarios.throttled_scenario(args.runs)
        elif name == "soak":
            rows += scenarios.soak_scenario(args.soak_cycles)
    print(f"finews benchmarks — {machine()} — {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "rows": [r.as_dict() for r in rows]},
                                       ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
