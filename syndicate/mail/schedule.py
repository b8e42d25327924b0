"""When a recipient's digest is due, and when a failed send is tried again. Pure: takes the time.

A recipient is due once a day, at or after ``send_at`` in their own time zone, on a local date whose
digest has not yet been looked at (sent, or found empty). A daemon started after ``send_at`` still sends
that day's digest, once.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

__all__ = ["due_slot", "next_send", "retry_at"]

_RETRY_FIRST = timedelta(minutes=1)
_RETRY_CAP = timedelta(hours=2)


def due_slot(now: datetime, tz: tzinfo, send_at: tuple[int, int], last_slot: str | None) -> str | None:
    """The local date (ISO) whose digest is due now, or None when none is."""
    local = now.astimezone(tz)
    today = local.date().isoformat()
    if last_slot is not None and last_slot >= today:
        return None
    if local.time().replace(tzinfo=None) < time(*send_at):
        return None
    return today


def next_send(now: datetime, tz: tzinfo, send_at: tuple[int, int], last_slot: str | None) -> datetime:
    """When the next scheduled digest becomes due (``now`` when one is due already)."""
    if due_slot(now, tz, send_at, last_slot) is not None:
        return now
    local = now.astimezone(tz)
    day = local.date()
    if (last_slot is not None and last_slot >= day.isoformat()) or local.time().replace(tzinfo=None) >= time(*send_at):
        day = day + timedelta(days=1)
    return _at(day, send_at, tz)


def _at(day: date, send_at: tuple[int, int], tz: tzinfo) -> datetime:
    return datetime.combine(day, time(*send_at), tzinfo=tz)


def retry_at(attempts: int, now: datetime) -> datetime:
    """After ``attempts`` temporary failures: 1, 2, 4 … minutes later, at most two hours."""
    wait = min(_RETRY_FIRST * 2 ** max(attempts - 1, 0), _RETRY_CAP)
    out: datetime = now + wait
    return out
