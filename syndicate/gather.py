"""Gathering: read each configured source once and store what is new or changed, with the zones each
article belongs to. One failing source never stops another.

Sources are built from the config here (``open_source``) and all have one shape (``sources.Source``);
the ones that read locally (a folder, a database) are read in config order, partner feeds concurrently
(``[fetch] concurrency``, one request per host at a time). Each source's articles and its new state
(ETag, cursor, health) are stored in one transaction as soon as it is read; the caller is told how many
articles each transaction stored (the pipeline joins them to their stories meanwhile).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from .config import Config, DirectorySourceConfig, FeedSourceConfig, SourceConfig, SqlSourceConfig
from .context import Context, config_url, user_agent
from .exceptions import ConfigError
from .parsing import Prepared, parse_in_pool
from .sources import health
from .sources.base import Source
from .sources.feed import FeedDefaults, ParsedFeed
from .sources.http import HttpFetcher
from .sources.partner import FeedSource, Fetcher, Parse, parse_in_thread
from .store import SourceBatch
from .text import sanitized_text
from .types import Article, FetchReport, SourceResult, SourceState
from .zones import ZoneIndex

__all__ = ["OpenSource", "due", "fetch", "open_source"]

log = logging.getLogger("syndicate")

OpenSource = Callable[[SourceConfig], Source]
STORE_BATCH = 5_000  # articles stored in one transaction at most (the sources read meanwhile)
# Fingerprints made by the parsing workers and kept for the joining step of the same run: about 20 KiB
# an article, so a first fetch of a very large backlog keeps the first ones only.
PREPARED_LIMIT = 20_000


def open_source(config: Config, fetcher: Fetcher, src: SourceConfig, parse: Parse = parse_in_thread) -> Source:
    """The source a config entry describes, with the site's and ``[fetch]``'s defaults applied; partner
    feeds are parsed with ``parse``."""
    tz, max_backoff = config.site.tz, config.fetch.max_backoff
    # The readers of the other kinds are imported when one is configured (the Markdown reader, the CMS
    # database's queries): a fetch of partner feeds starts without them.
    if isinstance(src, DirectorySourceConfig):
        from .sources.local import DirectorySource

        return DirectorySource(src.id, src.path, src.link_template, tz, src.interval, max_backoff)
    if isinstance(src, SqlSourceConfig):
        from .sources.sql import SqlSource

        return SqlSource(
            src.id,
            src.url,
            src.table,
            dict(src.columns),
            src.tz or tz,
            password_env=src.password_env,
            link_template=src.link_template,
            category=src.category,
            page_size=src.page_size,
            interval=src.interval,
            max_backoff=max_backoff,
        )
    assert isinstance(src, FeedSourceConfig)
    return FeedSource(
        fetcher,
        src.id,
        src.url,
        src.interval,
        src.timeout or config.fetch.timeout,
        src.max_bytes or config.fetch.max_bytes,
        max_backoff,
        src.tz or tz,
        src.category,
        parse,
    )


def fetch(
    ctx: Context,
    source_ids: Iterable[str] = (),
    *,
    only_due: bool = False,
    open_source: OpenSource | None = None,
    prepared: dict[tuple[str, str], Prepared] | None = None,
    stored: Callable[[int, int | None], None] | None = None,
) -> list[FetchReport]:
    """Read the sources (all, or those named) once and store what they gave. ``only_due`` skips sources
    whose next due time has not come (the daemon's mode). ``open_source`` builds the source of a config
    entry; by default the real ones (``open_source`` above), partner feeds parsed in worker processes.
    ``prepared`` receives the dedupe fingerprints the workers made, by (source id, key), for the joining
    step (at most ``PREPARED_LIMIT`` waiting: past it, joining makes its own). ``stored`` is told, after
    each transaction, how many articles it stored new or edited (the pipeline joins them meanwhile), and
    how many more the reads still running should bring, at the rate of those stored so far (None before
    the network reads or once they are all in)."""
    config = ctx.config
    wanted = list(dict.fromkeys(source_ids))
    unknown = [i for i in wanted if i not in {s.id for s in config.sources}]
    if unknown:
        raise ConfigError(f"no source with id {', '.join(map(repr, unknown))} in {config.path}")
    ctx.store.ensure_ready()
    states = ctx.store.source_states()
    now = ctx.clock()
    selected = [s for s in config.sources if not wanted or s.id in wanted]
    if only_due:
        selected = [s for s in selected if s.id in _due(selected, states, now, None)]
    run = _Run(ctx, ctx.zone_index(), states, now, len(selected), prepared if prepared is not None else {}, stored)
    try:
        asyncio.run(run.read_all(selected, open_source))
    finally:
        if run.deferred:
            ctx.store.save_source_states(run.deferred)
        ctx.forget_source_titles()  # a feed may have said its name
    ctx.advance("fetch", len(selected), len(selected))
    return [run.reports[s.id] for s in selected if s.id in run.reports]


def due(ctx: Context, now: datetime, slack: timedelta | None = None) -> list[str]:
    """The ids of the configured sources a poll at ``now`` reads, asked of the store (each source's next
    due time, backoff and 410 Gone; ``sources.health.due``). ``slack``: how early a healthy source may
    be read; by default a fifth of its interval (a cron job running ``run --once`` every interval comes
    a little early or late)."""
    return _due(ctx.config.sources, ctx.store.source_states(), now, slack)


def _due(
    sources: Iterable[SourceConfig], states: dict[str, SourceState], now: datetime, slack: timedelta | None
) -> list[str]:
    return [
        s.id
        for s in sources
        if health.due(states.get(s.id), config_url(s), now, s.interval * 0.2 if slack is None else slack, s.interval)
    ]


@dataclasses.dataclass
class _Run:
    """One fetch: what its steps share."""

    ctx: Context
    index: ZoneIndex
    states: dict[str, SourceState]
    now: datetime
    total: int
    prepared: dict[tuple[str, str], Prepared]
    stored: Callable[[int, int | None], None] | None = None
    reports: dict[str, FetchReport] = dataclasses.field(default_factory=dict)
    running: int = 0  # network reads not finished
    articles: int = 0  # new or edited articles stored so far
    deferred: list[SourceState] = dataclasses.field(default_factory=list)  # states without articles, saved at the end

    async def read_all(self, selected: list[SourceConfig], opener: OpenSource | None) -> None:
        """Local sources are read and stored one after the other in config order; network reads start
        after them and are stored as each completes."""
        config = self.ctx.config
        fetcher = HttpFetcher(
            user_agent(config), config.fetch.concurrency, self.ctx.is_private, config.fetch.private_hosts
        )
        async with fetcher:
            opener = opener or functools.partial(open_source, config, fetcher, parse=self.parse)
            waiting: dict[asyncio.Future[tuple[SourceResult, float]], SourceConfig] = {}
            for src in selected:
                self.ctx.advance("fetch", len(self.reports), self.total)
                started = time.perf_counter()
                stored = self.states.get(src.id)
                try:
                    outcome = opener(src).read(stored, self.now)
                except Exception as e:  # whatever one source does, it is that source's failure
                    outcome = _crashed(src, config, stored, self.now, e)
                if inspect.isawaitable(outcome):
                    guarded = _guarded(src, config, stored, self.now, outcome)
                    waiting[asyncio.ensure_future(_timed(guarded))] = src
                else:
                    self._store(src, outcome, time.perf_counter() - started)
            running = set(waiting)
            while running:
                # What finished while the last ones were being stored is stored together.
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                self.running = len(running)
                finished = [task.result() for task in done]
                self._store_many([(config.source(r.source_id), r, seconds) for r, seconds in finished])
                self.ctx.advance("fetch", len(self.reports), self.total)  # Cancelled: the rest are abandoned

    async def parse(self, body: bytes, content_type: str | None, defaults: FeedDefaults) -> ParsedFeed:
        """A partner document parsed on another core, its fingerprints kept for joining."""
        parsed, prepared = await parse_in_pool(body, content_type, defaults, self.ctx.config.site.tz)
        if len(self.prepared) < PREPARED_LIMIT:
            self.prepared.update(((a.source_id, a.key), p) for a, p in zip(parsed.articles, prepared, strict=True))
        return parsed

    def _store(self, src: SourceConfig, result: SourceResult, seconds: float) -> None:
        self._store_many([(src, result, seconds)])

    def _store_many(self, finished: list[tuple[SourceConfig, SourceResult, float]]) -> None:
        """Store reads in transactions of up to ``STORE_BATCH`` articles. A transaction of several
        sources that fails is tried again one source at a time: one source's bad data never costs the
        others theirs."""
        batch: list[tuple[SourceConfig, SourceResult, float, _Ready]] = []
        size = 0
        for src, result, seconds in finished:
            ready = _prepare(self.index, src, result)
            if isinstance(ready, FetchReport):  # nothing to store but its state, saved at the end
                if result.state is not None:
                    self.deferred.append(result.state)
                self.reports[src.id] = dataclasses.replace(ready, seconds=seconds)
                continue
            batch.append((src, result, seconds, ready))
            size += len(ready.items)
            if size >= STORE_BATCH:
                self._save(batch)
                batch, size = [], 0
        if batch:
            self._save(batch)

    def _save(self, batch: list[tuple[SourceConfig, SourceResult, float, _Ready]]) -> None:
        store, now = self.ctx.store, self.ctx.clock()
        groups = [SourceBatch(src.id, ready.items, result.state) for src, result, _, ready in batch]
        try:
            counts = store.save_sources(groups, now)
        except Exception:
            if len(groups) == 1:
                raise
            # Whichever source it was fails alone, as it would have by itself; the others are stored.
            counts = [store.save_sources([g], now)[0] for g in groups]
        for (src, result, seconds, ready), c in zip(batch, counts, strict=True):
            report = FetchReport(
                src.id,
                new=c.new,
                updated=c.updated,
                unchanged=c.unchanged,
                errors=result.problems,
                warnings=ready.warnings,
                status=result.status,
                seconds=seconds,
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
            self.reports[src.id] = report
        stored = sum(c.new + c.updated for c in counts)
        self.articles += stored
        if self.stored is not None:
            self.stored(stored, self._coming())

    def _coming(self) -> int | None:
        """How many articles the network reads still running should bring, at the rate of every read
        finished so far (None: none running)."""
        if not self.running:
            return None
        return self.running * self.articles // max(1, len(self.reports))


def _crashed(
    src: SourceConfig, config: Config, stored: SourceState | None, now: datetime, error: Exception
) -> SourceResult:
    """A source whose read raised: its failure, recorded with backoff like any other; the rest go on."""
    log.error("fetch.crashed", extra={"source": src.id, "error": f"{type(error).__name__}: {error}"}, exc_info=error)
    state = health.start(src.id, config_url(src), stored)
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


@dataclasses.dataclass(frozen=True, slots=True)
class _Ready:
    """A read's articles with the zones each belongs to, ready to store."""

    items: list[tuple[Article, tuple[str, ...]]]
    warnings: tuple[str, ...]


def _prepare(index: ZoneIndex, src: SourceConfig, result: SourceResult) -> _Ready | FetchReport:
    """A read's articles with their zones; or, for a failed or unchanged read (only its state to
    save), its report."""
    if result.error is not None or not result.articles:
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
    return _Ready(items, tuple(warnings))
