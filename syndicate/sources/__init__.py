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
