"""Building one feed document (RSS 2.0 or Atom 1.0) from stored articles, with feedgen.

Pure: takes the feed's description, its items (newest first) and the build time for empty feeds, returns
bytes. No I/O, no clock. The known feedgen traps are handled here (docs/design.md, "Feeds"):
``add_entry`` prepends unless told to append; ``updated``/``lastBuildDate`` default to the build time, so
they are set to the newest item's so that unchanged content gives unchanged bytes; dates are given in the
site's zone so RSS writes a numeric ``+0800``, never ``CST``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from feedgen.feed import FeedGenerator

from ..text import summarize
from ..types import StoredArticle

__all__ = ["FeedSpec", "SiteInfo", "build_atom", "build_rss", "entry_updated"]

GENERATOR = "syndicate"


@dataclass(frozen=True, slots=True)
class SiteInfo:
    title: str
    base_url: str  # ends with "/"
    language: str
    tz: tzinfo
    version: str


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed: where it lives under output_dir and what it is called."""

    path: str  # folder under output_dir, e.g. "zones/xishan"
    title: str
    description: str
    labels: tuple[tuple[str, str], ...] = ()  # (scheme, term) categories every item of the feed carries

    def url(self, site: SiteInfo, filename: str) -> str:
        return f"{site.base_url}{self.path}/{filename}"

    def html_url(self, site: SiteInfo) -> str:
        return f"{site.base_url}{self.path}/"


def _generator(spec: FeedSpec, site: SiteInfo, items: Sequence[StoredArticle], now: datetime) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    fg.title(spec.title)
    fg.description(spec.description)
    fg.language(site.language)
    fg.author(name=site.title)
    fg.generator(GENERATOR, version=site.version)
    newest = max((entry_updated(i) for i in items), default=now)
    fg.updated(newest.astimezone(site.tz))
    fg.lastBuildDate(newest.astimezone(site.tz))
    for item in items:
        a = item.article
        fe = fg.add_entry(order="append")
        fe.id(item.guid)
        fe.guid(item.guid, permalink=False)
        fe.title(a.title)
        fe.link(href=a.link, rel="alternate")
        fe.published(a.published.astimezone(site.tz))
        fe.updated(entry_updated(item).astimezone(site.tz))
        summary = summarize(a.body_html, 200) or a.title
        fe.description(summary)
        fe.summary(summary)
        fe.content(a.body_html, type="html")
        for term in _categories(a.category, a.city, spec.labels):
            fe.category(term=term)
    return fg


def entry_updated(item: StoredArticle) -> datetime:
    """When the entry last changed as readers see it: its publication, or the edit we saw after that.

    An article never edited since we first stored it was last updated when it was published; using the
    time we happened to fetch it would give every article of one fetch the same ``updated``.
    """
    if item.updated == item.first_seen:
        return item.article.published
    return max(item.updated, item.article.published)


def _categories(category: str | None, city: str | None, labels: tuple[tuple[str, str], ...]) -> list[str]:
    terms = [term for _scheme, term in labels]
    for extra in (city, category):
        if extra and extra not in terms:
            terms.append(extra)
    return terms


def build_rss(spec: FeedSpec, site: SiteInfo, items: Sequence[StoredArticle], now: datetime) -> bytes:
    fg = _generator(spec, site, items, now)
    fg.link(href=spec.url(site, "rss.xml"), rel="self", type="application/rss+xml")
    fg.link(href=spec.html_url(site), rel="alternate")
    # RSS <author> must be an e-mail address; the issuing office is a name, so it goes in dc:creator.
    for entry, item in zip(fg.entry(), items, strict=True):
        if item.article.author:
            entry.dc.dc_creator(item.article.author)
    return bytes(fg.rss_str(pretty=True, encoding="UTF-8"))


def build_atom(spec: FeedSpec, site: SiteInfo, items: Sequence[StoredArticle], now: datetime) -> bytes:
    fg = _generator(spec, site, items, now)
    fg.id(spec.url(site, "atom.xml"))
    fg.link(href=spec.url(site, "atom.xml"), rel="self", type="application/atom+xml")
    fg.link(href=spec.html_url(site), rel="alternate", type="text/html")
    for entry, item in zip(fg.entry(), items, strict=True):
        if item.article.author:
            entry.author(name=item.article.author)
    return bytes(fg.atom_str(pretty=True, encoding="UTF-8"))
