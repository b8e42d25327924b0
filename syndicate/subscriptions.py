"""Self-service: what recipients do themselves on our pages, behind signed links.

- **Unsubscribe** (the link in every digest and its List-Unsubscribe header) and resubscribe from the page
  that confirmed it.
- **Web copy** of a sent digest.
- **Preferences**: the recipient sees their address and what they follow, and changes zones, cities,
  categories, send time and time zone, pauses and resumes, unsubscribes and resubscribes. What they save is
  stored in the database and wins over their ``[[recipients]]`` entry.
- **Sign-up** (only with ``[digest] signup_domains``): an address of those domains asks on a public page;
  a signed, expiring link in a confirmation mail creates the recipient (double opt-in).

Every change is a POST carrying a form token signed for that address (or for the sign-up page), so another
site cannot make a recipient's browser change anything. Each function returns what the page shows (a
template name and its values) or raises ``TokenError`` for a link or form token that is forged, expired,
replayed or for nobody; ``FormError`` for a form that cannot be saved as sent. The HTTP side
(``web``) only carries requests here and renders the answers.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from typing import Any
from urllib.parse import quote
from zoneinfo import available_timezones

from .context import Context, feed_selections
from .delivery import (
    FIRST_WINDOW,
    digest_secret,
    next_digests,
    preferences_url,
    send_notice,
)
from .exceptions import ConfigError
from .mail import (
    PermanentFailure,
    TemporaryFailure,
    TokenError,
    make_signed,
    make_token,
    read_copy_token,
    read_signed,
    read_token,
)
from .publish import search_text
from .recipients import Recipient, recipient_tz, recipients
from .types import Preferences

__all__ = [
    "WELCOME",
    "FormError",
    "Page",
    "confirm_signup",
    "open_preferences",
    "open_signup",
    "request_signup",
    "resubscribe",
    "resubscribe_by_token",
    "signup_confirmation",
    "unsubscribe",
    "unsubscribe_check",
    "update_preferences",
    "web_copy",
]

log = logging.getLogger("syndicate")

FORM_MAX_AGE = timedelta(hours=12)  # a form left open longer must be loaded again
SIGNUP_MAX_AGE = timedelta(days=2)  # a confirmation link older than this is refused
# Sign-up requests: per address per day (each sends a mail), per client address per hour.
SIGNUP_PER_ADDRESS = 3
SIGNUP_PER_CLIENT = 10
_SIGNUP_FORM = "signup"  # the subject of the sign-up page's form tokens


class FormError(ValueError):
    """A form that cannot be saved as sent; the message says what to correct."""


@dataclass(frozen=True, slots=True)
class Page:
    """What a self-service page shows: a template of ``pages/`` and its values, with its HTTP status;
    ``redirect``: answer 303 to this URL instead."""

    template: str
    status: int = 200
    values: dict[str, Any] = field(default_factory=dict)
    redirect: str | None = None


# -- unsubscribe and web copy -----------------------------------------------------------------------------


def web_copy(ctx: Context, token: str) -> bytes | None:
    """The HTML part of the digest a web copy link names, as it was sent; None when it is no longer kept.
    Raises ``TokenError`` for a forged or altered link."""
    email, message_id = read_copy_token(digest_secret(ctx), token)
    data = ctx.store.digest_message(email, message_id)
    if data is None:
        return None
    message = message_from_bytes(data, policy=email_policy.default)
    part = message.get_body(("html",))
    return None if part is None else str(part.get_content()).encode("utf-8")


def unsubscribe(ctx: Context, token: str) -> str:
    """Record the unsubscription a signed token asks for; returns the address. Raises ``TokenError``."""
    now = ctx.clock()
    email, issued = read_token(digest_secret(ctx), token, now, ctx.config.digest.unsubscribe_max_age)
    result = ctx.store.unsubscribe(email, now, issued)
    if result == "unknown":
        raise TokenError("unknown recipient")
    if result == "replayed":
        raise TokenError("link issued before the latest subscription")
    log.info("digest.unsubscribed", extra={"recipient": email, "result": result})
    return email


def unsubscribe_check(ctx: Context, token: str) -> str:
    """The address a token would unsubscribe, without doing it (the page before the click names it).
    Raises ``TokenError`` for a forged, expired, replayed or unknown one, as ``unsubscribe`` would."""
    now = ctx.clock()
    email, issued = read_token(digest_secret(ctx), token, now, ctx.config.digest.unsubscribe_max_age)
    state = ctx.store.recipients().get(email.lower())
    if state is None:
        raise TokenError("unknown recipient")
    if state.resubscribed_at is not None and issued < state.resubscribed_at:
        raise TokenError("link issued before the latest subscription")
    return email


def resubscribe_by_token(ctx: Context, token: str) -> tuple[str, str]:
    """Undo an unsubscription from the page that confirmed it: the same signed token, still valid.
    Returns the address and a new token (the old link no longer unsubscribes: it predates this
    subscription). Raises ``TokenError``."""
    email = unsubscribe_check(ctx, token)
    now = ctx.clock().replace(microsecond=0)  # a token carries whole seconds: the new one must not predate it
    ctx.store.resubscribe(email, now)
    log.info("digest.resubscribed", extra={"recipient": email, "by": "link"})
    return email, make_token(digest_secret(ctx), email, now)


def resubscribe(ctx: Context, email: str) -> None:
    """Send ``email`` digests again after an unsubscription; links in earlier digests stop working."""
    ctx.store.ensure_ready()
    if not ctx.store.resubscribe(email, ctx.clock()):
        raise ConfigError(f"no recipient {email!r} has been sent a digest yet")
    log.info("digest.resubscribed", extra={"recipient": email})


# -- form tokens ------------------------------------------------------------------------------------------


def _form_token(ctx: Context, subject: str) -> str:
    return make_signed(digest_secret(ctx), "form", subject, ctx.clock())


def _check_form(ctx: Context, subject: str, form: Mapping[str, Sequence[str]]) -> None:
    """The POST carries a form token of ours, for this address (or page), not too old. Raises
    ``TokenError``."""
    given = _field(form, "form")
    if not given:
        raise TokenError("the form token is missing: load the page again")
    who, _ = read_signed(digest_secret(ctx), "form", given, ctx.clock(), FORM_MAX_AGE)
    if who != subject.lower():
        raise TokenError("the form token belongs to another page")


def _field(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0].strip()


# -- preferences ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Choice:
    value: str  # what the form sends
    label: str  # what the page shows
    group: str = ""  # zones: province and city; cities: province
    hint: str = ""  # what the filter matches besides the label (slug, aliases)


def _reader(ctx: Context, token: str) -> tuple[Recipient, datetime]:
    """The recipient a preferences link is for. Raises ``TokenError``."""
    now = ctx.clock()
    email, issued = read_signed(digest_secret(ctx), "preferences", token, now, ctx.config.digest.unsubscribe_max_age)
    for r in recipients(ctx):
        if r.key == email:
            return r, issued
    raise TokenError("unknown recipient")


WELCOME = "订阅已确认。请选择关注的开发区、城市或栏目,然后保存。"


def open_preferences(ctx: Context, token: str, message: str = "") -> Page:
    """The preferences page of the recipient a link names. Raises ``TokenError``."""
    r, _ = _reader(ctx, token)
    return _preferences_page(ctx, r, token, message)


def _preferences_page(
    ctx: Context, r: Recipient, token: str, message: str = "", error: str = "", status: int = 400
) -> Page:
    state = ctx.store.recipients().get(r.key)
    site = ctx.config.site
    zones, cities, categories = _choices(ctx)
    nxt = next_digests(ctx, chosen=[r]).get(r.email)
    tz = recipient_tz(ctx, r)
    values = {
        "email": r.email,
        "name": r.name,
        "zones": set(r.zones),
        "cities": set(r.cities),
        "categories": set(r.categories),
        "send_at": r.send_at or ctx.config.digest.send_at,
        "timezone": r.timezone or site.timezone,
        "paused": r.paused_at is not None,
        "unsubscribed": state is not None and state.unsubscribed_at is not None,
        "next": nxt.astimezone(tz).strftime("%Y-%m-%d %H:%M") if nxt else "",
        "zone_choices": zones,
        "city_choices": cities,
        "category_choices": categories,
        "timezones": _timezones(),
        "action": f"{site.base_url}preferences?token={quote(token)}",
        "form": _form_token(ctx, r.key),
        "message": message,
        "error": error,
    }
    return Page("preferences", status if error else 200, values)


def _choices(ctx: Context) -> tuple[list[Choice], list[Choice], list[Choice]]:
    """What can be followed: every zone (configured and of the built-in registry), every city with a zone,
    every category articles have."""
    zones = sorted(ctx.zones, key=lambda z: (z.province or "", z.city or "", z.name))
    zone_choices = [
        Choice(
            z.slug,
            z.name,
            " ".join(p for p in (z.province, z.city) if p),
            search_text(z.name, z.slug, z.city or "", *z.aliases),
        )
        for z in zones
    ]
    selections = feed_selections(ctx)
    province = {z.city: z.province or "" for z in zones if z.city}
    cities = sorted({s.name for s in selections if s.group == "cities"}, key=lambda c: (province.get(c, ""), c))
    city_choices = [Choice(c, c, province.get(c, ""), search_text(c, province.get(c, ""))) for c in cities]
    categories = sorted({s.category for s in selections if s.group == "categories" and s.category})
    return zone_choices, city_choices, [Choice(c, c, "", search_text(c)) for c in categories]


@functools.cache
def _timezones() -> tuple[str, ...]:
    """The time zones offered (the IANA names of places), read once."""
    return tuple(sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith(("Etc/", "SystemV/"))))


def update_preferences(ctx: Context, token: str, form: Mapping[str, Sequence[str]]) -> Page:
    """Apply a POST of the preferences page: ``action`` save (the default), pause, resume, unsubscribe or
    resubscribe. Raises ``TokenError`` (link or form token); a form that cannot be saved comes back with
    what to correct (status 400), nothing changed."""
    r, _ = _reader(ctx, token)
    try:
        _check_form(ctx, r.key, form)
    except TokenError as e:
        # The link is good but the form is not ours, or was left open too long: nothing is saved, and the
        # page comes back with a fresh form (another site cannot read it).
        log.warning("digest.preferences_refused", extra={"recipient": r.key, "error": str(e)})
        return _preferences_page(ctx, r, token, error=f"页面已过期或来自其他网站({e}),请重新操作。", status=403)
    now = ctx.clock()
    action = _field(form, "action") or "save"
    current = _saved(r)
    if action == "unsubscribe":
        ctx.store.unsubscribe(r.key, now, now)
        log.info("digest.unsubscribed", extra={"recipient": r.key, "by": "preferences"})
        return open_preferences(ctx, token, "已退订:不会再收到每日摘要。")
    if action == "resubscribe":
        ctx.store.resubscribe(r.key, now)
        log.info("digest.resubscribed", extra={"recipient": r.key, "by": "preferences"})
        return open_preferences(ctx, token, "已重新订阅。")
    if action in ("pause", "resume"):
        paused = now if action == "pause" else None
        new = _replace(current, paused_at=paused, changed=("paused" if paused else "resumed",))
        message = "已暂停:恢复前不会收到摘要。" if paused else "已恢复:下一封摘要从现在起的新闻开始。"
    elif action == "save":
        try:
            new = _from_form(ctx, current, form)
        except FormError as e:
            return _preferences_page(ctx, r, token, error=str(e))
        if not new.changed:
            return open_preferences(ctx, token, "没有更改。")
        message = "已保存,下一封摘要起生效。"
    else:
        return _preferences_page(ctx, r, token, error=f"未知操作 {action!r}")
    ctx.store.save_preferences(new, now, now)
    log.info("digest.preferences", extra={"recipient": r.key, "changed": ",".join(new.changed)})
    return open_preferences(ctx, token, message)


def _saved(r: Recipient) -> Preferences:
    """What ``r`` gets now, as preferences to change (their entry's, until they saved their own)."""
    if r.saved is not None:
        return r.saved
    return Preferences(r.key, r.name, r.zones, r.cities, r.categories, r.send_at, r.timezone, r.paused_at)


def _replace(p: Preferences, **changes: Any) -> Preferences:
    return dataclasses.replace(p, **changes, origin="signup" if p.origin == "signup" else "page")


_FIELDS = ("name", "zones", "cities", "categories", "send_at", "timezone")


def _from_form(ctx: Context, current: Preferences, form: Mapping[str, Sequence[str]]) -> Preferences:
    """The preferences a save asks for, checked against what can be followed. Raises ``FormError``."""
    zones, cities, categories = _choices(ctx)
    problems = []
    picked = {}
    for name, choices in (("zones", zones), ("cities", cities), ("categories", categories)):
        known = {c.value for c in choices}
        values = tuple(dict.fromkeys(v.strip() for v in form.get(name, ()) if v.strip()))
        unknown = [v for v in values if v not in known]
        if unknown:
            problems.append(f"{_LABELS[name]}中没有 {'、'.join(unknown[:5])}")
        picked[name] = values
    # A field the form does not carry stays as it is (ticked boxes are always carried: none ticked is none).
    send_at = (_field(form, "send_at") or None) if "send_at" in form else current.send_at
    if send_at is not None and (len(send_at) != 5 or not _hhmm(send_at)):
        problems.append(f"发送时间须为 HH:MM,收到 {send_at!r}")
    timezone = (_field(form, "timezone") or None) if "timezone" in form else current.timezone
    if timezone is not None and timezone not in _timezones() and timezone not in ("UTC", ctx.config.site.timezone):
        problems.append(f"没有时区 {timezone!r}")
    name = " ".join(_field(form, "name").split())[:100] if "name" in form else current.name
    if problems:
        raise FormError(";".join(problems))
    if send_at == ctx.config.digest.send_at and current.send_at is None:
        send_at = None  # the default, unchanged: it follows the config
    if timezone == ctx.config.site.timezone and current.timezone is None:
        timezone = None
    new = {"name": name, **picked, "send_at": send_at, "timezone": timezone}
    changed = tuple(f for f in _FIELDS if _norm(new[f]) != _norm(getattr(current, f)))
    return _replace(current, **new, changed=changed)


def _norm(value: Any) -> Any:
    return tuple(sorted(value)) if isinstance(value, tuple) else value


def _hhmm(text: str) -> bool:
    hour, _, minute = text.partition(":")
    return hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60


_LABELS = {"zones": "开发区", "cities": "城市", "categories": "栏目"}


# -- sign-up ----------------------------------------------------------------------------------------------


def open_signup(ctx: Context) -> Page | None:
    """The public sign-up page; None when ``[digest] signup_domains`` is empty (there is none)."""
    domains = ctx.config.digest.signup_domains
    if not domains:
        return None
    values = {"page": "form", "domains": domains, "form": _form_token(ctx, _SIGNUP_FORM), "email": ""}
    return Page("signup", 200, {**values, "action": f"{ctx.config.site.base_url}signup"})


def request_signup(ctx: Context, form: Mapping[str, Sequence[str]], client: str) -> Page | None:
    """A sign-up asked for: an address of an allowed domain gets a mail, and the page says so in the same
    words whether or not the address already gets digests (it never tells who is subscribed). None when
    sign-up is off. Raises ``TokenError`` for a missing or foreign form token."""
    domains = ctx.config.digest.signup_domains
    if not domains:
        return None
    _check_form(ctx, _SIGNUP_FORM, form)
    email = _field(form, "email").lower()
    values = {
        "page": "form",
        "domains": domains,
        "form": _form_token(ctx, _SIGNUP_FORM),
        "email": email,
        "action": f"{ctx.config.site.base_url}signup",
    }
    local, _, domain = email.rpartition("@")
    if not local or not domain or any(c.isspace() or c in '<>",' for c in email) or len(email) > 320:
        return Page("signup", 400, {**values, "error": "请输入完整的邮箱地址,例如 name@" + domains[0]})
    if domain not in domains:
        allowed = "、".join("@" + d for d in domains)
        return Page("signup", 403, {**values, "error": f"只有 {allowed} 的地址可以在此订阅。"})
    now = ctx.clock()
    by_email, _ = ctx.store.signup_requests(email, client, now - timedelta(days=1))
    _, by_client = ctx.store.signup_requests(email, client, now - timedelta(hours=1))
    if by_email >= SIGNUP_PER_ADDRESS or by_client >= SIGNUP_PER_CLIENT:
        log.warning("digest.signup_limited", extra={"recipient": email, "client": client})
        return Page("signup", 429, {**values, "error": "请求过于频繁,请稍后再试。"})
    ctx.store.record_signup_request(email, client, now, now - timedelta(days=2))
    known = any(r.key == email for r in recipients(ctx)) or email in ctx.store.recipients()
    subject, text = _signup_mail(ctx, email, known, now)
    try:
        send_notice(ctx, email, subject, text, "signup")
    except (TemporaryFailure, PermanentFailure) as e:
        log.warning("digest.signup_mail_failed", extra={"recipient": email, "error": str(e)})
        return Page("signup", 503, {**values, "error": "确认邮件暂时无法发送,请稍后再试。"})
    log.info("digest.signup_requested", extra={"recipient": email})
    return Page("signup", 200, {**values, "page": "sent"})


def _signup_mail(ctx: Context, email: str, known: bool, now: datetime) -> tuple[str, str]:
    site = ctx.config.site
    if known:
        link = preferences_url(ctx, email, now)
        text = (
            f"您好:\n\n有人(可能是您)在 {site.title} 为 {email} 申请订阅每日新闻摘要。"
            f"此地址已在订阅名单中,无需再次确认。\n\n管理您的订阅(关注的开发区、发送时间、暂停或退订):\n{link}\n\n"
            "如果不是您本人操作,请忽略此邮件。\n"
        )
        return f"{site.title}:您已订阅每日新闻摘要", text
    token = make_signed(digest_secret(ctx), "signup", email, now)
    link = f"{site.base_url}signup/confirm?token={quote(token)}"
    hours = int(SIGNUP_MAX_AGE.total_seconds() // 3600)
    text = (
        f"您好:\n\n有人(可能是您)在 {site.title} 为 {email} 申请订阅每日新闻摘要。"
        f"请在 {hours} 小时内打开下面的链接确认:\n{link}\n\n"
        "确认后可以选择关注的开发区、城市和栏目。如果不是您本人操作,请忽略此邮件,不会有任何订阅。\n"
    )
    return f"{site.title}:请确认订阅每日新闻摘要", text


def _signup_reader(ctx: Context, token: str) -> str:
    """The address a confirmation link is for, not yet a recipient. Raises ``TokenError``."""
    if not ctx.config.digest.signup_domains:
        raise TokenError("sign-up is closed")
    email, _ = read_signed(digest_secret(ctx), "signup", token, ctx.clock(), SIGNUP_MAX_AGE)
    if email.rpartition("@")[2] not in ctx.config.digest.signup_domains:
        raise TokenError("sign-up is closed for this domain")
    if email in ctx.store.recipients() or any(r.key == email for r in recipients(ctx)):
        raise TokenError("this link has been used already")
    return email


def signup_confirmation(ctx: Context, token: str) -> Page:
    """The page behind a confirmation link: names the address, with a button (mail scanners follow links;
    a GET must not subscribe). Raises ``TokenError`` (forged, expired, used already)."""
    email = _signup_reader(ctx, token)
    action = f"{ctx.config.site.base_url}signup/confirm?token={quote(token)}"
    values = {"page": "confirm", "email": email, "action": action, "form": _form_token(ctx, email)}
    return Page("signup", 200, {**values, "domains": ctx.config.digest.signup_domains})


def confirm_signup(ctx: Context, token: str, form: Mapping[str, Sequence[str]]) -> Page:
    """Create the recipient a confirmation link is for, then show their preferences page to choose what to
    follow. Raises ``TokenError``."""
    email = _signup_reader(ctx, token)
    _check_form(ctx, email, form)
    now = ctx.clock()
    ctx.store.save_preferences(Preferences(email, origin="signup", changed=("signed up",)), now, now - FIRST_WINDOW)
    log.info("digest.signed_up", extra={"recipient": email})
    url = preferences_url(ctx, email, now.replace(microsecond=0))
    return Page("preferences", 303, redirect=url + "&welcome=1")
