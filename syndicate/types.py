"""Value objects every layer shares: frozen, typed, timezone-aware.

This module imports only ``text`` (to keep control characters out of every article). ORM rows never
leave ``syndicate.store``; what crosses a module boundary is one of these.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from .text import strip_control

__all__ = [
    "Article",
    "Enclosure",
    "FetchReport",
    "Preferences",
    "SourceResult",
    "SourceState",
    "StoredArticle",
    "Zone",
    "article_guid",
    "pickled_by_slots",
]

_T = TypeVar("_T")

# Fixed forever: GUIDs are uuid5 names in this namespace. Changing it would re-deliver every article
# to every subscriber (see docs/design.md, "Stable identifiers").
_GUID_NAMESPACE = uuid.UUID("5f0c6a43-2f7e-4c1e-9d51-6a7d3f3e8b21")


def article_guid(source_id: str, key: str) -> str:
    """The permanent id of an article: a function of where it came from, never of what it says.

    Title, link and body may be edited; the source id and the article's key within its source (file
    stem, feed entry id, table row id) do not change, so neither does the GUID.
    """
    return "urn:uuid:" + str(uuid.uuid5(_GUID_NAMESPACE, f"{source_id}\x1f{key}"))


def pickled_by_slots(cls: type[_T]) -> type[_T]:
    """Pickle a frozen, slotted value as the tuple of its fields, restored without running ``__init__``
    again (it was checked when made). The parsing workers send back tens of thousands of these per
    fetch; dataclasses' own pickling looks up the fields of every object it restores, which was half
    the cost of receiving a parsed feed."""
    setattr(cls, "__reduce__", _reduce_by_slots)  # noqa: B010 (a method set on a class made elsewhere)
    return cls


def _reduce_by_slots(self: Any) -> tuple[Any, ...]:
    cls = type(self)
    return restore_slots, (cls, tuple([getattr(self, name) for name in cls.__slots__]))


def restore_slots(cls: type[_T], values: tuple[Any, ...]) -> _T:
    """A ``pickled_by_slots`` value made again from its fields, in slot order."""
    value = object.__new__(cls)
    for name, v in zip(cls.__slots__, values, strict=True):  # type: ignore[attr-defined]
        object.__setattr__(value, name, v)
    return value


@dataclass(frozen=True, slots=True)
class Zone:
    """A development zone (开发区) that feeds are published for."""

    slug: str
    name: str
    city: str
    province: str = ""
    aliases: tuple[str, ...] = ()


@pickled_by_slots
@dataclass(frozen=True, slots=True)
class Enclosure:
    """A file an article carries: a podcast's audio, a video, a government notice's PDF. ``length`` in
    bytes, 0 when the source did not say; ``type`` a MIME type."""

    url: str
    type: str = "application/octet-stream"
    length: int = 0
    title: str = ""

    def as_json(self) -> dict[str, object]:
        return {"url": self.url, "type": self.type, "length": self.length, "title": self.title}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Enclosure:
        length = d.get("length")
        return cls(
            str(d.get("url") or ""),
            str(d.get("type") or "application/octet-stream"),
            length if isinstance(length, int) else 0,
            str(d.get("title") or ""),
        )


@pickled_by_slots
@dataclass(frozen=True, slots=True)
class Article:
    """An article as a source delivers it, before it is stored.

    ``body_html`` is already sanitized. ``zone_names`` are the zones the article's own metadata names
    (发布开发区, front matter ``zone``, feed categories), as written; turning them into zone slugs is the
    job of ``syndicate.zones``.
    """

    source_id: str
    key: str
    title: str
    link: str
    published: datetime
    body_html: str
    author: str = ""
    zone_names: tuple[str, ...] = ()
    city: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()  # the source's own categories (feed <category>), as written
    image: str | None = None  # absolute URL of the article's first image, if any
    enclosures: tuple[Enclosure, ...] = ()  # files it carries (audio, video, documents), absolute URLs
    # ``link`` is not the entry's own: it had none and inherited the channel's (or the feed's) address,
    # which every such entry shares; it is no evidence that two entries are one story.
    link_fallback: bool = False
    # ``content_hash()``, kept once computed: a parsing worker computes it, and the article it sends back
    # carries it to storing instead of hashing the body again (an article never changes once made).
    _digest: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.published.tzinfo is None or self.published.utcoffset() is None:
            raise ValueError(f"Article {self.source_id}/{self.key}: published must be timezone-aware")
        # Whatever a source did, no text of an article holds a character XML cannot carry: one such
        # character stored would make every feed holding the article unwritable.
        for name in ("title", "link", "body_html", "author", "city", "category", "image"):
            value = getattr(self, name)
            if value and (clean := strip_control(value)) is not value:
                object.__setattr__(self, name, clean)
        for name in ("zone_names", "tags"):
            values = getattr(self, name)
            cleaned = tuple(strip_control(v) for v in values)
            if any(c is not v for c, v in zip(cleaned, values, strict=True)):
                object.__setattr__(self, name, cleaned)

    @property
    def guid(self) -> str:
        return article_guid(self.source_id, self.key)

    def content_hash(self) -> str:
        """A digest of everything a reader sees; equal hashes mean nothing to update."""
        digest = self._digest
        if digest is None:
            digest = self._content_digest()
            object.__setattr__(self, "_digest", digest)
        return digest

    def _content_digest(self) -> str:
        fields: list[object] = [
            self.title,
            self.link,
            self.published.isoformat(),
            self.body_html,
            self.author,
            list(self.zone_names),
            self.city,
            self.category,
        ]
        # Fields added later join the digest only when set, so that upgrading syndicate does not make
        # every stored article look edited (which would change its Atom <updated>).
        if self.tags:
            fields.append(["tags", *self.tags])
        if self.image:
            fields.append(["image", self.image])
        if self.enclosures:
            fields.append(["enclosures", *(e.as_json() for e in self.enclosures)])
        payload = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as the store holds it: with its id, GUID, zone slugs and history."""

    id: int
    guid: str
    article: Article
    zones: tuple[str, ...]
    first_seen: datetime
    updated: datetime  # the last change of any kind (content, zones, story): what publishing follows
    story_id: int | None = None
    edited: datetime | None = None  # when a change of its content was last seen; None: never edited


