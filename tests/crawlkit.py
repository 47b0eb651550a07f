"""Running real `finews` commands (each in its own process, as Scrapy needs) against the sample site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from crawler.samplesite import SampleSite, load_bundled

ROOT = Path(__file__).resolve().parent.parent


def finews_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINEWS_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_finews(*args: str, timeout: float = 120, check: bool = False,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m scheduler ARGS` from the repo root (`env` added to its environment); output as text."""
    result = subprocess.run([sys.executable, "-m", "scheduler", *args], cwd=ROOT, env={**finews_env(), **(env or {})},
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"finews {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def write_config(site: SampleSite, folder: Path, *, store_url: str | None = None, **kwargs: object) -> Path:
    """A finews.toml in `folder` pointing at the sample site; the store defaults to SQLite there."""
    path = folder / "finews.toml"
    path.write_text(site.config_toml(output_dir=str(folder / "public"),
                                     store_url=store_url or f"sqlite:///{folder / 'finews.db'}", **kwargs),
                    encoding="utf-8")
    return path


def expected_articles() -> dict[str, dict]:
    """Per distinct article id of the bundled samples: title, time and the set of categories."""
    expected: dict[str, dict] = defaultdict(lambda: {"categories": set()})
    for article in load_bundled():
        record = expected[article.article_id]
        record["title"] = article.title
        record["time"] = article.time
        record["categories"].add(article.category)
    return dict(expected)


def status_json(config: Path) -> dict:
    return json.loads(run_finews("status", "--json", "--config", str(config)).stdout)
