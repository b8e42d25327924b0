"""Sources: where articles come from. Each turns its bytes into ``Article`` values.

A source never touches the store and never decides zones; it reports what it read as a ``SourceResult``,
with per-item problems as values, so one broken file or feed never stops the others.
"""

from __future__ import annotations

from typing import Protocol

from ..types import SourceResult
from .local import DirectorySource as DirectorySource
from .page import PageFields as PageFields
from .page import parse_front_matter as parse_front_matter
from .page import parse_page as parse_page

__all__ = ["DirectorySource", "PageFields", "Source", "parse_front_matter", "parse_page"]


class Source(Protocol):
    """Anything that can be read into articles."""

    @property
    def id(self) -> str: ...

    def read(self) -> SourceResult: ...
