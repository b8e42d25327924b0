"""Reading the one TOML config file into a validated, frozen ``Config``.

Owns: the file's schema (every key, its type and default), resolving relative paths against the file's
folder, and error messages that name the file and the key (``sources[1].path: ...``). Does not own: what
the values mean to other modules; they receive plain values from here and never read the file themselves.
Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .configerrors import describe, known_keys
from .exceptions import ConfigError

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "Config",
    "DigestConfig",
    "DirectorySourceConfig",
    "FeedSourceConfig",
    "FetchConfig",
    "RecipientConfig",
    "SmtpConfig",
    "SourceConfig",
    "SqlSourceConfig",
    "ZoneConfig",
    "default_config_path",
    "default_templates_dir",
    "load_config",
    "parse_duration",
]

DEFAULT_CONFIG_NAME = "syndicate.toml"
_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: object) -> timedelta:
    """``"30m"`` → 30 minutes. Accepts ms, s, m, h, d, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(f"expected a duration such as '30s', '15m', '1h' or '1d', got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _placeholder(v: str, name: str) -> str:
    """``v`` is a format string whose one placeholder is ``{name}``."""
    try:
        v.format(**{name: "x"})
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"may use only the placeholder {{{name}}}: {e}") from e
    return v


def _valid_timezone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {v!r}") from e
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SiteConfig(_Model):
    title: str = "投促中国 · 开发区新闻"
    base_url: str = "http://127.0.0.1:8080/"
    language: str = "zh-CN"
    timezone: str = "Asia/Shanghai"

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", v):
            raise ValueError(f"must be an absolute http(s) URL, got {v!r}")
        return v if v.endswith("/") else v + "/"

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        # RFC 5646 shape; zh_CN (underscore) is the classic mistake the feed validator flags.
        if not re.match(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$", v):
            raise ValueError(f"must be a language tag such as 'zh-CN', got {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        return _valid_timezone(v)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DatabaseConfig(_Model):
    url: str = "sqlite:///var/syndicate.db"


def default_templates_dir() -> Path:
    """The templates shipped inside an installed package, else the checkout's top-level templates/."""
    packaged = Path(__file__).parent / "templates"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "templates"


class PublishConfig(_Model):
    output_dir: Path = Path("var/public")
    items_per_feed: int = Field(default=50, ge=1, le=10_000)
    templates_dir: Path | None = None  # index.html, feeds.opml and feed.xsl templates; default: the shipped ones
    websub_hubs: tuple[str, ...] = ()  # WebSub hubs told of every changed feed

    @property
    def templates(self) -> Path:
        """The templates folder: ``templates_dir``, or the shipped one."""
        return self.templates_dir or default_templates_dir()

    @field_validator("websub_hubs")
    @classmethod
    def _hubs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for hub in v:
            if not re.match(r"^https?://[^/\s]+", hub):
                raise ValueError(f"must be http(s) URLs, got {hub!r}")
        return v


class ServeConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    cache_max_age: int = Field(default=300, ge=0)  # seconds, for Cache-Control on feeds
    # Open connections answered at once; beyond it new requests get 503 (keep it under the open-files
    # limit, LimitNOFILE, less what fetching and the database need).
    max_connections: int = Field(default=512, ge=1, le=1_000_000)
    # /status and /metrics: with this environment variable set, callers must send its value as a bearer
    # token; without it they answer only clients on the loopback interface.
    admin_token_env: str | None = None


class ZoneConfig(_Model):
    slug: str = Field(pattern=_SLUG, max_length=100)
    name: str = Field(min_length=1)
    city: str = Field(min_length=1)
    province: str = ""
    aliases: tuple[str, ...] = ()


class ZonesRegistryConfig(_Model):
    builtin: Literal["national-2018"] | None = None  # a built-in zone registry to switch on
    max_zone_mentions: int = Field(default=5, ge=1)  # a text naming more zones than this is a list


class _SourceBase(_Model):
    id: str = Field(pattern=_SLUG, max_length=100)
    title: str | None = None  # the name feeds credit the source with; default: its id
    priority: int = Field(default=100, ge=0, le=100)


class DirectorySourceConfig(_SourceBase):
    """The platform's local article store: a folder of ``.txt`` pages and ``.md`` articles."""

    kind: Literal["directory"]
    path: Path
    link_template: str = Field(min_length=1)
    interval: Duration = timedelta(minutes=1)

    @field_validator("link_template")
    @classmethod
    def _template(cls, v: str) -> str:
        _placeholder(v, "stem")
        if not re.match(r"^https?://", v):
            raise ValueError(f"must give absolute http(s) links, got {v!r}")
        return v


_MIB = 1024 * 1024


class _ZonedSource(_SourceBase):
    # The zone of dates the source writes without one (a CMS's local time); default: [site] timezone.
    # A date that names a zone (+0800, Z, GMT, UTC, -0000) is read in that zone whatever this says.
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str | None) -> str | None:
        return None if v is None else _valid_timezone(v)

    @property
    def tz(self) -> ZoneInfo | None:
        return ZoneInfo(self.timezone) if self.timezone else None


class FeedSourceConfig(_ZonedSource):
    """A partner's feed (RSS, Atom or JSON Feed), over HTTP(S) or from a local file (examples, tests)."""

    kind: Literal["feed"]
    url: str = Field(min_length=1)
    zone: str | None = Field(default=None, pattern=_SLUG)  # default zone slug for entries that name none
    category: str | None = None  # default category
    interval: Duration = timedelta(minutes=15)
    timeout: Duration | None = None  # per request, whole response; default [fetch] timeout
    max_bytes: int | None = Field(default=None, ge=1024)  # default [fetch] max_bytes
    priority: int = Field(default=50, ge=0, le=100)

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", v) and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"must be an http(s) URL or a file path, got {v!r}")
        return v


_SQL_REQUIRED = ("id", "title", "body", "published")
_SQL_OPTIONAL = ("source", "zone", "city", "category", "link", "updated")


class SqlSourceConfig(_ZonedSource):
    """A table or view of the platform's own CMS database, read incrementally and never written."""

    kind: Literal["sql"]
    url: str = Field(min_length=1)
    password_env: str | None = None  # the password comes from this environment variable
    table: str = Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
    columns: dict[str, str]
    link_template: str | None = None  # used when no link column is mapped; {id} = the row id
    zone: str | None = Field(default=None, pattern=_SLUG)
    category: str | None = None
    page_size: int = Field(default=500, ge=1, le=100_000)
    interval: Duration = timedelta(minutes=1)

    @field_validator("columns")
    @classmethod
    def _columns(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [k for k in _SQL_REQUIRED if k not in v]
        if missing:
            raise ValueError(f"must map {', '.join(missing)} (required: {', '.join(_SQL_REQUIRED)})")
        unknown = sorted(set(v) - set(_SQL_REQUIRED) - set(_SQL_OPTIONAL))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(_SQL_REQUIRED + _SQL_OPTIONAL)})")
        for field, column in v.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", column):
                raise ValueError(f"{field}: {column!r} is not a plain column name")
        return v

    @model_validator(mode="after")
    def _link(self) -> SqlSourceConfig:
        if "link" not in self.columns and not self.link_template:
            raise ValueError("map a link column or set link_template (with {id})")
        if self.link_template:
            try:
                self.link_template.format(id="1")
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(f"link_template may use only the placeholder {{id}}: {e}") from e
        return self


