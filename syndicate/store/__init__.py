"""The store: articles and their zones in SQLite (embedded) or PostgreSQL (production).

Owns the database: connecting, migrating (Alembic, migrations shipped in this package), and every query.
Takes and returns ``syndicate.types`` values; ORM rows never leave this package. One ``Store`` per process
step; each public method runs in its own transaction, so a crash between two calls loses nothing the first
one committed and leaves nothing half-done of the second.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, Row, create_engine, delete, event, func, insert, or_, select, text, update
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..exceptions import StoreError
from ..types import Article, SourceState, StoredArticle
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
from .models import (
    ArticleRow,
    ArticleZoneRow,
    DepartureRow,
    FeedStateRow,
    LockRow,
    SettingRow,
    SignatureRow,
    SourceRow,
    WebSubPendingRow,
    chunks,
)
from .outbox import OutboxMixin, PendingDigest, RecipientState

__all__ = [
    "Changes",
    "ChooseCanonical",
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
    "Store",
    "Story",
    "Version",
]

_MIGRATIONS = Path(__file__).parent / "migrations"
SchemaState = Literal["new", "current", "behind", "unknown"]
# What a StoredArticle is made of (``_stored``, ``article_of``).
_ARTICLE_COLUMNS = tuple(
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
        "first_seen",
        "updated",
        "story_id",
    ]
)


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed since the last publish: the zones, categories and ids of the articles concerned, the
    newest change, and the ids stamped exactly then."""

    zones: set[str]
    categories: set[str | None]
    newest: datetime | None
    ids: set[int]
    at_newest: set[int]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What a feed held when it was last written."""

    path: str
    title: str
    items: int
    newest: datetime | None
    digest: str


class Membership(NamedTuple):
    canonical: bool
    zones: set[str]
    category: str | None
    story_id: int | None


class SaveCounts(NamedTuple):
    new: int = 0
    updated: int = 0
    unchanged: int = 0


_TOO_MANY_FILES = (
    "too many open files: this process reached its open-files limit (raise it, e.g. LimitNOFILE= under "
    "systemd; see docs/deploy.md)"
)


def _out_of_files(error: BaseException) -> bool:
    """EMFILE/ENFILE anywhere in the chain of causes."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.EMFILE, errno.ENFILE):
            return True
        if "Too many open files" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _no_file_descriptor_left() -> bool:
    """Whether this process cannot open one more file right now."""
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
    except OSError as e:
        return e.errno in (errno.EMFILE, errno.ENFILE)
    os.close(fd)
    return False


@functools.lru_cache(maxsize=1)
def _migrations() -> tuple[str | None, frozenset[str]]:
    """The newest migration and every known one, read from the scripts once per process."""
    script = ScriptDirectory.from_config(_alembic_config())
    return script.get_current_head(), frozenset(rev.revision for rev in script.walk_revisions())


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


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


