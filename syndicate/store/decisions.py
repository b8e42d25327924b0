"""What saving a source's read changes, decided by pure code; the store applies it in one transaction.

``decide_save`` compares the articles a source gave with what the store holds for the same keys and says
which are new, which changed (content, zones or both), which feeds each change leaves (a category or a
zone the article no longer belongs to: the feed must drop it) and how many are unchanged. ``stamp`` is the
one rule for change times.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..types import Article

__all__ = ["Change", "Departure", "Held", "New", "SaveDecision", "decide_save", "stamp"]

_TICK = timedelta(microseconds=1)


def stamp(now: datetime, after: datetime) -> datetime:
    """The time a change is stamped with: ``now``, but always after ``after`` (the newest stamp stored,
    by any process, or the previous stamp of the same run). What a publish or a digest has seen is then
    always older than what comes next, whatever the clocks say, and every entry gets its own Atom
    <updated> (validators warn when entries share one)."""
    return max(now, after + _TICK)


@dataclass(frozen=True, slots=True)
class Held:
    """What the store holds of one article the source gave again."""

    id: int
    content_hash: str
    category: str | None
    zones: frozenset[str]


@dataclass(frozen=True, slots=True)
class Departure:
    """An article left a category's or a zone's feed at ``at``."""

    kind: str  # "category" | "zone"
    value: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Change:
    """A stored article to update: its content (``article`` set), its zones (``zones`` set), or both."""

    id: int
    at: datetime
    article: Article | None = None
    content_hash: str | None = None  # of ``article``
    zones: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class New:
    article: Article
    content_hash: str
    zones: tuple[str, ...]
    at: datetime


@dataclass
class SaveDecision:
    new: list[New] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    departures: list[Departure] = field(default_factory=list)
    unchanged: int = 0
    last_stamp: datetime | None = None


def decide_save(
    items: Iterable[tuple[Article, tuple[str, ...]]], held: Mapping[str, Held], now: datetime, after: datetime
) -> SaveDecision:
    """``items``: each article the source gave with its zone slugs, in the order read (a key given twice:
    the first wins); ``held``: by key, what is stored of those. Stamps are at least a microsecond apart
    in the order read, after ``after``."""
    out = SaveDecision()
    seen: set[str] = set()
    last = after
    for article, zones in items:
        if article.key in seen:
            continue
        seen.add(article.key)
        at = last = stamp(now, last)
        content_hash = article.content_hash()
        old = held.get(article.key)
        if old is None:
            out.new.append(New(article, content_hash, zones, at))
            continue
        edited = old.content_hash != content_hash
        rezoned = old.zones != set(zones)
        if not edited and not rezoned:
            out.unchanged += 1
            continue
        if edited:
            out.changed.append(Change(old.id, at, article, content_hash, zones if rezoned else None))
        else:
            out.changed.append(Change(old.id, at, zones=zones))
        if edited and old.category is not None and old.category != article.category:
            out.departures.append(Departure("category", old.category, at))
        if rezoned:
            out.departures += [Departure("zone", z, at) for z in sorted(old.zones - set(zones))]
    out.last_stamp = last if seen else None
    return out
