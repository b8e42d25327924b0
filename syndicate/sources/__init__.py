"""Sources: where articles come from. Each turns its bytes into ``Article`` values.

A source never touches the store and never decides zones; it reports what it read as a ``SourceResult``,
with per-item problems as values, so one broken file or feed never stops the others. Every source has the
same shape (``base.Source``: ``read(stored, now)``) and decides its own health with ``health``.

- ``local.DirectorySource``: the platform's local article store (a folder of files);
- ``partner.FeedSource``: a partner's RSS/Atom feed, fetched with ``http.HttpFetcher``, parsed by ``feed``;
- ``sql.SqlSource``: a table of the platform's CMS database, read incrementally;
- ``health``: pure decisions on backoff and what to remember after each read.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Each name is imported from its module on first use: the parsing workers import ``feed`` alone, without
# the HTTP client, the CMS database's driver or the Markdown reader (0.37 s of start-up became 0.15 s), and a
# fetch of partner feeds does not import the readers of the other kinds.
_HOME = {
    "health": "",
    "Source": ".base",
    "decode_body": ".encoding",
    "parse_feed": ".feed",
    "HttpFetcher": ".http",
    "HttpRequest": ".http",
    "HttpResult": ".http",
    "DirectorySource": ".local",
    "PageFields": ".page",
    "parse_front_matter": ".page",
    "parse_page": ".page",
    "FeedSource": ".partner",
    "SqlSource": ".sql",
}

if TYPE_CHECKING:
    from . import health as health
    from .base import Source as Source
    from .encoding import decode_body as decode_body
    from .feed import parse_feed as parse_feed
    from .http import HttpFetcher as HttpFetcher
    from .http import HttpRequest as HttpRequest
    from .http import HttpResult as HttpResult
    from .local import DirectorySource as DirectorySource
    from .page import PageFields as PageFields
    from .page import parse_front_matter as parse_front_matter
    from .page import parse_page as parse_page
    from .partner import FeedSource as FeedSource
    from .sql import SqlSource as SqlSource


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not home:  # a submodule
        return importlib.import_module(f".{name}", __name__)
    return getattr(importlib.import_module(home, __name__), name)


__all__ = [
    "DirectorySource",
    "FeedSource",
    "HttpFetcher",
    "HttpRequest",
    "HttpResult",
    "PageFields",
    "Source",
    "SqlSource",
    "decode_body",
    "health",
    "parse_feed",
    "parse_front_matter",
    "parse_page",
]
