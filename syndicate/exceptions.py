"""The one exception tree of syndicate.

Third-party errors (pydantic, SQLAlchemy, httpx, feedparser, OS errors) are caught at the boundary of the
module that talks to them and re-raised as one of these, chained with ``raise ... from e``::

    SyndicateError
    ├── ConfigError          the config file is missing, unreadable or invalid; names file and key
    ├── SourceError          one source failed; carries ``source_id``; never stops the other sources
    │   ├── FetchError       the bytes could not be read (file, HTTP, database)
    │   └── ParseError       the bytes were read but are not an article or feed; names the file
    ├── StoreError           the database is unreachable, or its schema is not the one this code needs
    └── PublishError         an output file could not be written

A failure that concerns one item (one article file, one feed) is returned as a value in the step's result
wherever the run can go on; these exceptions are raised only where it cannot.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FetchError",
    "ParseError",
    "PublishError",
    "SourceError",
    "StoreError",
    "SyndicateError",
]


class SyndicateError(Exception):
    """Base of every error syndicate raises on purpose."""


class ConfigError(SyndicateError):
    """The configuration is invalid. ``problems`` lists one message per wrong key."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class SourceError(SyndicateError):
    """One source failed. The run goes on with the others."""

    def __init__(self, source_id: str, message: str) -> None:
        super().__init__(f"{source_id}: {message}")
        self.source_id = source_id
        self.message = message


class FetchError(SourceError):
    """A source's bytes could not be read."""


class ParseError(SourceError):
    """A source's bytes were read but could not be understood. ``path`` names the file, if any."""

    def __init__(self, source_id: str, message: str, path: str | None = None) -> None:
        super().__init__(source_id, f"{path}: {message}" if path else message)
        self.path = path


class StoreError(SyndicateError):
    """The database is unreachable or its schema does not match this version."""


class PublishError(SyndicateError):
    """An output file could not be written."""


class Cancelled(SyndicateError):
    """A run stopped early because the process is shutting down; what it committed stays committed."""
