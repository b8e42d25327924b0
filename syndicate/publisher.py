"""Publishing: the feeds whose items changed (every feed with ``full``) written as RSS, Atom and JSON Feed
with their RFC 5005 archives, then the discovery page, OPML and stylesheet, then WebSub notifications.

Which feeds exist and what each holds is decided by ``publish.catalog`` (pure); the documents are built by
``publish.feeds`` (pure); the ``Publisher`` here reads the store, writes the files and keeps what a
long-lived process reuses between publishes (each feed's ids, states and items). The pipeline
deduplicates before it publishes.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import logging
import mimetypes
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from .config import FeedSourceConfig
from .context import Context, feed_selections, other_sources, user_agent
from .exceptions import Cancelled, PublishError
from .files import atomic_write
from .publish import (
    STYLESHEET,
    Credit,
    EntryCache,
    FeedItem,
    FeedLinks,
    FeedListing,
    FeedSelection,
    FeedSpec,
    ItemFragments,
    Paging,
    SiteInfo,
    build_atom,
    build_json,
    build_rss,
    catalog,
    page_path,
    render_feed_page,
    render_index,
    render_opml,
    search_text,
    stylesheet,
    websub,
)
from .store import Changes, FeedState, Membership
from .text import first_image, summarize
from .types import StoredArticle

__all__ = ["FEED_FILES", "PublishReport", "Publisher", "push"]

log = logging.getLogger("syndicate")


@dataclass
class PublishReport:
    written: list[Path] = field(default_factory=list)  # files replaced
    unchanged: list[Path] = field(default_factory=list)  # files rebuilt to the same bytes, left alone
    skipped: int = 0  # feeds whose documents were not written: not concerned by any change, or unchanged
    looked_at: int = 0  # feeds whose items were read again because a change concerned them
    notified: int = 0  # WebSub publish notifications accepted by hubs
    unwritable: dict[str, str] = field(default_factory=dict)  # items left out of every document: guid → why


def _queue_push(ctx: Context, report: PublishReport, now: datetime) -> None:
    """Queue a WebSub notification to every configured hub for every feed document this publish changed
    (in the store: a restart loses none)."""
    hubs = ctx.config.publish.websub_hubs
    if not hubs:
        return
    out = ctx.config.publish.output_dir
    base = ctx.config.site.base_url
    changed = [base + p.relative_to(out).as_posix() for p in report.written if p.name in FEED_FILES]
    if changed:
        ctx.store.queue_notifications(hubs, changed, now)


def push(ctx: Context, now: datetime) -> int:
    """Send the queued WebSub notifications that are due (``websub.notify``: concurrently, within one
    deadline); returns how many hubs accepted. What failed or got no answer is retried later with a
    growing wait; nothing here raises for a hub."""
    if not ctx.config.publish.websub_hubs:
        return 0
    due = ctx.store.due_notifications(now)
    attempts = {(h, u): a for h, u, a in due}
    accepted = 0
    for result in websub.notify([(h, u) for h, u, _ in due], user_agent(ctx.config)):
        if result.ok:
            ctx.store.notification_done(result.hub, result.url)
            accepted += 1
        else:
            n = attempts[(result.hub, result.url)] + 1
            ctx.store.notification_failed(result.hub, result.url, result.error or "", websub.next_attempt(n, now))
            log.warning(
                "websub.failed", extra={"hub": result.hub, "url": result.url, "error": result.error, "attempts": n}
            )
    return accepted


def _write_discovery(run: _Run, selections: Sequence[FeedSelection]) -> None:
    """index.html, feeds.opml and feed.xsl, from what every feed held when last written. Left alone when
    no feed was written and they exist: they would come out the same."""
    out, states, report = run.out, run.states, run.report
    if not run.full and not run.written and all((out / n).exists() for n in (STYLESHEET, "feeds.opml", "index.html")):
        return
    site = run.site
    templates = run.ctx.config.publish.templates
    entries = []
    zones = run.ctx.zones_by_slug
    for selection in selections:
        spec = selection.spec
        state = states.get(spec.path)
        newest = state.newest.astimezone(site.tz).strftime("%Y-%m-%d %H:%M") if state and state.newest else None
        latest = state.latest.astimezone(site.tz).strftime("%Y-%m-%d") if state and state.latest else None
        zone = zones.get(selection.zones[0]) if selection.group == "zones" and selection.zones else None
        slug = spec.path.split("/")[-1]
        entries.append(
            FeedListing(
                selection.group,
                selection.name,
                spec.title,
                selection.city,
                state.items if state else 0,
                newest,
                spec.url(site, "rss.xml"),
                spec.url(site, "atom.xml"),
                spec.url(site, "feed.json"),
                spec.html_url(site),
                province=zone.province if zone else "",
                latest=latest,
                search=search_text(selection.name, slug, selection.city or ""),
            )
        )
    newest_all = max((s.newest for s in states.values() if s.newest), default=run.now)
    for filename, data in (
        (STYLESHEET, stylesheet(templates)),
        ("feeds.opml", render_opml(templates, site, entries, newest_all)),
        ("index.html", render_index(templates, site, entries)),
    ):
        path = out / filename
        changed = atomic_write(path, data)
        (report.written if changed else report.unchanged).append(path)


_READ_BATCH = 2_000  # articles read at once by a full publish
_ITEMS_KEPT = 20_000  # items a publishing process keeps between publishes (a few KB each)


class _ItemMaker:
    """Turns stored articles into feed items: categories, image, source credit, other sources. Kept by a
    process between publishes; ``refresh`` forgets what the changes since made stale."""

    def __init__(self, ctx: Context) -> None:
        self._cache: dict[int, tuple[datetime, FeedItem]] = {}
        self._story: dict[int, int] = {}  # article id → its story, for the items kept
        self.entries = EntryCache(ctx.config.site.tz)  # each item's XML entry, built once per format
        self.ctx = ctx
        self._sources()

    def __len__(self) -> int:
        return len(self._cache)

    def refresh(self, members: dict[int, Membership]) -> None:
        """Forget the items of changed articles and of every article of a story that changed (its
        "also reported by" may have), and read the sources' addresses again."""
        stories = {m.story_id for m in members.values() if m.story_id is not None}
        stale = set(members) | {i for i, story in self._story.items() if story in stories}
        for i in stale & self._cache.keys():
            self.entries.forget(self._cache.pop(i)[1].guid)
            self._story.pop(i, None)
        before = self.sources
        self._sources()
        if self.sources != before:  # a partner moved: every item crediting it is stale
            self._cache.clear()
            self._story.clear()
            self.entries = EntryCache(self.ctx.config.site.tz)

    def _sources(self) -> None:
        config = self.ctx.config
        states = self.ctx.store.source_states()
        platform = Credit(config.site.title, f"{config.site.base_url}all/atom.xml", config.site.base_url)
        self.sources: dict[str, Credit] = {}
        # Partner feeds read from files (a mirror, or the example's): credited by their name, at the site
        # their articles link to (the file's path means nothing to a subscriber).
        self.file_feeds: dict[str, str] = {}
        for src in config.sources:
            if isinstance(src, FeedSourceConfig) and src.is_http:
                state = states.get(src.id)
                url = (state.url if state and state.url and state.config_url == src.url else None) or src.url
                self.sources[src.id] = Credit(self.ctx.source_titles[src.id], url, url)
            elif isinstance(src, FeedSourceConfig):
                self.file_feeds[src.id] = self.ctx.source_titles[src.id]
            else:
                self.sources[src.id] = platform
        self.platform = platform

    def credit(self, source_id: str, link: str) -> Credit | None:
        """Who an article of ``source_id`` is credited to in feeds."""
        title = self.file_feeds.get(source_id)
        if title is None:
            return self.sources.get(source_id)
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return self.platform
        site = f"{parts.scheme}://{parts.netloc}/"
        return Credit(title, site, site)

    def by_ids(self, ids: Sequence[int]) -> list[FeedItem]:
        """The items of these articles, newest published first. An article appears in several feeds
        (zone, city, category, all, archives): it is loaded and turned into an item once per run."""
        missing = [i for i in ids if i not in self._cache]
        if missing:
            for stored, item in zip(
                stored_list := self.ctx.store.articles_by_ids(missing), self(stored_list), strict=True
            ):
                self._cache[stored.id] = (stored.article.published, item)
                if stored.story_id is not None:
                    self._story[stored.id] = stored.story_id
        ranked = sorted((self._cache[i] + (i,) for i in ids), key=lambda t: (t[0], t[2]), reverse=True)
        return [item for _published, item, _id in ranked]

    def __call__(self, stored: Sequence[StoredArticle]) -> list[FeedItem]:
        stories = self.ctx.store.story_sources([s.story_id for s in stored if s.story_id is not None])
        zones = self.ctx.zones_by_slug
        items = []
        for s in stored:
            a = s.article
            categories = [zones[z].name for z in s.zones if z in zones]
            categories += [zones[z].city for z in s.zones if z in zones]
            if a.category:
                categories.append(a.category)
            image = a.image
            if image is None:
                image = first_image(a.body_html)
            items.append(
                FeedItem(
                    guid=s.guid,
                    title=a.title,
                    link=a.link,
                    published=a.published,
                    updated=shown_updated(s),
                    changed=s.updated,
                    summary=summarize(a.body_html, 200, sanitized=True),
                    content_html=a.body_html,
                    author=a.author,
                    categories=tuple(dict.fromkeys(categories)),
                    image=image,
                    image_type=(mimetypes.guess_type(image)[0] if image else None) or ("image/jpeg" if image else None),
                    source=self.credit(a.source_id, a.link),
                    also=other_sources(self.ctx, stories, s),
                    enclosures=a.enclosures,
                )
            )
        return items


