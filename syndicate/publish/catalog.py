"""Which feeds exist and which articles each holds. Pure: plain values in, plain values out.

A feed is a ``FeedSelection``: its place under output_dir (``FeedSpec``) and the rule for its articles
(some zones or every zone, one category or any). There is one per zone, one per city (its zones), one per
category and ``all``. The membership rule (``holds``) is the one ``Store.feed_ids`` applies in SQL; the
pipeline uses it to keep feed lists up to date between publishes, digests use the selections to know what
a recipient follows. Slugs for Chinese names come from a function the caller passes (pinyin), so this
module depends on nothing but the feed specs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

from ..types import Zone
from .feeds import FeedSpec

__all__ = [
    "FeedSelection",
    "affected",
    "all_selection",
    "category_selections",
    "holds",
    "list_feeds",
    "other_sources",
    "unique_slugs",
    "zone_and_city_selections",
]


@dataclass(frozen=True, slots=True)
class FeedSelection:
    """One published feed and the articles it holds: those of ``zones`` (None: every zone) and of
    ``category`` (None: any)."""

    spec: FeedSpec
    name: str  # for people: the zone, city or category name
    zones: tuple[str, ...] | None = None
    category: str | None = None
    city: str | None = None  # the city of a zone feed

    @property
    def group(self) -> str:
        return self.spec.path.split("/")[0]


class Member(Protocol):
    """What the rule needs to know of an article (``store.Membership`` has it)."""

    @property
    def canonical(self) -> bool: ...
    @property
    def zones(self) -> AbstractSet[str]: ...
    @property
    def category(self) -> str | None: ...


class ChangeSet(Protocol):
    """What changed since the last publish (``store.Changes`` has it)."""

    @property
    def ids(self) -> Collection[int]: ...
    @property
    def zones(self) -> AbstractSet[str]: ...
    @property
    def categories(self) -> Collection[str | None]: ...


def unique_slugs(names: Sequence[str], slug: Callable[[str], str]) -> dict[str, str]:
    """Slugs for names; names whose slug clashes get -2, -3 in sorted order of the names."""
    slugs: dict[str, str] = {}
    used: Counter[str] = Counter()
    for name in sorted(names):
        base = slug(name) or "x"
        used[base] += 1
        slugs[name] = base if used[base] == 1 else f"{base}-{used[base]}"
    return slugs


def zone_and_city_selections(site_title: str, zones: Sequence[Zone], slug: Callable[[str], str]) -> list[FeedSelection]:
    """The zone and city feeds: known from the config alone (category feeds need the store)."""
    out = [
        FeedSelection(
            FeedSpec(
                path=f"zones/{z.slug}",
                title=f"{z.name} · {site_title}",
                description=f"{z.city} {z.name}的最新新闻",
            ),
            z.name,
            zones=(z.slug,),
            city=z.city,
        )
        for z in zones
    ]
    by_city: dict[str, list[str]] = {}
    for z in zones:
        by_city.setdefault(z.city, []).append(z.slug)
    city_slugs = unique_slugs(list(by_city), slug)
    for city, slugs in sorted(by_city.items(), key=lambda kv: city_slugs[kv[0]]):
        out.append(
            FeedSelection(
                FeedSpec(f"cities/{city_slugs[city]}", f"{city} · {site_title}", f"{city}各开发区的最新新闻"),
                city,
                zones=tuple(slugs),
            )
        )
    return out


def category_selections(site_title: str, categories: Sequence[str], slug: Callable[[str], str]) -> list[FeedSelection]:
    """One feed per category the store holds."""
    slugs = unique_slugs(categories, slug)
    return [
        FeedSelection(FeedSpec(f"categories/{slugs[c]}", f"{c} · {site_title}", f"{c}栏目的最新新闻"), c, category=c)
        for c in categories
    ]


def all_selection(site_title: str) -> FeedSelection:
    return FeedSelection(FeedSpec("all", site_title, f"{site_title}:全部开发区的最新新闻"), "全部新闻")


def holds(selection: FeedSelection, m: Member) -> bool:
    """Whether the feed carries an article (the rule ``Store.feed_ids`` applies in SQL)."""
    if not m.canonical:
        return False
    if selection.zones is not None and m.zones.isdisjoint(selection.zones):
        return False
    return selection.category is None or m.category == selection.category


def affected(selection: FeedSelection, changes: ChangeSet) -> bool:
    """Whether a change since the last publish may concern the feed."""
    if not changes.ids:
        return False
    if selection.zones is not None and changes.zones.isdisjoint(selection.zones):
        return False
    return selection.category is None or selection.category in changes.categories


def list_feeds(selections: Sequence[FeedSelection], members: Mapping[int, Member]) -> dict[str, list[int]]:
    """Every feed's article ids in arrival order, from the memberships of every article, in one pass."""
    by_zone: dict[str, list[FeedSelection]] = {}
    zoneless: list[FeedSelection] = []
    for selection in selections:
        if selection.zones is None:
            zoneless.append(selection)
        else:
            for zone in selection.zones:
                by_zone.setdefault(zone, []).append(selection)
    out: dict[str, list[int]] = {selection.spec.path: [] for selection in selections}
    for aid in sorted(members):
        m = members[aid]
        candidates = {s.spec.path: s for zone in m.zones for s in by_zone.get(zone, ())}
        candidates.update((s.spec.path, s) for s in zoneless)
        for path, selection in candidates.items():
            if holds(selection, m):
                out[path].append(aid)
    return out


def other_sources(titles: Mapping[str, str], story_sources: Iterable[str] | None, source_id: str) -> tuple[str, ...]:
    """The names of the other sources that carried an article's story, first stored first ("also
    reported by"): ``story_sources`` are the ids of the story's sources, ``source_id`` the article's own."""
    return tuple(dict.fromkeys(titles.get(o, o) for o in story_sources or () if o != source_id))
