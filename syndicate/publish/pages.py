"""The web page behind every feed: ``{feed}/index.html`` (its newest items and how to subscribe) and
``{feed}/page/{n}.html`` (older items, page ``n`` holding what RFC 5005 archive ``n`` holds, so a full page
never changes again).

Pure rendering with Jinja2 (autoescaped): items in, bytes out. Nothing in a page depends on the time it is
written, so an unchanged feed gives the same bytes (and ETag).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Template
from markupsafe import Markup

from ..templating import environment
from ..urls import as_uri
from .feeds import FeedItem, FeedSpec, SiteInfo

__all__ = ["ItemFragments", "PageItem", "Paging", "page_path", "render_feed_page"]


@dataclass(frozen=True, slots=True)
class PageItem:
    """One item as a page shows it."""

    title: str
    link: str
    date: str  # its publication date in the site's timezone
    iso: str  # the same, machine-readable
    source: str
    tags: tuple[str, ...]
    summary: str
    image: str | None


@dataclass(frozen=True, slots=True)
class Paging:
    """Where a page sits among its feed's pages: ``number`` None for the newest (index.html)."""

    number: int | None
    newer: str | None
    older: str | None


def page_path(number: int) -> str:
    return f"page/{number}.html"


def _item(item: FeedItem, site: SiteInfo) -> PageItem:
    local = item.published.astimezone(site.tz)
    return PageItem(
        title=item.title,
        link=as_uri(item.link),
        date=local.strftime("%Y-%m-%d"),
        iso=local.isoformat(),
        source=item.source.title if item.source else "",
        tags=item.categories,
        summary=item.summary,
        image=as_uri(item.image) if item.image else None,
    )


class ItemFragments:
    """Each item's part of a page (``feed_item.html.j2``), rendered once per publish: an article is on
    its zone's, city's, category's and ``all``'s pages and their older pages alike."""

    def __init__(self) -> None:
        self._done: dict[str, Markup] = {}  # by GUID: one publish makes one item per article
        self._template: tuple[Path, Template] | None = None

    def __call__(self, templates: Path, site: SiteInfo, item: FeedItem) -> Markup:
        found = self._done.get(item.guid)
        if found is None:
            if self._template is None or self._template[0] != templates:
                self._template = (templates, environment(templates).get_template("feed_item.html.j2"))
            found = self._done[item.guid] = Markup(self._template[1].render(item=_item(item, site)).strip())
        return found


def render_feed_page(
    templates: Path,
    site: SiteInfo,
    spec: FeedSpec,
    items: Sequence[FeedItem],
    paging: Paging,
    fragments: ItemFragments | None = None,
) -> bytes:
    """A feed's page: ``items`` newest first, the subscription URLs, links to the newer and older pages.
    ``fragments``: the run's rendered items, shared between pages."""
    fragments = fragments or ItemFragments()
    subscribe = (
        ("RSS 2.0", "application/rss+xml", spec.url(site, "rss.xml")),
        ("Atom 1.0", "application/atom+xml", spec.url(site, "atom.xml")),
        ("JSON Feed", "application/feed+json", spec.url(site, "feed.json")),
    )
    html = (
        environment(templates)
        .get_template("feed.html.j2")
        .render(
            site=site,
            spec=spec,
            home=spec.html_url(site),
            items=[fragments(templates, site, i) for i in items],
            paging=paging,
            subscribe=subscribe,
        )
    )
    return html.encode("utf-8")