@dataclass(frozen=True, slots=True)
class SourceState:
    """What syndicate remembers of one source between runs: its health and its conditional-GET state."""

    source_id: str
    config_url: str | None = None  # the URL as configured when this state began; a new one resets it
    url: str | None = None  # where to fetch now (a permanent redirect changes it)
    moved_from: str | None = None  # the URL a permanent redirect moved us away from
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None  # of the last body parsed, to skip parsing one that did not change
    cursor: str | None = None  # sql sources: where the last incremental read stopped
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    http_status: int | None = None
    consecutive_errors: int = 0
    last_error_kind: str | None = None
    last_error: str | None = None
    warning: str | None = None  # the last run's warnings, e.g. a malformed ("bozo") feed that still parsed
    next_due: datetime | None = None
    disabled: str | None = None  # why the source is no longer fetched (410 Gone)
    title: str | None = None  # the name the feed gives itself (its <title>), credited when the config names none


@dataclass(frozen=True, slots=True)
class SourceResult:
    """What one read of one source gave.

    ``problems`` are per-item failures (one unreadable file or entry) that did not stop the others;
    ``error`` is set when the source as a whole failed, and then ``articles`` is empty. ``status`` says
    what happened: ``ok`` (read and parsed), ``not_modified`` (HTTP 304), ``unchanged`` (same bytes as
    last time, not parsed), ``error``. ``state`` is the source's state to remember after this read.
    """

    source_id: str
    articles: tuple[Article, ...] = ()
    problems: tuple[str, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()
    status: str = "ok"
    state: SourceState | None = None


@dataclass(frozen=True, slots=True)
class FetchReport:
    """The outcome of storing one source's result: the row of ``syndicate fetch``'s table."""

    source_id: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: tuple[str, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    status: str = "ok"
    seconds: float = 0.0  # reading the source (requests, parsing), not storing

    @property
    def failed(self) -> bool:
        return bool(self.errors)


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a recipient chose on their preferences page (or at sign-up). Stored in the database, it wins
    over the config's ``[[recipients]]`` entry, which only seeds the recipient."""

    email: str  # lower-cased
    name: str = ""
    zones: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    send_at: str | None = None  # HH:MM; None: [digest] send_at
    timezone: str | None = None  # None: [site] timezone
    paused_at: datetime | None = None  # digests paused since then (None: not paused)
    origin: str = "page"  # "page": changed on the preferences page; "signup": signed up there
    changed: tuple[str, ...] = ()  # what the last change touched: "zones", "send_at", "paused", ...
    updated_at: datetime | None = None
