"""The platform's own CMS database as a source: one table or view, read incrementally, never written.

Rows are read in pages ordered by (updated, id), starting after the cursor the last read stopped at, so
each run reads only rows added or changed since. Without an ``updated`` column, rows are read by id and
only new ids are picked up. The connection is read-only where the database allows it (SQLite opened with
``mode=ro``; PostgreSQL sessions set read-only).
"""

from __future__ import annotations

import dataclasses
import json
import os
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

__all__ = ["SqlSource"]


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
        return dataclasses.replace(result, state=health.succeeded(state, now, self.interval, cursor=cursor))

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
        order = [upd_col, id_col] if upd_col is not None else [id_col]
        position = json.loads(cursor) if cursor else None
        articles: list[Article] = []
        problems: list[str] = []
        with engine.connect() as conn:
            while True:
                query = select(*(t.c[c] for c in dict.fromkeys(cols.values()))).order_by(*order).limit(self.page_size)
                if upd_col is not None:
                    query = query.where(upd_col.is_not(None))
                if position is not None:
                    last_id = _decode(position["id"])
                    if upd_col is not None:
                        last_upd = _decode(position["updated"])
                        query = query.where(or_(upd_col > last_upd, and_(upd_col == last_upd, id_col > last_id)))
                    else:
                        query = query.where(id_col > last_id)
                rows = conn.execute(query).mappings().all()
                for row in rows:
                    try:
                        articles.append(self._article(row))
                    except (ValueError, TypeError) as e:
                        problems.append(f"row {cols['id']}={row[cols['id']]!r}: {e}")
                if rows:
                    last = rows[-1]
                    position = {"id": _encode(last[cols["id"]])}
                    if upd_col is not None:
                        position["updated"] = _encode(last[cols["updated"]])
                if len(rows) < self.page_size:
                    break
            conn.rollback()  # nothing was written; end the read transaction explicitly
        new_cursor = json.dumps(position, ensure_ascii=False) if position is not None else cursor
        return SourceResult(self.id, tuple(articles), tuple(problems)), new_cursor

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
