"""The one orchestrator: gather → store → dedupe → publish.

Every CLI command and scheduler job is a few lines that build a ``Context`` and call one function here.
This module decides *what* happens in which order (``gather`` reads and stores the sources, ``joining``
joins new articles to stories, ``publisher`` writes the feeds); the steps decide *how*. Time comes from
the context's clock, never from ``datetime.now()`` inside a step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import Config
from .context import Context as Context
from .context import feed_selections as feed_selections
from .context import other_sources as other_sources
from .context import system_clock as system_clock
from .context import zone_and_city_selections as zone_and_city_selections
from .context import zone_set as zone_set
from .types import FetchReport

# Reading sources (feedparser, httpx) and dedupe (numpy) are imported when a run needs them: a publish
# with nothing new, `status` or a digest never does; nor is publishing (feedgen, Jinja) by a fetch.
if TYPE_CHECKING:
    from . import dedupe, gather
    from .joining import DedupeReport as DedupeReport
    from .joining import Joining
    from .joining import deduplicate as deduplicate
    from .joining import priorities as priorities
    from .joining import split as split
    from .joining import stories as stories
    from .parsing import Prepared
    from .publisher import Publisher
    from .publisher import PublishReport as PublishReport

_FROM_JOINING = ("DedupeReport", "deduplicate", "priorities", "split", "stories")


def __getattr__(name: str) -> Any:
    if name in _FROM_JOINING:
        from . import joining

        return getattr(joining, name)
    if name == "PublishReport":
        from .publisher import PublishReport

        return PublishReport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Context",
    "DedupeReport",
    "Kept",
    "PublishReport",
    "check",
    "deduplicate",
    "fetch",
    "init",
    "publish",
    "push",
    "split",
    "stories",
    "system_clock",
]


@dataclass
class Kept:
    """What a long-lived process (the daemon) keeps between runs: the in-memory LSH index of dedupe (built
    from stored signatures on first use, then topped up with what other processes stored since) and the
    publisher with its lists. A one-shot command makes a fresh one; it stays valid across config reloads
    as long as the database is the same."""

    _lsh: dedupe.LshIndex | None = None
    _publisher: Publisher | None = None

    @property
    def lsh(self) -> dedupe.LshIndex:
        if self._lsh is None:
            from .dedupe import LshIndex

            self._lsh = LshIndex()
        return self._lsh

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            from .publisher import Publisher

            self._publisher = Publisher()
        return self._publisher


def check(config: Config) -> tuple[list[str], list[str]]:
    """What ``syndicate check`` finds beyond the schema: (problems, warnings), each naming its key."""
    from .publish import check_templates

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
    open_source: gather.OpenSource | None = None,
) -> list[FetchReport]:
    """Read each source once and store what is new or changed (``gather.fetch``: one failing source never
    stops another), joining the new articles to their stories as they are stored (``joining.Joining``:
    a batch at a time while the parsing workers read on, the rest at the end). ``only_due`` skips sources
    whose next due time has not come (the daemon's mode); ``open_source`` hands in sources other than
    the configured kind (tests)."""
    from . import gather
    from .parsing import collecting_less

    prepared: dict[tuple[str, str], Prepared] = {}  # fingerprints made while parsing, for joining
    joining: Joining | None = None  # made once an article is stored or waits: dedupe (numpy) is imported then

    def stored(count: int, coming: int | None) -> None:
        nonlocal joining
        if count:
            joining = joining or _joining(ctx, kept, prepared)
            joining.stored(count, coming)

    with collecting_less():
        reports = gather.fetch(
            ctx, source_ids, only_due=only_due, open_source=open_source, prepared=prepared, stored=stored
        )
        if joining is None and ctx.store.dedupe_pending():  # left by an earlier run that stopped
            joining = _joining(ctx, kept, prepared)
        if joining is not None:
            joining.join()
    return reports


def _joining(ctx: Context, kept: Kept | None, prepared: dict[tuple[str, str], Prepared]) -> Joining:
    from .joining import Joining

    return Joining(ctx, lsh=kept.lsh if kept else None, prepared=prepared)


def push(ctx: Context) -> int:
    """Send the WebSub notifications that are due (queued by publishes, or failed before); how many hubs
    accepted (``publisher.push``)."""
    from .publisher import push as push_due

    return push_due(ctx, ctx.clock())


def publish(ctx: Context, full: bool = False, *, kept: Kept | None = None, notify: bool = True) -> PublishReport:
    """Write the feeds whose items changed since the last publish (every feed with ``full``) as RSS, Atom
    and JSON Feed, then the discovery page, OPML and stylesheet (``Publisher.publish``). Articles stored
    by a run that stopped before dedupe are decided first. The changed documents' WebSub notifications
    are queued and, with ``notify``, the due ones sent (``push``; the daemon sends them apart)."""
    kept = kept or Kept()
    ctx.store.ensure_ready()
    if ctx.store.dedupe_pending():
        from .joining import deduplicate

        deduplicate(ctx, lsh=kept.lsh)
    return kept.publisher.publish(ctx, full, notify)
