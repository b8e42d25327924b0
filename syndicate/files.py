"""Atomic file replacement: a reader sees the old file or the new one, never a half-written one.

Write to a temporary file in the same folder, flush and fsync it, then ``os.replace`` it over the target
(atomic on POSIX within one file system) and fsync the folder so the rename survives a power cut. A file
whose bytes would not change is left alone, so its mtime and ETag stay.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .exceptions import PublishError

__all__ = ["TEMP_PREFIX", "atomic_write"]

TEMP_PREFIX = ".syndicate-tmp-"


def atomic_write(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` atomically. Returns False when the file already held these bytes."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as e:
        raise PublishError(f"{path}: cannot read: {e.strerror or e}") from e
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        raise PublishError(f"{path}: cannot write: {e.strerror or e}") from e
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return True