FEED_FILES = ("rss.xml", "atom.xml", "feed.json")
_WATERMARK = "publish.watermark"
_LAST_PUBLISH = "publish.last"


class Publisher:
    """Publishes, and keeps what a long-lived process reuses between publishes: each feed's ids (a daemon
    publishes many times; listing a 50,000-article feed each time is the cost of an incremental publish
    otherwise), what each feed held when last written, and the articles already made into feed items.

    Whoever lives long owns one (the daemon); a one-shot command uses a fresh one. What it keeps is
    dropped when another process published since (the watermark moved under it), on ``publish --all``, and
    when it is handed another run context (the config was reloaded).
    """

    def __init__(self) -> None:
        self._ctx: Context | None = None
        self.feed_ids: dict[str, list[int]] = {}  # feed path → its article ids in arrival order
        self.feed_ids_at: str | None = None  # the watermark ``feed_ids`` correspond to
        self.feed_states: dict[str, FeedState] | None = None
        self.items: _ItemMaker | None = None

    def _forget(self) -> None:
        self.feed_ids.clear()
        self.feed_states = None
        self.items = None

    def publish(self, ctx: Context, full: bool = False, notify: bool = True) -> PublishReport:
        """Write the feeds whose items changed since the last publish (every feed with ``full``) as RSS,
        Atom and JSON Feed, then the discovery page, OPML and stylesheet; queue the WebSub notifications
        of the changed documents and, with ``notify``, send what is due (``push``; the daemon sends them
        from a job of their own instead).

        Which feeds changed follows from the articles stored or edited since the last publish (a
        watermark): their zones, cities and categories, and ``all``. A feed whose items are the same as
        when it was last written is not rewritten, so its bytes (and ETag) stay. Each file is replaced
        atomically; the discovery documents are written last, so they never point to a feed not yet
        written.
        """
        if ctx is not self._ctx:
            self._forget()
            self._ctx, self.feed_ids_at = ctx, None
        stored_mark = ctx.store.setting(_WATERMARK)
        mark = json.loads(stored_mark or "null") if not full else None
        watermark = datetime.fromisoformat(mark["at"]) if mark else None
        if full or stored_mark != self.feed_ids_at:
            self._forget()  # another process published since, or a rebuild: list the feeds again
        changes = ctx.store.changed_since(watermark, set(mark["ids"]) if mark else ())
        if not self.feed_ids or self.feed_states is None:
            self.feed_states = ctx.store.feed_states()
        members = ctx.store.memberships(changes.ids) if self.feed_ids or self.items is not None else {}
        if self.items is None or len(self.items) > _ITEMS_KEPT:
            self.items = _ItemMaker(ctx)
        else:
            self.items.refresh(members)
        run = _Run(ctx, ctx.clock(), full, watermark is None, changes, members, self.feed_states, self.items)
        selections = feed_selections(ctx)
        listed = self._list_all(run, selections) if run.relist else None
        try:
            for n, selection in enumerate(selections):
                ctx.advance("publish", n, len(selections))
                self._publish_feed(run, selection, listed)
        except Cancelled:
            if run.written:
                ctx.store.save_feed_states(run.written)  # the next publish will not redo them
            self.feed_states = None
            raise
        if run.written:
            ctx.store.save_feed_states(run.written)
            run.states.update({s.path: s for s in run.written})
        _write_discovery(run, selections)
        self.feed_ids_at = _advance_watermark(ctx, changes) or stored_mark
        _queue_push(ctx, run.report, run.now)
        if notify:
            run.report.notified = push(ctx, run.now)
        run.report.unwritable = dict(run.items.entries.failed)
        for guid, why in run.report.unwritable.items():
            log.warning("publish.item_skipped", extra={"guid": guid, "error": why})
        ctx.store.set_setting(_LAST_PUBLISH, run.now.isoformat())
        ctx.advance("publish", len(selections), len(selections))
        report = run.report
        log.info(
            "publish.done",
            extra={"written": len(report.written), "unchanged": len(report.unchanged), "looked_at": report.looked_at},
        )
        return report

    def _list_all(self, run: _Run, selections: Sequence[FeedSelection]) -> dict[str, list[int]]:
        """Every feed will be looked at: list them all from one read instead of a query each, and read
        every canonical article (all are in ``all`` or its archives) in large batches, not feed by feed."""
        canonical = run.ctx.store.canonical_memberships()
        listed = catalog.list_feeds(selections, canonical)
        ids = sorted(canonical)
        for start in range(0, len(ids), _READ_BATCH):
            run.ctx.advance("read articles", start, len(ids))
            run.items.by_ids(ids[start : start + _READ_BATCH])
        return listed

    def _publish_feed(self, run: _Run, selection: FeedSelection, listed: dict[str, list[int]] | None) -> None:
        """One feed: its archive pages, then its RSS, Atom and JSON documents, unless nothing it holds
        changed."""
        spec, report, limit = selection.spec, run.report, run.limit
        state = run.states.get(spec.path)
        # A removed folder, or one written before pages were, is written again.
        complete = all((run.out / spec.path / name).exists() for name in ("atom.xml", "index.html"))
        if not run.relist and state is not None and complete and not catalog.affected(selection, run.changes):
            report.skipped += 1
            cached = self.feed_ids.get(spec.path)
            if cached is not None and not run.changes.ids.isdisjoint(cached):
                del self.feed_ids[spec.path]  # an article left this feed: list it again when next needed
            return
        report.looked_at += 1
        if listed is not None:
            ids = self.feed_ids[spec.path] = listed[spec.path]
        else:
            ids = self._list_feed(run, selection)
        # Archives first: the subscription documents link to them (docs/design.md, "History").
        # Full pages that leave at least one item after them: a feed of exactly N items has no archive.
        full_pages = max(0, len(ids) - 1) // limit
        for page in range(1, full_pages + 1):
            _write_archive(run, spec, ids, page, last_page=page == full_pages)
        items = run.items.by_ids(ids[-limit:])
        links = FeedLinks(
            prev_archive=spec.url(run.site, f"archive/{full_pages}.xml") if full_pages else None,
            hubs=run.ctx.config.publish.websub_hubs,
        )
        content_hash = _content_hash(spec, items, links)
        if not run.full and state is not None and state.content_hash == content_hash and complete:
            report.skipped += 1
            return
        folder, cache, site, now = run.out / spec.path, run.items.entries, run.site, run.now
        items = cache.writable(items)
        _write(folder / "rss.xml", build_rss(spec, site, items, now, FeedLinks(hubs=links.hubs), cache=cache), report)
        _write(folder / "atom.xml", build_atom(spec, site, items, now, links, cache=cache), report)
        _write(folder / "feed.json", build_json(spec, site, items, now, cache=cache, hubs=links.hubs), report)
        older = spec.url(site, page_path(full_pages)) if full_pages else None
        document = render_feed_page(run.templates, site, spec, items, Paging(None, None, older), run.fragments)
        _write(folder / "index.html", document, report)
        newest_item = max((i.last_change for i in items), default=None)
        latest = max((i.published for i in items), default=None)
        run.written.append(FeedState(spec.path, spec.title, len(ids), newest_item, content_hash, latest))

    def _list_feed(self, run: _Run, selection: FeedSelection) -> list[int]:
        """The ids of a feed's articles in arrival order: from the store, or from this process's last list
        of them with the changes since applied (the same list, without a query over the whole feed)."""
        path, changed = selection.spec.path, run.changes.ids
        cached = self.feed_ids.get(path)
        if cached is not None and not changed:
            return cached
        if cached is None:
            ids = run.ctx.store.feed_ids(selection.zones, selection.category)
        else:
            ids = [i for i in cached if i not in changed]
            for i in sorted(changed):
                if i in run.members and catalog.holds(selection, run.members[i]):
                    bisect.insort(ids, i)
        self.feed_ids[path] = ids
        return ids


