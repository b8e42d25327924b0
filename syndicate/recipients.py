"""Who gets digests: each ``[[recipients]]`` entry with what that recipient saved on their preferences
page over it, then those who signed up. ``merge_recipients`` decides (pure); ``recipients`` reads the
config and the database. Delivery, the self-service pages and the status overview all ask here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .config import RecipientConfig
from .context import Context
from .exceptions import ConfigError
from .types import Preferences

__all__ = ["Recipient", "find_recipient", "merge_recipients", "recipient_tz", "recipients", "send_time"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """A recipient as digests are made for them: their ``[[recipients]]`` entry with what they saved on
    their preferences page over it, or a recipient who signed up (no entry)."""

    email: str
    name: str = ""
    zones: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    timezone: str | None = None
    send_at: str | None = None  # None: [digest] send_at
    paused_at: datetime | None = None
    configured: bool = True  # has a [[recipients]] entry
    saved: Preferences | None = None  # what they chose themselves, when they did

    @property
    def key(self) -> str:
        return self.email.lower()


def merge_recipients(configured: Sequence[RecipientConfig], saved: dict[str, Preferences]) -> list[Recipient]:
    """Everyone who gets digests: the configured recipients in their order, each with their saved
    preferences winning over the entry, then those who signed up, by address."""
    out = []
    for r in configured:
        p = saved.get(r.email.lower())
        if p is None:
            out.append(Recipient(r.email, r.name, r.zones, r.cities, r.categories, r.timezone, r.send_at))
        else:
            out.append(_from_saved(p, r.email, configured=True))
    known = {r.email.lower() for r in configured}
    out += [_from_saved(p, p.email, configured=False) for key, p in sorted(saved.items()) if key not in known]
    return out


def _from_saved(p: Preferences, email: str, configured: bool) -> Recipient:
    return Recipient(email, p.name, p.zones, p.cities, p.categories, p.timezone, p.send_at, p.paused_at, configured, p)


def recipients(ctx: Context) -> list[Recipient]:
    """Everyone who gets digests, as ``merge_recipients`` makes them from the config and the database."""
    return merge_recipients(ctx.config.recipients, ctx.store.preferences())


def find_recipient(ctx: Context, email: str) -> Recipient:
    """The recipient ``email`` (configured or signed up). Raises ``ConfigError`` naming the config file."""
    for r in recipients(ctx):
        if r.key == email.lower():
            return r
    raise ConfigError(f"no recipient {email!r} in {ctx.config.path} or among those who signed up")


def recipient_tz(ctx: Context, recipient: Recipient) -> ZoneInfo:
    """The time zone ``recipient``'s digest is dated and scheduled in."""
    return ZoneInfo(recipient.timezone) if recipient.timezone else ctx.config.site.tz


def send_time(ctx: Context, recipient: Recipient) -> tuple[int, int]:
    """The local time of day ``recipient``'s digest is due."""
    if recipient.send_at:
        hour, minute = recipient.send_at.split(":")
        return int(hour), int(minute)
    return ctx.config.digest.send_time
