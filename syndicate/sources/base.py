"""What every source is: something with an id that, given what was remembered after its last read and
the time, reads once and says what it got and what to remember now (its ``SourceResult`` with a new
``SourceState``, health included). Sources never raise for what their input does; the pipeline records
anything they raise anyway as that source's failure.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Protocol

from ..types import SourceResult, SourceState

__all__ = ["Source"]


class Source(Protocol):
    """One configured source, ready to read.

    ``read`` returns its result directly when reading is local work (a folder, a database), or an
    awaitable of it when it waits on the network (a partner's feed): the pipeline reads the first kind in
    config order and the second kind concurrently. Tests hand the pipeline their own (``fetch``'s
    ``open_source``).
    """

    @property
    def id(self) -> str: ...

    def read(self, stored: SourceState | None, now: datetime) -> SourceResult | Awaitable[SourceResult]: ...
