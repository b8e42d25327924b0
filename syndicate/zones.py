"""Pure zone assignment: which configured zones an article belongs to.

An article belongs to the zones its metadata names (发布开发区, front matter ``zone``, feed categories), to
its source's default zone, and to the zones whose name or alias its title or body mentions. Names are
compared after Unicode NFKC folding (full-width forms, stray spaces) and exactly: a name is a zone's name or
one of its aliases, never a part of one. Text mentions are found in one pass by an Aho-Corasick automaton
over every name and alias (pyahocorasick), keeping only maximal matches, so "无锡高新区" is not also a
mention of a zone called "无锡" and "锡山" alone never means 锡山经济技术开发区. A text that mentions more than
``max_mentions`` zones is a list (a round-up, a directory) and pulls the article into none of them.
Imports only ``syndicate.types``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import ahocorasick

from .types import Article, Zone

__all__ = ["ZoneAssignment", "ZoneIndex", "normalize_name"]


def normalize_name(name: str) -> str:
    return "".join(unicodedata.normalize("NFKC", name).split())


@dataclass(frozen=True, slots=True)
class ZoneAssignment:
    slugs: tuple[str, ...]
    unmatched: tuple[str, ...]  # names the article's metadata gave that are no configured zone


class ZoneIndex:
    """Looks zones up by name or alias, and finds them in text. Build once per config."""

    def __init__(self, zones: Iterable[Zone], max_mentions: int = 5) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self.max_mentions = max_mentions
        self._by_slug = {z.slug: z for z in self.zones}
        self._by_name: dict[str, Zone] = {}
        # Official names first, so an alias can never shadow another zone's real name.
        for z in self.zones:
            self._by_name[normalize_name(z.name)] = z
        for z in self.zones:
            for alias in z.aliases:
                self._by_name.setdefault(normalize_name(alias), z)
        self._automaton: ahocorasick.Automaton | None = None
        if self._by_name:
            automaton = ahocorasick.Automaton()
            for name, zone in self._by_name.items():
                automaton.add_word(name, (len(name), zone.slug))
            automaton.make_automaton()
            self._automaton = automaton

    def lookup(self, name: str) -> Zone | None:
        return self._by_name.get(normalize_name(name))

    def mentions(self, text: str) -> tuple[str, ...]:
        """Zone slugs whose name or alias the text contains as a maximal match, in order of appearance."""
        if self._automaton is None or not text:
            return ()
        spans = [
            (end - length + 1, end + 1, slug) for end, (length, slug) in self._automaton.iter(normalize_name(text))
        ]
        # Longest first; a match inside a longer match (of any zone) is part of that name, not a mention.
        spans.sort(key=lambda s: (s[0] - s[1], s[0]))
        taken: list[tuple[int, int]] = []
        found: list[tuple[int, str]] = []
        for start, end, slug in spans:
            if any(s <= start and end <= e for s, e in taken):
                continue
            taken.append((start, end))
            found.append((start, slug))
        return tuple(dict.fromkeys(slug for _start, slug in sorted(found)))

    def assign(self, article: Article, default: str | None = None, text: str = "") -> ZoneAssignment:
        """Zones from metadata (reported when unknown), tags that are zone names, the source's
        ``default`` zone slug, and the zones ``text`` (title and body) mentions, unless it lists too many."""
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
        if default is not None and default in self._by_slug and default not in slugs:
            slugs.append(default)
        mentioned = self.mentions(text)
        if len(mentioned) <= self.max_mentions:
            slugs.extend(s for s in mentioned if s not in slugs)
        return ZoneAssignment(tuple(slugs), tuple(unmatched))