class Store(OutboxMixin):
    """Data access for syndicate. Construct with a SQLAlchemy URL. Digest queries: ``outbox.py``."""

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
        try:
            with self._sessions.begin() as session:
                if self.engine.dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
                yield session
        except IntegrityError:
            raise  # a bug or a race, not an outage: callers that expect one handle it
        except DBAPIError as e:
            raise StoreError(f"database {_redact(self.url)} is unreachable or failed: {e.orig or e}") from e

    # -- schema ---------------------------------------------------------------------------------------

    def schema_state(self) -> SchemaState:
        try:
            head, known = _migrations()
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
        except SQLAlchemyError as e:
            if _out_of_files(e) or _no_file_descriptor_left():  # SQLite says only "unable to open"
                raise StoreError(f"database {_redact(self.url)}: {_TOO_MANY_FILES}") from e
            raise StoreError(f"database {_redact(self.url)} is unreachable: {e}") from e
        except OSError as e:  # the migration scripts could not be read: not the database's fault
            if _out_of_files(e):
                raise StoreError(_TOO_MANY_FILES) from e
            raise StoreError(f"cannot read syndicate's migration scripts: {e}") from e
        if current is None:
            return "new"
        if current == head:
            return "current"
        return "behind" if current in known else "unknown"

    def migrate(self) -> None:
        """Create the schema, or bring it up to this version's newest migration."""
        cfg = _alembic_config()
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
        batch: dict[str, tuple[Article, tuple[str, ...]]] = {}
        for article, zones in items:
            batch.setdefault(article.key, (article, zones))  # a key twice in one read: the first wins
        new_rows: list[dict[str, Any]] = []
        new_zones: dict[str, tuple[str, ...]] = {}
        changed_rows: list[dict[str, Any]] = []
        rezoned: dict[int, tuple[str, ...]] = {}
        unchanged = 0
        with self._session() as s:
            if state is not None:
                s.merge(_state_row(state))
            # Stamps follow every change already stored, by any process (transactions run one at a
            # time): what a publish or a digest has seen is always older than what comes next.
            self._last_stamp = max(self._last_stamp, latest_change(s))
            # Only the rows this read touches are loaded: the cost follows the batch, not the store.
            existing: dict[str, tuple[int, str]] = {}
            old_category: dict[int, str | None] = {}
            keys = list(batch)
            for chunk in chunks(keys):
                for aid, key, digest, category in s.execute(
                    select(ArticleRow.id, ArticleRow.source_key, ArticleRow.content_hash, ArticleRow.category).where(
                        ArticleRow.source_id == source_id, ArticleRow.source_key.in_(chunk)
                    )
                ):
                    existing[key] = (aid, digest)
                    old_category[aid] = category
            departures: list[dict[str, Any]] = []
            zones_of: dict[int, set[str]] = {}
            ids = [aid for aid, _ in existing.values()]
            for id_chunk in chunks(ids):
                for aid, slug in s.execute(
                    select(ArticleZoneRow.article_id, ArticleZoneRow.zone_slug).where(
                        ArticleZoneRow.article_id.in_(id_chunk)
                    )
                ):
                    zones_of.setdefault(aid, set()).add(slug)

            for key, (article, zones) in batch.items():
                digest = article.content_hash()
                # At least a microsecond apart, in the order read, across calls: every entry gets its own
                # Atom <updated> (validators warn when entries share one), and arrival order is kept.
                stamp = self._last_stamp = max(now, self._last_stamp + timedelta(microseconds=1))
                if key not in existing:
                    new_rows.append(
                        {
                            "guid": article.guid,
                            "source_id": source_id,
                            "source_key": key,
                            "content_hash": digest,
                            "first_seen": stamp,
                            "updated": stamp,
                            **_fields(article),
                        }
                    )
                    new_zones[key] = zones
                    continue
                aid, old_digest = existing[key]
                zones_changed = zones_of.get(aid, set()) != set(zones)
                if old_digest == digest and not zones_changed:
                    unchanged += 1
                    continue
                row: dict[str, Any] = {"id": aid, "updated": stamp}
                if old_digest != digest:
                    row.update(_fields(article), content_hash=digest)
                    if old_category[aid] is not None and old_category[aid] != article.category:
                        departures.append({"kind": "category", "value": old_category[aid], "at": stamp})
                changed_rows.append(row)
                if zones_changed:
                    rezoned[aid] = zones
                    departures += [
                        {"kind": "zone", "value": z, "at": stamp} for z in zones_of.get(aid, set()) - set(zones)
                    ]

            if new_rows:
                inserted = s.execute(
                    insert(ArticleRow).returning(ArticleRow.id, ArticleRow.source_key, sort_by_parameter_order=True),
                    new_rows,
                )
                zone_rows = [{"article_id": aid, "zone_slug": z} for aid, key in inserted for z in new_zones[key]]
                if zone_rows:
                    s.execute(insert(ArticleZoneRow), zone_rows)
            if changed_rows:
                # Rows of different shapes (content changed or only zones) are updated in two groups.
                for shape in {tuple(sorted(r)) for r in changed_rows}:
                    s.execute(update(ArticleRow), [r for r in changed_rows if tuple(sorted(r)) == shape])
            edited = [r["id"] for r in changed_rows if "content_hash" in r]
            if edited:
                # An edited article is fingerprinted again (it keeps its story).
                forget_signatures(s, edited)
            if departures:
                s.execute(insert(DepartureRow), departures)
            if rezoned:
                s.execute(delete(ArticleZoneRow).where(ArticleZoneRow.article_id.in_(list(rezoned))))
                zone_rows = [{"article_id": aid, "zone_slug": z} for aid, zs in rezoned.items() for z in zs]
                if zone_rows:
                    s.execute(insert(ArticleZoneRow), zone_rows)
        return SaveCounts(len(new_rows), len(changed_rows), unchanged)

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
            now = max(now, latest_change(s) + timedelta(microseconds=1))
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

    # -- sources -------------------------------------------------------------------------------------

    def source_states(self) -> dict[str, SourceState]:
        with self._session() as s:
            return {row.id: _state(row) for row in s.scalars(select(SourceRow))}

    def save_source_states(self, states: Iterable[SourceState]) -> None:
        """Upsert the state of many sources in one transaction (one query to see which exist)."""
        with self._session() as s:
            _upsert(s, SourceRow, SourceRow.id, {st.source_id: _state_values(st) for st in states})

    def article_counts(self) -> dict[str, int]:
        """Articles stored per source id."""
        with self._session() as s:
            rows = s.execute(select(ArticleRow.source_id, func.count()).group_by(ArticleRow.source_id))
            return {source_id: count for source_id, count in rows}

    def zone_articles(self, slug: str, limit: int) -> list[StoredArticle]:
        """The newest ``limit`` canonical articles of a zone, newest first."""
        return self.feed_articles(limit, zones=[slug])

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

    def feed_index(self, zones: Sequence[str] | None = None, category: str | None = None) -> list[int]:
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

    def articles_by_ids(self, ids: Sequence[int]) -> list[StoredArticle]:
        """The articles with these ids, newest published first."""
        out: list[StoredArticle] = []
        with self._session() as s:
            for chunk in chunks(ids):
                # Table columns, not ORM objects: a full publish loads every article once, and the ORM's
                # bookkeeping would cost more than reading them.
                query = select(*_ARTICLE_COLUMNS).where(_ARTICLE_COLUMNS[0].in_(chunk))
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

    # -- publish state --------------------------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        with self._session() as s:
            return s.scalar(select(SettingRow.value).where(SettingRow.key == key))

    def setting_or_init(self, key: str, make: Callable[[], str]) -> str:
        """The setting ``key``; when there is none yet, ``make()`` stored as it, in the same transaction
        (transactions run one at a time, so two processes starting together agree on one value)."""
        with self._session() as s:
            value = s.scalar(select(SettingRow.value).where(SettingRow.key == key))
            if value is None:
                value = make()
                s.add(SettingRow(key=key, value=value))
            return value

    def set_setting(self, key: str, value: str) -> None:
        with self._session() as s:
            s.merge(SettingRow(key=key, value=value))

    def changed_since(self, watermark: datetime | None, seen: Collection[int] = ()) -> Changes:
        """Zones, categories and ids of the articles changed since ``watermark`` (canonical or not), and
        the newest change; everything when there is no watermark. Articles stamped exactly at the
        watermark count unless their id is in ``seen`` (the last publish saw them): two changes can share
        a timestamp, and one that did must not be missed nor looked at again."""
        with self._session() as s:
            where = [] if watermark is None else [ArticleRow.updated >= watermark]
            rows = s.execute(select(ArticleRow.id, ArticleRow.category, ArticleRow.updated).where(*where)).all()
            changed = [(i, c, u) for i, c, u in rows if not (u == watermark and i in seen)]
            ids = {i for i, _, _ in changed}
            zones: set[str] = set()
            for chunk in chunks(sorted(ids)):
                zones.update(
                    s.scalars(select(ArticleZoneRow.zone_slug).where(ArticleZoneRow.article_id.in_(chunk)).distinct())
                )
            categories = {c for _, c, _ in changed}
            # Feeds an article left: they changed as well.
            for kind, value in s.execute(
                select(DepartureRow.kind, DepartureRow.value).where(
                    *([] if watermark is None else [DepartureRow.at >= watermark])
                )
            ):
                (zones if kind == "zone" else categories).add(value)
        newest = max((u for _, _, u in changed), default=None)
        at_newest = {i for i, _, u in changed if u == newest}
        return Changes(zones, categories, newest, ids, at_newest)

    def forget_departures(self, before: datetime) -> None:
        """Drop the departures a publish has seen (those stamped before its watermark)."""
        with self._session() as s:
            s.execute(delete(DepartureRow).where(DepartureRow.at < before))

    def feed_states(self) -> dict[str, FeedState]:
        with self._session() as s:
            return {
                r.path: FeedState(r.path, r.title, r.items, r.newest, r.digest) for r in s.scalars(select(FeedStateRow))
            }

    def save_feed_states(self, states: Iterable[FeedState]) -> None:
        """Upsert many feeds' states in one transaction (one query to see which exist)."""
        rows = {
            st.path: {"path": st.path, "title": st.title, "items": st.items, "newest": st.newest, "digest": st.digest}
            for st in states
        }
        with self._session() as s:
            _upsert(s, FeedStateRow, FeedStateRow.path, rows)

    def queue_notifications(self, hubs: Sequence[str], urls: Sequence[str], now: datetime) -> None:
        """Remember that each hub must be told of each URL (once, however often it changes meanwhile:
        a notification already pending keeps its place and its backoff)."""
        with self._session() as s:
            pending = set(
                s.execute(
                    select(WebSubPendingRow.hub, WebSubPendingRow.url).where(WebSubPendingRow.hub.in_(list(hubs)))
                )
            )
            new = [
                {"hub": h, "url": u, "attempts": 0, "next_attempt": now}
                for h in hubs
                for u in dict.fromkeys(urls)
                if (h, u) not in pending
            ]
            if new:
                s.execute(insert(WebSubPendingRow), new)

    def due_notifications(self, now: datetime) -> list[tuple[str, str, int]]:
        """(hub, url, attempts so far) of every notification due now."""
        with self._session() as s:
            rows = s.execute(
                select(WebSubPendingRow.hub, WebSubPendingRow.url, WebSubPendingRow.attempts)
                .where(WebSubPendingRow.next_attempt <= now)
                .order_by(WebSubPendingRow.hub, WebSubPendingRow.url)
            ).all()
            return [(h, u, a) for h, u, a in rows]

    def notification_done(self, hub: str, url: str) -> None:
        with self._session() as s:
            s.execute(delete(WebSubPendingRow).where(WebSubPendingRow.hub == hub, WebSubPendingRow.url == url))

    def notification_failed(self, hub: str, url: str, error: str, next_attempt: datetime) -> None:
        with self._session() as s:
            row = s.get(WebSubPendingRow, (hub, url))
            if row is not None:
                row.attempts += 1
                row.last_error = error[:1000]
                row.next_attempt = next_attempt

    # -- locks --------------------------------------------------------------------------------------

    def acquire_lock(self, name: str, holder: str, now: datetime, ttl: timedelta) -> tuple[bool, str | None]:
        """Take the lease ``name`` for ``holder`` until ``now + ttl``: when free, expired, or already
        ours. Returns (taken, the current holder when not taken)."""
        expires = now + ttl
        try:
            with self._session() as s:
                row = s.get(LockRow, name, with_for_update=True)
                if row is None:
                    s.add(LockRow(name=name, holder=holder, acquired=now, expires=expires))
                    return True, None
                if row.holder != holder and row.expires > now:
                    return False, f"{row.holder} (since {row.acquired:%Y-%m-%d %H:%M:%S} UTC)"
                if row.holder != holder:
                    row.acquired = now
                row.holder, row.expires = holder, expires
                return True, None
        except IntegrityError:
            return False, "another process (taken at the same moment)"

    def renew_lock(self, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
        """Extend our lease. False when it is no longer ours (it expired and another process took it)."""
        with self._session() as s:
            result = s.execute(
                update(LockRow).where(LockRow.name == name, LockRow.holder == holder).values(expires=now + ttl)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release_lock(self, name: str, holder: str) -> None:
        with self._session() as s:
            s.execute(delete(LockRow).where(LockRow.name == name, LockRow.holder == holder))

    def counts(self) -> dict[str, int]:
        """Articles, stories (canonical articles) and duplicates stored."""
        with self._session() as s:
            total = s.scalar(select(func.count()).select_from(ArticleRow)) or 0
            canonical = s.scalar(select(func.count()).select_from(ArticleRow).where(ArticleRow.canonical.is_(True)))
            return {"articles": total, "stories": canonical or 0, "duplicates": total - (canonical or 0)}

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

    def source_articles(self, source_id: str) -> list[StoredArticle]:
        """Every article of one source, duplicates included, in the order they were stored."""
        with self._session() as s:
            rows = s.scalars(select(ArticleRow).where(ArticleRow.source_id == source_id).order_by(ArticleRow.id)).all()
            return self._stored(s, rows)

    def article_by_guid(self, guid: str) -> StoredArticle | None:
        with self._session() as s:
            row = s.scalar(select(ArticleRow).where(ArticleRow.guid == guid))
            return self._stored(s, [row])[0] if row else None

    def count_articles(self) -> int:
        with self._session() as s:
            return s.scalar(select(func.count()).select_from(ArticleRow)) or 0

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
            )
            for r in rows
        ]


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
    }


def _upsert(s: Session, model: Any, key: Any, rows: Mapping[Any, dict[str, Any]]) -> None:
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


_STATE_FIELDS = [f.name for f in dataclasses.fields(SourceState)]


def _state_values(state: SourceState) -> dict[str, Any]:
    values = {name: getattr(state, name) for name in _STATE_FIELDS}
    values["id"] = values.pop("source_id")
    return values


def _state_row(state: SourceState) -> SourceRow:
    return SourceRow(**_state_values(state))


def _state(row: SourceRow) -> SourceState:
    values = {name: getattr(row, "id" if name == "source_id" else name) for name in _STATE_FIELDS}
    return SourceState(**values)


def _redact(url: str) -> str:
    """A database URL fit for a log line: the password replaced."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid URL>"
