"""Recipients' own choices: the preferences they saved on their page (or at sign-up), and the sign-up
requests counted for rate limits. The delivery state of each recipient stays in ``outbox.py``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..types import Preferences
from .models import PreferencesRow, RecipientRow, SignupRequestRow

__all__ = ["SubscriberMixin"]


def _preferences(r: PreferencesRow) -> Preferences:
    return Preferences(
        email=r.email,
        name=r.name,
        zones=tuple(r.zones),
        cities=tuple(r.cities),
        categories=tuple(r.categories),
        send_at=r.send_at,
        timezone=r.timezone,
        paused_at=r.paused_at,
        origin=r.origin,
        changed=tuple(c for c in r.changed.split(",") if c),
        updated_at=r.updated_at,
    )


class SubscriberMixin:
    """Preference and sign-up queries of ``Store`` (mixed in; uses its sessions)."""

    _session: Callable[[], AbstractContextManager[Session]]

    def preferences(self) -> dict[str, Preferences]:
        """Every recipient's saved preferences, by lower-cased address."""
        with self._session() as s:
            return {r.email: _preferences(r) for r in s.scalars(select(PreferencesRow))}

    def save_preferences(self, prefs: Preferences, now: datetime, start: datetime) -> None:
        """Store ``prefs`` (they win over the config from now on). A recipient without a row gets one whose
        first digest covers what was first stored after ``start``; a recipient who resumes after a pause
        gets nothing first stored before ``start`` (what arrived while paused is not sent later)."""
        email = prefs.email.lower()
        with self._session() as s:
            recipient = s.get(RecipientRow, email, with_for_update=True)
            if recipient is None:
                s.add(RecipientRow(email=email, created=now, watermark=start))
                s.flush()
            row = s.get(PreferencesRow, email)
            resumed = row is not None and row.paused_at is not None and prefs.paused_at is None
            if resumed and recipient is not None and recipient.watermark < start:
                recipient.watermark = start
            values = {
                "name": prefs.name,
                "zones": list(prefs.zones),
                "cities": list(prefs.cities),
                "categories": list(prefs.categories),
                "send_at": prefs.send_at,
                "timezone": prefs.timezone,
                "paused_at": prefs.paused_at,
                "origin": prefs.origin,
                "changed": ",".join(prefs.changed),
                "updated_at": now,
            }
            if row is None:
                s.add(PreferencesRow(email=email, **values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)

    def signup_requests(self, email: str, client: str, since: datetime) -> tuple[int, int]:
        """How many sign-ups were asked for since ``since`` for ``email``, and from ``client``."""
        with self._session() as s:
            recent = select(func.count()).select_from(SignupRequestRow).where(SignupRequestRow.requested_at > since)
            by_email = s.scalar(recent.where(SignupRequestRow.email == email.lower())) or 0
            by_client = s.scalar(recent.where(SignupRequestRow.client == client)) or 0
            return by_email, by_client

    def record_signup_request(self, email: str, client: str, now: datetime, forget_before: datetime) -> None:
        """Count a sign-up request; requests older than ``forget_before`` are dropped."""
        with self._session() as s:
            s.execute(delete(SignupRequestRow).where(SignupRequestRow.requested_at < forget_before))
            s.add(SignupRequestRow(email=email.lower(), client=client[:64], requested_at=now))
