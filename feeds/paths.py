"""Every file path finews writes is made here: of validated names, checked to stay inside its folder."""

from __future__ import annotations

import re
from pathlib import Path

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_MAX_BYTES = 255


class UnsafePathError(ValueError):
    """A name that is not a plain file or folder name, or a path that would resolve outside its folder."""


def inside(folder: Path, *names: str) -> Path:
    """`folder/name/…` after checking each name (`[A-Za-z0-9][A-Za-z0-9._-]*`, ≤ 255 bytes) and that the
    path, symlinks resolved, stays inside `folder`; raises UnsafePathError otherwise."""
    for name in names:
        if not NAME_RE.fullmatch(name) or len(name) > NAME_MAX_BYTES:
            raise UnsafePathError(f"{name[:80]!r} is not a plain file name ([A-Za-z0-9._-], ≤ {NAME_MAX_BYTES})")
    path = folder.joinpath(*names)
    root, resolved = folder.resolve(), path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePathError(f"{path} resolves to {resolved}, outside {root}")
    return path
