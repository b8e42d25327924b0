"""The built-in zone registry and the merge of built-in and configured zones. Pure but for reading the
package's own data file.

Built-in zones get slugs derived in pinyin from their names (锡山经济技术开发区 → ``xishan-etdz``, 无锡高新技术
产业开发区 → ``wuxi-htz``): stable as long as the catalogue is, and unique (a clash takes the city's pinyin,
then the catalogue code). Their rule-made short forms are candidates: one that names two zones, or another
zone's official name, is dropped from every zone that has it, and reported. Configured zones add to the
registry and override a built-in zone of the same name; their aliases are the operator's and are kept.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources

from .types import Zone

__all__ = ["BUILTIN_REGISTRIES", "ZoneSet", "load_builtin", "merge_zones", "pinyin_slug", "short_place"]

BUILTIN_REGISTRIES = {"national-2018": "zones-national-2018.csv"}
_SUFFIXES = (("经济技术开发区", "etdz"), ("高新技术产业开发区", "htz"))


def pinyin_slug(text: str) -> str:
    """锡山 → xishan; anything not a-z0-9 dropped."""
    from pypinyin import lazy_pinyin  # its dictionaries take a fifth of a second to load: only when needed

    return re.sub(r"[^a-z0-9]+", "", "".join(lazy_pinyin(text)).lower())


def short_place(name: str) -> str:
    """无锡市 → 无锡, 江苏省 → 江苏 (two-character names such as 沙市 are kept)."""
    return name[:-1] if len(name) >= 3 and name[-1] in "市省" else name


@dataclass(frozen=True, slots=True)
class _Row:
    code: str
    name: str
    type_key: str
    province: str
    city: str
    aliases: tuple[str, ...]


def _rows(name: str) -> list[_Row]:
    text = resources.files("syndicate").joinpath("data", BUILTIN_REGISTRIES[name]).read_text(encoding="utf-8")
    return [
        _Row(
            r["code"],
            r["name"],
            r["type_key"],
            short_place(r["province"]),
            short_place(r["city"]),
            tuple(a for a in r["auto_aliases"].split(";") if a),
        )
        for r in csv.DictReader(text.splitlines())
    ]


def load_builtin(name: str, slug: Callable[[str], str] = pinyin_slug) -> list[Zone]:
    """The zones of a built-in registry, with derived slugs (``slug``: a place name's pinyin) and
    candidate aliases (not yet checked)."""
    rows = _rows(name)
    bases = []
    for r in rows:
        prefix = r.name
        for suffix, _key in _SUFFIXES:
            if prefix.endswith(suffix) and len(prefix) > len(suffix):
                prefix = prefix[: -len(suffix)]
                break
        bases.append(f"{slug(prefix)}-{r.type_key}")
    counts = Counter(bases)
    slugs = []
    for r, base in zip(rows, bases, strict=True):
        slugs.append(base if counts[base] == 1 else f"{base}-{slug(r.city)}")
    counts = Counter(slugs)
    slugs = [s if counts[s] == 1 else f"{s}-{r.code.lower()}" for s, r in zip(slugs, rows, strict=True)]
    return [
        Zone(slug=s, name=r.name, city=r.city, province=r.province, aliases=r.aliases)
        for s, r in zip(slugs, rows, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class ZoneSet:
    zones: tuple[Zone, ...]
    dropped_aliases: tuple[str, ...]  # messages: candidate aliases dropped because they name two zones


def merge_zones(builtin: Sequence[Zone], configured: Iterable[Zone]) -> ZoneSet:
    """Configured zones override built-in ones of the same name and add the rest; then ambiguous
    candidate aliases (built-in only) are dropped."""
    configured = list(configured)
    by_name = {z.name: z for z in configured}
    zones = [by_name.pop(z.name) if z.name in by_name else z for z in builtin]
    zones += [z for z in configured if z.name in by_name]
    configured_names = {z.name for z in configured}

    owners: dict[str, set[str]] = {}
    for z in zones:
        for name in (z.name, *z.aliases):
            owners.setdefault(name, set()).add(z.slug)
    dropped: list[str] = []
    result = []
    for z in zones:
        if z.name in configured_names:
            result.append(z)  # the operator's aliases are exact: kept as written
            continue
        keep = []
        for alias in z.aliases:
            if len(owners[alias]) > 1:
                others = ", ".join(sorted(owners[alias] - {z.slug}))
                dropped.append(f"alias {alias!r} of {z.slug} also names {others}: dropped")
            else:
                keep.append(alias)
        result.append(replace(z, aliases=tuple(keep)) if len(keep) != len(z.aliases) else z)
    return ZoneSet(tuple(result), tuple(dropped))
