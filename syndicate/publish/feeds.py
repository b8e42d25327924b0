"""Building one feed document (RSS 2.0, Atom 1.0 or JSON Feed 1.1) from feed items.

Pure: takes the feed's description and its items (newest first), returns bytes. No I/O, no clock: the
build time for an empty feed is passed in. feedgen builds RSS and Atom; what it cannot express (Atom
``<source>``, image links, Media RSS, RFC 5005 archive links) is added by a feedgen extension, never by
editing the output text. The known traps are handled here (docs/design.md, "Feeds"): ``add_entry``
prepends unless told to append; ``updated``/``lastBuildDate`` default to the build time, so they are set
from the items and unchanged content gives unchanged bytes; dates are given in the site's zone so RSS
writes ``+0800``, never ``CST``; content is ``type="html"``, never feedgen's invalid ``CDATA``.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from ..text import strip_control
from ..types import Enclosure
from ..urls import as_uri

__all__ = [
    "Credit",
    "EntryCache",
    "FeedItem",
    "FeedLinks",
    "FeedSpec",
    "SiteInfo",
    "build_atom",
    "build_json",
    "build_rss",
]

GENERATOR = "syndicate"
ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_NS = "http://search.yahoo.com/mrss/"
FH_NS = "http://purl.org/syndication/history/1.0"
DC_NS = "http://purl.org/dc/elements/1.1/"
STYLESHEET = "feed.xsl"
_LOOKS_LIKE_MARKUP = re.compile(r"<[a-zA-Z/!?]|&[#a-zA-Z0-9]+;")


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

    def url(self, site: SiteInfo, filename: str) -> str:
        return f"{site.base_url}{self.path}/{filename}"

    def html_url(self, site: SiteInfo) -> str:
        return f"{site.base_url}{self.path}/"


@dataclass(frozen=True, slots=True)
class Credit:
    """Where an item was first published: the feed or store it came from."""

    title: str
    url: str  # that source's own feed (or page) URL
    id: str  # an absolute IRI naming it


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry as every format writes it. Built by the pipeline from a stored article."""

    guid: str
    title: str
    link: str
    published: datetime
    updated: datetime
    summary: str  # plain text
    content_html: str  # sanitized
    author: str = ""
    categories: tuple[str, ...] = ()
    image: str | None = None
    image_type: str | None = None
    source: Credit | None = None
    also: tuple[str, ...] = ()  # other sources that carried the same story
    enclosures: tuple[Enclosure, ...] = ()  # audio, video, documents
    # The last change of any kind the store saw (arrival, edit, new zone or story): a document's own
    # <updated> is the newest of its items' (an old article arriving is a change of the feed). Default: updated.
    changed: datetime | None = None

    @property
    def last_change(self) -> datetime:
        return self.changed or self.updated

    def __post_init__(self) -> None:
        # Articles are cleaned when stored; cleaned once more here, where documents are built, because
        # one character XML cannot carry would make every document holding the item unwritable.
        for name in ("title", "link", "summary", "content_html", "author", "image"):
            value = getattr(self, name)
            if value and (clean := strip_control(value)) is not value:
                object.__setattr__(self, name, clean)
        # Addresses are written as URIs (RSS allows nothing else; Atom validators warn on IRIs).
        for name in ("link", "image"):
            value = getattr(self, name)
            if value and (uri := as_uri(value)) != value:
                object.__setattr__(self, name, uri)
        if any(as_uri(e.url) != e.url for e in self.enclosures):
            uris = tuple(dataclasses.replace(e, url=as_uri(e.url)) for e in self.enclosures)
            object.__setattr__(self, "enclosures", uris)
        for name in ("categories", "also"):
            values = getattr(self, name)
            if any(strip_control(v) is not v for v in values):
                object.__setattr__(self, name, tuple(strip_control(v) for v in values))


@dataclass(frozen=True, slots=True)
class FeedLinks:
    """RFC 5005 and WebSub links of one document."""

    current: str | None = None  # in an archive: the subscription document
    prev_archive: str | None = None
    next_archive: str | None = None
    archive: bool = False  # this document is an archive (fh:archive)
    hubs: tuple[str, ...] = ()


@dataclass
class _Extra:
    links: FeedLinks = field(default_factory=FeedLinks)
    entries: list[Any] = field(default_factory=list)  # the documents' entries, added after the links


