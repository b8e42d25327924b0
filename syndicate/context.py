"""The run context: what every step of a run needs (the validated config, an open store, a clock, a way
to stop), and the views of the config that several orchestrators share (zones, the feeds there are).

``pipeline`` (gather, store, dedupe, publish), ``delivery`` (digests) and ``status`` build on it; it
imports only the steps.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import Config, DirectorySourceConfig, SourceConfig
from .exceptions import Cancelled, StoreError
from .registry import ZoneSet, load_builtin, merge_zones, pinyin_slug
from .store import Store
from .types import StoredArticle, Zone
from .urls import is_private_address
from .zones import ZoneIndex

if TYPE_CHECKING:  # publishing (feedgen, Jinja) is imported by the steps that publish, not by a fetch
    from .publish import FeedSelection, SiteInfo

__all__ = [
    "Clock",
    "Context",
    "config_url",
    "feed_selections",
    "other_sources",
    "system_clock",
    "user_agent",
    "zone_and_city_selections",
    "zone_set",
]

Clock = Callable[[], datetime]
_SLUGS = "pinyin.slugs"  # the setting that keeps every slug made (``Context.slug``)


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What one run needs: the validated config, an open store, a clock, a way to stop and a way to show
    progress. It keeps nothing between runs: what a long-lived process reuses (the dedupe index, the
    publisher's lists) belongs to that process (``pipeline.Kept``)."""

    config: Config
    store: Store
    clock: Clock = system_clock
    # Which connected addresses count as private networks (partner feeds may not redirect into them).
    is_private: Callable[[str], bool] = is_private_address
    # True once the process is stopping: long steps stop between units of work (``Cancelled``).
    cancelled: Callable[[], bool] = lambda: False
    # Told (step, done, total) as long steps advance: progress bars on a terminal.
    progress: Callable[[str, int, int], None] | None = None

    def advance(self, step: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(step, done, total)
        if self.cancelled():
            raise Cancelled(f"{step}: stopped after {done} of {total}: shutting down")

    @classmethod
    def open(cls, config: Config, clock: Clock = system_clock, **kw: Any) -> Context:
        return cls(config, Store(config.database.url), clock, **kw)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @functools.cached_property
    def zone_set(self) -> ZoneSet:
        zones = zone_set(self.config, self.slug)
        self.keep_slugs()
        return zones

    def slug(self, name: str) -> str:
        """The pinyin slug of a place or category name (``registry.pinyin_slug``) as it was first made for
        this database: feed URLs never move because a newer pinyin dictionary reads a name otherwise, and
        a run that meets no new name loads no dictionary (a fifth of a second). New ones are kept by
        ``keep_slugs``."""
        slugs = self._slugs()
        found = slugs.get(name)
        if found is None:
            found = slugs[name] = pinyin_slug(name)
            self.__dict__["_slugs_new"] = True
        return found

    def _slugs(self) -> dict[str, str]:
        if "_slug_map" not in self.__dict__:
            try:
                kept = self.store.setting(_SLUGS)
            except StoreError:  # no schema yet (check, a first run): nothing kept
                kept = None
            self.__dict__["_slug_map"] = json.loads(kept) if kept else {}
        slugs: dict[str, str] = self.__dict__["_slug_map"]
        return slugs

    def keep_slugs(self) -> None:
        """Store the slugs made since the last call (one write)."""
        if self.__dict__.pop("_slugs_new", False):
            with contextlib.suppress(StoreError):  # no schema yet: they are made again next time, the same
                self.store.set_setting(_SLUGS, json.dumps(self._slugs(), ensure_ascii=False, sort_keys=True))

    @property
    def zones(self) -> tuple[Zone, ...]:
        return self.zone_set.zones

    @functools.cached_property
    def zones_by_slug(self) -> dict[str, Zone]:
        return {z.slug: z for z in self.zones}

    @functools.cached_property
    def source_titles(self) -> dict[str, str]:
        """Source id → the name it is credited by: its configured ``title``, else the name its feed gives
        itself (as last fetched), else its id."""
        known = {sid: st.title for sid, st in self.store.source_states().items() if st.title}
        return {s.id: s.title or known.get(s.id) or s.id for s in self.config.sources}

    def forget_source_titles(self) -> None:
        """After sources were fetched: the names their feeds give themselves are read again when next needed."""
        self.__dict__.pop("source_titles", None)

    def zone_index(self) -> ZoneIndex:
        return ZoneIndex(self.zones, self.config.zones_registry.max_zone_mentions)

    @property
    def site(self) -> SiteInfo:
        from .publish import SiteInfo

        s = self.config.site
        return SiteInfo(title=s.title, base_url=s.base_url, language=s.language, tz=s.tz, version=__version__)


def zone_set(config: Config, slug: Callable[[str], str] = pinyin_slug) -> ZoneSet:
    """The configured zones merged over the built-in registry, if one is switched on."""
    configured = [
        Zone(slug=z.slug, name=z.name, city=z.city, province=z.province, aliases=z.aliases) for z in config.zones
    ]
    builtin = load_builtin(config.zones_registry.builtin, slug) if config.zones_registry.builtin else []
    return merge_zones(builtin, configured)


def user_agent(config: Config) -> str:
    """What syndicate calls itself to partners and hubs."""
    return config.fetch.user_agent or f"syndicate/{__version__} (+{config.site.base_url})"


def config_url(src: SourceConfig) -> str:
    """The address a source is configured with: its folder, or its URL."""
    return str(src.path) if isinstance(src, DirectorySourceConfig) else src.url


def feed_selections(ctx: Context) -> list[FeedSelection]:
    """Every feed to publish: per zone, per city, per category, and all."""
    from .publish import catalog

    title = ctx.config.site.title
    selections = [
        *catalog.zone_and_city_selections(title, ctx.zones, ctx.slug),
        *catalog.category_selections(title, ctx.store.categories(), ctx.slug),
        catalog.all_selection(title),
    ]
    ctx.keep_slugs()
    return selections


def zone_and_city_selections(config: Config, zones: Sequence[Zone]) -> list[FeedSelection]:
    """The zone and city feeds: known from the config alone (category feeds need the store)."""
    from .publish import catalog

    return catalog.zone_and_city_selections(config.site.title, zones, pinyin_slug)


def other_sources(ctx: Context, stories: dict[int, list[str]], stored: StoredArticle) -> tuple[str, ...]:
    """ "Also reported by" for a stored article. ``stories``: ``Store.story_sources`` of the articles at hand."""
    from .publish import catalog

    others = stories.get(stored.story_id) if stored.story_id is not None else None
    return catalog.other_sources(ctx.source_titles, others, stored.article.source_id)
