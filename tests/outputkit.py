"""The published output folder as the tests look at it: every file's bytes and mtime, mtimes aged."""

from __future__ import annotations

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
