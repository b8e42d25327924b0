"""SQLAlchemy table definitions. Private to ``syndicate.store``: rows never leave it.

Every datetime column holds UTC and comes back timezone-aware (``UTCDateTime``), on SQLite (which has no
time zones) as on PostgreSQL (``timestamptz``). The schema is changed only through Alembic migrations in
``migrations/versions``; these classes must match the newest one (a test checks it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

_T = TypeVar("_T")
CHUNK = 500  # values per IN (...) list; well under every backend's parameter limit


def chunks(values: Iterable[_T]) -> Iterator[list[_T]]:
    """``values`` in lists of at most ``CHUNK``, for ``IN (...)`` lists."""
    items = list(values)
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("source_id", "source_key", name="uq_articles_source_key"),
        Index("ix_articles_published", "published"),
        Index("ix_articles_updated", "updated"),
        Index("ix_articles_pending", "fingerprinted", "id"),
        Index("ix_articles_category_canonical", "category", "canonical"),
        Index("ix_articles_first_seen", "first_seen"),
        Index("ix_articles_source_recent", "source_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    guid: Mapped[str] = mapped_column(String(64), unique=True)
    source_id: Mapped[str] = mapped_column(String(100))
    source_key: Mapped[str] = mapped_column(String(500))
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text)
    published: Mapped[datetime] = mapped_column(UTCDateTime)
    body_html: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(Text, default="")
    zone_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    city: Mapped[str | None] = mapped_column(String(200), nullable=True)
    category: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    image: Mapped[str | None] = mapped_column(Text, nullable=True)
    enclosures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True, default=list)
    link_fallback: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime] = mapped_column(UTCDateTime)
    edited: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # last change of content seen
    # Dedupe: the story this article is a version of (a story's id is the id of the article that began
    # it), whether it is the version published, and why it joined the story (rule, similarity, the
    # article it matched). NULL story: not yet deduplicated.
    story_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    canonical: Mapped[bool] = mapped_column(Boolean, default=True)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)  # split by an operator: stays alone
    dup_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    dup_rule: Mapped[str | None] = mapped_column(String(20), nullable=True)
    dup_similarity: Mapped[float | None] = mapped_column(Float, nullable=True)
    # False until dedupe has fingerprinted this version of the article (new, or edited since).
    fingerprinted: Mapped[bool] = mapped_column(Boolean, default=False)


# What a StoredArticle is made of (``_stored``, ``article_of``).
ARTICLE_COLUMNS = tuple(
    ArticleRow.__table__.c[name]
    for name in [
        "id",
        "guid",
        "source_id",
        "source_key",
        "title",
        "link",
        "published",
        "body_html",
        "author",
        "zone_names",
        "city",
        "category",
        "tags",
        "image",
        "enclosures",
        "link_fallback",
        "first_seen",
        "updated",
        "story_id",
        "edited",
    ]
)


class ArticleZoneRow(Base):
    __tablename__ = "article_zones"
    __table_args__ = (Index("ix_article_zones_zone", "zone_slug", "article_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE", name="fk_article_zones_article"), primary_key=True
    )
    zone_slug: Mapped[str] = mapped_column(String(100), primary_key=True)


class SourceRow(Base):
    """Health and conditional-GET state of one source (see ``syndicate.types.SourceState``)."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    config_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    moved_from: Mapped[str | None] = mapped_column(Text, nullable=True)
    etag: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_modified: Mapped[str | None] = mapped_column(Text, nullable=True)
    body_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    last_error_kind: Mapped[str | None] = mapped_column(String(50), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    warning: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled: Mapped[str | None] = mapped_column(Text, nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)


class SignatureRow(Base):
    """An article's dedupe fingerprint, kept so the index survives restarts without rebuilding."""

    __tablename__ = "article_signatures"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE", name="fk_signatures_article"), primary_key=True
    )
    link_hash: Mapped[str] = mapped_column(String(64), index=True)
    body_hash: Mapped[str] = mapped_column(String(64), index=True)
    title_hash: Mapped[str] = mapped_column(String(64), index=True)
    length: Mapped[int] = mapped_column(Integer)
    # The LSH bucket keys (little-endian int64s). The bucket index itself is kept in memory and rebuilt
    # from these at start: random inserts into a 20-rows-per-article table cost more as it grows.
    buckets: Mapped[bytes] = mapped_column(LargeBinary)


