"""Health at a glance, for ``syndicate sources``, ``syndicate status``, ``/status`` and ``/healthz``: each
source's state, the last publish, each recipient's next digest, the counts, the last errors. Reads only."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .context import Context, config_url
from .delivery import next_digests
from .recipients import Recipient, recipients
from .types import SourceState

__all__ = ["PreferenceChange", "SourceHealth", "Status", "overview", "source_health", "store_health"]


def store_health(ctx: Context) -> dict[str, Any]:
    """A small summary of the store for ``/healthz``. Raises ``StoreError`` when it is unreachable."""
    state = ctx.store.schema_state()
    return {
        "schema": state,
        "articles": ctx.store.count_articles() if state != "new" else 0,
        "sources": len(ctx.config.sources),
    }


@dataclass(frozen=True, slots=True)
class SourceHealth:
    """One row of ``syndicate sources``."""

    id: str
    kind: str
    url: str
    state: SourceState | None
    entries: int

    @property
    def health(self) -> str:
        """In a word, for ``status`` and /status: never read, disabled, failing or ok."""
        if self.state is None:
            return "never read"
        if self.state.disabled:
            return "disabled"
        return "failing" if self.state.consecutive_errors else "ok"


def source_health(ctx: Context) -> list[SourceHealth]:
    ctx.store.ensure_ready()
    states = ctx.store.source_states()
    counts = ctx.store.article_counts()
    rows = []
    for src in ctx.config.sources:
        state = states.get(src.id)
        if state is not None and state.config_url != config_url(src):
            state = None  # the configured URL changed: the old health no longer applies
        rows.append(SourceHealth(src.id, src.kind, config_url(src), state, counts.get(src.id, 0)))
    return rows


@dataclass(frozen=True, slots=True)
class PreferenceChange:
    """A recipient's own last change on their preferences page (or their sign-up)."""

    email: str
    changed: tuple[str, ...]  # zones, cities, categories, send_at, timezone, name, paused, resumed, signed up
    at: datetime
    origin: str  # page | signup
    follows: str  # what they follow now, in a few words


@dataclass(frozen=True, slots=True)
class Status:
    """What ``syndicate status`` and ``/status`` show."""

    now: datetime
    sources: list[SourceHealth]
    last_publish: datetime | None
    next_digests: dict[str, datetime | None]
    counts: dict[str, int]
    digests: list[dict[str, Any]]  # the newest digests, newest first
    errors: list[str]  # the last errors: failing sources, digests waiting or failed
    warnings: list[str] = field(default_factory=list)  # sources read, with something repaired or skipped
    stopped: dict[str, str] = field(default_factory=dict)  # recipient → why no digest is due
    changes: list[PreferenceChange] = field(default_factory=list)  # recipients' own changes, newest first


def overview(ctx: Context) -> Status:
    """What ``syndicate status`` and ``/status`` show."""
    ctx.store.ensure_ready()
    now = ctx.clock()
    sources = source_health(ctx)
    last = ctx.store.setting("publish.last")
    digests = ctx.store.digest_log(limit=20)
    errors = [
        f"source {s.id}: {s.state.last_error_kind}: {s.state.last_error}"
        for s in sources
        if s.state is not None and s.state.consecutive_errors and s.state.last_error
    ]
    errors += [
        f"digest to {d['recipient']} ({d['status']}, {d['attempts']} attempts): {d['last_error']}"
        for d in digests
        if d["last_error"] and d["status"] != "sent"
    ]
    states = ctx.store.recipients()
    errors += [f"recipient {email}: {st.failure}" for email, st in states.items() if st.failure is not None]
    everyone = recipients(ctx)
    return Status(
        now=now,
        sources=sources,
        last_publish=datetime.fromisoformat(last) if last else None,
        next_digests=next_digests(ctx, states, everyone),
        counts=ctx.store.counts(),
        digests=digests,
        errors=errors,
        warnings=[f"source {s.id}: {s.state.warning}" for s in sources if s.state is not None and s.state.warning],
        stopped=_stopped(ctx, states, everyone),
        changes=_changes(everyone),
    )


def _stopped(ctx: Context, states: dict[str, Any], everyone: list[Recipient]) -> dict[str, str]:
    """Why each stopped recipient gets no digest: they unsubscribed (when), paused them (since when), or
    the mail server refused their address for good (what it said)."""
    tz = ctx.config.site.tz
    out = {}
    for r in everyone:
        st = states.get(r.key)
        if st is not None and st.unsubscribed_at is not None:
            out[r.email] = f"unsubscribed {st.unsubscribed_at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
        elif st is not None and st.failed_at is not None:
            out[r.email] = f"refused by the mail server: {st.failure or 'permanent failure'}"
        elif r.paused_at is not None:
            out[r.email] = f"paused by the recipient since {r.paused_at.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    return out


def _changes(everyone: list[Recipient]) -> list[PreferenceChange]:
    """The recipients who changed their own subscription, newest change first."""
    out = []
    for r in everyone:
        p = r.saved
        if p is None or p.updated_at is None:
            continue
        follows = "、".join([*r.zones, *r.cities, *r.categories]) or "nothing"
        out.append(PreferenceChange(r.email, p.changed, p.updated_at, p.origin, follows))
    return sorted(out, key=lambda c: c.at, reverse=True)
