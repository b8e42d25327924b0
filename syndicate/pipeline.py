"""The one orchestrator: gather → store → zones → publish.

Every CLI command and scheduler job is a few lines that build a ``Context`` and call one function here.
This module decides *what* happens in which order; the steps it calls decide *how*. Time comes from the
context's clock, never from ``datetime.now()`` inside a step.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import logging
import os
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import dedupe
from .config import (
    Config,
    DirectorySourceConfig,
    FeedSourceConfig,
    SourceConfig,
    SqlSourceConfig,
)
from .context import Context as Context
from .context import config_url as _config_url
from .context import feed_selections as feed_selections
from .context import other_sources as other_sources
from .context import system_clock as system_clock
from .context import user_agent
from .context import zone_and_city_selections as zone_and_city_selections
from .context import zone_set as zone_set
from .exceptions import ConfigError
from .publish import (
    check_templates,
)
from .publisher import Publisher
from .publisher import PublishReport as PublishReport
from .sources import DirectorySource, FeedSource, HttpFetcher, SqlSource, health
from .store import Decision, Keys, Story
from .text import sanitized_text
from .types import Article, FetchReport, SourceResult, SourceState
from .zones import ZoneIndex

__all__ = ["Context", "Kept", "PublishReport", "fetch", "init", "publish", "system_clock"]

log = logging.getLogger("syndicate")


@dataclass
class Kept:
    """What a long-lived process (the daemon) keeps between runs: the in-memory LSH index of dedupe (built
    from stored signatures on first use, then topped up with what other processes stored since) and the
    publisher with its lists. A one-shot command makes a fresh one; it stays valid across config reloads
    as long as the database is the same."""

    lsh: dedupe.LshIndex = field(default_factory=dedupe.LshIndex)
    publisher: Publisher = field(default_factory=Publisher)


def check(config: Config) -> tuple[list[str], list[str]]:
    """What ``syndicate check`` finds beyond the schema: (problems, warnings), each naming its key."""
    problems: list[str] = []
    zones = zone_set(config)
    slugs = {z.slug for z in zones.zones}
    seen_slugs: dict[str, str] = {}
    for z in zones.zones:
        if z.slug in seen_slugs:
            problems.append(f"zones: slug {z.slug!r} is used by {seen_slugs[z.slug]} and {z.name}")
        seen_slugs[z.slug] = z.name
    for i, src in enumerate(config.sources):
        zone = getattr(src, "zone", None)
        if zone is not None and zone not in slugs:
            problems.append(f"sources[{i}].zone: {zone!r} is no zone slug")
    problems += [f"publish.templates_dir: {p}" for p in check_templates(config.publish.templates)]
    return problems, list(zones.dropped_aliases)


def init(ctx: Context) -> str:
    """Create or migrate the database. Returns what it found: new, behind or current."""
    state = ctx.store.schema_state()
    if state in ("new", "behind"):
        ctx.store.migrate()
    elif state == "unknown":
        ctx.store.ensure_ready()  # raises with the explanation
    return state


def fetch(
    ctx: Context,
    source_ids: Iterable[str] = (),
    *,
    only_due: bool = False,
    kept: Kept | None = None,
) -> list[FetchReport]:
    """Read each source once and store what is new or changed. One failing source never stops another.

    Partner feeds are fetched concurrently (``[fetch] concurrency``, one request per host at a time);
    each source's articles and its new state (ETag, cursor, health) are stored in one transaction as soon
    as it is read. ``only_due`` skips sources whose next due time has not come (the daemon's mode).
    """
    config = ctx.config
    wanted = list(dict.fromkeys(source_ids))
    unknown = [i for i in wanted if i not in {s.id for s in config.sources}]
    if unknown:
        raise ConfigError(f"no source with id {', '.join(map(repr, unknown))} in {config.path}")
    ctx.store.ensure_ready()
    index = ctx.zone_index()
    states = ctx.store.source_states()
    now = ctx.clock()
    selected = [s for s in config.sources if not wanted or s.id in wanted]
    if only_due:
        # A scheduled poll may come a little early (its jitter); a source waiting out a backoff is skipped.
        selected = [s for s in selected if _due(states.get(s.id), _config_url(s), now, s.interval * 0.2)]

    reports: dict[str, FetchReport] = {}
    deferred: list[SourceState] = []  # states without articles, saved together at the end
    try:
        for src in selected:
            ctx.advance("fetch", len(reports), len(selected))
            started = time.perf_counter()
            if isinstance(src, DirectorySourceConfig):
                read = functools.partial(_read_directory, src, config, states.get(src.id), now)
            elif isinstance(src, SqlSourceConfig):
                read = functools.partial(_read_sql, src, config, states.get(src.id), now)
            else:
                continue
            try:
                result = read()
            except Exception as e:  # whatever one source does, it is that source's failure
                result = _crashed(src, config, states.get(src.id), now, e)
            seconds = time.perf_counter() - started
            reports[src.id] = dataclasses.replace(_store(ctx, index, src, result, deferred), seconds=seconds)
        feeds = [s for s in selected if isinstance(s, FeedSourceConfig)]
        if feeds:
            asyncio.run(_fetch_feeds(ctx, index, feeds, states, now, reports, deferred, len(selected)))
    finally:
        if deferred:
            ctx.store.save_source_states(deferred)
    ctx.advance("fetch", len(selected), len(selected))
    deduplicate(ctx, lsh=kept.lsh if kept else None)
    return [reports[s.id] for s in selected if s.id in reports]


def _due(state: SourceState | None, config_url: str, now: datetime, slack: timedelta = timedelta(0)) -> bool:
    if state is None or state.config_url != config_url:
        return True
    if state.disabled:
        return False
    if state.consecutive_errors == 0:
        now += slack
    return state.next_due is None or state.next_due <= now


def _read_directory(
    src: DirectorySourceConfig, config: Config, stored: SourceState | None, now: datetime
) -> SourceResult:
    result = DirectorySource(src.id, src.path, src.link_template, config.site.tz).read()
    state = health.start(src.id, _config_url(src), stored)
    if result.error is not None:
        new = health.failed(state, now, src.interval, config.fetch.max_backoff, "folder", result.error)
        return dataclasses.replace(result, status="error", state=new)
    return dataclasses.replace(result, state=health.succeeded(state, now, src.interval))


def _read_sql(src: SqlSourceConfig, config: Config, stored: SourceState | None, now: datetime) -> SourceResult:
    state = health.start(src.id, src.url, stored)
    password = None
    if src.password_env:
        password = os.environ.get(src.password_env)
        if password is None:
            message = f"password_env: environment variable {src.password_env} is not set"
            new = health.failed(state, now, src.interval, config.fetch.max_backoff, "config", message)
            return SourceResult(src.id, status="error", error=message, state=new)
    source = SqlSource(
        src.id,
        src.url,
        src.table,
        dict(src.columns),
        config.site.tz,
        password=password,
        link_template=src.link_template,
        category=src.category,
        page_size=src.page_size,
    )
    result, cursor = source.read(state.cursor)
    if result.error is not None:
        new = health.failed(state, now, src.interval, config.fetch.max_backoff, "database", result.error)
        return dataclasses.replace(result, state=new)
    return dataclasses.replace(result, state=health.succeeded(state, now, src.interval, cursor=cursor))


async def _fetch_feeds(
    ctx: Context,
    index: ZoneIndex,
    feeds: list[FeedSourceConfig],
    states: dict[str, SourceState],
    now: datetime,
    reports: dict[str, FetchReport],
    deferred: list[SourceState],
    total: int,
) -> None:
    config = ctx.config
    fetcher = HttpFetcher(user_agent(config), config.fetch.concurrency, ctx.is_private, config.fetch.private_hosts)
    async with fetcher:
        by_task = {}
        for src in feeds:
            source = FeedSource(
                src.id,
                src.url,
                src.interval,
                src.timeout or config.fetch.timeout,
                src.max_bytes or config.fetch.max_bytes,
                config.fetch.max_backoff,
                config.site.tz,
                src.category,
            )
            read = _guarded(src, config, states.get(src.id), now, source.read(fetcher, states.get(src.id), now))
            by_task[asyncio.ensure_future(_timed(read))] = src
        for task in asyncio.as_completed(list(by_task)):
            result, seconds = await task
            report = _store(ctx, index, config.source(result.source_id), result, deferred)
            reports[result.source_id] = dataclasses.replace(report, seconds=seconds)
            ctx.advance("fetch", len(reports), total)  # Cancelled here: the other requests are abandoned


def _crashed(
    src: SourceConfig, config: Config, stored: SourceState | None, now: datetime, error: Exception
) -> SourceResult:
    """A source whose read raised: its failure, recorded with backoff like any other; the rest go on."""
    log.error("fetch.crashed", extra={"source": src.id, "error": f"{type(error).__name__}: {error}"}, exc_info=error)
    state = health.start(src.id, _config_url(src), stored)
    if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
        error = OSError(error.errno, "too many open files: raise the open-files limit (LimitNOFILE)")
    new = health.crashed(state, now, src.interval, config.fetch.max_backoff, error)
    return SourceResult(src.id, status="error", error=f"{new.last_error_kind}: {new.last_error}", state=new)


async def _guarded(
    src: SourceConfig, config: Config, stored: SourceState | None, now: datetime, read: Awaitable[SourceResult]
) -> SourceResult:
    try:
        return await read
    except Exception as e:
        return _crashed(src, config, stored, now, e)


async def _timed(read: Awaitable[SourceResult]) -> tuple[SourceResult, float]:
    started = time.perf_counter()
    result = await read
    return result, time.perf_counter() - started


def _store(
    ctx: Context, index: ZoneIndex, src: SourceConfig, result: SourceResult, deferred: list[SourceState]
) -> FetchReport:
    """Save one source's articles with its state; a failed or unchanged read only updates the state."""
    if result.error is not None or not result.articles:
        if result.state is not None:
            deferred.append(result.state)
        if result.status == "disabled":
            return FetchReport(src.id, warnings=(result.error or "disabled",), status="disabled")
        if result.error is not None:
            log.warning("fetch.failed", extra={"source": src.id, "error": result.error})
            return FetchReport(src.id, errors=(result.error,), status="error")
        log.info("fetch.done", extra={"source": src.id, "status": result.status, "new": 0})
        return FetchReport(src.id, errors=result.problems, warnings=result.warnings, status=result.status)
    default_zone = getattr(src, "zone", None)
    items: list[tuple[Article, tuple[str, ...]]] = []
    warnings = list(result.warnings)
    for article in result.articles:
        assignment = index.assign(article, default_zone, f"{article.title}\n{sanitized_text(article.body_html)}")
        warnings.extend(
            f"{article.key}: zone {name!r} is no configured zone name or alias" for name in assignment.unmatched
        )
        items.append((article, assignment.slugs))
    counts = ctx.store.save_articles(src.id, items, ctx.clock(), state=result.state)
    report = FetchReport(
        src.id,
        new=counts.new,
        updated=counts.updated,
        unchanged=counts.unchanged,
        errors=result.problems,
        warnings=tuple(warnings),
        status=result.status,
    )
    log.info(
        "fetch.done",
        extra={
            "source": src.id,
            "status": result.status,
            "new": report.new,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "errors": len(report.errors),
        },
    )
    return report


@dataclass
class DedupeReport:
    checked: int = 0
    merged: int = 0


def _choose(members: Sequence[tuple[int, int, datetime]]) -> int:
    return dedupe.choose_canonical([dedupe.Member(*m) for m in members])


def priorities(config: Config) -> dict[str, int]:
    return {s.id: s.priority for s in config.sources}


def deduplicate(ctx: Context, batch: int = 2000, *, lsh: dedupe.LshIndex | None = None) -> DedupeReport:
    """Fingerprint every article not yet fingerprinted and join it to its story (docs/design.md, "Dedupe").

    Each batch is one transaction with one round of lookups and one of writes; a crash leaves the rest
    pending for the next run. Articles of one batch are also compared with each other.
    """
    tz = ctx.config.site.tz
    report = DedupeReport()
    cache: dict[int, dedupe.Fingerprint] = {}

    def fingerprint(article: Article) -> dedupe.Fingerprint:
        return dedupe.fingerprint(article.title, article.body_html, article.link, article.published, tz)

    def keys(f: dedupe.Fingerprint) -> Keys:
        return Keys(f.link, f.body_hash, f.title_key, f.length, f.buckets)

    index = lsh if lsh is not None else dedupe.LshIndex()
    # First use in this process: every stored signature; later: what other processes stored since.
    loaded = list(ctx.store.signature_buckets(after=index.high_water))
    index.load([aid for aid, _ in loaded], [blob for _, blob in loaded])
    after = 0  # the pending scan resumes where the last batch ended instead of starting over
    while True:
        with ctx.store.dedupe_session(priorities(ctx.config), _choose, ctx.clock()) as session:
            pending = session.pending(batch, after)
            if pending:
                after = pending[-1].id
            mine = {p.id: fingerprint(p.article) for p in pending}
            hits = {i: index.query(f.buckets) for i, f in mine.items()}
            found = session.lookup({i: keys(f) for i, f in mine.items()}, hits)
            story_of = {k.id: k.story_id for k in found.known.values()}
            pinned = {k.id for k in found.known.values() if k.pinned}
            # Keys of the batch's own articles, so that two copies arriving together are joined too.
            local: dict[object, list[int]] = {}
            decisions = []
            for p in pending:
                f = mine[p.id]
                k = keys(f)
                lookup_keys: list[object] = [("l", f.link), ("b", f.body_hash), ("t", f.title_key), *f.buckets]
                if p.story_id is not None:
                    decisions.append(Decision(p.id, k, p.story_id, keep_story=True))
                    story_of[p.id] = p.story_id
                else:
                    ids = set(found.hits[p.id])
                    for key in lookup_keys:
                        ids.update(local.get(key, ()))
                    candidates = []
                    for cid in sorted(ids):
                        if cid in mine:
                            candidates.append(dedupe.Candidate(cid, mine[cid], cid in pinned))
                        elif cid in found.known:
                            if cid not in cache:
                                cache[cid] = fingerprint(found.known[cid].article)
                            candidates.append(dedupe.Candidate(cid, cache[cid], cid in pinned))
                    m = dedupe.match(f, candidates)
                    if m is None:
                        story_of[p.id] = p.id
                        decisions.append(Decision(p.id, k, p.id))
                    else:
                        story_of[p.id] = story_of[m.article_id]
                        decisions.append(Decision(p.id, k, story_of[p.id], m.article_id, m.rule, m.similarity))
                        report.merged += 1
                if p.pinned:
                    pinned.add(p.id)
                for key in lookup_keys:
                    local.setdefault(key, []).append(p.id)
            session.record(decisions)
            report.checked += len(pending)
        for d in decisions:  # after the commit: the index holds only what the store holds
            index.add(d.article_id, d.keys.buckets)
        if len(pending) < batch:
            break
        if len(cache) > 50_000:
            cache.clear()
    if report.checked:
        log.info("dedupe.done", extra={"checked": report.checked, "merged": report.merged})
    return report


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


def publish(ctx: Context, full: bool = False, *, kept: Kept | None = None) -> PublishReport:
    """Write the feeds whose items changed since the last publish (every feed with ``full``) as RSS, Atom
    and JSON Feed, then the discovery page, OPML and stylesheet (``Publisher.publish``). Articles stored
    by a run that stopped before dedupe are decided first."""
    kept = kept or Kept()
    ctx.store.ensure_ready()
    deduplicate(ctx, lsh=kept.lsh)
    return kept.publisher.publish(ctx, full)
