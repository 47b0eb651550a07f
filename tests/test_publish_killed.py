"""`publish --all` killed with SIGKILL at 20 seeded moments: every file whole, the next publish as a clean one.

The moments are drawn (seeded, so a failure reproduces) over the time a whole publish takes once its
modules are imported; the run is never waited for, only killed.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree

from crawler.samplesite import SampleSite
from feeds.reuse import RECORD

from crawlkit import ROOT, finews_env, run_finews, write_config
from feedcheck import check_atom, check_json_feed, check_rss
from outputkit import built

KILLS = 20
SEED = 20261201
READY = "ready"
PUBLISH = ("import sys, scheduler, feeds.publish, crawler.store; print('ready', flush=True); "
           "sys.exit(scheduler.main(['publish', '--all', '--config', sys.argv[1]]))")
"""The publish command, saying `ready` once its modules are imported (the kill moments fall after it)."""


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def start_publish(config: Path) -> subprocess.Popen[str]:
    """`finews publish --all` in a process of its own, returned once it has imported finews."""
    proc = subprocess.Popen([sys.executable, "-c", PUBLISH, str(config)], cwd=ROOT, env=finews_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == READY
    return proc


def check_whole(path: Path, data: bytes) -> None:
    """Parse a published file as what it is (a partial file fails)."""
    checks = {"rss.xml": check_rss, "atom.xml": check_atom, "feed.json": check_json_feed}
    if path.name in checks:
        checks[path.name](data)
    elif path.parent.name == "archive":  # RFC 5005 archive documents: <slug>/archive/<YYYY-MM>.atom|json
        check_atom(data) if path.suffix == ".atom" else check_json_feed(data)
    elif path.name == "opml.xml":
        etree.fromstring(data)
    elif path.name == "index.html":
        assert data.rstrip().endswith(b"</html>")
    else:
        json.loads(data)


def test_publish_killed_at_twenty_moments_leaves_whole_files_and_the_next_publish_is_clean(tmp_path):
    with SampleSite() as site:
        config = write_config(site, tmp_path)
        run_finews("crawl", "--no-publish", "--config", str(config), check=True)
    store = tmp_path / "finews.db"
    pristine = tmp_path / "pristine.db"
    shutil.copy(store, pristine)
    output = tmp_path / "public"
    proc = start_publish(config)
    started = time.monotonic()
    assert proc.wait() == 0
    proc.stdout.close()
    took = time.monotonic() - started
    clean, clean_built = tree(output), built(output)
    for name, data in clean.items():
        check_whole(output / name, data)
    shutil.rmtree(output)
    rng = random.Random(SEED)
    for _ in range(KILLS):
        shutil.copy(pristine, store)
        proc = start_publish(config)
        time.sleep(rng.uniform(0, took))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        for name, data in tree(output).items() if output.exists() else ():
            # a record of a feed's entries is bookkeeping, written in place: a torn one costs serializing only
            # (tests/test_feeds_reuse.py), and its file identities differ from the clean publish's anyway
            if not name.endswith((".tmp", RECORD)):
                assert data == clean[name], f"{name} is not whole (the clean publish's bytes, checked parseable)"
    shutil.copy(pristine, store)
    run_finews("publish", "--all", "--config", str(config), check=True)
    assert built(output) == clean_built
