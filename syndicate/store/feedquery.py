"""Which stored articles each feed holds: the canonical articles of some zones and a category, listed
newest first or in arrival order, and each article's membership (what decides its feeds, and its story)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..types import StoredArticle
from .models import ArticleRow, ArticleZoneRow, chunks

__all__ = ["FeedQueryMixin", "Membership"]


class Membership(NamedTuple):
    canonical: bool
    zones: set[str]
    category: str | None
    story_id: int | None


class FeedQueryMixin:
    """Feed listing queries of ``Store`` (mixed in; uses its sessions)."""

    # Provided by Store.
    _session: Callable[[], AbstractContextManager[Session]]
    _stored: Callable[[Session, Sequence[ArticleRow]], list[StoredArticle]]

    def _selection(self, zones: Sequence[str] | None, category: str | None) -> Any:
        query = select(ArticleRow).where(ArticleRow.canonical.is_(True))
        if zones is not None:
            query = query.where(
                ArticleRow.id.in_(select(ArticleZoneRow.article_id).where(ArticleZoneRow.zone_slug.in_(list(zones))))
            )
        if category is not None:
            query = query.where(ArticleRow.category == category)
        return query

    def feed_articles(
        self, limit: int, zones: Sequence[str] | None = None, category: str | None = None
    ) -> list[StoredArticle]:
        """The ``limit`` canonical articles that arrived last in any of ``zones`` (all when None) and of
        ``category`` (any when None), newest published first."""
        with self._session() as s:
            rows = s.scalars(self._selection(zones, category).order_by(ArticleRow.id.desc()).limit(limit)).all()
            stored = self._stored(s, rows)
        return sorted(stored, key=lambda a: (a.article.published, a.id), reverse=True)

    def feed_ids(self, zones: Sequence[str] | None = None, category: str | None = None) -> list[int]:
        """The ids of every canonical article of a selection, in the order they arrived."""
        query = self._selection(zones, category).with_only_columns(ArticleRow.id)
        with self._session() as s:
            return list(s.scalars(query.order_by(ArticleRow.id)))

    def memberships(self, ids: Collection[int]) -> dict[int, Membership]:
        """For each id: what decides which feeds hold the article, and its story."""
        out: dict[int, Membership] = {}
        with self._session() as s:
            for chunk in chunks(sorted(ids)):
                out.update(_memberships(s, ArticleRow.id.in_(chunk)))
        return out

    def canonical_memberships(self) -> dict[int, Membership]:
        """``memberships`` of every canonical article, in two reads (a full publish lists every feed
        from them instead of querying each feed)."""
        with self._session() as s:
            return _memberships(s, ArticleRow.canonical.is_(True))

    def categories(self) -> list[str]:
        """Every category a canonical article has, sorted."""
        with self._session() as s:
            return sorted(
                s.scalars(
                    select(ArticleRow.category)
                    .where(ArticleRow.category.is_not(None), ArticleRow.canonical.is_(True))
                    .distinct()
                )
            )


def _memberships(s: Session, which: Any) -> dict[int, Membership]:
    """``Membership`` of the articles the condition ``which`` selects: two reads."""
    out = {
        aid: Membership(bool(canonical), set(), category, story)
        for aid, canonical, category, story in s.execute(
            select(ArticleRow.id, ArticleRow.canonical, ArticleRow.category, ArticleRow.story_id).where(which)
        )
    }
    for aid, slug in s.execute(
        select(ArticleZoneRow.article_id, ArticleZoneRow.zone_slug)
        .join(ArticleRow, ArticleRow.id == ArticleZoneRow.article_id)
        .where(which)
    ):
        if aid in out:  # (an article stored between the two reads by a writer outside syndicate)
            out[aid].zones.add(slug)
    return out
