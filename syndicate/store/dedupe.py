"""Storage of dedupe decisions: signatures, LSH buckets, stories and their canonical versions.

A story's id is the id of the article that began it. ``Store.dedupe_session()`` yields a
``DedupeSession`` working in one transaction: a batch of decisions is stored whole or not at all (a crash
re-runs the batch, since articles without a signature are pending). Lookups and writes are made per batch,
not per article. Decisions themselves are made by ``syndicate.dedupe``; this module looks up and records.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from ..types import Article, Enclosure
from .decisions import stamp
from .models import ARTICLE_COLUMNS, ArticleRow, SignatureRow, chunks

__all__ = [
    "ChooseCanonical",
    "Decision",
    "DedupeSession",
    "Keys",
    "Known",
    "Pending",
    "Story",
    "Version",
    "article_of",
    "forget_signatures",
]


def _h(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Pending:
    """An article waiting for dedupe. ``story_id`` is set when it was edited after joining a story."""

    id: int
    article: Article
    story_id: int | None
    pinned: bool
    content_hash: str = ""  # of the version stored (``Article.content_hash``)


@dataclass(frozen=True, slots=True)
class Known:
    """An already-decided article that may be a candidate."""

    id: int
    article: Article
    story_id: int
    pinned: bool


@dataclass(frozen=True, slots=True)
class Keys:
    """The lookup keys of one fingerprint, with the digests of its link and title key as stored (made
    once: a batch looks them up and then stores them)."""

    link: str
    body_hash: str
    title_key: str
    length: int
    buckets: tuple[int, ...]
    link_hash: str = field(init=False, repr=False, compare=False)
    title_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "link_hash", _h(self.link))
        object.__setattr__(self, "title_hash", _h(self.title_key))


@dataclass(frozen=True, slots=True)
class Decision:
    article_id: int
    keys: Keys
    story_id: int
    matched: int | None = None  # the article it was joined to
    rule: str | None = None
    similarity: float | None = None
    keep_story: bool = False  # an edited article: only its signature is renewed


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    guid: str
    source_id: str
    title: str
    link: str
    published: datetime
    canonical: bool
    pinned: bool
    rule: str | None
    similarity: float | None
    dup_of: int | None


@dataclass(frozen=True, slots=True)
class Story:
    id: int
    versions: tuple[Version, ...]


# (article id, source priority, first seen) of each version → the canonical version's id.
ChooseCanonical = Callable[[Sequence[tuple[int, int, datetime]]], int]


# What a pending or candidate article is read with: the article, its story, and what dedupe needs besides.
_COLUMNS = (*ARTICLE_COLUMNS, ArticleRow.pinned, ArticleRow.content_hash)
# What a pending article is listed with, before its article is read (unless the caller holds it).
_PENDING = (
    ArticleRow.id,
    ArticleRow.source_id,
    ArticleRow.source_key,
    ArticleRow.content_hash,
    ArticleRow.story_id,
    ArticleRow.pinned,
)
# The article a caller holds of (source id, key, content hash), if it holds that version.
HeldArticle = Callable[[str, str, str], Article | None]


def _by_id(ids: Sequence[int]) -> Select[Any]:
    return select(*_COLUMNS).where(ArticleRow.id.in_(ids))


def article_of(r: ArticleRow | Row[Any]) -> Article:
    """The article of a row: an ORM object, or a row of (at least) the same columns."""
    return Article(
        source_id=r.source_id,
        key=r.source_key,
        title=r.title,
        link=r.link,
        published=r.published,
        body_html=r.body_html,
        author=r.author,
        zone_names=tuple(r.zone_names),
        city=r.city,
        category=r.category,
        tags=tuple(r.tags or ()),
        image=r.image,
        enclosures=tuple(Enclosure.from_json(e) for e in r.enclosures or ()),
        link_fallback=bool(r.link_fallback),
    )


def latest_change(s: Session) -> datetime:
    """The newest ``updated`` stamp stored (an index lookup)."""
    newest: datetime | None = s.scalar(select(func.max(ArticleRow.updated)))
    return newest or datetime.min.replace(tzinfo=UTC)


class DedupeSession:
    def __init__(self, session: Session, priorities: Mapping[str, int], choose: ChooseCanonical, now: datetime) -> None:
        self._s = session
        self._priorities = priorities
        self._choose = choose
        self._when = now
        self._stamp: datetime | None = None

    @property
    def _now(self) -> datetime:
        """The stamp of a change of version: after every change already stored (so the next publish sees
        it, whatever the clocks say)."""
        if self._stamp is None:
            self._stamp = stamp(self._when, latest_change(self._s))
        return self._stamp

    def pending(self, limit: int, after: int = 0, held: HeldArticle | None = None) -> list[Pending]:
        """Articles not yet fingerprinted (new, or edited since) with an id above ``after``, oldest first.
        An index on (fingerprinted, id) makes this cost what is pending, not what is stored. ``held``:
        the article the caller holds of a (source, key, content hash), which is then not read again (a
        fetch joins what it has just stored)."""
        rows = self._s.execute(  # rows, not ORM objects: a third of the time for a batch of 2,000
            select(*_PENDING)
            .where(ArticleRow.fingerprinted.is_(False), ArticleRow.id > after)
            .order_by(ArticleRow.id)
            .limit(limit)
        ).all()
        have = {r.id: a for r in rows if held and (a := held(r.source_id, r.source_key, r.content_hash))}
        missing = [r.id for r in rows if r.id not in have]
        have |= {r.id: article_of(r) for chunk in chunks(missing) for r in self._s.execute(_by_id(chunk))}
        return [Pending(r.id, have[r.id], r.story_id, r.pinned, r.content_hash) for r in rows]

    def exact_hits(self, batch: Mapping[int, Keys]) -> dict[int, dict[int, str]]:
        """Per article of ``batch``, the decided articles sharing its link, body or title-and-day, and
        which (``"link"``, ``"body"``, ``"title"``: the strongest). An article without a link of its own
        shares none by link."""
        found: dict[str, dict[str, list[int]]] = {"link": {}, "body": {}, "title": {}}
        values = {
            "link": list({k.link_hash for k in batch.values() if k.link}),
            "body": list({k.body_hash for k in batch.values()}),
            "title": list({k.title_hash for k in batch.values()}),
        }
        columns = {"link": SignatureRow.link_hash, "body": SignatureRow.body_hash, "title": SignatureRow.title_hash}
        for name, column in columns.items():
            index = found[name]
            for chunk in chunks(values[name]):
                for aid, value in self._s.execute(select(SignatureRow.article_id, column).where(column.in_(chunk))):
                    index.setdefault(value, []).append(aid)
        hits: dict[int, dict[int, str]] = {}
        for aid, k in batch.items():
            mine: dict[int, str] = {}
            mine_keys = (("title", k.title_hash), ("body", k.body_hash), ("link", k.link_hash if k.link else ""))
            for name, value in mine_keys:
                for other in found[name].get(value, ()):
                    mine[other] = name
            mine.pop(aid, None)
            hits[aid] = mine
        return hits

    def known(self, ids: Sequence[int]) -> dict[int, Known]:
        """The decided articles among ``ids``."""
        result: dict[int, Known] = {}
        for id_chunk in chunks(sorted(set(ids))):
            for r in self._s.execute(_by_id(id_chunk)):
                if r.story_id is not None:
                    result[r.id] = Known(r.id, article_of(r), r.story_id, r.pinned)
        return result

    def recent_bodies(self, source_id: str, limit: int, held: Collection[int] = ()) -> list[str]:
        """The stored bodies of the source's ``limit`` newest articles, newest first (an index on (source,
        id)), but for those of ``held``, which the caller has: a new source's newest articles are the
        ones a fetch has just stored, and their bodies are not read back."""
        newest = self._s.scalars(
            select(ArticleRow.id).where(ArticleRow.source_id == source_id).order_by(ArticleRow.id.desc()).limit(limit)
        )
        wanted = [aid for aid in newest if aid not in held]
        if not wanted:
            return []
        return list(
            self._s.scalars(
                select(ArticleRow.body_html).where(ArticleRow.id.in_(wanted)).order_by(ArticleRow.id.desc())
            )
        )

    def record(self, decisions: Sequence[Decision]) -> None:
        """Store signatures, buckets and story membership of a batch; re-choose the canonical version of
        every story that gained or changed a version."""
        s = self._s
        if not decisions:
            return
        # Core statements (not the ORM's bulk path): this is the hot loop of a large import.
        s.execute(
            insert(cast(Table, SignatureRow.__table__)),
            [
                {
                    "article_id": d.article_id,
                    "link_hash": d.keys.link_hash,
                    "body_hash": d.keys.body_hash,
                    "title_hash": d.keys.title_hash,
                    "length": d.keys.length,
                    "buckets": _packed(d.keys.buckets),
                }
                for d in decisions
            ],
        )
        s.execute(
            update(ArticleRow).where(ArticleRow.id.in_([d.article_id for d in decisions])).values(fingerprinted=True)
        )
        changes = [
            {
                "_id": d.article_id,
                "story_id": d.story_id,
                "dup_of": d.matched,
                "dup_rule": d.rule,
                "dup_similarity": d.similarity,
                "canonical": d.matched is None,
            }
            for d in decisions
            if not d.keep_story
        ]
        if changes:
            table = cast(Table, ArticleRow.__table__)
            s.execute(
                update(table)
                .where(table.c.id == bindparam("_id"))
                .values(
                    story_id=bindparam("story_id"),
                    dup_of=bindparam("dup_of"),
                    dup_rule=bindparam("dup_rule"),
                    dup_similarity=bindparam("dup_similarity"),
                    canonical=bindparam("canonical"),
                ),
                changes,
            )
        # Stories that gained a version, and those with an edited one (its date may have changed).
        for story in sorted({d.story_id for d in decisions if d.matched is not None or d.keep_story}):
            self.recanonicalize(story)

    def recanonicalize(self, story_id: int) -> None:
        """Mark the story's canonical version (highest source priority, then the first seen)."""
        members = self._s.execute(
            select(ArticleRow.id, ArticleRow.source_id, ArticleRow.first_seen, ArticleRow.canonical).where(
                ArticleRow.story_id == story_id
            )
        ).all()
        if not members:
            return
        best = self._choose([(m.id, self._priorities.get(m.source_id, 0), m.first_seen) for m in members])
        for m in members:
            if m.canonical != (m.id == best):
                # The change of version is a change for the feeds that held either: mark it updated.
                self._s.execute(
                    update(ArticleRow).where(ArticleRow.id == m.id).values(canonical=m.id == best, updated=self._now)
                )


def forget_signatures(session: Session, article_ids: Sequence[int]) -> None:
    """Make articles pending again (after an edit): their fingerprints are computed anew."""
    session.execute(delete(SignatureRow).where(SignatureRow.article_id.in_(list(article_ids))))
    session.execute(update(ArticleRow).where(ArticleRow.id.in_(list(article_ids))).values(fingerprinted=False))


def _packed(buckets: Sequence[int]) -> bytes:
    """Bucket keys as stored: little-endian signed 64-bit integers (what ``numpy.frombuffer(..., "<i8")``
    reads back), packed without numpy so that a process that only reads need not import it."""
    return struct.pack(f"<{len(buckets)}q", *buckets)