@dataclass
class _Run:
    """One publish: what its steps share."""

    ctx: Context
    now: datetime
    full: bool  # publish --all: every document rebuilt even when its content is the same
    relist: bool  # every feed listed and looked at again (--all, or no watermark yet)
    changes: Changes  # the articles stored, edited or departed since the last publish
    members: dict[int, Membership]  # where each changed article belongs now
    states: dict[str, FeedState]  # what each feed and archive page held when last written
    items: _ItemMaker
    report: PublishReport = field(default_factory=PublishReport)
    written: list[FeedState] = field(default_factory=list)  # states of the documents written by this run
    fragments: ItemFragments = field(default_factory=ItemFragments)  # items rendered for pages, once

    @functools.cached_property
    def site(self) -> SiteInfo:
        return self.ctx.site

    @property
    def out(self) -> Path:
        return self.ctx.config.publish.output_dir

    @property
    def limit(self) -> int:
        return self.ctx.config.publish.items_per_feed

    @property
    def templates(self) -> Path:
        return self.ctx.config.publish.templates


def _advance_watermark(ctx: Context, changes: Changes) -> str | None:
    """Store the newest change seen, and the articles stamped exactly then (so they are not seen twice);
    forget the departures it covers. Returns the stored mark, or None when nothing changed."""
    if changes.newest is None:
        return None
    mark = json.dumps({"at": changes.newest.isoformat(), "ids": sorted(changes.at_newest)})
    ctx.store.set_setting(_WATERMARK, mark)
    ctx.store.forget_departures(changes.newest)
    return mark


