"""Publishing state in the store: settings (the publish watermark, the signing key), what changed since
the last publish (and which feeds an article left), each feed's state when last written, and the WebSub
notifications still owed to hubs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .models import ArticleRow, ArticleZoneRow, DepartureRow, FeedStateRow, SettingRow, WebSubPendingRow, chunks, upsert

__all__ = ["Changes", "FeedState", "PublishStateMixin"]


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
    newest: datetime | None  # the newest change of its items (arrival, edit)
    content_hash: str  # of what the feed held (stored in the column ``digest``)
    latest: datetime | None = None  # the newest publication date of its items, for people


class PublishStateMixin:
    """Publishing queries of ``Store`` (mixed in; uses its sessions)."""

    _session: Callable[[], AbstractContextManager[Session]]  # provided by Store

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
                r.path: FeedState(r.path, r.title, r.items, r.newest, r.digest, r.latest)
                for r in s.scalars(select(FeedStateRow))
            }

    def save_feed_states(self, states: Iterable[FeedState]) -> None:
        """Upsert many feeds' states in one transaction (one query to see which exist)."""
        rows = {
            st.path: {
                "path": st.path,
                "title": st.title,
                "items": st.items,
                "newest": st.newest,
                "digest": st.content_hash,
                "latest": st.latest,
            }
            for st in states
        }
        with self._session() as s:
            upsert(s, FeedStateRow, FeedStateRow.path, rows)

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
