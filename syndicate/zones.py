"""Pure zone assignment: which configured zones an article belongs to.

Owns matching the zone names an article's metadata gives (发布开发区, front matter ``zone``) against the
configured zones' names and aliases. Names are compared after Unicode NFKC folding (full-width letters and
digits, stray spaces), and exactly: a name is a zone's name or one of its aliases, never a part of one.
Imports only ``syndicate.types``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .types import Article, Zone

__all__ = ["ZoneAssignment", "ZoneIndex", "normalize_name"]


def normalize_name(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


@dataclass(frozen=True, slots=True)
class ZoneAssignment:
    slugs: tuple[str, ...]
    unmatched: tuple[str, ...]  # names the article gave that are no configured zone


class ZoneIndex:
    """Looks zones up by name or alias. Build once per config; lookups are dictionary hits."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._by_slug = {z.slug: z for z in self.zones}
        self._by_name: dict[str, Zone] = {}
        # Official names first, so an alias can never shadow another zone's real name.
        for z in self.zones:
            self._by_name[normalize_name(z.name)] = z
        for z in self.zones:
            for alias in z.aliases:
                self._by_name.setdefault(normalize_name(alias), z)

    def by_slug(self, slug: str) -> Zone | None:
        return self._by_slug.get(slug)

    def lookup(self, name: str) -> Zone | None:
        return self._by_name.get(normalize_name(name))

    def assign(self, article: Article, default: str | None = None) -> ZoneAssignment:
        """Zones the article's metadata names; its tags (feed categories) that are zone names; else the
        source's ``default`` zone slug. Names in ``zone_names`` that match nothing are reported; tags
        that match nothing are ordinary categories and are not."""
        slugs: list[str] = []
        unmatched: list[str] = []
        for name in article.zone_names:
            zone = self.lookup(name)
            if zone is None:
                unmatched.append(name)
            elif zone.slug not in slugs:
                slugs.append(zone.slug)
        for tag in article.tags:
            zone = self.lookup(tag)
            if zone is not None and zone.slug not in slugs:
                slugs.append(zone.slug)
        if not slugs and default is not None and default in self._by_slug:
            slugs.append(default)
        return ZoneAssignment(tuple(slugs), tuple(unmatched))
