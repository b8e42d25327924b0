"""The one exception tree of syndicate.

Third-party errors (pydantic, SQLAlchemy, httpx, feedparser, OS errors) are caught at the boundary of the
module that talks to them and re-raised as one of these, chained with ``raise ... from e``::

    SyndicateError
    ├── ConfigError          the config file is missing, unreadable or invalid; names file and key
    ├── StoreError           the database is unreachable, or its schema is not the one this code needs
    ├── PublishError         an output file could not be written
    └── Cancelled            the process is stopping; a long step stopped between units of work

A failure that concerns one source or one item (a feed that cannot be read, an article file that is not
one) is a value, not an exception: the source's ``SourceResult`` and ``FetchReport`` name it and the run
goes on with the others. These exceptions are raised only where a run cannot go on.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "PublishError",
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


class StoreError(SyndicateError):
    """The database is unreachable or its schema does not match this version."""


class PublishError(SyndicateError):
    """An output file could not be written."""


class Cancelled(SyndicateError):
    """A run stopped early because the process is shutting down; what it committed stays committed."""
