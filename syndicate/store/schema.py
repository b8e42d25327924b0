"""The schema's migration scripts (Alembic), read once per process, and telling a database that cannot be
opened from a process that has run out of file descriptors (both look alike from SQLite)."""

from __future__ import annotations

import errno
import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

__all__ = ["TOO_MANY_FILES", "alembic_config", "migrations", "no_file_descriptor_left", "out_of_files"]

_MIGRATIONS = Path(__file__).parent / "migrations"

TOO_MANY_FILES = (
    "too many open files: this process reached its open-files limit (raise it, e.g. LimitNOFILE= under "
    "systemd; see docs/deploy.md)"
)


def out_of_files(error: BaseException) -> bool:
    """EMFILE/ENFILE anywhere in the chain of causes."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.EMFILE, errno.ENFILE):
            return True
        if "Too many open files" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def no_file_descriptor_left() -> bool:
    """Whether this process cannot open one more file right now."""
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
    except OSError as e:
        return e.errno in (errno.EMFILE, errno.ENFILE)
    os.close(fd)
    return False


_REVISION = re.compile(r'^(down_revision|revision)\s*=\s*"([^"]*)"', re.M)


@functools.lru_cache(maxsize=1)
def migrations() -> tuple[str | None, frozenset[str]]:
    """The newest migration and every known one, read from the scripts' ``revision`` and
    ``down_revision`` lines once per process (Alembic itself is imported only to migrate: a command that
    finds the schema current must not pay for it; a test checks both agree)."""
    known: set[str] = set()
    parents: set[str] = set()
    for path in sorted((_MIGRATIONS / "versions").glob("*.py")):
        fields = dict((k, v) for k, v in _REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" in fields:
            known.add(fields["revision"])
            if fields.get("down_revision"):
                parents.add(fields["down_revision"])
    heads = known - parents
    return (min(heads) if len(heads) == 1 else None), frozenset(known)


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg
