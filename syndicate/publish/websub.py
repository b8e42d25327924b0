"""WebSub publisher: telling hubs that feeds changed (https://www.w3.org/TR/websub/#publishing).

One form-encoded POST per hub and changed feed (``hub.mode=publish``, ``hub.url`` = the feed's self URL),
sent concurrently (``PER_HUB`` at a time to each hub, as small hubs queue few connections) within one
overall deadline: a hub that accepts connections and never answers holds a publish up by ``DEADLINE``
seconds at most, not ten seconds a document. What did not get through (failed, or unanswered at the
deadline) is retried on later publishes with a growing wait; it never fails the publish. What is pending
lives in the store, so a restart loses no notification.
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


DEADLINE = 5.0  # seconds for all of one publish's notifications
PER_HUB = 4


def notify(pending: Iterable[tuple[str, str]], user_agent: str, deadline: float = DEADLINE) -> list[NotifyResult]:
    """Send each (hub, feed URL) notification; one result each, in order. Those without an answer when
    ``deadline`` seconds have passed are given up (for now) with an error saying so."""
    import asyncio

    import httpx  # only when there is something to notify

    todo = list(pending)
    if not todo:
        return []

    async def send(client: httpx.AsyncClient, gates: dict[str, asyncio.Semaphore], hub: str, url: str) -> NotifyResult:
        async with gates[hub]:
            try:
                r = await client.post(hub, data={"hub.mode": "publish", "hub.url": url})
            except httpx.HTTPError as e:
                return NotifyResult(hub, url, False, f"{type(e).__name__}: {e}")
        if 200 <= r.status_code < 300:
            return NotifyResult(hub, url, True)
        return NotifyResult(hub, url, False, f"HTTP {r.status_code}")

    async def send_all() -> list[NotifyResult]:
        gates = {hub: asyncio.Semaphore(PER_HUB) for hub, _ in todo}
        headers = {"User-Agent": user_agent}
        async with httpx.AsyncClient(timeout=deadline, headers=headers, trust_env=False) as client:
            tasks = [asyncio.ensure_future(send(client, gates, hub, url)) for hub, url in todo]
            await asyncio.wait(tasks, timeout=deadline)
            for task in tasks:
                task.cancel()
            late = f"no answer within {deadline:g} s"
            return [
                t.result() if t.done() and not t.cancelled() else NotifyResult(hub, url, False, late)
                for t, (hub, url) in zip(tasks, todo, strict=True)
            ]

    return asyncio.run(send_all())