class FetchConfig(_Model):
    concurrency: int = Field(default=8, ge=1, le=256)  # sources fetched at once (one request per host)
    timeout: Duration = timedelta(seconds=20)  # per request, connect to last byte
    max_bytes: int = Field(default=10 * _MIB, ge=1024)  # largest body read, after decompression
    max_backoff: Duration = timedelta(hours=24)  # cap of the wait after consecutive failures
    user_agent: str | None = None  # default: syndicate/{version} (+{site.base_url})
    # Hosts (names, addresses or networks such as "10.1.0.0/16") that sources may fetch from although they
    # are private. Without it only sources whose configured URL is itself a private address or localhost may.
    private_hosts: tuple[str, ...] = ()


_EMAIL = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(v: str) -> str:
    """Text that goes into a mail header: a line break (or other control character) in it would end the
    header, or make every message fail to build."""
    if _CONTROL_CHARS.search(v):
        raise ValueError(f"must be one line without control characters, got {v!r}")
    return v


def ascii_address(v: str) -> str:
    """An address as mail servers take it without SMTPUTF8: an internationalized domain in its IDNA
    (xn--) form; a local part that is not ASCII is refused (it would need SMTPUTF8 on every server on the
    way)."""
    local, _, domain = v.rpartition("@")
    if not local.isascii():
        raise ValueError(f"{v!r}: the part before @ must be ASCII (a non-ASCII one needs SMTPUTF8)")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as e:
            raise ValueError(f"{v!r}: the domain is not a valid internationalized name ({e})") from e
    return f"{local}@{domain}"


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class DigestConfig(_Model):
    """The daily email digest: when, how it looks, where it goes without an SMTP server."""

    send_at: str = "08:00"  # local time of each recipient, HH:MM
    subject: str = "{date} 开发区新闻日报"  # {date}: the recipient's local date
    sender: str = Field(default="投促中国 <news@example.org>", alias="from")
    outbox_dir: Path = Path("var/outbox")  # with no [smtp]: each message written here as an .eml file
    max_items: int = Field(default=100, ge=1, le=10_000)  # per digest; the rest summarized with a link
    templates_dir: Path | None = None  # digest.html.j2 and digest.txt.j2; default: the shipped ones
    unsubscribe_max_age: Duration = timedelta(days=365)  # an unsubscribe or preferences link older than this is refused
    # Addresses of these domains may ask for a digest on the public sign-up page (/signup), confirmed by a
    # mail (double opt-in). Empty: there is no sign-up page.
    signup_domains: tuple[str, ...] = ()

    @field_validator("signup_domains")
    @classmethod
    def _signup_domains(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for domain in v:
            d = domain.strip().lower().removeprefix("@")
            if not _DOMAIN.match(d):
                raise ValueError(f"must be mail domains such as 'investchn.com', got {domain!r}")
            out.append(d)
        return tuple(out)

    @property
    def templates(self) -> Path:
        """The templates folder: ``templates_dir``, or the shipped one."""
        return self.templates_dir or default_templates_dir()

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"must be a local time HH:MM such as '08:00', got {v!r}")
        return v

    @field_validator("subject")
    @classmethod
    def _subject(cls, v: str) -> str:
        return _placeholder(_one_line(v), "date")

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str) -> str:
        from email.utils import parseaddr

        _, address = parseaddr(_one_line(v))
        if not re.match(_EMAIL, address):
            raise ValueError(f"must be an address such as 'Name <news@example.org>', got {v!r}")
        return v

    @property
    def send_time(self) -> tuple[int, int]:
        hour, minute = self.send_at.split(":")
        return int(hour), int(minute)


