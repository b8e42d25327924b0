"""The one orchestrator: gather → store → zones → publish.

Every CLI command and scheduler job is a few lines that build a ``Context`` and call one function here.
This module decides *what* happens in which order; the steps it calls decide *how*. Time comes from the
context's clock, never from ``datetime.now()`` inside a step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import __version__
from .config import Config, DirectorySourceConfig
from .exceptions import ConfigError, PublishError
from .publish import FeedSpec, SiteInfo, atomic_write, build_atom, build_rss
from .sources import DirectorySource, Source
from .store import Store
from .types import Article, FetchReport, Zone
from .zones import ZoneIndex

__all__ = ["Context", "PublishReport", "fetch", "init", "publish", "system_clock"]

log = logging.getLogger("syndicate")
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    """What one run needs: the validated config, an open store and a clock."""

    config: Config
    store: Store
    clock: Clock = system_clock

    @classmethod
    def open(cls, config: Config, clock: Clock = system_clock) -> Context:
        return cls(config, Store(config.database.url), clock)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def zones(self) -> tuple[Zone, ...]:
        return tuple(
            Zone(slug=z.slug, name=z.name, city=z.city, province=z.province, aliases=z.aliases)
            for z in self.config.zones
        )

    @property
    def site(self) -> SiteInfo:
        s = self.config.site
        return SiteInfo(title=s.title, base_url=s.base_url, language=s.language, tz=s.tz, version=__version__)


def init(ctx: Context) -> str:
    """Create or migrate the database. Returns what it found: new, behind or current."""
    state = ctx.store.schema_state()
    if state in ("new", "behind"):
        ctx.store.migrate()
    elif state == "unknown":
        ctx.store.ensure_ready()  # raises with the explanation
    return state


def build_sources(config: Config) -> list[Source]:
    sources: list[Source] = []
    for s in config.sources:
        if isinstance(s, DirectorySourceConfig):
            sources.append(DirectorySource(s.id, s.path, s.link_template, config.site.tz))
    return sources


def fetch(ctx: Context, source_ids: Iterable[str] = ()) -> list[FetchReport]:
    """Read each source once and store what is new or changed. One failing source never stops another."""
    wanted = list(dict.fromkeys(source_ids))
    known = {s.id for s in ctx.config.sources}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ConfigError(f"no source with id {', '.join(map(repr, unknown))} in {ctx.config.path}")
    ctx.store.ensure_ready()
    index = ZoneIndex(ctx.zones)
    reports = []
    for source in build_sources(ctx.config):
        if wanted and source.id not in wanted:
            continue
        reports.append(_fetch_one(ctx, source, index))
    return reports


def _fetch_one(ctx: Context, source: Source, index: ZoneIndex) -> FetchReport:
    started = time.perf_counter()
    result = source.read()
    if result.error is not None:
        log.warning("fetch.failed", extra={"source": source.id, "error": result.error})
        return FetchReport(source.id, errors=(result.error,))
    items: list[tuple[Article, tuple[str, ...]]] = []
    warnings: list[str] = []
    for article in result.articles:
        assignment = index.assign(article)
        warnings.extend(
            f"{article.key}: zone {name!r} is no configured zone name or alias" for name in assignment.unmatched
        )
        items.append((article, assignment.slugs))
    counts = ctx.store.save_articles(source.id, items, ctx.clock())
    report = FetchReport(
        source.id,
        new=counts.new,
        updated=counts.updated,
        unchanged=counts.unchanged,
        errors=result.problems,
        warnings=tuple(warnings),
    )
    log.info(
        "fetch.done",
        extra={
            "source": source.id,
            "new": report.new,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "errors": len(report.errors),
            "ms": round((time.perf_counter() - started) * 1000),
        },
    )
    return report


@dataclass
class PublishReport:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)


def feed_specs(ctx: Context) -> list[tuple[FeedSpec, str]]:
    """Every feed to publish, each with the zone slug whose articles it holds."""
    title = ctx.config.site.title
    return [
        (
            FeedSpec(
                path=f"zones/{z.slug}",
                title=f"{z.name} · {title}",
                description=f"{z.city} {z.name}的最新新闻",
                labels=(("zone", z.name), ("city", z.city)),
            ),
            z.slug,
        )
        for z in ctx.zones
    ]


def publish(ctx: Context) -> PublishReport:
    """Write every zone's RSS and Atom feed. Each file is replaced atomically; unchanged bytes stay."""
    ctx.store.ensure_ready()
    site = ctx.site
    out = ctx.config.publish.output_dir
    limit = ctx.config.publish.items_per_feed
    now = ctx.clock()
    report = PublishReport()
    for spec, slug in feed_specs(ctx):
        items = ctx.store.zone_articles(slug, limit)
        for filename, build in (("rss.xml", build_rss), ("atom.xml", build_atom)):
            path = out / spec.path / filename
            try:
                changed = atomic_write(path, build(spec, site, items, now))
            except PublishError:
                log.error("publish.failed", extra={"path": str(path)})
                raise
            (report.written if changed else report.unchanged).append(path)
    log.info("publish.done", extra={"written": len(report.written), "unchanged": len(report.unchanged)})
    return report
