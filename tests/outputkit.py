"""The published output folder as the tests look at it: every file's bytes and mtime, mtimes aged."""

from __future__ import annotations

import json
import os
from pathlib import Path

OLD_MTIME = 1_000_000_000


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder` (temporary files included) → its bytes and mtime."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def age(folder: Path) -> None:
    """Give every file an old mtime, so that a rewrite shows even within the clock's granularity."""
    for path in folder.rglob("*"):
        os.utime(path, (OLD_MTIME, OLD_MTIME))


def served(folder: Path) -> dict[str, tuple[bytes, int]]:
    """`snapshot` without the records of the feeds' entries (never served), which hold the change times of the files
    they describe: `age` sets those."""
    from feeds.reuse import RECORD

    return {name: state for name, state in snapshot(folder).items() if not name.endswith(RECORD)}


def built(folder: Path) -> dict[str, bytes]:
    """Every file's bytes, a record of a feed's entries (feeds/reuse.py) without the identities of the files it
    describes, which differ from one folder, or one write, to the next."""
    from feeds.reuse import RECORD

    return {name: json.dumps({**json.loads(data), "files": None}).encode() if name.endswith(RECORD) else data
            for name, (data, _) in snapshot(folder).items()}
