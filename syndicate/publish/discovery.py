"""The discovery documents: ``index.html`` (every feed, with ``<link rel="alternate">`` for readers),
``feeds.opml`` (OPML 2.0, for bulk import) and ``feed.xsl`` (the stylesheet that shows a feed as a page).

Pure rendering with Jinja2 (autoescaped): takes the list of feeds and returns bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from ..templating import environment, template_problems
from .feeds import SiteInfo

__all__ = [
    "GROUPS",
    "FeedListing",
    "check_templates",
    "render_index",
    "render_opml",
    "render_status",
    "search_text",
    "stylesheet",
]

GROUPS = (("zones", "开发区"), ("cities", "城市"), ("categories", "栏目"), ("all", "全部"))


@dataclass(frozen=True, slots=True)
class FeedListing:
    group: str  # zones | cities | categories | all
    name: str
    title: str
    city: str | None
    count: int
    updated: str | None  # local date and time, for people
    rss: str
    atom: str
    json: str
    html: str
    province: str = ""  # of a zone feed
    latest: str | None = None  # the newest item's publication date, local, for people
    search: str = ""  # what the index's filter matches: name, pinyin, slug, city (lower case)


def search_text(*names: str) -> str:
    """What the index's filter matches for a feed: each name as written and in pinyin (joined, no tones),
    lower case, without spaces: 锡山 matches "锡山", "xishan" and "xish"."""
    from pypinyin import lazy_pinyin  # only when a list of feeds is written

    parts = []
    for name in names:
        if name:
            parts += [name, "".join(lazy_pinyin(name))]
    return " ".join(p.lower().replace(" ", "") for p in parts)


def render_index(templates: Path, site: SiteInfo, feeds: Sequence[FeedListing]) -> bytes:
    """The index: zone feeds grouped by province and city (those with items first, the empty folded
    away), then cities, categories and everything; each name links to its feed's page."""
    zones = [f for f in feeds if f.group == "zones"]
    provinces: dict[str, dict[str, list[FeedListing]]] = {}
    for f in sorted(zones, key=lambda f: (not f.province, f.province, f.city or "", f.search)):
        if f.count:
            provinces.setdefault(f.province or "其他", {}).setdefault(f.city or "", []).append(f)
    empty = [f for f in zones if not f.count]
    others = [(label, [f for f in feeds if f.group == group]) for group, label in GROUPS if group != "zones"]
    html = (
        environment(templates)
        .get_template("index.html.j2")
        .render(site=site, feeds=feeds, provinces=provinces, empty=empty, others=others, zones=len(zones))
    )
    return html.encode("utf-8")


def render_opml(templates: Path, site: SiteInfo, feeds: Sequence[FeedListing], modified: datetime) -> bytes:
    text = (
        environment(templates)
        .get_template("feeds.opml.j2")
        .render(site=site, feeds=feeds, groups=GROUPS, modified=format_datetime(modified.astimezone(site.tz)))
    )
    return text.encode("utf-8")


def render_status(templates: Path, site: SiteInfo, status: Any) -> bytes:
    """The ``/status`` page. ``status``: what the template reads (sources, counts, next digests, errors)."""
    return environment(templates).get_template("status.html.j2").render(site=site, s=status, tz=site.tz).encode("utf-8")


def check_templates(templates: Path) -> list[str]:
    """Problems loading the publishing templates (for ``syndicate check``)."""
    names = ("index.html.j2", "feed.html.j2", "feed_item.html.j2", "feeds.opml.j2", "status.html.j2")
    problems = template_problems(templates, ((name, True) for name in names))
    if not (templates / "feed.xsl").is_file():
        problems.append(f"{templates / 'feed.xsl'}: missing")
    return problems


def stylesheet(templates: Path) -> bytes:
    return (templates / "feed.xsl").read_bytes()