class _FeedExtension(BaseExtension):  # type: ignore[misc]
    """Feed-level additions: namespaces, archive and hub links."""

    def __init__(self) -> None:
        self.extra = _Extra()

    def extend_ns(self) -> dict[str, str]:
        ns = {"media": MEDIA_NS, "dc": DC_NS}
        return {**ns, "fh": FH_NS} if self.extra.links.archive else ns

    def _links(self, parent: Any, link: str) -> None:
        """``link``: the tag of an Atom link here: plain in an Atom feed (whose default namespace is Atom,
        as in feedgen's own elements), qualified in RSS (written atom:link)."""
        links = self.extra.links
        for rel, href in (
            ("current", links.current),
            ("prev-archive", links.prev_archive),
            ("next-archive", links.next_archive),
        ):
            if href:
                etree.SubElement(parent, link, rel=rel, href=href)
        for hub in links.hubs:
            etree.SubElement(parent, link, rel="hub", href=hub)
        if links.archive:
            etree.SubElement(parent, f"{{{FH_NS}}}archive")

    def extend_atom(self, feed: Any) -> Any:
        self._links(feed, "link")
        feed.extend(self.extra.entries)
        return feed

    def extend_rss(self, feed: Any) -> Any:
        channel = feed.find("channel")
        self._links(channel, f"{{{ATOM_NS}}}link")
        channel.extend(self.extra.entries)
        return feed


class EntryCache:
    """Each item's entry, built once per format and reused in every document that carries it.

    An element has one parent: appending it to the next document moves it out of the previous one, which
    was serialized already (documents are built and written one at a time).

    An article is in its zone's feed, its city's, its category's, ``all`` and their archives: building
    its elements once instead of five times is most of what a full publish costs.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._atom: dict[str, Any] = {}
        self._rss: dict[str, Any] = {}
        self._json: dict[str, str] = {}
        # Items that could not be written (guid → why): left out of every document, reported, never a
        # failed publish.
        self.failed: dict[str, str] = {}

    def forget(self, guid: str) -> None:
        """Drop an item's entries (its article changed)."""
        for built in (self._atom, self._rss, self._json):
            built.pop(guid, None)
        self.failed.pop(guid, None)

    def atom(self, item: FeedItem) -> Any:
        if item.guid not in self._atom and item.guid not in self.failed:
            try:
                self._atom[item.guid] = _entries(item, self.tz, rss=False)[0]
            except (ValueError, TypeError) as e:
                self.failed[item.guid] = f"{type(e).__name__}: {e}"
        return self._atom.get(item.guid)

    def rss(self, item: FeedItem) -> Any:
        # An item wanted in RSS is in a subscription document, whose Atom version wants it too: both
        # come from one feedgen entry (building it is most of the cost of either).
        if item.guid not in self._rss and item.guid not in self.failed:
            try:
                atom, self._rss[item.guid] = _entries(item, self.tz, rss=True, atom=item.guid not in self._atom)
            except (ValueError, TypeError) as e:
                self.failed[item.guid] = f"{type(e).__name__}: {e}"
                return None
            if atom is not None:
                self._atom[item.guid] = atom
        return self._rss.get(item.guid)

    def json(self, item: FeedItem) -> str | None:
        if item.guid not in self._json and item.guid not in self.failed:
            try:
                self._json[item.guid] = _json_item(item, self.tz)
            except (ValueError, TypeError) as e:
                self.failed[item.guid] = f"{type(e).__name__}: {e}"
        return self._json.get(item.guid)

    def writable(self, items: Sequence[FeedItem]) -> list[FeedItem]:
        """The items whose entries can be written in every format of a subscription document (built
        now, RSS first so that one feedgen entry gives both XML forms): the same items in all three."""
        return [i for i in items if self.rss(i) is not None and self.atom(i) is not None and self.json(i) is not None]


def _entry(item: FeedItem, tz: tzinfo) -> FeedEntry:
    fe = FeedEntry()
    fe.id(item.guid)
    fe.guid(item.guid, permalink=False)
    fe.title(item.title)
    fe.link(href=item.link, rel="alternate", type="text/html")
    fe.published(item.published.astimezone(tz))
    fe.updated(item.updated.astimezone(tz))
    summary = item.summary or item.title
    # RSS <description> is read as HTML: the plain-text summary is escaped for it ("A & B", "x<y" shown as
    # written, not as markup). Atom's <summary> is text and takes it as it is.
    fe.description(_escape_text(summary))
    fe.summary(summary)
    if item.content_html:  # an empty <content> is "content should not be blank"; the summary stands alone
        fe.content(item.content_html, type="html")
    for term in item.categories:
        fe.category(term=term)
    return fe


