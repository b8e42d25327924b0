"""The platform's own CMS database as a source: one table or view, read incrementally, never written.

Rows are read in pages ordered by (updated, id), starting after the cursor the last read stopped at, so
each run reads only rows added or changed since. Rows whose ``updated`` is NULL (many CMSs leave it empty
until a row is first edited) are read beside them, by id after the last such id seen; once edited they
come through the first order and are updated in place. Without an ``updated`` column, rows are read by id
and only new ids are picked up.

A row that cannot be used (no title, an unreadable date) is reported when first met and then kept in the
cursor and in the source's warning, read again at each run until it loads or is gone. The cursor also
counts the rows read each way (``rows_read``). The connection is read-only where the database allows it
(SQLite opened with ``mode=ro``; PostgreSQL sessions set read-only).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine, and_, column, create_engine, or_, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ..dates import as_datetime
from ..text import paragraphs_html, sanitize_html
from ..types import Article, SourceResult, SourceState
from ..urls import absolute
from . import health

__all__ = ["SqlSource", "rows_read"]


@dataclass(frozen=True, slots=True)
class SqlSource:
    id: str
    url: str
    table: str
    columns: dict[str, str]
    tz: tzinfo
    password_env: str | None = None  # the environment variable holding the password, read at each read
    link_template: str | None = None
    category: str | None = None
    page_size: int = 500
    interval: timedelta = timedelta(minutes=15)
    max_backoff: timedelta = timedelta(hours=24)

    def read(self, stored: SourceState | None, now: datetime) -> SourceResult:
        """The rows added or changed since the stored cursor, with the state to remember (the new cursor,
        stored in the same transaction as the rows)."""
        state = health.start(self.id, self.url, stored)
        password = None
        if self.password_env:
            password = os.environ.get(self.password_env)
            if password is None:
                message = f"password_env: environment variable {self.password_env} is not set"
                new = health.failed(state, now, self.interval, self.max_backoff, "config", message)
                return SourceResult(self.id, status="error", error=message, state=new)
        result, cursor = self.rows_after(state.cursor, password)
        if result.error is not None:
            new = health.failed(state, now, self.interval, self.max_backoff, "database", result.error)
            return dataclasses.replace(result, state=new)
        new = health.succeeded(state, now, self.interval, cursor=cursor, warning=self.warning(cursor))
        return dataclasses.replace(result, state=new)

    def rows_after(self, cursor: str | None, password: str | None = None) -> tuple[SourceResult, str | None]:
        """Rows after ``cursor``; returns the result and the cursor to store once they are saved."""
        try:
            engine = self._engine(password)
        except (ArgumentError, ImportError, ValueError) as e:
            return SourceResult(self.id, status="error", error=f"url: {e}"), cursor
        try:
            return self._read(engine, cursor)
        except SQLAlchemyError as e:
            detail = str(getattr(e, "orig", None) or e).splitlines()[0]
            return SourceResult(self.id, status="error", error=f"cannot read {self.table}: {detail}"), cursor
        finally:
            engine.dispose()

    def _engine(self, password: str | None) -> Engine:
        url = make_url(self.url)
        if password is not None:
            url = url.set(password=password)
        if url.get_backend_name() == "sqlite":
            path = url.database or ""
            if not path or path == ":memory:":
                raise ValueError("a SQLite source needs a file")
            return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
        if url.get_backend_name() == "postgresql":
            return create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
        return create_engine(url)

    def _read(self, engine: Engine, cursor: str | None) -> tuple[SourceResult, str | None]:
        schema, _, name = self.table.rpartition(".")
        cols = self.columns
        t = table(name, *(column(c) for c in dict.fromkeys(cols.values())), schema=schema or None)
        id_col = t.c[cols["id"]]
        upd_col = t.c[cols["updated"]] if "updated" in cols else None
        everything = select(*(t.c[c] for c in dict.fromkeys(cols.values())))
        at = _Cursor.parse(cursor)
        read = _Read(self._article, cols["id"], at.bad)
        with engine.connect() as conn:
            if upd_col is None:
                for rows, position in self._pages(conn, everything, id_col, None, at.last):
                    read.add(rows, "id")
                    at.last = position
            else:
                changed = everything.where(upd_col.is_not(None))
                for rows, position in self._pages(conn, changed, id_col, upd_col, at.last):
                    read.add(rows, "updated")
                    at.last = position
                undated = everything.where(upd_col.is_(None))
                for rows, position in self._pages(conn, undated, id_col, None, at.null_last):
                    read.add(rows, "null")
                    at.null_last = position
            # Rows that could not be used, read again: gone, loading now, or still listed.
            waiting = [_decode(v) for k, (v, _) in read.bad.items() if k not in read.seen]
            present: set[str] = set()
            for chunk in (waiting[i : i + 500] for i in range(0, len(waiting), 500)):
                again = conn.execute(everything.where(id_col.in_(chunk))).mappings().all()
                present |= {_key(r[cols["id"]]) for r in again}
                read.add(again, "retried")
            for k in [k for k in read.bad if k not in read.seen and k not in present]:
                del read.bad[k]  # the row is gone
            conn.rollback()  # nothing was written; end the read transaction explicitly
        for way, n in read.counts.items():
            at.counts[way] = at.counts.get(way, 0) + n
        return SourceResult(self.id, tuple(read.articles), tuple(read.problems)), at.dump()

    def _pages(
        self, conn: Any, query: Any, id_col: Any, upd_col: Any, position: dict[str, Any] | None
    ) -> Iterator[tuple[Any, dict[str, Any]]]:
        """Pages of ``query`` in (updated, id) order, or id order without ``upd_col``, the first after
        ``position``; each with the position after its last row (what the cursor stores)."""
        cols = self.columns
        while True:
            q = query.order_by(*((upd_col, id_col) if upd_col is not None else (id_col,))).limit(self.page_size)
            if position is not None:
                last_id = _decode(position["id"])
                if upd_col is not None:
                    last_upd = _decode(position["updated"])
                    q = q.where(or_(upd_col > last_upd, and_(upd_col == last_upd, id_col > last_id)))
                else:
                    q = q.where(id_col > last_id)
            rows = conn.execute(q).mappings().all()
            if rows:
                position = {"id": _encode(rows[-1][cols["id"]])}
                if upd_col is not None:
                    position["updated"] = _encode(rows[-1][cols["updated"]])
                yield rows, position
            if len(rows) < self.page_size:
                return

    def warning(self, cursor: str | None) -> str | None:
        """The rows waiting to be fixed, as the source's warning (None: none)."""
        bad = sorted(_Cursor.parse(cursor).bad.values(), key=lambda b: str(b[0]))
        if not bad:
            return None
        listed = "; ".join(f"{self.columns['id']}={_decode(v)!r}: {why}" for v, why in bad[:5])
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        return f"{len(bad)} row{'s' if len(bad) > 1 else ''} not loaded until fixed: {listed}{more}"

    def _article(self, row: Any) -> Article:
        cols = self.columns

        def get(field: str) -> Any:
            return row[cols[field]] if field in cols else None

        row_id = get("id")
        title = get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("title is empty")
        body = get("body")
        if not isinstance(body, str) or not body.strip():
            raise ValueError("body is empty")
        link = get("link") or (self.link_template.format(id=row_id) if self.link_template else None)
        link = absolute(link, None)
        if not link:
            raise ValueError(f"no absolute link ({get('link')!r})")
        html = body if "<" in body else paragraphs_html(body.splitlines())
        zone = get("zone")
        return Article(
            source_id=self.id,
            key=str(row_id),
            title=" ".join(title.split()),
            link=link,
            published=as_datetime(get("published"), self.tz),
            body_html=sanitize_html(html, base_url=link),
            author=str(get("source") or "").strip(),
            zone_names=(zone.strip(),) if isinstance(zone, str) and zone.strip() else (),
            city=(get("city") or None),
            category=(get("category") or self.category),
        )


