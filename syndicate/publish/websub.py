"""WebSub publisher: telling hubs that feeds changed (https://www.w3.org/TR/websub/#publishing).

One form-encoded POST per hub and changed feed (``hub.mode=publish``, ``hub.url`` = the feed's self URL).
A hub that fails is retried on later publishes with a growing wait; it never fails the publish. What is
pending lives in the store, so a restart loses no notification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["NotifyResult", "next_attempt", "notify"]


@dataclass(frozen=True, slots=True)
class NotifyResult:
    hub: str
    url: str
    ok: bool
    error: str | None = None


def next_attempt(attempts: int, now: datetime) -> datetime:
    """After the n-th failure: wait 1, 2, 4 … minutes, at most a day."""
    return now + min(timedelta(minutes=2 ** min(max(attempts - 1, 0), 20)), timedelta(hours=24))


def notify(pending: Iterable[tuple[str, str]], user_agent: str, timeout: float = 10.0) -> list[NotifyResult]:
    import httpx  # only when there is something to notify

    results = []
    with httpx.Client(timeout=timeout, headers={"User-Agent": user_agent}, trust_env=False) as client:
        for hub, url in pending:
            try:
                r = client.post(hub, data={"hub.mode": "publish", "hub.url": url})
            except httpx.HTTPError as e:
                results.append(NotifyResult(hub, url, False, f"{type(e).__name__}: {e}"))
                continue
            if 200 <= r.status_code < 300:
                results.append(NotifyResult(hub, url, True))
            else:
                results.append(NotifyResult(hub, url, False, f"HTTP {r.status_code}"))
    return results
