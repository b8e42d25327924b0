"""The digest outbox: recipients' delivery state, digests recorded before they are sent, and deliveries.

Exactly once rests on three rules kept here, each in one transaction:
- a digest is *recorded* (message bytes, Message-ID, the articles it carries) before anything is sent, with
  a unique key on (recipient, window start), so two runs cannot both compose the same digest;
- it is marked *accepted* the moment the server accepts it, one statement committed before the next
  message goes out, so a crash leaves it either pending (sent again, same Message-ID) or accepted; an
  accepted digest is *settled* (each (recipient, article) recorded as delivered, the recipient's watermark
  moved, marked sent) in one transaction per batch, and every run settles what a crash left accepted
  before it chooses anything;
- what is new to a recipient is judged by when an article was first *stored* and by the stories already
  delivered to them, never by an article's own (editable) publication date.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..types import StoredArticle
from .models import ArticleRow, ArticleZoneRow, DeliveryRow, DigestArticleRow, DigestRow, RecipientRow, chunks

__all__ = ["ComposedDigest", "OutboxMixin", "PendingDigest", "RecipientState"]

# The tables themselves, for the set-based and executemany statements of recording, sending and settling.
_DIGESTS = cast(Table, DigestRow.__table__)
_CARRIED = cast(Table, DigestArticleRow.__table__)
_DELIVERIES = cast(Table, DeliveryRow.__table__)
_RECIPIENTS = cast(Table, RecipientRow.__table__)
# Executed once per message: built once (a statement built per call costs more than the database's work).
_ACCEPTED = (
    update(_DIGESTS)
    .where(_DIGESTS.c.id == bindparam("digest_id"), _DIGESTS.c.status == "pending")
    .values(status="accepted", sent_at=bindparam("now"), last_error=None)
)


@dataclass(frozen=True, slots=True)
class RecipientState:
    email: str
    created: datetime
    watermark: datetime
    slot_date: str | None
    unsubscribed_at: datetime | None
    failed_at: datetime | None
    failure: str | None
    resubscribed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ComposedDigest:
    """A digest composed and not yet recorded."""

    email: str
    window: tuple[datetime, datetime]
    slot_date: str | None
    message_id: str
    message: bytes
    article_ids: Sequence[int]


@dataclass(frozen=True, slots=True)
class PendingDigest:
    """A recorded digest not yet accepted by the mail server."""

    id: int
    recipient: str
    message_id: str
    message: bytes
    items: int
    attempts: int
    slot_date: str | None
    window_end: datetime


def _recipient(r: RecipientRow) -> RecipientState:
    return RecipientState(
        r.email, r.created, r.watermark, r.slot_date, r.unsubscribed_at, r.failed_at, r.failure, r.resubscribed_at
    )


class OutboxMixin:
    """Digest queries of ``Store`` (mixed in; uses its sessions)."""

    # Provided by Store.
    _session: Callable[[], AbstractContextManager[Session]]
    _begin: Callable[[], AbstractContextManager[Connection]]
    _stored: Callable[[Session, Sequence[ArticleRow]], list[StoredArticle]]

    def sync_recipients(self, emails: Collection[str], start: datetime, now: datetime) -> None:
        """Make sure every configured recipient has a row; a new one's first digest covers what was first
        stored after ``start``. Rows of recipients removed from the config are kept (their history)."""
        wanted = {e.lower() for e in emails}
        with self._session() as s:
            known = set(s.scalars(select(RecipientRow.email)))
            new = [{"email": e, "created": now, "watermark": start} for e in sorted(wanted - known)]
            if new:
                s.execute(insert(RecipientRow), new)

    def recipients(self) -> dict[str, RecipientState]:
        with self._session() as s:
            return {r.email: _recipient(r) for r in s.scalars(select(RecipientRow))}

    def digest_candidates(
        self, email: str, since: datetime, zones: Collection[str], categories: Collection[str]
    ) -> list[StoredArticle]:
        """Canonical, deduplicated articles first stored after ``since`` in any of ``zones`` or
        ``categories``, whose story has never been delivered to ``email``; newest published first."""
        return self.digest_candidates_many([(email, since, zones, categories)])[email.lower()]

    def digest_candidates_many(
        self, wanted: Sequence[tuple[str, datetime, Collection[str], Collection[str]]]
    ) -> dict[str, list[StoredArticle]]:
        """``digest_candidates`` of many recipients (address, since, zones, categories) at once: one query
        for the articles any of them may get and one for the stories already delivered to them, then
        each recipient's share (a digest run costs two queries per batch, not two per recipient)."""
        out: dict[str, list[StoredArticle]] = {w[0].lower(): [] for w in wanted}
        active = [(e.lower(), since, set(zs), set(cs)) for e, since, zs, cs in wanted if zs or cs]
        if not active:
            return out
        zones = sorted(set().union(*(w[2] for w in active)))
        categories = sorted(set().union(*(w[3] for w in active)))
        followed = []
        if zones:
            followed.append(
                ArticleRow.id.in_(select(ArticleZoneRow.article_id).where(ArticleZoneRow.zone_slug.in_(zones)))
            )
        if categories:
            followed.append(ArticleRow.category.in_(categories))
        query = (
            select(ArticleRow)
            .where(
                ArticleRow.canonical.is_(True),
                ArticleRow.story_id.is_not(None),
                ArticleRow.first_seen > min(w[1] for w in active),
                or_(*followed),
            )
            .order_by(ArticleRow.published.desc(), ArticleRow.id.desc())
        )
        delivered: dict[str, set[int]] = {w[0]: set() for w in active}
        with self._session() as s:
            stored = self._stored(s, s.scalars(query).all())
            stories = sorted({a.story_id for a in stored if a.story_id is not None})
            for emails in chunks(sorted(delivered)):
                for some in chunks(stories):
                    found = s.execute(
                        select(DeliveryRow.recipient, DeliveryRow.story_id).where(
                            DeliveryRow.recipient.in_(emails), DeliveryRow.story_id.in_(some)
                        )
                    )
                    for recipient, story in found:
                        delivered[recipient].add(story)
        for email, since, zs, cs in active:
            seen = delivered[email]
            out[email] = [
                a
                for a in stored
                if a.first_seen > since
                and a.story_id not in seen
                and (not zs.isdisjoint(a.zones) or a.article.category in cs)
            ]
        return out

    def digest_message(self, email: str, message_id: str) -> bytes | None:
        """The message recorded for ``email`` under ``message_id`` (its web copy), or None."""
        with self._session() as s:
            query = select(DigestRow.message).where(DigestRow.recipient == email.lower())
            return s.scalar(query.where(DigestRow.message_id == message_id))

    def record_digest(
        self,
        email: str,
        window: tuple[datetime, datetime],
        slot_date: str | None,
        message_id: str,
        message: bytes,
        article_ids: Sequence[int],
        now: datetime,
    ) -> int | None:
        """Record a composed digest (and the slot it fills) before sending it. Returns its id, or None when
        another run already recorded this recipient's digest of this window."""
        return self.record_digests([ComposedDigest(email, window, slot_date, message_id, message, article_ids)], now)[0]

    def record_digests(self, digests: Sequence[ComposedDigest], now: datetime) -> list[int | None]:
        """Record composed digests before sending them, in one transaction of a few set-based statements;
        each one's id, or None for one whose recipient already has a digest of that window recorded by
        another run (then the others are recorded one by one, so that one collision does not cost the
        batch)."""
        try:
            with self._session() as s:
                return list[int | None](self._record(s, digests, now))
        except IntegrityError:
            if len(digests) == 1:
                return [None]
        return [self.record_digests([d], now)[0] for d in digests]

    @staticmethod
    def _record(s: Session, digests: Sequence[ComposedDigest], now: datetime) -> list[int]:
        conn = s.connection()
        # A digest that failed for good and was never delivered is superseded by this one.
        conn.execute(
            delete(_DIGESTS).where(
                _DIGESTS.c.recipient == bindparam("r"),
                _DIGESTS.c.window_start == bindparam("w"),
                _DIGESTS.c.status == "failed",
            ),
            [{"r": d.email.lower(), "w": d.window[0]} for d in digests],
        )
        conn.execute(
            insert(_DIGESTS),
            [
                {
                    "recipient": d.email.lower(),
                    "window_start": d.window[0],
                    "window_end": d.window[1],
                    "slot_date": d.slot_date,
                    "message_id": d.message_id,
                    "message": d.message,
                    "items": len(d.article_ids),
                    "status": "pending",
                    "created": now,
                    "attempts": 0,
                    "next_attempt": now,
                }
                for d in digests
            ],
        )
        ids: dict[str, int] = {}
        for some in chunks([d.message_id for d in digests]):
            found = conn.execute(select(_DIGESTS.c.message_id, _DIGESTS.c.id).where(_DIGESTS.c.message_id.in_(some)))
            ids.update((message_id, digest_id) for message_id, digest_id in found)
        carried = [{"digest_id": ids[d.message_id], "article_id": a} for d in digests for a in d.article_ids]
        if carried:
            conn.execute(insert(_CARRIED), carried)
        slots = [{"e": d.email.lower(), "slot": d.slot_date} for d in digests if d.slot_date is not None]
        if slots:
            conn.execute(
                update(_RECIPIENTS).where(_RECIPIENTS.c.email == bindparam("e")).values(slot_date=bindparam("slot")),
                slots,
            )
        return [ids[d.message_id] for d in digests]

    def fill_slot(self, email: str, slot_date: str) -> None:
        """Note that the scheduled digest of ``slot_date`` was looked at and had nothing to send."""
        with self._session() as s:
            s.execute(update(RecipientRow).where(RecipientRow.email == email.lower()).values(slot_date=slot_date))

    def pending_digests(self, now: datetime, emails: Collection[str] | None = None) -> list[PendingDigest]:
        """Recorded digests due for a (first or further) attempt, oldest first."""
        query = select(DigestRow).where(DigestRow.status == "pending", DigestRow.next_attempt <= now)
        if emails is not None:
            query = query.where(DigestRow.recipient.in_([e.lower() for e in emails]))
        with self._session() as s:
            return [
                PendingDigest(
                    r.id, r.recipient, r.message_id, r.message, r.items, r.attempts, r.slot_date, r.window_end
                )
                for r in s.scalars(query.order_by(DigestRow.id))
            ]

    def pending_recipients(self) -> set[str]:
        """Recipients with a recorded digest that still waits to be sent (due now or later)."""
        with self._session() as s:
            return set(s.scalars(select(DigestRow.recipient).where(DigestRow.status == "pending").distinct()))

    def digest_accepted(self, digest_id: int, now: datetime) -> bool:
        """Mark a digest accepted by the server: one statement, committed before the next message goes out.
        Returns False when it was no longer pending (nothing changed). Its deliveries and the recipient's
        watermark follow in ``settle_digests``."""
        with self._begin() as conn:
            return bool(conn.execute(_ACCEPTED, {"digest_id": digest_id, "now": now}).rowcount == 1)

    def settle_digests(self) -> int:
        """Settle every accepted digest in one transaction: record each (recipient, article) it carried as
        delivered (with its article's story at this moment, unless delivered before), move its recipient's
        watermark to its window's end, and mark it sent. Returns how many were settled. Safe to repeat."""
        with self._session() as s:
            conn = s.connection()
            settled = list(conn.scalars(select(DigestRow.id).where(DigestRow.status == "accepted")))
            delivered = exists().where(
                DeliveryRow.recipient == DigestRow.recipient, DeliveryRow.article_id == DigestArticleRow.article_id
            )
            for some in chunks(settled):
                conn.execute(
                    insert(_DELIVERIES).from_select(
                        ["recipient", "article_id", "story_id", "digest_id"],
                        select(
                            DigestRow.recipient,
                            DigestArticleRow.article_id,
                            func.min(func.coalesce(ArticleRow.story_id, ArticleRow.id)),
                            func.min(DigestRow.id),
                        )
                        .join(DigestArticleRow, DigestArticleRow.digest_id == DigestRow.id)
                        .join(ArticleRow, ArticleRow.id == DigestArticleRow.article_id)
                        .where(DigestRow.id.in_(some), ~delivered)
                        .group_by(DigestRow.recipient, DigestArticleRow.article_id),
                    )
                )
                ends = conn.execute(
                    select(DigestRow.recipient, func.max(DigestRow.window_end))
                    .where(DigestRow.id.in_(some))
                    .group_by(DigestRow.recipient)
                )
                conn.execute(
                    update(_RECIPIENTS)
                    .where(_RECIPIENTS.c.email == bindparam("e"), _RECIPIENTS.c.watermark < bindparam("end"))
                    .values(watermark=bindparam("end")),
                    [{"e": e, "end": end} for e, end in ends],
                )
                conn.execute(update(_DIGESTS).where(_DIGESTS.c.id.in_(some)).values(status="sent"))
            return len(settled)

    def digest_retry(self, digest_id: int, error: str, next_attempt: datetime) -> int:
        """A temporary failure: try again at ``next_attempt``. Returns the attempts made so far."""
        with self._session() as s:
            row = s.get(DigestRow, digest_id)
            if row is None:
                return 0
            row.attempts += 1
            row.last_error = error[:2000]
            row.next_attempt = next_attempt
            return row.attempts

    def digest_failed(self, digest_id: int, error: str, now: datetime) -> None:
        """A permanent failure for this address: the digest is given up and the recipient marked, so no
        further digest is composed for them until an operator clears it."""
        with self._session() as s:
            row = s.get(DigestRow, digest_id)
            if row is None:
                return
            row.status = "failed"
            row.attempts += 1
            row.last_error = error[:2000]
            s.execute(
                update(RecipientRow)
                .where(RecipientRow.email == row.recipient)
                .values(failed_at=now, failure=error[:2000])
            )

    def clear_failure(self, email: str) -> None:
        with self._session() as s:
            s.execute(
                update(RecipientRow).where(RecipientRow.email == email.lower()).values(failed_at=None, failure=None)
            )

    def unsubscribe(self, email: str, now: datetime, issued: datetime) -> str:
        """Stop digests to ``email`` for a link issued at ``issued``: "done", "already" (unsubscribed
        before: nothing changes), "unknown" (no such recipient) or "replayed" (the link predates the
        recipient's latest subscription)."""
        with self._session() as s:
            row = s.get(RecipientRow, email.lower())
            if row is None:
                return "unknown"
            if row.resubscribed_at is not None and issued < row.resubscribed_at:
                return "replayed"
            if row.unsubscribed_at is not None:
                return "already"
            row.unsubscribed_at = now
            return "done"

    def resubscribe(self, email: str, now: datetime) -> bool:
        """Send digests to ``email`` again (an operator's decision). False when no such recipient."""
        with self._session() as s:
            row = s.get(RecipientRow, email.lower())
            if row is None:
                return False
            row.unsubscribed_at = None
            row.resubscribed_at = now
            return True

    def digest_log(self, email: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest digests (for status pages and tests), newest first."""
        query = select(DigestRow).order_by(DigestRow.id.desc()).limit(limit)
        if email is not None:
            query = query.where(DigestRow.recipient == email.lower())
        with self._session() as s:
            return [
                {
                    "id": r.id,
                    "recipient": r.recipient,
                    "status": r.status,
                    "items": r.items,
                    "message_id": r.message_id,
                    "created": r.created,
                    "sent_at": r.sent_at,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                    "window": (r.window_start, r.window_end),
                }
                for r in s.scalars(query)
            ]