def _entries(item: FeedItem, tz: tzinfo, rss: bool, atom: bool = True) -> tuple[Any, Any]:
    """The item's Atom entry and RSS item (None for those not asked for), from one feedgen entry."""
    fe = _entry(item, tz)
    if item.author:
        fe.author(name=item.author)  # a name without an e-mail address: Atom only (see below for RSS)
    atom_entry = _atom_entry(fe, item, tz) if atom else None
    if not rss:
        return atom_entry, None
    if item.source is not None:  # after the Atom entry, which writes its own, fuller <source>
        fe.source(url=item.source.url, title=item.source.title)
    return atom_entry, _rss_item(fe, item)


def _atom_entry(fe: FeedEntry, item: FeedItem, tz: tzinfo) -> Any:
    entry = fe.atom_entry(extensions=False)
    if not item.content_html and (content := entry.find("content")) is not None:
        entry.remove(content)  # feedgen's copy of the description: the summary says it already
    # Text that looks like markup ("<b>" in a title) is declared html and escaped once more, so that
    # readers show it as the text it is and validators do not take it for undeclared HTML. (feedgen
    # builds its elements without a namespace; the feed's default one applies on output.)
    for name in ("title", "summary"):
        el = entry.find(name)
        if el is not None and el.text and _LOOKS_LIKE_MARKUP.search(el.text):
            el.set("type", "html")
            el.text = html.escape(el.text, quote=False)
    # Added as feedgen adds its own: without a namespace, so that the feed's default namespace (Atom) is
    # theirs on output. A qualified {Atom}source on an entry built apart from its feed came out as
    # <ns0:source xmlns:ns0="...">: the same Atom, but a prefix validators warn about.
    if item.image:
        etree.SubElement(entry, "link", rel="enclosure", href=item.image, type=item.image_type or "image/jpeg")
    for e in item.enclosures:
        link = etree.SubElement(entry, "link", rel="enclosure", href=e.url, type=e.type, length=str(e.length))
        if e.title:
            link.set("title", e.title)
    if item.source is not None:
        source = etree.SubElement(entry, "source")
        etree.SubElement(source, "id").text = item.source.id
        etree.SubElement(source, "title").text = item.source.title
        etree.SubElement(source, "updated").text = item.updated.astimezone(tz).isoformat()
        etree.SubElement(source, "link", rel="self", href=item.source.url)
    return entry


def _rss_item(fe: FeedEntry, item: FeedItem) -> Any:
    entry = fe.rss_entry(extensions=False)
    if item.image:
        etree.SubElement(
            entry, f"{{{MEDIA_NS}}}content", url=item.image, medium="image", type=item.image_type or "image/jpeg"
        )
    # RSS allows one <enclosure> an item (validators warn on more): the first file; the others, like the
    # image, as Media RSS.
    for n, e in enumerate(item.enclosures):
        if n == 0:
            etree.SubElement(entry, "enclosure", url=e.url, length=str(e.length), type=e.type)
        else:
            attrs = {"url": e.url, "type": e.type, **({"fileSize": str(e.length)} if e.length else {})}
            etree.SubElement(entry, f"{{{MEDIA_NS}}}content", **attrs, medium=_medium(e.type))
    # RSS <author> must be an e-mail address; the issuing office is a name, so it goes in dc:creator.
    if item.author:
        etree.SubElement(entry, f"{{{DC_NS}}}creator").text = item.author
    return entry


def _medium(mime: str) -> str:
    kind = mime.split("/")[0]
    return kind if kind in ("audio", "video", "image") else "document"


EMPTY_FEED_UPDATED = datetime(2000, 1, 1, tzinfo=UTC)


def _generator(
    spec: FeedSpec, site: SiteInfo, items: Sequence[FeedItem], now: datetime, links: FeedLinks, rss: bool
) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("syndicate", _FeedExtension, atom=not rss, rss=rss)
    fg.syndicate.extra.links = links
    fg.title(spec.title)
    fg.description(spec.description)
    fg.language(site.language)
    fg.author(name=site.title)
    fg.generator(GENERATOR, version=site.version)
    # An empty feed's date is fixed, not the build time: unchanged content keeps unchanged bytes.
    newest = max((i.last_change for i in items), default=EMPTY_FEED_UPDATED)
    fg.updated(newest.astimezone(site.tz))
    fg.lastBuildDate(newest.astimezone(site.tz))
    return fg


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;") if ("&" in text or "<" in text) else text


_RSS_TITLE = re.compile(rb"<title>([^<]*&[^<]*)</title>")