def shown_updated(s: StoredArticle) -> datetime:
    """An entry's Atom <updated> (and JSON Feed date_modified): its publication time until a change of
    its content is seen, then the time of that change (never before publication). Arrival, a new zone or
    a new story are no edit. Within its second, the article's id as microseconds, so that two entries of
    one document never share a value (validators warn when they do) and rebuilding gives the same."""
    published = s.article.published
    shown = max(s.edited, published) if s.edited is not None else published
    return shown.replace(microsecond=s.id % 1_000_000) if shown.microsecond == 0 else shown


def _content_hash(spec: FeedSpec, items: Sequence[FeedItem], links: FeedLinks) -> str:
    """Everything a feed's documents are built from (value objects have a deterministic repr)."""
    return hashlib.sha256(repr((spec, tuple(items), links)).encode()).hexdigest()


def _write(path: Path, data: bytes, report: PublishReport) -> None:
    try:
        changed = atomic_write(path, data)
    except PublishError:
        log.error("publish.failed", extra={"path": str(path)})
        raise
    (report.written if changed else report.unchanged).append(path)


def _write_archive(run: _Run, spec: FeedSpec, ids: Sequence[int], page: int, last_page: bool) -> None:
    """RFC 5005 archive document ``page`` (1 = the oldest): the articles that arrived in
    ``[(page-1)*N, page*N)``. Its ``next-archive`` is the page after it, or, for the newest page, the
    subscription document that holds the entries after it (so that every archive links onward, as
    validators want). Once full it changes only when one of its articles does, and once when the page
    after it is written."""
    site, limit = run.site, run.limit
    entries = ids[(page - 1) * limit : page * limit]
    key = f"{spec.path}/archive/{page}"
    links = FeedLinks(
        current=spec.url(site, "atom.xml"),
        prev_archive=spec.url(site, f"archive/{page - 1}.xml") if page > 1 else None,
        next_archive=spec.url(site, "atom.xml" if last_page else f"archive/{page + 1}.xml"),
        archive=True,
    )
    # Cheap on purpose: an incremental publish computes this for every page of the large feeds.
    content_hash = hashlib.sha256(
        f"{spec.path}|{spec.title}|{links.prev_archive}|{links.next_archive}|".encode() + array("q", entries).tobytes()
    ).hexdigest()
    state = run.states.get(key)
    # A page is looked at only when one of its articles changed (or it is new or gone): at a hundred
    # thousand articles, the `all` feed has two thousand pages that an incremental publish must not touch.
    # (The file is not looked at: a page whose state is stored was written; `publish --all` rewrites all.)
    if (
        not run.relist
        and state is not None
        and state.content_hash == content_hash
        and run.changes.ids.isdisjoint(entries)
    ):
        return
    items = run.items.by_ids(list(entries))
    data = build_atom(spec, site, items, run.now, links, filename=f"archive/{page}.xml", cache=run.items.entries)
    _write(run.out / spec.path / "archive" / f"{page}.xml", data, run.report)
    newer = spec.html_url(site) if last_page else spec.url(site, page_path(page + 1))
    older = spec.url(site, page_path(page - 1)) if page > 1 else None
    html = render_feed_page(run.templates, site, spec, items, Paging(page, newer, older), run.fragments)
    _write(run.out / spec.path / page_path(page), html, run.report)
    newest = max((i.last_change for i in items), default=None)
    run.written.append(FeedState(key, spec.title, len(items), newest, content_hash))
