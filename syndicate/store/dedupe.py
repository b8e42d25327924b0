"""Storage of dedupe decisions: signatures, LSH buckets, stories and their canonical versions.

``Store.dedupe_session()`` yields a ``DedupeSession`` that works in one transaction, so a batch of
decisions is all stored or none (a crash re-runs the batch: articles without a signature are pending).
Decisions themselves are made by ``syndicate.dedupe``; this module only looks up and records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session

from ..types import Article
from .models import ArticleRow, BucketRow, SignatureRow, StoryRow

__all__ = ["ChooseCanonical", "DedupeSession", "Pending", "Story", "Version"]


def _h(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Pending:
    """An article waiting for dedupe. ``story_id`` is set when it was edited after joining a story."""

    id: int
    article: Article
    story_id: int | None
    pinned: bool


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


def _article(r: ArticleRow) -> Article:
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
    )


# (article id, source priority, published) of each version → the canonical version's id.
ChooseCanonical = Callable[[Sequence[tuple[int, int, datetime]]], int]


class DedupeSession:
    def __init__(self, session: Session, priorities: Mapping[str, int], choose: ChooseCanonical) -> None:
        self._s = session
        self._priorities = priorities
        self._choose = choose

    def pending(self, limit: int) -> list[Pending]:
        """Articles with no signature yet, oldest first."""
        rows = self._s.scalars(
            select(ArticleRow)
            .outerjoin(SignatureRow, SignatureRow.article_id == ArticleRow.id)
            .where(SignatureRow.article_id.is_(None))
            .order_by(ArticleRow.id)
            .limit(limit)
        ).all()
        return [Pending(r.id, _article(r), r.story_id, r.pinned) for r in rows]

    def candidates(
        self, article_id: int, link: str, body_hash: str, title_key: str, buckets: Sequence[int]
    ) -> list[tuple[int, Article, bool]]:
        """Articles sharing a link, a body, a title-and-day, or an LSH bucket: (id, article, pinned)."""
        ids = set(
            self._s.scalars(
                select(SignatureRow.article_id).where(
                    or_(
                        SignatureRow.link_hash == _h(link),
                        SignatureRow.body_hash == body_hash,
                        SignatureRow.title_hash == _h(title_key),
                    )
                )
            )
        )
        if buckets:
            ids.update(self._s.scalars(select(BucketRow.article_id).where(BucketRow.bucket.in_(list(buckets)))))
        ids.discard(article_id)
        if not ids:
            return []
        rows = self._s.scalars(select(ArticleRow).where(ArticleRow.id.in_(sorted(ids)))).all()
        return [(r.id, _article(r), r.pinned) for r in rows]

    def record(
        self,
        article_id: int,
        link: str,
        body_hash: str,
        title_key: str,
        length: int,
        buckets: Sequence[int],
        joined: tuple[int, str, float] | None,
        keep_story: bool,
    ) -> int:
        """Store the signature and buckets, and the story decision. Returns the article's story id.

        ``joined`` is (matched article id, rule, similarity) when the article joins the matched article's
        story; else it starts a story of its own. ``keep_story``: an edited article keeps its story.
        """
        s = self._s
        s.execute(
            insert(SignatureRow),
            [
                {
                    "article_id": article_id,
                    "link_hash": _h(link),
                    "body_hash": body_hash,
                    "title_hash": _h(title_key),
                    "length": length,
                }
            ],
        )
        if buckets:
            s.execute(insert(BucketRow), [{"bucket": b, "article_id": article_id} for b in dict.fromkeys(buckets)])
        if keep_story:
            story = s.scalar(select(ArticleRow.story_id).where(ArticleRow.id == article_id))
            assert story is not None
            return story
        if joined is not None:
            matched, rule, score = joined
            story = s.scalar(select(ArticleRow.story_id).where(ArticleRow.id == matched))
            assert story is not None, "a candidate always has a story"
            s.execute(
                update(ArticleRow)
                .where(ArticleRow.id == article_id)
                .values(story_id=story, dup_of=matched, dup_rule=rule, dup_similarity=score)
            )
        else:
            story = s.execute(insert(StoryRow).returning(StoryRow.id), [{}]).scalar_one()
            s.execute(update(ArticleRow).where(ArticleRow.id == article_id).values(story_id=story, canonical=True))
        self.recanonicalize(story)
        return story

    def recanonicalize(self, story_id: int) -> None:
        """Mark the story's canonical version (highest source priority, earliest, first stored)."""
        members = self._s.execute(
            select(ArticleRow.id, ArticleRow.source_id, ArticleRow.published, ArticleRow.canonical).where(
                ArticleRow.story_id == story_id
            )
        ).all()
        if not members:
            return
        best = self._choose([(m.id, self._priorities.get(m.source_id, 0), m.published) for m in members])
        for m in members:
            if m.canonical != (m.id == best):
                self._s.execute(update(ArticleRow).where(ArticleRow.id == m.id).values(canonical=m.id == best))


def forget_signatures(session: Session, article_ids: Sequence[int]) -> None:
    """Make articles pending again (after an edit): their fingerprints are computed anew."""
    session.execute(delete(BucketRow).where(BucketRow.article_id.in_(list(article_ids))))
    session.execute(delete(SignatureRow).where(SignatureRow.article_id.in_(list(article_ids))))