def _plain_rss_titles(xml: bytes) -> bytes:
    """RSS titles are plain text, but readers may take them for HTML: "&" and "<" in them are written as
    the hexadecimal references ``&#x26;`` and ``&#x3C;`` (the same XML text), which say that they are
    characters, not markup (the W3C validator's advice)."""
    if b"&" not in xml:
        return xml
    return _RSS_TITLE.sub(
        lambda m: b"<title>" + m.group(1).replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;") + b"</title>",
        xml,
    )


def _with_stylesheet(xml: bytes) -> bytes:
    """The processing instruction that makes a browser show the feed as a page (``feed.xsl``)."""
    decl_end = xml.index(b"?>") + 2
    return xml[:decl_end] + f'\n<?xml-stylesheet type="text/xsl" href="/{STYLESHEET}"?>'.encode() + xml[decl_end:]


def build_rss(
    spec: FeedSpec,
    site: SiteInfo,
    items: Sequence[FeedItem],
    now: datetime,
    links: FeedLinks = FeedLinks(),
    filename: str = "rss.xml",
    cache: EntryCache | None = None,
) -> bytes:
    cache = cache or EntryCache(site.tz)
    items = [i for i in items if cache.rss(i) is not None]
    fg = _generator(spec, site, items, now, links, rss=True)
    fg.link(href=spec.url(site, filename), rel="self", type="application/rss+xml")
    fg.link(href=spec.html_url(site), rel="alternate")
    fg.syndicate.extra.entries = [cache.rss(i) for i in items]
    return _with_stylesheet(_plain_rss_titles(bytes(fg.rss_str(pretty=True, encoding="UTF-8"))))


def build_atom(
    spec: FeedSpec,
    site: SiteInfo,
    items: Sequence[FeedItem],
    now: datetime,
    links: FeedLinks = FeedLinks(),
    filename: str = "atom.xml",
    cache: EntryCache | None = None,
) -> bytes:
    cache = cache or EntryCache(site.tz)
    items = [i for i in items if cache.atom(i) is not None]
    fg = _generator(spec, site, items, now, links, rss=False)
    fg.id(spec.url(site, filename))
    fg.link(href=spec.url(site, filename), rel="self", type="application/atom+xml")
    fg.link(href=spec.html_url(site), rel="alternate", type="text/html")
    fg.syndicate.extra.entries = [cache.atom(i) for i in items]
    return _with_stylesheet(bytes(fg.atom_str(pretty=True, encoding="UTF-8")))


def _json_item(item: FeedItem, tz: tzinfo) -> str:
    entry: dict[str, Any] = {
        "id": item.guid,
        "url": item.link,
        "title": item.title,
        **({"content_html": item.content_html} if item.content_html else {"content_text": item.summary or item.title}),
        "summary": item.summary,
        "date_published": item.published.astimezone(tz).isoformat(),
        "date_modified": item.updated.astimezone(tz).isoformat(),
    }
    if item.author:
        entry["authors"] = [{"name": item.author}]
    if item.categories:
        entry["tags"] = list(item.categories)
    if item.image:
        entry["image"] = item.image
    if item.enclosures:
        entry["attachments"] = [
            {
                "url": e.url,
                "mime_type": e.type,
                **({"size_in_bytes": e.length} if e.length else {}),
                **({"title": e.title} if e.title else {}),
            }
            for e in item.enclosures
        ]
    if item.source is not None or item.also:
        # JSON Feed extensions are objects whose key starts with an underscore.
        entry["_syndicate"] = {
            **({"source": {"title": item.source.title, "url": item.source.url}} if item.source else {}),
            **({"also_reported_by": list(item.also)} if item.also else {}),
        }
    return json.dumps(entry, ensure_ascii=False)


def build_json(
    spec: FeedSpec,
    site: SiteInfo,
    items: Sequence[FeedItem],
    now: datetime,
    cache: EntryCache | None = None,
    hubs: Sequence[str] = (),
) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1), one item a line; ``hubs``: the WebSub hubs told
    of its changes (``hubs`` of type WebSub, as in the RSS and Atom documents' rel="hub" links)."""
    head: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": spec.title,
        "home_page_url": spec.html_url(site),
        "feed_url": spec.url(site, "feed.json"),
        "description": spec.description,
        "language": site.language,
        "authors": [{"name": site.title}],
    }
    if hubs:
        head["hubs"] = [{"type": "WebSub", "url": hub} for hub in hubs]
    cache = cache or EntryCache(site.tz)
    opening = json.dumps(head, ensure_ascii=False)[:-1]  # without the closing brace
    body = ",\n".join(entry for i in items if (entry := cache.json(i)) is not None)
    return f'{opening}, "items": [\n{body}\n]}}\n'.encode()