_BAD_KEPT = 200  # rows kept listed as waiting to be fixed (the first, by id)


def _key(value: Any) -> str:
    return json.dumps(_encode(value), ensure_ascii=False, sort_keys=True)


@dataclass
class _Cursor:
    """Where the reads stopped, as stored: ``last`` the position ((updated and) id) of the last row read
    in order; ``null_last`` that of the last row read among those without ``updated``; ``counts`` the rows
    read each way so far; ``bad`` the rows waiting to be fixed (key → (id, why)). A cursor of an older
    version is ``last`` alone."""

    last: dict[str, Any] | None = None
    null_last: dict[str, Any] | None = None
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    bad: dict[str, tuple[Any, str]] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, cursor: str | None) -> _Cursor:
        raw = json.loads(cursor) if cursor else None
        if not isinstance(raw, dict):
            return cls()
        if "last" not in raw:  # {"id": …, "updated": …}
            return cls(last=raw)
        bad = {k: (v[0], str(v[1])) for k, v in (raw.get("bad") or {}).items()}
        return cls(raw.get("last"), raw.get("null_last"), dict(raw.get("rows_read") or {}), bad)

    def dump(self) -> str | None:
        if self.last is None and self.null_last is None and not self.bad and not self.counts:
            return None
        kept = dict(sorted(self.bad.items())[:_BAD_KEPT])
        raw = {"last": self.last, "null_last": self.null_last, "rows_read": self.counts, "bad": kept}
        return json.dumps(raw, ensure_ascii=False)


def rows_read(cursor: str | None) -> dict[str, int]:
    """How many rows an SQL source has read each way (``updated``: by its updated column; ``null``: by id,
    updated empty; ``id``: by id, no updated column mapped; ``retried``: rows waiting to be fixed, read
    again), from its stored cursor."""
    return dict(_Cursor.parse(cursor).counts)


@dataclass
class _Read:
    """What one read gathers: articles, newly bad rows, and the rows seen (to tell fixed from waiting).
    ``bad`` is the cursor's, updated in place."""

    article: Callable[[Any], Article]
    id_name: str
    bad: dict[str, tuple[Any, str]]
    articles: list[Article] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    seen: set[str] = dataclasses.field(default_factory=set)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, rows: Sequence[Any], way: str) -> None:
        self.counts[way] = self.counts.get(way, 0) + len(rows)
        for row in rows:
            row_id = row[self.id_name]
            key = _key(row_id)
            self.seen.add(key)
            try:
                self.articles.append(self.article(row))
            except (ValueError, TypeError) as e:
                if key not in self.bad:  # reported once; then listed in the warning until fixed
                    self.problems.append(f"row {self.id_name}={row_id!r}: {e}")
                self.bad[key] = (_encode(row_id), str(e))
            else:
                self.bad.pop(key, None)


def _encode(value: Any) -> Any:
    """A cursor value as JSON; datetimes and dates keep their type."""
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.fromisoformat(value["datetime"])
        if "date" in value:
            return date.fromisoformat(value["date"])
    return value
