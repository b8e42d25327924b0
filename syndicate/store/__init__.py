"""The store: articles and their zones in SQLite (embedded) or PostgreSQL (production).

Owns the database: connecting, migrating (Alembic, migrations shipped in this package), and every query.
Takes and returns ``syndicate.types`` values; ORM rows never leave this package. One ``Store`` per process
step; each public method runs in its own transaction, so a crash between two calls loses nothing the first
one committed and leaves nothing half-done of the second.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..exceptions import StoreError
from ..types import Article, SourceState, StoredArticle
from . import decisions
from .dedupe import (
    ChooseCanonical,
    Decision,
    DedupeSession,
    Keys,
    Known,
    Pending,
    Story,
    Version,
    article_of,
    forget_signatures,
    latest_change,
)
from .feedquery import FeedQueryMixin, Membership
from .leases import LeaseMixin
from .models import (
    ARTICLE_COLUMNS,
    ArticleRow,
    ArticleZoneRow,
    DepartureRow,
    SignatureRow,
    chunks,
)
from .outbox import ComposedDigest, OutboxMixin, PendingDigest, RecipientState
from .publishing import Changes, FeedState, PublishStateMixin
from .schema import TOO_MANY_FILES, alembic_config, migrations, no_file_descriptor_left, out_of_files
from .sourcestate import SourceStateMixin, write_states
from .subscribers import SubscriberMixin

__all__ = [
    "Changes",
    "ChooseCanonical",
    "ComposedDigest",
    "Decision",
    "DedupeSession",
    "FeedState",
    "Keys",
    "Known",
    "Membership",
    "Pending",
    "PendingDigest",
    "RecipientState",
    "SaveCounts",
    "SchemaState",
    "SourceBatch",
    "Store",
    "Story",
    "Version",
]

SchemaState = Literal["new", "current", "behind", "unknown"]


class SaveCounts(NamedTuple):
    new: int = 0
    updated: int = 0
    unchanged: int = 0


class SourceBatch(NamedTuple):
    """One source's read, as ``Store.save_sources`` stores it: its articles with their zone slugs, and
    its state after the read."""

    source_id: str
    items: Sequence[tuple[Article, tuple[str, ...]]]
    state: SourceState | None = None


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web server read while a fetch writes; the busy timeout makes a second writer wait
    # instead of failing at once; foreign keys are off by default in SQLite.
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: the dedupe index stays in memory
    cur.close()
    # Transactions are begun by us (below), not by the driver at its first write: a transaction that
    # read before another process wrote could not write afterwards.
    dbapi_connection.isolation_level = None


def _on_sqlite_begin(conn: Any) -> None:
    # One writer at a time across processes, decided when the transaction begins: a second `fetch`
    # waits (busy timeout) and then sees what the first stored, instead of inserting it again.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# Any constant: the PostgreSQL advisory lock that serializes syndicate's transactions across processes.
_PG_LOCK = 0x5359_4E44
_PG_LOCK_SQL = text("SELECT pg_advisory_xact_lock(:key)")
_ARTICLES = cast(Table, ArticleRow.__table__)
_ARTICLE_ZONES = cast(Table, ArticleZoneRow.__table__)


class Store(FeedQueryMixin, SourceStateMixin, PublishStateMixin, LeaseMixin, OutboxMixin, SubscriberMixin):
    """Data access for syndicate. Construct with a SQLAlchemy URL. Digest queries: ``outbox.py``;
    recipients' own preferences and sign-ups: ``subscribers.py``."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
                Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError, OSError) as e:
            raise StoreError(f"database.url: cannot use {_redact(url)}: {e}") from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _on_sqlite_connect)
            event.listen(self.engine, "begin", _on_sqlite_begin)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One transaction. Transactions of all processes on one database run one at a time (SQLite:
        BEGIN IMMEDIATE; PostgreSQL: an advisory lock held until commit), so two runs at once never
        insert the same rows twice or decide the same story twice; the second waits."""
        with self._named_errors(), self._sessions.begin() as session:
            self._serialize(session.connection())
            yield session

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """One transaction as ``_session`` keeps it, on a plain connection without the ORM: for the
        statements a digest run executes once per message."""
        with self._named_errors(), self.engine.begin() as conn:
            self._serialize(conn)
            yield conn

    def _serialize(self, conn: Connection) -> None:
        if self.engine.dialect.name == "postgresql":  # SQLite: BEGIN IMMEDIATE, when the transaction begins
            conn.execute(_PG_LOCK_SQL, {"key": _PG_LOCK})

    @contextmanager
    def _named_errors(self) -> Iterator[None]:
        """A database that fails is named (password hidden) in a ``StoreError``."""
        try:
            yield
        except IntegrityError:
            raise  # a bug or a race, not an outage: callers that expect one handle it
        except DBAPIError as e:
            raise StoreError(f"database {_redact(self.url)} is unreachable or failed: {e.orig or e}") from e

    # -- schema ---------------------------------------------------------------------------------------

    def schema_state(self) -> SchemaState:
        try:
            head, known = migrations()
            with self.engine.connect() as conn:
                current = None
                if sa_inspect(conn).has_table("alembic_version"):
                    current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError as e:
            if out_of_files(e) or no_file_descriptor_left():  # SQLite says only "unable to open"
                raise StoreError(f"database {_redact(self.url)}: {TOO_MANY_FILES}") from e
            raise StoreError(f"database {_redact(self.url)} is unreachable: {e}") from e
        except OSError as e:  # the migration scripts could not be read: not the database's fault
            if out_of_files(e):
                raise StoreError(TOO_MANY_FILES) from e
            raise StoreError(f"cannot read syndicate's migration scripts: {e}") from e
        if current is None:
            return "new"
        if current == head:
            return "current"
        return "behind" if current in known else "unknown"

    def migrate(self) -> None:
        """Create the schema, or bring it up to this version's newest migration."""
        from alembic import command

        cfg = alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except SQLAlchemyError as e:
            raise StoreError(f"database {_redact(self.url)}: migration failed: {e}") from e

    def ensure_ready(self) -> None:
        """Create a new database; refuse one whose schema is older or newer than this code."""
        state = self.schema_state()
        if state == "new":
            self.migrate()
        elif state == "behind":
            raise StoreError("the database schema is older than this version: run `syndicate init` to migrate")
        elif state == "unknown":
            raise StoreError("the database was written by a newer version of syndicate; upgrade syndicate")

    # -- articles -------------------------------------------------------------------------------------

    def save_articles(
        self,
        source_id: str,
        items: Sequence[tuple[Article, tuple[str, ...]]],
        now: datetime,
        state: SourceState | None = None,
    ) -> SaveCounts:
        """Insert new articles and update changed ones (content or zones), in one transaction.

        ``items`` pairs each article with the zone slugs it belongs to. An article keeps its id, GUID and
        first-seen time across updates; nothing is deleted when a source stops listing an article.
        ``state``, when given, is saved in the same transaction: the source's ETag or cursor never moves
        past articles that were not stored.
        """
        return self.save_sources([SourceBatch(source_id, list(items), state)], now)[0]

    def save_sources(self, batches: Sequence[SourceBatch], now: datetime) -> list[SaveCounts]:
        """``save_articles`` for several sources in one transaction (a fetch stores the sources read
        meanwhile together): all of them are stored, with their states, or none."""
        counts = []
        with self._session() as s:
            write_states(s, [b.state for b in batches if b.state is not None])
            # Stamps follow every change already stored, by any process (transactions run one at a
            # time), and this store's own earlier ones.
            self._last_stamp = max(self._last_stamp, latest_change(s))
            for b in batches:
                held = self._held(s, b.source_id, [a.key for a, _ in b.items])
                decision = decisions.decide_save(b.items, held, now, self._last_stamp)
                self._last_stamp = decision.last_stamp or self._last_stamp
                self._apply(s, b.source_id, decision)
                counts.append(SaveCounts(len(decision.new), len(decision.changed), decision.unchanged))
        return counts

    @staticmethod
    def _held(s: Session, source_id: str, keys: list[str]) -> dict[str, decisions.Held]:
        """What is stored of these keys of a source. Only the rows a read touches are loaded: the cost
        follows the batch, not the store."""
        found: dict[str, tuple[int, str, str | None]] = {}
        for chunk in chunks(list(dict.fromkeys(keys))):
            for aid, key, content_hash, category in s.execute(
                select(ArticleRow.id, ArticleRow.source_key, ArticleRow.content_hash, ArticleRow.category).where(
                    ArticleRow.source_id == source_id, ArticleRow.source_key.in_(chunk)
                )
            ):
                found[key] = (aid, content_hash, category)
        zones_of: dict[int, set[str]] = {}
        for id_chunk in chunks([aid for aid, _, _ in found.values()]):
            for aid, slug in s.execute(
                select(ArticleZoneRow.article_id, ArticleZoneRow.zone_slug).where(
                    ArticleZoneRow.article_id.in_(id_chunk)
                )
            ):
                zones_of.setdefault(aid, set()).add(slug)
        return {
            key: decisions.Held(aid, content_hash, category, frozenset(zones_of.get(aid, ())))
            for key, (aid, content_hash, category) in found.items()
        }

    @staticmethod
    def _apply(s: Session, source_id: str, decision: decisions.SaveDecision) -> None:
        """Write what ``decisions.decide_save`` decided, in the caller's transaction."""
        if decision.new:
            rows = [
                {
                    "guid": n.article.guid,
                    "source_id": source_id,
                    "source_key": n.article.key,
                    "content_hash": n.content_hash,
                    "first_seen": n.at,
                    "updated": n.at,
                    **_fields(n.article),
                }
                for n in decision.new
            ]
            # One executemany, then the ids by key: an INSERT … RETURNING in parameter order is one
            # statement per row on SQLite (10,000 articles: ~2 s against ~0.1 s). Plain table inserts on
            # the session's connection: the ORM's bulk insert handles each row again on the way (a tenth
            # of storing).
            s.connection().execute(insert(_ARTICLES), rows)
            zones_by_key = {n.article.key: n.zones for n in decision.new}
            inserted = [
                (aid, key)
                for chunk in chunks(list(zones_by_key))
                for aid, key in s.execute(
                    select(ArticleRow.id, ArticleRow.source_key).where(
                        ArticleRow.source_id == source_id, ArticleRow.source_key.in_(chunk)
                    )
                )
            ]
            zone_rows = [{"article_id": aid, "zone_slug": z} for aid, key in inserted for z in zones_by_key[key]]
            if zone_rows:
                s.connection().execute(insert(_ARTICLE_ZONES), zone_rows)
        edited = [
            {"id": c.id, "updated": c.at, "edited": c.at, "content_hash": c.content_hash, **_fields(c.article)}
            for c in decision.changed
            if c.article is not None
        ]
        rezoned_only = [{"id": c.id, "updated": c.at} for c in decision.changed if c.article is None]
        for rows in (edited, rezoned_only):  # rows of one shape per statement
            if rows:
                s.execute(update(ArticleRow), rows)
        if edited:
            # An edited article is fingerprinted again (it keeps its story).
            forget_signatures(s, [r["id"] for r in edited])
        if decision.departures:
            departures = [{"kind": d.kind, "value": d.value, "at": d.at} for d in decision.departures]
            s.execute(insert(DepartureRow), departures)
        rezoned = {c.id: c.zones for c in decision.changed if c.zones is not None}
        if rezoned:
            s.execute(delete(ArticleZoneRow).where(ArticleZoneRow.article_id.in_(list(rezoned))))
            zone_rows = [{"article_id": aid, "zone_slug": z} for aid, zs in rezoned.items() for z in zs]
            if zone_rows:
                s.connection().execute(insert(_ARTICLE_ZONES), zone_rows)

    # -- dedupe ---------------------------------------------------------------------------------------

    @contextmanager
    def dedupe_session(
        self, priorities: Mapping[str, int], choose: ChooseCanonical, now: datetime
    ) -> Iterator[DedupeSession]:
        """One transaction of dedupe lookups and decisions."""
        with self._session() as s:
            yield DedupeSession(s, priorities, choose, now)

    def resolve_article(self, ref: str) -> int | None:
        """An article by id, GUID, or link."""
        with self._session() as s:
            if ref.isdigit():
                found = s.scalar(select(ArticleRow.id).where(ArticleRow.id == int(ref)))
                if found is not None:
                    return found
            return s.scalar(select(ArticleRow.id).where(or_(ArticleRow.guid == ref, ArticleRow.link == ref)).limit(1))

    def split(self, article_id: int, priorities: Mapping[str, int], choose: ChooseCanonical, now: datetime) -> int:
        """Take an article out of its story into one of its own, for good. Returns the new story id
        (the article's own id)."""
        with self._session() as s:
            now = decisions.stamp(now, latest_change(s))
            old = s.scalar(select(ArticleRow.story_id).where(ArticleRow.id == article_id))
            if old == article_id:
                # The article began its story: the others keep theirs, under the id of the oldest of them.
                others = list(
                    s.scalars(select(ArticleRow.id).where(ArticleRow.story_id == old, ArticleRow.id != article_id))
                )
                old = min(others) if others else None
                if old is not None:
                    s.execute(update(ArticleRow).where(ArticleRow.id.in_(others)).values(story_id=old))
            s.execute(
                update(ArticleRow)
                .where(ArticleRow.id == article_id)
                .values(
                    story_id=article_id,
                    pinned=True,
                    canonical=True,
                    updated=now,
                    dup_of=None,
                    dup_rule="split",
                    dup_similarity=None,
                )
            )
            # Versions that had joined through this article no longer point at their story's member.
            s.execute(update(ArticleRow).where(ArticleRow.dup_of == article_id).values(dup_of=None))
            if old is not None:
                DedupeSession(s, priorities, choose, now).recanonicalize(old)
            return article_id

    def stories(self, article_id: int | None = None, limit: int = 50) -> list[Story]:
        """Stories with more than one version, newest first; or the story of one article."""
        with self._session() as s:
            if article_id is not None:
                story = s.scalar(select(ArticleRow.story_id).where(ArticleRow.id == article_id))
                ids = [story] if story is not None else []
            else:
                ids = list(
                    s.scalars(
                        select(ArticleRow.story_id)
                        .where(ArticleRow.story_id.is_not(None))
                        .group_by(ArticleRow.story_id)
                        .having(func.count() > 1)
                        .order_by(func.max(ArticleRow.id).desc())
                        .limit(limit)
                    )
                )
            out = []
            for story_id in ids:
                rows = s.scalars(
                    select(ArticleRow).where(ArticleRow.story_id == story_id).order_by(ArticleRow.id)
                ).all()
                out.append(
                    Story(
                        story_id,
                        tuple(
                            Version(
                                r.id,
                                r.guid,
                                r.source_id,
                                r.title,
                                r.link,
                                r.published,
                                r.canonical,
                                r.pinned,
                                r.dup_rule,
                                r.dup_similarity,
                                r.dup_of,
                            )
                            for r in rows
                        ),
                    )
                )
            return out

    def articles_by_ids(self, ids: Sequence[int]) -> list[StoredArticle]:
        """The articles with these ids, newest published first."""
        out: list[StoredArticle] = []
        with self._session() as s:
            for chunk in chunks(ids):
                # Table columns, not ORM objects: a full publish loads every article once, and the ORM's
                # bookkeeping would cost more than reading them.
                query = select(*ARTICLE_COLUMNS).where(ARTICLE_COLUMNS[0].in_(chunk))
                out.extend(self._stored(s, s.connection().execute(query).all()))
        return sorted(out, key=lambda a: (a.article.published, a.id), reverse=True)

    def signature_buckets(self, after: int = 0, page: int = 20_000) -> Iterator[tuple[int, bytes]]:
        """(article id, packed LSH bucket keys) of every signature with an id above ``after``, in id order."""
        while True:
            with self._session() as s:
                rows = s.execute(
                    select(SignatureRow.article_id, SignatureRow.buckets)
                    .where(SignatureRow.article_id > after)
                    .order_by(SignatureRow.article_id)
                    .limit(page)
                ).all()
            yield from ((aid, blob) for aid, blob in rows)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def story_map(self) -> dict[str, int]:
        """GUID → story id of every deduplicated article (for reports and evaluation)."""
        with self._session() as s:
            rows = s.execute(select(ArticleRow.guid, ArticleRow.story_id).where(ArticleRow.story_id.is_not(None)))
            return {guid: story for guid, story in rows if story is not None}

    def story_sources(self, story_ids: Sequence[int]) -> dict[int, list[str]]:
        """Story id → the source ids of its versions, in the order they were stored."""
        out: dict[int, list[str]] = {}
        ids = sorted(set(story_ids))
        with self._session() as s:
            for chunk in chunks(ids):
                for story, source in s.execute(
                    select(ArticleRow.story_id, ArticleRow.source_id)
                    .where(ArticleRow.story_id.in_(chunk))
                    .order_by(ArticleRow.id)
                ):
                    if story is not None and source not in out.setdefault(story, []):
                        out[story].append(source)
        return out

    def counts(self) -> dict[str, int]:
        """Articles, stories (canonical articles) and duplicates stored."""
        with self._session() as s:
            total = s.scalar(select(func.count()).select_from(ArticleRow)) or 0
            canonical = s.scalar(select(func.count()).select_from(ArticleRow).where(ArticleRow.canonical.is_(True)))
            return {"articles": total, "stories": canonical or 0, "duplicates": total - (canonical or 0)}

    def count_articles(self) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).select_from(ArticleRow)) or 0

    def dedupe_pending(self) -> bool:
        """Whether any article waits to be fingerprinted and joined to its story (one indexed lookup)."""
        with self._session() as s:
            return s.scalar(select(ArticleRow.id).where(ArticleRow.fingerprinted.is_(False)).limit(1)) is not None

    @staticmethod
    def _stored(s: Session, rows: Sequence[ArticleRow | Row[Any]]) -> list[StoredArticle]:
        if not rows:
            return []
        zones: dict[int, list[str]] = {}
        for aid, slug in s.execute(
            select(ArticleZoneRow.article_id, ArticleZoneRow.zone_slug)
            .where(ArticleZoneRow.article_id.in_([r.id for r in rows]))
            .order_by(ArticleZoneRow.zone_slug)
        ):
            zones.setdefault(aid, []).append(slug)
        return [
            StoredArticle(
                id=r.id,
                guid=r.guid,
                article=article_of(r),
                zones=tuple(zones.get(r.id, ())),
                first_seen=r.first_seen,
                updated=r.updated,
                story_id=r.story_id,
                edited=r.edited,
            )
            for r in rows
        ]


def _fields(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "link": article.link,
        "published": article.published,
        "body_html": article.body_html,
        "author": article.author,
        "zone_names": list(article.zone_names),
        "city": article.city,
        "category": article.category,
        "tags": list(article.tags),
        "image": article.image,
        "enclosures": [e.as_json() for e in article.enclosures],
        "link_fallback": article.link_fallback,
    }


def _redact(url: str) -> str:
    """A database URL fit for a log line: the password replaced."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"
