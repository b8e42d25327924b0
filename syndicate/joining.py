"""Joining stored articles to stories: the dedupe step run over what the store holds (docs/design.md,
"Dedupe"). ``dedupe`` decides whether two fingerprints are one story (pure); this module feeds it the
pending articles in batches with their candidates and has the store record the decisions.

Each batch is one transaction with one round of lookups and one of writes; a crash leaves the rest
pending for the next run. Articles of one batch are also compared with each other.
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from . import dedupe
from .config import Config
from .context import Context
from .exceptions import ConfigError
from .parsing import Prepared
from .store import Decision, Keys, Story
from .store.dedupe import DedupeSession, Known, Pending
from .types import Article

__all__ = ["DedupeReport", "Joining", "deduplicate", "split", "stories"]

log = logging.getLogger("syndicate")

_CACHE_LIMIT = 50_000  # fingerprints of stored candidates kept between batches of one run
CANDIDATES = 24  # the most a new article is compared with: those sharing the most evidence
RECENT = 50  # a source's newest stored articles its boilerplate is learned from (with the batch's)
# How much a shared key weighs when candidates are ranked: an exact key is worth all of an LSH lookup.
_WEIGHT = {"link": 1000, "body": 1000, "title": 100}


@dataclass
class DedupeReport:
    checked: int = 0
    merged: int = 0


def _choose(members: Sequence[tuple[int, int, datetime]]) -> int:
    return dedupe.choose_canonical([dedupe.Member(*m) for m in members])


def priorities(config: Config) -> dict[str, int]:
    return {s.id: s.priority for s in config.sources}


def _keys(f: dedupe.Fingerprint) -> Keys:
    return Keys(f.link, f.body_hash, f.title_key, f.length, f.keys)


def deduplicate(
    ctx: Context,
    batch: int = 2000,
    *,
    lsh: dedupe.LshIndex | None = None,
    prepared: dict[tuple[str, str], Prepared] | None = None,
) -> DedupeReport:
    """Fingerprint every article not yet fingerprinted and join it to its story (``Joining``, all at
    once)."""
    joining = Joining(ctx, batch, lsh=lsh, prepared=prepared)
    joining.join()
    return joining.report


class Joining:
    """The dedupe step of one run, taken as articles are stored: a fetch calls ``stored`` after each
    transaction of articles, and every ``batch`` of them waiting is joined then, while the parsing
    workers go on with the next documents; ``join`` takes whatever is left.

    ``lsh``: the in-memory index of stored signatures a long-lived process keeps (``pipeline.Kept``);
    first use loads every stored signature, later uses what other processes stored since. ``prepared``:
    fingerprints made while parsing (``parsing``), by (source id, key), used (and let go) for articles
    whose stored text they match."""

    def __init__(
        self,
        ctx: Context,
        batch: int = 2000,
        *,
        lsh: dedupe.LshIndex | None = None,
        prepared: dict[tuple[str, str], Prepared] | None = None,
    ) -> None:
        self._ctx = ctx
        self._batch = batch
        self._index = lsh if lsh is not None else dedupe.LshIndex()
        self._joiner = _Joiner(ctx.config.site.tz, prepared if prepared is not None else {})
        self._loaded = False
        self._waiting = 0

    @property
    def report(self) -> DedupeReport:
        return self._joiner.report

    def stored(self, articles: int, coming: int | None = None) -> None:
        """``articles`` new or edited were stored: join them once a batch of them is waiting, or once as
        many wait as the fetch still expects (``coming``, None: unknown). Near its end, what waits is
        joined while the last documents are parsed: otherwise up to a whole batch would be joined after
        the last one, with the workers idle. (Not fewer than a twentieth of a batch at a time: a fetch
        bringing a few articles among many unchanged feeds joins them at the end, at once.)"""
        self._waiting += articles
        if self._waiting >= self._batch or (coming is not None and self._waiting >= max(coming, self._batch // 20)):
            self.join()

    def join(self) -> None:
        """Join every pending article, in batches (each its own transaction), oldest first."""
        ctx, index, joiner = self._ctx, self._index, self._joiner
        self._waiting = 0
        if not self._loaded:
            if not ctx.store.dedupe_pending():
                return  # nothing to join (a fetch of 304s): the stored signatures are not even loaded
            loaded = list(ctx.store.signature_buckets(after=index.high_water))
            index.load([aid for aid, _ in loaded], [blob for _, blob in loaded])
            self._loaded = True
        checked, merged = joiner.report.checked, joiner.report.merged
        after = 0  # the pending scan resumes where the last batch ended instead of starting over
        while True:
            with ctx.store.dedupe_session(priorities(ctx.config), _choose, ctx.clock()) as session:
                pending = session.pending(self._batch, after, joiner.held)
                if pending:
                    after = pending[-1].id
                decisions = joiner.decide(session, index, pending)
                session.record(decisions)
            # After the commit: the index holds only what the store holds.
            index.add_many([(d.article_id, d.keys.buckets) for d in decisions])
            if len(pending) < self._batch:
                break
            if len(joiner.cache) > _CACHE_LIMIT:
                joiner.cache.clear()
        if joiner.report.checked > checked:
            done = {"checked": joiner.report.checked - checked, "merged": joiner.report.merged - merged}
            log.info("dedupe.done", extra=done)


@dataclass
class _Joiner:
    """Decides the batches of one run. ``cache``: fingerprints of stored candidates already computed;
    ``boilerplate``: each source's, learned once per run."""

    tz: tzinfo
    prepared: dict[tuple[str, str], Prepared] = field(default_factory=dict)
    cache: dict[int, dedupe.Fingerprint] = field(default_factory=dict)
    boilerplate: dict[str, frozenset[int]] = field(default_factory=dict)
    report: DedupeReport = field(default_factory=DedupeReport)

    def held(self, source_id: str, key: str, content_hash: str) -> Article | None:
        """The article parsed in this run, if it is the version stored (then it is not read back)."""
        p = self.prepared.get((source_id, key))
        return p.article if p is not None and p.content_hash == content_hash else None

    def made(self, pending: Pending) -> dedupe.Fingerprint | None:
        """The fingerprint made while parsing this article, if it was made of the version stored."""
        article = pending.article
        p = self.prepared.pop((article.source_id, article.key), None)
        return p.fingerprint if p is not None and p.content_hash == pending.content_hash else None

    def fingerprint(
        self, article: Article, parts: Sequence[dedupe.Sentence] | None = None, made: dedupe.Fingerprint | None = None
    ) -> dedupe.Fingerprint:
        """``article``'s fingerprint without its source's boilerplate; ``made`` (``self.made``) when the
        boilerplate trims none of it."""
        boilerplate = self.boilerplate.get(article.source_id, frozenset())
        if made is not None:
            kept = dedupe.with_boilerplate(made, boilerplate)
            if kept is not None:
                return kept
            parts = made.parts
        return dedupe.article_fingerprint(article, self.tz, boilerplate=boilerplate, parts=parts)

    def learn(
        self,
        session: DedupeSession,
        articles: Sequence[tuple[int, Article]],
        parts: Sequence[Sequence[dedupe.Sentence]] = (),
    ) -> None:
        """Learn the boilerplate of the sources of ``articles`` (stored, by id) not learned yet in this
        run: from each one's newest stored articles and those of ``articles`` (a new source's first
        batch), whose sentences are ``parts`` when given."""
        by_source: dict[str, dict[str, str | Sequence[dedupe.Sentence]]] = {}
        held: dict[str, set[int]] = {}
        for n, (aid, a) in enumerate(articles):
            if a.source_id not in self.boilerplate:
                by_source.setdefault(a.source_id, {})[a.body_html] = parts[n] if parts else a.body_html
                held.setdefault(a.source_id, set()).add(aid)
        for source, bodies in by_source.items():
            recent = [b for b in session.recent_bodies(source, RECENT, held[source]) if b not in bodies]
            self.boilerplate[source] = dedupe.learn_boilerplate([*recent, *bodies.values()])

    def decide(self, session: DedupeSession, index: dedupe.LshIndex, pending: Sequence[Pending]) -> list[Decision]:
        """One decision per pending article: kept in its story (pinned by a split), a story of its own,
        or joined to the story of the best match among stored articles and the batch's earlier ones."""
        made = [self.made(p) for p in pending]
        parts = [m.parts if m else dedupe.sentences(p.article.body_html) for p, m in zip(pending, made, strict=True)]
        self.learn(session, [(p.id, p.article) for p in pending], parts)
        mine = {p.id: self.fingerprint(p.article, parts[n], made[n]) for n, p in enumerate(pending)}
        keys = {i: _keys(f) for i, f in mine.items()}
        exact = session.exact_hits(keys)
        ranked: dict[int, list[int]] = {}
        for i, f in mine.items():
            score = index.query(f.keys)
            for other, why in exact[i].items():
                score[other] += _WEIGHT[why]
            score.pop(i, None)
            ranked[i] = _best(score)
        found = session.known([c for ids in ranked.values() for c in ids if c not in mine])
        self.learn(session, [(k.id, k.article) for k in found.values()])
        story_of = {k.id: k.story_id for k in found.values()}
        pinned = {k.id for k in found.values() if k.pinned}
        # Keys of the batch's own articles, so that two copies arriving together are joined too: only keys
        # two of them share can (most keys are one article's own, and are left out).
        counts = Counter(itertools.chain.from_iterable(f.keys for f in mine.values()))
        shared = {k for k, n in counts.items() if n > 1}
        local = dedupe.LshIndex()
        local_exact: dict[tuple[str, str], list[int]] = {}
        decisions = []
        for p in pending:
            f = mine[p.id]
            if p.story_id is not None:
                decisions.append(Decision(p.id, keys[p.id], p.story_id, keep_story=True))
                story_of[p.id] = p.story_id
            else:
                score = local.query([k for k in f.keys if k in shared])
                for why, value in _exact_keys(f):
                    for other in local_exact.get((why, value), ())[-CANDIDATES:]:
                        score[other] += _WEIGHT[why]
                ids = [i for i in ranked[p.id] if i in found] + _best(score)
                m = dedupe.match(f, self._candidates(ids, mine, found, pinned))
                if m is None:
                    story_of[p.id] = p.id
                    decisions.append(Decision(p.id, keys[p.id], p.id))
                else:
                    story_of[p.id] = story_of[m.article_id]
                    decisions.append(Decision(p.id, keys[p.id], story_of[p.id], m.article_id, m.rule, m.similarity))
                    self.report.merged += 1
            if p.pinned:
                pinned.add(p.id)
            local.add(p.id, [k for k in f.keys if k in shared])
            for key in _exact_keys(f):
                local_exact.setdefault(key, []).append(p.id)
        self.report.checked += len(pending)
        self.cache.update(mine)  # the next batches' candidates include these
        return decisions

    def _candidates(
        self, ids: Sequence[int], mine: dict[int, dedupe.Fingerprint], found: dict[int, Known], pinned: set[int]
    ) -> list[dedupe.Candidate]:
        candidates = []
        for cid in dict.fromkeys(ids):
            if cid in mine:
                candidates.append(dedupe.Candidate(cid, mine[cid], cid in pinned))
            elif cid in found:
                if cid not in self.cache:
                    self.cache[cid] = self.fingerprint(found[cid].article)
                candidates.append(dedupe.Candidate(cid, self.cache[cid], cid in pinned))
        return candidates


def _exact_keys(f: dedupe.Fingerprint) -> list[tuple[str, str]]:
    keys = [("body", f.body_hash), ("title", f.title_key)]
    return [("link", f.link), *keys] if f.link else keys


def _best(score: Counter[int]) -> list[int]:
    """The ``CANDIDATES`` ids sharing the most evidence; among equals the oldest (a story's first)."""
    return [i for i, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:CANDIDATES]]


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
