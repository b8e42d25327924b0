"""Joining stored articles to stories: the dedupe step run over what the store holds (docs/design.md,
"Dedupe"). ``dedupe`` decides whether two fingerprints are one story (pure); this module feeds it the
pending articles in batches with their candidates and has the store record the decisions.

Each batch is one transaction with one round of lookups and one of writes; a crash leaves the rest
pending for the next run. Articles of one batch are also compared with each other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from . import dedupe
from .config import Config
from .context import Context
from .exceptions import ConfigError
from .store import Decision, Keys, Story
from .store.dedupe import DedupeSession, Lookup, Pending
from .types import Article

__all__ = ["DedupeReport", "deduplicate", "split", "stories"]

log = logging.getLogger("syndicate")

_CACHE_LIMIT = 50_000  # fingerprints of stored candidates kept between batches of one run


@dataclass
class DedupeReport:
    checked: int = 0
    merged: int = 0


def _choose(members: Sequence[tuple[int, int, datetime]]) -> int:
    return dedupe.choose_canonical([dedupe.Member(*m) for m in members])


def priorities(config: Config) -> dict[str, int]:
    return {s.id: s.priority for s in config.sources}


def _keys(f: dedupe.Fingerprint) -> Keys:
    return Keys(f.link, f.body_hash, f.title_key, f.length, f.buckets)


def _lookup_keys(f: dedupe.Fingerprint) -> list[object]:
    return [("l", f.link), ("b", f.body_hash), ("t", f.title_key), *f.buckets]


def deduplicate(ctx: Context, batch: int = 2000, *, lsh: dedupe.LshIndex | None = None) -> DedupeReport:
    """Fingerprint every article not yet fingerprinted and join it to its story. ``lsh``: the in-memory
    index of stored signatures a long-lived process keeps (``pipeline.Kept``); first use loads every
    stored signature, later uses what other processes stored since."""
    index = lsh if lsh is not None else dedupe.LshIndex()
    loaded = list(ctx.store.signature_buckets(after=index.high_water))
    index.load([aid for aid, _ in loaded], [blob for _, blob in loaded])
    joiner = _Joiner(ctx.config.site.tz)
    after = 0  # the pending scan resumes where the last batch ended instead of starting over
    while True:
        with ctx.store.dedupe_session(priorities(ctx.config), _choose, ctx.clock()) as session:
            pending = session.pending(batch, after)
            if pending:
                after = pending[-1].id
            decisions = joiner.decide(session, index, pending)
            session.record(decisions)
        for d in decisions:  # after the commit: the index holds only what the store holds
            index.add(d.article_id, d.keys.buckets)
        if len(pending) < batch:
            break
        if len(joiner.cache) > _CACHE_LIMIT:
            joiner.cache.clear()
    report = joiner.report
    if report.checked:
        log.info("dedupe.done", extra={"checked": report.checked, "merged": report.merged})
    return report


@dataclass
class _Joiner:
    """Decides the batches of one run. ``cache``: fingerprints of stored candidates already computed."""

    tz: tzinfo
    cache: dict[int, dedupe.Fingerprint] = field(default_factory=dict)
    report: DedupeReport = field(default_factory=DedupeReport)

    def fingerprint(self, article: Article) -> dedupe.Fingerprint:
        return dedupe.fingerprint(article.title, article.body_html, article.link, article.published, self.tz)

    def decide(self, session: DedupeSession, index: dedupe.LshIndex, pending: Sequence[Pending]) -> list[Decision]:
        """One decision per pending article: kept in its story (pinned by a split), a story of its own,
        or joined to the story of the best match among stored articles and the batch's earlier ones."""
        mine = {p.id: self.fingerprint(p.article) for p in pending}
        hits = {i: index.query(f.buckets) for i, f in mine.items()}
        found = session.lookup({i: _keys(f) for i, f in mine.items()}, hits)
        story_of = {k.id: k.story_id for k in found.known.values()}
        pinned = {k.id for k in found.known.values() if k.pinned}
        # Keys of the batch's own articles, so that two copies arriving together are joined too.
        local: dict[object, list[int]] = {}
        decisions = []
        for p in pending:
            f = mine[p.id]
            if p.story_id is not None:
                decisions.append(Decision(p.id, _keys(f), p.story_id, keep_story=True))
                story_of[p.id] = p.story_id
            else:
                ids = set(found.hits[p.id])
                for key in _lookup_keys(f):
                    ids.update(local.get(key, ()))
                m = dedupe.match(f, self._candidates(sorted(ids), mine, found, pinned))
                if m is None:
                    story_of[p.id] = p.id
                    decisions.append(Decision(p.id, _keys(f), p.id))
                else:
                    story_of[p.id] = story_of[m.article_id]
                    decisions.append(Decision(p.id, _keys(f), story_of[p.id], m.article_id, m.rule, m.similarity))
                    self.report.merged += 1
            if p.pinned:
                pinned.add(p.id)
            for key in _lookup_keys(f):
                local.setdefault(key, []).append(p.id)
        self.report.checked += len(pending)
        return decisions

    def _candidates(
        self, ids: Sequence[int], mine: dict[int, dedupe.Fingerprint], found: Lookup, pinned: set[int]
    ) -> list[dedupe.Candidate]:
        candidates = []
        for cid in ids:
            if cid in mine:
                candidates.append(dedupe.Candidate(cid, mine[cid], cid in pinned))
            elif cid in found.known:
                if cid not in self.cache:
                    self.cache[cid] = self.fingerprint(found.known[cid].article)
                candidates.append(dedupe.Candidate(cid, self.cache[cid], cid in pinned))
        return candidates


def _article_id(ctx: Context, ref: str) -> int:
    ctx.store.ensure_ready()
    article_id = ctx.store.resolve_article(ref)
    if article_id is None:
        raise ConfigError(f"no article {ref!r} (give an id, GUID or link)")
    return article_id


def split(ctx: Context, ref: str) -> int:
    """Take an article out of its story for good. Returns its new story id."""
    article_id = _article_id(ctx, ref)
    deduplicate(ctx)
    return ctx.store.split(article_id, priorities(ctx.config), _choose, ctx.clock())


def stories(ctx: Context, ref: str | None = None) -> list[Story]:
    ctx.store.ensure_ready()
    return ctx.store.stories() if ref is None else ctx.store.stories(_article_id(ctx, ref))
