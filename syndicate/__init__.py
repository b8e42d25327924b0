"""syndicate: gathers the news of an investment-promotion platform, deduplicates it, and publishes it as
per-zone RSS/Atom feeds and daily e-mail digests.

The public surface is small: ``load_config``, the value types, the exception tree, and the pipeline's
entry points. Everything else is private to its module.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .config import Config as Config
from .config import load_config as load_config
from .exceptions import ConfigError as ConfigError
from .exceptions import PublishError as PublishError
from .exceptions import StoreError as StoreError
from .exceptions import SyndicateError as SyndicateError
from .types import Article as Article
from .types import StoredArticle as StoredArticle
from .types import Zone as Zone

try:
    __version__ = version("syndicate")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Article",
    "Config",
    "ConfigError",
    "PublishError",
    "StoreError",
    "StoredArticle",
    "SyndicateError",
    "Zone",
    "__version__",
    "load_config",
]