class SmtpConfig(_Model):
    """The mail server digests are handed to. Secrets come from the environment, never the file."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: str | None = None  # the password comes from this environment variable
    rate_per_minute: int = Field(default=120, ge=1, le=1_000_000)
    timeout: Duration = timedelta(seconds=30)  # per SMTP command
    dkim_selector: str | None = None
    dkim_domain: str | None = None
    dkim_key_file: Path | None = None  # PEM private key; with selector and domain, messages are DKIM-signed

    @model_validator(mode="after")
    def _dkim(self) -> SmtpConfig:
        given = [self.dkim_selector is not None, self.dkim_domain is not None, self.dkim_key_file is not None]
        if any(given) and not all(given):
            raise ValueError("dkim_selector, dkim_domain and dkim_key_file go together: set all three or none")
        if self.password_env and not self.username:
            raise ValueError("password_env needs a username")
        return self

    @property
    def dkim(self) -> bool:
        return self.dkim_key_file is not None


class RecipientConfig(_Model):
    """A member of staff who gets the daily digest of the zones, cities or categories they follow."""

    email: str = Field(pattern=_EMAIL, max_length=320)
    name: str = ""
    zones: tuple[str, ...] = ()  # zone slugs
    cities: tuple[str, ...] = ()  # city slugs (wuxi) or names (无锡)
    categories: tuple[str, ...] = ()  # category slugs or names
    timezone: str | None = None  # default: [site] timezone
    send_at: str | None = None  # HH:MM local time; default: [digest] send_at

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str | None) -> str | None:
        return None if v is None else _valid_timezone(v)

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, v: str | None) -> str | None:
        if v is not None and not _HHMM.match(v):
            raise ValueError(f"must be a local time HH:MM such as '08:00', got {v!r}")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _one_line(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        return ascii_address(v)

    @model_validator(mode="after")
    def _follows(self) -> RecipientConfig:
        if not (self.zones or self.cities or self.categories):
            raise ValueError("follows nothing: give zones, cities or categories")
        return self


SourceConfig = Annotated[DirectorySourceConfig | FeedSourceConfig | SqlSourceConfig, Field(discriminator="kind")]
_SOURCE_KINDS = {"directory", "feed", "sql"}


class Config(_Model):
    site: SiteConfig = SiteConfig()
    database: DatabaseConfig = DatabaseConfig()
    publish: PublishConfig = PublishConfig()
    fetch: FetchConfig = FetchConfig()
    zones_registry: ZonesRegistryConfig = ZonesRegistryConfig()
    serve: ServeConfig = ServeConfig()
    digest: DigestConfig = DigestConfig()
    smtp: SmtpConfig | None = None  # none: digests are written to digest.outbox_dir as .eml files
    zones: tuple[ZoneConfig, ...] = ()
    sources: tuple[SourceConfig, ...] = ()
    recipients: tuple[RecipientConfig, ...] = ()
    # Where the file was read from; relative paths in it were resolved against its folder.
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> Config:
        problems: list[str] = []
        _dupes(problems, "zones", "slug", [z.slug for z in self.zones])
        _dupes(problems, "zones", "name", [z.name for z in self.zones])
        _dupes(problems, "sources", "id", [s.id for s in self.sources])
        _dupes(problems, "recipients", "email", [r.email.lower() for r in self.recipients])
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def recipient(self, email: str) -> RecipientConfig:
        for r in self.recipients:
            if r.email.lower() == email.lower():
                return r
        raise KeyError(email)

    def source(self, source_id: str) -> SourceConfig:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise KeyError(source_id)


def _dupes(problems: list[str], table: str, key: str, values: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            problems.append(f"{table}[{i}].{key}: {v!r} is already used by {table}[{seen[v]}]")
        else:
            seen[v] = i


def default_config_path() -> Path:
    """``$SYNDICATE_CONFIG``, else ``./syndicate.toml``."""
    return Path(os.environ.get("SYNDICATE_CONFIG") or DEFAULT_CONFIG_NAME)


def load_config(path: Path | str) -> Config:
    """Read, validate and resolve a config file. Raises ``ConfigError`` naming the file and each key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except FileNotFoundError as e:
        raise ConfigError(f"{path}: config file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read config file: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    return config_from_dict(raw, path, text)


def config_from_dict(raw: dict[str, Any], path: Path, text: str = "") -> Config:
    """Validate an already-parsed config table as if it had been read from ``path`` (``text``: the file,
    to name the line of each problem)."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        known = known_keys(Config, _Model)
        problems = tuple(describe(err, text, known, _SOURCE_KINDS) for err in e.errors())
        raise ConfigError(f"{path}: invalid config", problems) from e
    return _resolve(config, path)


def _resolve(config: Config, path: Path) -> Config:
    """Make every relative path absolute against the config file's folder."""
    base = path.resolve().parent

    def rel(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    def source(s: SourceConfig) -> SourceConfig:
        if isinstance(s, DirectorySourceConfig):
            return s.model_copy(update={"path": rel(s.path)})
        if isinstance(s, FeedSourceConfig) and not s.is_http:
            return s.model_copy(update={"url": str(rel(Path(s.url.removeprefix("file://"))))})
        if isinstance(s, SqlSourceConfig):
            return s.model_copy(update={"url": _resolve_sqlite(s.url, base)})
        return s

    sources = tuple(source(s) for s in config.sources)
    return config.model_copy(
        update={
            "path": path.resolve(),
            "database": config.database.model_copy(update={"url": _resolve_sqlite(config.database.url, base)}),
            "publish": config.publish.model_copy(
                update={
                    "output_dir": rel(config.publish.output_dir),
                    "templates_dir": rel(config.publish.templates_dir) if config.publish.templates_dir else None,
                }
            ),
            "sources": sources,
            "digest": config.digest.model_copy(
                update={
                    "outbox_dir": rel(config.digest.outbox_dir),
                    "templates_dir": rel(config.digest.templates_dir) if config.digest.templates_dir else None,
                }
            ),
            "smtp": config.smtp.model_copy(update={"dkim_key_file": rel(config.smtp.dkim_key_file)})
            if config.smtp and config.smtp.dkim_key_file
            else config.smtp,
        }
    )


def _resolve_sqlite(url: str, base: Path) -> str:
    """``sqlite:///var/x.db`` (relative) → an absolute file path; other URLs are left alone."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix) :]
    if not rest or rest.startswith((":memory:", "/")) or rest.startswith("file:"):
        return url
    return prefix + str(base / rest)
