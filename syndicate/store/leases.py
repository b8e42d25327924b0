"""Leases in the store: a named lock with a holder and an expiry (one daemon per database)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .models import LockRow

__all__ = ["LeaseMixin"]


class LeaseMixin:
    """Lease queries of ``Store`` (mixed in; uses its sessions)."""

    _session: Callable[[], AbstractContextManager[Session]]  # provided by Store

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
