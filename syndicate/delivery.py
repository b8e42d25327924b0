"""Daily digests, delivered exactly once: who is due, what is new to them, record, send, mark sent.

Order of a run, per recipient (each step its own transaction, so a crash between any two loses nothing and
sends nothing twice):
1. a digest recorded earlier and not yet accepted (crash, SMTP outage) is sent first, with its original
   bytes and Message-ID;
2. when the recipient is due (``mail.schedule``) or ``force`` is given, the canonical articles first stored
   since their watermark, in what they follow, whose story they were never sent, are rendered and the digest
   is *recorded* (outbox, unique per recipient and window start) — only then
3. sent; on acceptance it is marked sent, its articles recorded as delivered and the watermark moved, in one
   transaction. Temporary failures wait with backoff; a permanent one marks the recipient.

What can still happen twice: the server accepts a message and the process dies before step 3 commits. The
next run sends the same bytes with the same Message-ID, which mail clients show once.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from .config import Config, RecipientConfig
from .context import Context, feed_selections, other_sources, zone_and_city_selections, zone_set
from .exceptions import ConfigError
from .files import atomic_write
from .mail import (
    DigestFile,
    DigestGroup,
    DigestItem,
    DigestView,
    DkimKey,
    Envelope,
    MessageParts,
    OutboxTransport,
    PermanentFailure,
    SmtpTransport,
    TemporaryFailure,
    Transport,
    build_message,
    build_notice,
    check_templates,
    due_slot,
    make_copy_token,
    make_message_id,
    make_signed,
    make_token,
    next_send,
    render_digest,
    retry_at,
    sender_address,
)
from .publish import FeedSelection, SiteInfo
from .recipients import Recipient, find_recipient, recipient_tz, recipients, send_time
from .store import ComposedDigest, PendingDigest, RecipientState
from .text import first_image, summarize
from .types import Enclosure, StoredArticle
from .urls import as_uri

__all__ = [
    "DigestOutcome",
    "DigestReport",
    "check_recipients",
    "digest",
    "digest_secret",
    "next_digests",
    "preferences_url",
    "preview",
    "send_notice",
    "unsubscribe_url",
    "web_copy_url",
]

log = logging.getLogger("syndicate")

# Articles first stored up to this long before a recipient's watermark are looked at again (their
# stories already delivered are skipped): a transaction that took its timestamps before another committed
# may commit after a digest was composed.
GRACE = timedelta(minutes=10)
FIRST_WINDOW = timedelta(days=1)  # a new recipient's first digest covers the last day
_SECRET = "digest.secret"


# What happened to one recipient: sent; nothing new (empty); an earlier digest waits to be retried
# (waiting); will retry; failed for good; skipped after a failure for good (blocked); unsubscribed; paused
# by the recipient; sent by another run at the same moment (taken); rendered only (dry-run). A recipient
# not due is not listed.
DigestStatus = Literal[
    "sent", "empty", "waiting", "retry", "failed", "blocked", "unsubscribed", "paused", "taken", "dry-run"
]


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    """What happened to one recipient in a run."""

    recipient: str
    status: DigestStatus
    items: int = 0
    where: str | None = None  # the server or file it went to
    error: str | None = None


@dataclass
class DigestReport:
    outcomes: list[DigestOutcome] = field(default_factory=list)

    def count(self, status: DigestStatus) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> bool:
        return any(o.status in ("retry", "failed") for o in self.outcomes)


# -- what a recipient follows -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Follows:
    zones: tuple[str, ...]  # zone slugs in the order groups are shown
    categories: tuple[str, ...]  # category names
    links: dict[str, str]  # every zone slug, and each followed category name → its page


def _follows(
    site: SiteInfo, recipient: RecipientConfig | Recipient, selections: list[FeedSelection]
) -> tuple[_Follows, list[str]]:
    by_path = {s.spec.path: s for s in selections}
    zones: list[str] = []
    categories: list[str] = []
    # Every zone's page (a digest also lists zones the recipient follows only through a city or category).
    links = {s.zones[0]: s.spec.html_url(site) for s in selections if s.group == "zones" and s.zones}
    unknown: list[str] = []
    for slug in recipient.zones:
        sel = by_path.get(f"zones/{slug}")
        if sel is None:
            unknown.append(f"zones: {slug!r} is no zone slug")
            continue
        zones.append(slug)
    for city in recipient.cities:
        sel = by_path.get(f"cities/{city}") or next(
            (s for s in selections if s.group == "cities" and s.name == city), None
        )
        if sel is None or sel.zones is None:
            unknown.append(f"cities: {city!r} is no city of a zone")
            continue
        zones += [z for z in sel.zones if z not in zones]
    for category in recipient.categories:
        sel = by_path.get(f"categories/{category}") or next(
            (s for s in selections if s.group == "categories" and s.name == category), None
        )
        name = sel.category if sel is not None and sel.category else category  # may appear later
        categories.append(name)
        if sel is not None:
            links[name] = sel.spec.html_url(site)
    return _Follows(tuple(zones), tuple(categories), links), unknown


def check_recipients(config: Config) -> list[str]:
    """Problems with [[recipients]] and the digest templates, each naming its key (for ``check``).
    Categories are not checked: they come from articles, and one may appear later."""
    problems = []
    selections = zone_and_city_selections(config, zone_set(config).zones)
    site = SiteInfo(config.site.title, config.site.base_url, config.site.language, config.site.tz, "")
    for i, r in enumerate(config.recipients):
        _, unknown = _follows(site, r, selections)
        problems += [f"recipients[{i}].{u}" for u in unknown]
    problems += [f"digest.templates_dir: {p}" for p in check_templates(config.digest.templates)]
    return problems


# -- composing -------------------------------------------------------------------------------------------


def _secret(ctx: Context) -> bytes:
    """The key links and forms are signed with: made once per database, kept in its settings."""
    return digest_secret(ctx)


def digest_secret(ctx: Context) -> bytes:
    """The key the links in digests and the self-service forms are signed with: made once per database,
    kept in its settings."""
    return bytes.fromhex(ctx.store.setting_or_init(_SECRET, lambda: secrets.token_hex(32)))


def unsubscribe_url(ctx: Context, email: str, now: datetime, secret: bytes | None = None) -> str:
    token = make_token(secret or _secret(ctx), email, now)
    return f"{ctx.config.site.base_url}unsubscribe?token={quote(token)}"


def preferences_url(ctx: Context, email: str, now: datetime, secret: bytes | None = None) -> str:
    token = make_signed(secret or _secret(ctx), "preferences", email, now)
    return f"{ctx.config.site.base_url}preferences?token={quote(token)}"


def _view(
    ctx: Context,
    recipient: Recipient,
    follows: _Follows,
    articles: list[StoredArticle],
    now: datetime,
    secret: bytes | None = None,
    message_id: str | None = None,
    made: dict[tuple[int, str], DigestItem] | None = None,
) -> DigestView:
    """What ``recipient``'s digest shows. ``made``: the items made earlier in this run, by (article, time
    zone): many recipients share an article, whose summary and "also reported by" are made once."""
    config = ctx.config
    tz = recipient_tz(ctx, recipient)
    zones = ctx.zones_by_slug
    made = {} if made is None else made
    listed = {a.id for a in articles[: config.digest.max_items]}
    missing = [a for a in articles if a.id in listed and (a.id, str(tz)) not in made]
    if missing:
        stories = ctx.store.story_sources([a.story_id for a in missing if a.story_id is not None])
        for a in missing:
            made[(a.id, str(tz))] = _item(ctx, stories, a, tz)
    groups = []
    for key, members in _grouped(articles, follows):
        items = [made[(m.id, str(tz))] for m in members if m.id in listed]
        groups.append(
            DigestGroup(
                name=zones[key].name if key in zones else (key or "其他"),
                city=zones[key].city if key in zones else None,
                items=tuple(items),
                more=len(members) - len(items),
                link=follows.links.get(key, config.site.base_url),
            )
        )
    return DigestView(
        site_title=config.site.title,
        site_url=config.site.base_url,
        date=now.astimezone(tz).strftime("%Y-%m-%d"),
        recipient_name=recipient.name,
        groups=tuple(g for g in groups if g.items),
        total=len(articles),
        unsubscribe_url=unsubscribe_url(ctx, recipient.email, now, secret),
        preferences_url=preferences_url(ctx, recipient.email, now, secret),
        unlisted=tuple(g for g in groups if not g.items and g.more),
        web_url=web_copy_url(ctx, recipient.email, message_id, secret) if message_id else "",
    )


def web_copy_url(ctx: Context, email: str, message_id: str, secret: bytes | None = None) -> str:
    token = make_copy_token(secret or _secret(ctx), email, message_id)
    return f"{ctx.config.site.base_url}digest?token={quote(token)}"


def _grouped(articles: list[StoredArticle], follows: _Follows) -> list[tuple[str, list[StoredArticle]]]:
    """The articles (newest published first) by the group they are listed under: the first followed zone
    they belong to, else their followed category, else their first zone or category; groups in the order
    the recipient follows them, the others after by name."""
    followed = set(follows.zones)

    def group_of(a: StoredArticle) -> str:
        for z in a.zones:
            if z in followed:
                return z
        if a.article.category in follows.categories:
            return a.article.category or ""
        return a.zones[0] if a.zones else (a.article.category or "")

    order = {key: i for i, key in enumerate([*follows.zones, *follows.categories])}
    grouped: dict[str, list[StoredArticle]] = {}
    for stored in articles:
        grouped.setdefault(group_of(stored), []).append(stored)
    return [(key, grouped[key]) for key in sorted(grouped, key=lambda k: (order.get(k, len(order)), k))]


def _item(ctx: Context, stories: dict[int, list[str]], member: StoredArticle, tz: tzinfo) -> DigestItem:
    a = member.article
    return DigestItem(
        title=a.title,
        link=a.link,
        date=a.published.astimezone(tz).strftime("%Y-%m-%d"),
        source=a.author or ctx.source_titles.get(a.source_id, a.source_id),
        summary=summarize(a.body_html, 120, sanitized=True),
        also=other_sources(ctx, stories, member),
        files=tuple(DigestFile(_file_label(e), as_uri(e.url)) for e in a.enclosures),
        image=as_uri(image) if (image := a.image or first_image(a.body_html)) else None,
    )


_KINDS = {"audio": "音频", "video": "视频", "application/pdf": "PDF"}


def _file_label(e: Enclosure) -> str:
    name = e.title or unquote(urlsplit(e.url).path.rsplit("/", 1)[-1]) or e.url
    kind = _KINDS.get(e.type) or _KINDS.get(e.type.split("/")[0]) or "文件"
    return f"{name}({kind})"


def _dkim_key(config: Config) -> DkimKey | None:
    """The DKIM key of ``[smtp]``, read once per run; None when signing is not configured."""
    smtp = config.smtp
    if smtp is None or smtp.dkim_key_file is None:
        return None
    assert smtp.dkim_selector and smtp.dkim_domain
    try:
        return DkimKey.load(smtp.dkim_selector, smtp.dkim_domain, smtp.dkim_key_file)
    except OSError as e:
        raise ConfigError(f"smtp.dkim_key_file: cannot read {smtp.dkim_key_file}: {e.strerror or e}") from e


def _message(
    ctx: Context, recipient: Recipient, view: DigestView, now: datetime, message_id: str, dkim: DkimKey | None
) -> bytes:
    config = ctx.config
    html, text = render_digest(config.digest.templates, view)
    return build_message(
        MessageParts(
            sender=config.digest.sender,
            to_name=recipient.name,
            to_email=recipient.email,
            subject=config.digest.subject.format(date=view.date),
            text=text,
            html=html,
            date=now.astimezone(config.site.tz),
            message_id=message_id,
            unsubscribe_url=view.unsubscribe_url,
            unsubscribe_mailto=sender_address(config.digest.sender)[1],
        ),
        dkim,
    )


def _candidates(
    ctx: Context, r: Recipient, state: RecipientState, selections: list[FeedSelection]
) -> tuple[_Follows, list[StoredArticle]]:
    """What ``r`` follows, and the articles new to them."""
    follows, _unknown = _follows(ctx.site, r, selections)
    articles = ctx.store.digest_candidates(r.email, state.watermark - GRACE, follows.zones, follows.categories)
    return follows, articles


# -- sending ----------------------------------------------------------------------------------------------


def _transport(config: Config) -> Transport:
    smtp = config.smtp
    if smtp is None:
        return OutboxTransport(config.digest.outbox_dir)
    password = None
    if smtp.password_env:
        password = os.environ.get(smtp.password_env)
        if password is None:
            raise ConfigError(f"smtp.password_env: environment variable {smtp.password_env} is not set")
    return SmtpTransport(
        smtp.host,
        smtp.port,
        smtp.security,
        smtp.username,
        password,
        smtp.rate_per_minute,
        smtp.timeout.total_seconds(),
    )


class _Sender:
    """Sends recorded digests through one transport and records the outcome of each."""

    def __init__(self, ctx: Context, transport: Transport) -> None:
        self.ctx = ctx
        self.transport = transport
        self.down: str | None = None  # the server failed as a whole: the rest waits for the next run
        self.sender = sender_address(ctx.config.digest.sender)[1]
        self.secret = _secret(ctx)
        self.dkim = _dkim_key(ctx.config)
        self.waiting: set[str] = set()  # recipients with a recorded digest not yet accepted
        self.made: dict[tuple[int, str], DigestItem] = {}  # digest items of this run, shared by recipients

    def send(self, d: PendingDigest) -> DigestOutcome:
        if self.down is not None:
            return DigestOutcome(d.recipient, "retry", d.items, error=self.down)
        name = f"{d.window_end.strftime('%Y%m%dT%H%M%S')}-{d.id:06d}-{d.recipient}"
        try:
            where = self.transport.send(Envelope(self.sender, d.recipient, d.message, name))
        except TemporaryFailure as e:
            now = self.ctx.clock()
            attempts = self.ctx.store.digest_retry(d.id, str(e), retry_at(d.attempts + 1, now))
            if e.stop:
                self.down = str(e)
            log.warning("digest.retry", extra={"recipient": d.recipient, "error": str(e), "attempts": attempts})
            return DigestOutcome(d.recipient, "retry", d.items, error=str(e))
        except PermanentFailure as e:
            self.ctx.store.digest_failed(d.id, str(e), self.ctx.clock())
            log.error("digest.failed", extra={"recipient": d.recipient, "error": str(e)})
            return DigestOutcome(d.recipient, "failed", d.items, error=str(e))
        self.ctx.store.digest_accepted(d.id, self.ctx.clock())
        log.info("digest.sent", extra={"recipient": d.recipient, "items": d.items, "to": where})
        return DigestOutcome(d.recipient, "sent", d.items, where=where)


def send_notice(ctx: Context, to_email: str, subject: str, text: str, kind: str) -> str:
    """Send one self-service mail now (a sign-up confirmation), through the SMTP server or into the outbox
    folder; where it went. Not recorded: nothing of it must be delivered exactly once. Raises
    ``TemporaryFailure`` or ``PermanentFailure``."""
    config = ctx.config
    now = ctx.clock()
    data = build_notice(
        config.digest.sender, to_email, subject, text, now.astimezone(config.site.tz), _dkim_key(config)
    )
    transport = _transport(config)
    try:
        name = f"{now.strftime('%Y%m%dT%H%M%S')}-{kind}-{to_email.lower()}"
        return transport.send(Envelope(sender_address(config.digest.sender)[1], to_email, data, name))
    finally:
        transport.close()


def digest(
    ctx: Context,
    recipient: str | None = None,
    *,
    force: bool = False,
    dry_run: bool = False,
    transport: Transport | None = None,
    progress: Callable[[DigestOutcome], None] | None = None,
) -> DigestReport:
    """Send every digest that is due now (or only ``recipient``'s; ``force``: now, whatever the schedule).
    ``dry_run`` renders to the outbox folder and records nothing."""
    config = ctx.config
    ctx.store.ensure_ready()
    chosen = recipients(ctx) if recipient is None else [find_recipient(ctx, recipient)]
    now = ctx.clock()
    ctx.store.sync_recipients([r.email for r in config.recipients], now - FIRST_WINDOW, now)
    if recipient is not None and force and not dry_run:
        ctx.store.clear_failure(recipient)  # an operator asked for this one: try again
    selections = feed_selections(ctx)
    report = DigestReport()
    own = transport is None
    out = OutboxTransport(config.digest.outbox_dir, prefix="dry-run-") if dry_run else transport or _transport(config)
    sender = _Sender(ctx, out)
    try:
        if not dry_run:
            ctx.store.settle_digests()  # what a crash left accepted and unsettled, before anything is chosen
            # Digests recorded before and not yet accepted go first, as they were.
            for d in ctx.store.pending_digests(now, [r.email for r in chosen]):
                report.outcomes.append(sent := sender.send(d))
                if progress:
                    progress(sent)
            ctx.store.settle_digests()
        states = ctx.store.recipients()
        sender.waiting = ctx.store.pending_recipients()
        due: list[tuple[Recipient, RecipientState, str | None]] = []
        for r in chosen:
            stopped, slot = _stopped(ctx, r, states[r.key], sender, force, dry_run)
            if stopped is not None:
                report.outcomes.append(stopped)
                if progress:
                    progress(stopped)
            elif slot is not None or force:
                due.append((r, states[r.key], slot))
        done = len(chosen) - len(due)
        # The articles of a batch of recipients are chosen in two queries (``digest_candidates_many``).
        for start in range(0, len(due), _BATCH):
            batch = due[start : start + _BATCH]
            follows = {r.key: _follows(ctx.site, r, selections)[0] for r, _, _ in batch}
            found = ctx.store.digest_candidates_many(
                [(r.key, st.watermark - GRACE, follows[r.key].zones, follows[r.key].categories) for r, st, _ in batch]
            )
            for start_record in range(0, len(batch), _RECORD_BATCH):
                composed: list[tuple[Recipient, ComposedDigest, int]] = []
                for r, st, slot in batch[start_record : start_record + _RECORD_BATCH]:
                    ctx.advance("digest", done, len(chosen))
                    done += 1
                    made = _compose(ctx, r, st, slot, follows[r.key], found[r.key], sender, dry_run)
                    if isinstance(made, DigestOutcome):
                        report.outcomes.append(made)
                        if progress:
                            progress(made)
                    else:
                        composed.append((r, made, len(found[r.key])))
                # Recorded together before any is sent; each marked accepted as the server accepts it.
                ids = ctx.store.record_digests([c for _, c, _ in composed], ctx.clock()) if composed else []
                for (_, c, items), digest_id in zip(composed, ids, strict=True):
                    if digest_id is None:
                        outcome = DigestOutcome(c.email, "taken")  # another run recorded this window meanwhile
                    else:
                        pending = PendingDigest(
                            digest_id, c.email, c.message_id, c.message, items, 0, c.slot_date, c.window[1]
                        )
                        outcome = sender.send(pending)
                    report.outcomes.append(outcome)
                    if progress:
                        progress(outcome)
                if composed:
                    ctx.store.settle_digests()  # their deliveries and watermarks, in one transaction
    finally:
        if own or dry_run:
            out.close()
    ctx.advance("digest", len(chosen), len(chosen))
    log.info(
        "digest.done",
        extra={"sent": report.count("sent"), "retry": report.count("retry"), "failed": report.count("failed")},
    )
    return report


def _stopped(
    ctx: Context, r: Recipient, state: RecipientState, sender: _Sender, force: bool, dry_run: bool
) -> tuple[DigestOutcome | None, str | None]:
    """Why ``r`` gets no digest in this run (an outcome), else the local date whose digest is due (None:
    not due yet, which ``force`` overrides)."""
    email = r.key
    if state.unsubscribed_at is not None:
        return DigestOutcome(email, "unsubscribed"), None
    if state.failed_at is not None:
        return DigestOutcome(email, "blocked", error=state.failure), None
    if r.paused_at is not None:
        return DigestOutcome(email, "paused"), None
    if not dry_run and email in sender.waiting:
        return DigestOutcome(email, "waiting"), None  # its recorded digest goes first, on a later run
    return None, due_slot(ctx.clock(), recipient_tz(ctx, r), send_time(ctx, r), state.slot_date)


_BATCH = 500  # recipients whose articles are chosen together
_RECORD_BATCH = 50  # digests recorded in one transaction before they are sent


def _compose(
    ctx: Context,
    r: Recipient,
    state: RecipientState,
    slot: str | None,
    follows: _Follows,
    articles: list[StoredArticle],
    sender: _Sender,
    dry_run: bool,
) -> DigestOutcome | ComposedDigest:
    """``r``'s digest of ``articles``, ready to record; or what happened instead (nothing new; rendered
    to the outbox folder in a dry run)."""
    config = ctx.config
    now = ctx.clock()
    email = r.key
    if not articles:
        if slot is not None and not dry_run:
            ctx.store.fill_slot(email, slot)
        return DigestOutcome(email, "empty")
    message_id = make_message_id(config.digest.sender)
    view = _view(ctx, r, follows, articles, now, sender.secret, message_id, sender.made)
    data = _message(ctx, r, view, now, message_id, sender.dkim)
    if dry_run:
        name = f"{now.strftime('%Y%m%dT%H%M%S')}-{email}"
        where = sender.transport.send(Envelope(sender.sender, email, data, name))
        return DigestOutcome(email, "dry-run", len(articles), where=where)
    return ComposedDigest(email, (state.watermark, now), slot, message_id, data, [a.id for a in articles])


# -- preview, schedule -----------------------------------------------------------------------


def preview(ctx: Context, email: str, folder: Path) -> tuple[Path, Path, int]:
    """Render what ``email``'s digest would hold now into ``folder``: (HTML file, text file, articles).
    Records nothing."""
    config = ctx.config
    ctx.store.ensure_ready()
    r = find_recipient(ctx, email)
    now = ctx.clock()
    ctx.store.sync_recipients([x.email for x in config.recipients], now - FIRST_WINDOW, now)
    state = ctx.store.recipients()[r.key]
    follows, articles = _candidates(ctx, r, state, feed_selections(ctx))
    view = _view(ctx, r, follows, articles, now)
    html, text = render_digest(config.digest.templates, view)
    stem = f"digest-{r.key.replace('@', '_at_')}"
    html_path, text_path = folder / f"{stem}.html", folder / f"{stem}.txt"
    atomic_write(html_path, html.encode("utf-8"))
    atomic_write(text_path, text.encode("utf-8"))
    return html_path, text_path, len(articles)


def next_digests(
    ctx: Context, states: dict[str, RecipientState] | None = None, chosen: Sequence[Recipient] | None = None
) -> dict[str, datetime | None]:
    """Each recipient's next scheduled digest (None: unsubscribed, blocked or paused)."""
    now = ctx.clock()
    states = ctx.store.recipients() if states is None else states
    out: dict[str, datetime | None] = {}
    for r in recipients(ctx) if chosen is None else chosen:
        st = states.get(r.key)
        if r.paused_at is not None or (st is not None and (st.unsubscribed_at or st.failed_at)):
            out[r.email] = None
            continue
        out[r.email] = next_send(now, recipient_tz(ctx, r), send_time(ctx, r), st.slot_date if st else None)
    return out
