"""Views of the store that only tests need: what one source stored, an article by GUID, what a digest
delivered. Built on the store's public queries and its tables, so the product carries no test-only code."""

from __future__ import annotations

from sqlalchemy import select

from syndicate.store import Store
from syndicate.store.models import ArticleRow, DeliveryRow
from syndicate.types import StoredArticle


def source_articles(store: Store, source_id: str) -> list[StoredArticle]:
    """Every article of one source, duplicates included, in the order they were stored."""
    with store.engine.connect() as c:
        query = select(ArticleRow.id).where(ArticleRow.source_id == source_id).order_by(ArticleRow.id)
        ids = [row[0] for row in c.execute(query)]
    by_id = {a.id: a for a in store.articles_by_ids(ids)}
    return [by_id[i] for i in ids]


def zone_articles(store: Store, slug: str, limit: int) -> list[StoredArticle]:
    """The newest ``limit`` canonical articles of a zone, newest first."""
    return store.feed_articles(limit, zones=[slug])


def article_by_guid(store: Store, guid: str) -> StoredArticle | None:
    found = store.resolve_article(guid)
    return store.articles_by_ids([found])[0] if found is not None else None


def delivered(store: Store, email: str) -> dict[int, int]:
    """Article id → the digest that delivered it, for one recipient."""
    with store.engine.connect() as c:
        query = select(DeliveryRow.article_id, DeliveryRow.digest_id).where(DeliveryRow.recipient == email.lower())
        return {a: d for a, d in c.execute(query)}
