"""Atomic file replacement for published files (see ``syndicate.files``)."""

from ..files import TEMP_PREFIX, atomic_write

__all__ = ["TEMP_PREFIX", "atomic_write"]