class FeedStateRow(Base):
    """What was last written for one feed (its folder under output_dir): for incremental publishing
    and for the discovery page."""

    __tablename__ = "feed_state"

    path: Mapped[str] = mapped_column(String(300), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    items: Mapped[int] = mapped_column(Integer)
    newest: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    digest: Mapped[str] = mapped_column(String(64))
    latest: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SettingRow(Base):
    """Small named values the pipeline keeps between runs (e.g. the publish watermark)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class WebSubPendingRow(Base):
    """A publish notification a hub has not yet accepted."""

    __tablename__ = "websub_pending"

    hub: Mapped[str] = mapped_column(String(500), primary_key=True)
    url: Mapped[str] = mapped_column(String(1000), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RecipientRow(Base):
    """A digest recipient's delivery state: what has been sent so far, and whether to send at all."""

    __tablename__ = "recipients"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower-cased
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    # Articles first stored after this are new to the recipient (the end of the last delivered digest).
    watermark: Mapped[datetime] = mapped_column(UTCDateTime)
    # The recipient's local date of the last scheduled digest (sent, or found empty): once a day.
    slot_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Subscribed again by an operator: unsubscribe links issued before this are refused (replays).
    resubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # permanent failure
    failure: Mapped[str | None] = mapped_column(Text, nullable=True)


class PreferencesRow(Base):
    """What a recipient chose on the preferences page or at sign-up; wins over ``[[recipients]]``."""

    __tablename__ = "recipient_preferences"

    email: Mapped[str] = mapped_column(String(320), ForeignKey("recipients.email"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, default="")
    zones: Mapped[list[str]] = mapped_column(JSON)
    cities: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    send_at: Mapped[str | None] = mapped_column(String(5), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    origin: Mapped[str] = mapped_column(String(16))
    changed: Mapped[str] = mapped_column(Text, default="")  # comma-separated
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignupRequestRow(Base):
    """A sign-up asked for on the public page: counted to limit requests per address and per client."""

    __tablename__ = "signup_requests"
    __table_args__ = (
        Index("ix_signup_requests_email", "email", "requested_at"),
        Index("ix_signup_requests_client", "client", "requested_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DigestRow(Base):
    """The outbox: one digest, recorded before it is sent and marked sent once the server accepted it."""

    __tablename__ = "digests"
    __table_args__ = (
        UniqueConstraint("recipient", "window_start", name="uq_digests_window"),
        UniqueConstraint("message_id", name="uq_digests_message_id"),
        Index("ix_digests_status", "status", "next_attempt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    recipient: Mapped[str] = mapped_column(String(320))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    slot_date: Mapped[str | None] = mapped_column(String(10), nullable=True)
    message_id: Mapped[str] = mapped_column(String(300))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    items: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # pending | accepted (not yet settled) | sent | failed
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DigestArticleRow(Base):
    """The articles one digest carries."""

    __tablename__ = "digest_articles"

    digest_id: Mapped[int] = mapped_column(
        ForeignKey("digests.id", ondelete="CASCADE", name="fk_digest_articles_digest"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class DeliveryRow(Base):
    """An article delivered to a recipient (its story is never sent to them again)."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_story", "recipient", "story_id"),)

    recipient: Mapped[str] = mapped_column(String(320), primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(Integer)
    digest_id: Mapped[int] = mapped_column(Integer)


class LockRow(Base):
    """A lease one process holds (the daemon's): renewed while it runs, free once it expires."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    acquired: Mapped[datetime] = mapped_column(UTCDateTime)
    expires: Mapped[datetime] = mapped_column(UTCDateTime)


class DepartureRow(Base):
    """An article left a zone or a category (rezoned, or its category edited): that feed changed too,
    though no article of it now says so. Read by the next publish, then dropped."""

    __tablename__ = "departures"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(10))  # zone | category
    value: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def upsert(s: Session, model: Any, key: Any, rows: Mapping[Any, dict[str, Any]]) -> None:
    """Insert or update many rows of ``model`` by primary key, in bulk: one query to see which exist."""
    if not rows:
        return
    keys = list(rows)
    known: set[Any] = set()
    for chunk in chunks(keys):
        known.update(s.scalars(select(key).where(key.in_(chunk))))
    if known:
        s.execute(update(model), [rows[k] for k in keys if k in known])
    if len(known) < len(rows):
        s.execute(insert(model), [rows[k] for k in keys if k not in known])
