"""Pure decisions about a source's health: what to remember after a success or a failure, and when to try
it next. Functions of the old state, the outcome and ``now``; no I/O.

Backoff: after ``n`` consecutive failures the next attempt waits ``interval * 2**n``, capped at
``max_backoff`` (24 h by default), and never less than a server's Retry-After. A success resets it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from ..types import SourceState

__all__ = ["backoff", "crashed", "due", "failed", "gone", "retry_after", "start", "succeeded"]

# A Retry-After longer than this is read as this (a year): the header is the server's, its number any size.
_MAX_RETRY_AFTER = timedelta(days=365)


def start(source_id: str, config_url: str | None, stored: SourceState | None) -> SourceState:
    """The state to fetch with. A source whose configured URL changed starts afresh (and is re-enabled)."""
    if stored is None or stored.config_url != config_url:
        return SourceState(source_id, config_url=config_url, url=config_url)
    return stored


def due(
    state: SourceState | None,
    config_url: str,
    now: datetime,
    slack: timedelta = timedelta(0),
    interval: timedelta | None = None,
) -> bool:
    """Whether a scheduled poll reads the source now: never read, or its URL changed, or its next due time
    has come. ``slack``: how early a healthy source may be read (a poll's jitter, a tick's length); a source
    waiting out a backoff gets none, and a disabled one (410 Gone) is never due until its URL changes.
    ``interval``: the configured one, so a healthy source whose interval was shortened since it was last
    read is due at ``last_attempt + interval``, not at the later time the old interval gave."""
    if state is None or state.config_url != config_url:
        return True
    if state.disabled:
        return False
    if state.consecutive_errors == 0:
        now += slack
        if interval is not None and state.last_attempt is not None and state.last_attempt + interval <= now:
            return True
    return state.next_due is None or state.next_due <= now


def succeeded(
    state: SourceState,
    now: datetime,
    interval: timedelta,
    *,
    http_status: int | None = None,
    warning: str | None = None,
    **changes: object,
) -> SourceState:
    """``changes`` sets etag, last_modified, body_hash, url, moved_from or cursor."""
    return dataclasses.replace(
        state,
        last_attempt=now,
        last_success=now,
        http_status=http_status,
        consecutive_errors=0,
        warning=warning,
        next_due=now + interval,
        **changes,  # type: ignore[arg-type]
    )


def backoff(consecutive_errors: int, interval: timedelta, max_backoff: timedelta) -> timedelta:
    if consecutive_errors <= 0:
        return interval
    delay: timedelta = interval * (2 ** min(consecutive_errors, 30))
    return min(delay, max_backoff)


def failed(
    state: SourceState,
    now: datetime,
    interval: timedelta,
    max_backoff: timedelta,
    kind: str,
    message: str,
    *,
    http_status: int | None = None,
    wait_at_least: timedelta | None = None,
) -> SourceState:
    errors = state.consecutive_errors + 1
    delay = backoff(errors, interval, max_backoff)
    if wait_at_least is not None:
        delay = max(delay, min(wait_at_least, max_backoff))
    return dataclasses.replace(
        state,
        last_attempt=now,
        http_status=http_status,
        consecutive_errors=errors,
        last_error_kind=kind,
        last_error=message,
        next_due=now + delay,
    )


def gone(state: SourceState, now: datetime, url: str) -> SourceState:
    """410 Gone: the partner removed the feed for good. Not fetched again until its URL is changed."""
    reason = f"410 Gone at {url}: change the source's url to re-enable it"
    return dataclasses.replace(
        state,
        last_attempt=now,
        http_status=410,
        consecutive_errors=state.consecutive_errors + 1,
        last_error_kind="gone",
        last_error=reason,
        disabled=reason,
        next_due=None,
    )


def crashed(
    state: SourceState, now: datetime, interval: timedelta, max_backoff: timedelta, error: BaseException
) -> SourceState:
    """A read that raised instead of reporting: recorded like any failure, so the source backs off."""
    return failed(state, now, interval, max_backoff, "internal", f"{type(error).__name__}: {error}"[:2000])


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds, or an HTTP date) as a wait from ``now``, at most a year; None when
    it cannot be read."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit() is also true of "²" and "৩"
        return min(timedelta(seconds=min(int(value), 10**9)), _MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    try:
        return min(max(when - now, timedelta(0)), _MAX_RETRY_AFTER)
    except OverflowError:
        return _MAX_RETRY_AFTER
