"""Every file path finews writes is made here: of validated names, none of them a symlink, so it stays in its folder."""

from __future__ import annotations

import re
from pathlib import Path

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_MAX_BYTES = 255


class UnsafePathError(ValueError):
    """A name that is not a plain file or folder name, or a path through a symlink (which could lead out of its folder)."""


def inside(folder: Path, *names: str) -> Path:
    """`folder/name/…` after checking each name (`[A-Za-z0-9][A-Za-z0-9._-]*`, ≤ 255 bytes) and that no step
    below `folder` is a symlink; raises UnsafePathError otherwise.

    Plain names cannot climb (`..`) and a path with no symlink below `folder` cannot leave it, so
    this costs one `lstat` per name, never a resolve of the whole path.
    """
    if not names:
        raise UnsafePathError(f"no name given inside {folder}")
    path = folder
    for name in names:
        path = file_in(path, name)
        if path.is_symlink():
            raise UnsafePathError(f"{path} is a symlink, which could lead outside {folder}")
    return path


def file_in(folder: Path, name: str) -> Path:
    """`folder/name` for a file in a folder `inside` gave: the name checked, nothing looked up on disk
    (the file is written by renaming onto it, which replaces a symlink there and never writes through it)."""
    if not NAME_RE.fullmatch(name) or len(name) > NAME_MAX_BYTES:
        raise UnsafePathError(f"{name[:80]!r} is not a plain file name ([A-Za-z0-9._-], ≤ {NAME_MAX_BYTES})")
    return folder / name
