"""syndicate: gathers the news of an investment-promotion platform, deduplicates it, and publishes it as
per-zone RSS/Atom feeds and daily e-mail digests.

The public surface is small: ``load_config``, the value types, the exception tree, and the pipeline's
entry points. Everything else is private to its module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import Config as Config
    from .config import load_config as load_config
    from .exceptions import ConfigError as ConfigError
    from .exceptions import PublishError as PublishError
    from .exceptions import StoreError as StoreError
    from .exceptions import SyndicateError as SyndicateError
    from .types import Article as Article
    from .types import StoredArticle as StoredArticle
    from .types import Zone as Zone

    __version__: str

# Imported when first asked for, so that `syndicate --help` does not load pydantic and the config models.
_WHERE = {
    "Config": "config",
    "load_config": "config",
    "ConfigError": "exceptions",
    "PublishError": "exceptions",
    "StoreError": "exceptions",
    "SyndicateError": "exceptions",
    "Article": "types",
    "StoredArticle": "types",
    "Zone": "types",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("syndicate")
        except PackageNotFoundError:  # running from a checkout that was never installed
            found = "0.0.0+unknown"
        globals()["__version__"] = found
        return found
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
