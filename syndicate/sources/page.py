"""Pure parsers for the local store's two article formats.

``.txt``: the platform's page text (see docs/formats.md): site chrome, the breadcrumb line
``首页 > 开发区新闻 > 无锡 > 文字新闻`` (section, city, category), the title, the line
``发布时间:2020-10-19  来源:锡山区宣传部  发布开发区:锡山经济技术开发区`` (half- or full-width colons), the
body paragraphs, then ``上一条/下一条`` and the footer. Everything but the article is dropped.

``.md``: TOML front matter between ``+++`` fences (title, published, source, zone, city, category, link),
then a Markdown body.

Both return ``PageFields`` or raise ``ValueError`` whose message names the missing or wrong field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, tzinfo

from markdown_it import MarkdownIt

from ..dates import as_datetime, parse_date
from ..text import paragraphs_html

__all__ = ["PageFields", "parse_front_matter", "parse_page"]


@dataclass(frozen=True, slots=True)
class PageFields:
    """The fields of one article file, before it becomes an ``Article``."""

    title: str
    published: datetime
    body_html: str  # not yet sanitized for .md; escaped paragraphs for .txt
    source: str = ""
    zones: tuple[str, ...] = ()
    city: str | None = None
    category: str | None = None
    link: str | None = None


_META_LINE = re.compile(r"发布时间\s*[:：]")
_META_FIELD = re.compile(r"(发布时间|来源|发布开发区)\s*[:：]\s*(.*?)\s*(?=(?:发布时间|来源|发布开发区)\s*[:：]|$)")
_BREADCRUMB = re.compile(r"首页\s*[>＞»›]")
_CRUMB_SPLIT = re.compile(r"\s*[>＞»›]\s*")
# Where the article ends and the site's navigation and footer begin.
_BODY_END = re.compile(r"^\s*(上一条|下一条|上一篇|下一篇|与我们联系|Copyright|版权所有)")
_WS = " \t\u3000\xa0"


def parse_page(text: str, tz: tzinfo) -> PageFields:
    """Parse the platform's page text. Dates without a time are midnight in ``tz``."""
    lines = [line.strip(_WS) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    meta_at = next((i for i, line in enumerate(lines) if _META_LINE.search(line)), None)
    if meta_at is None:
        raise ValueError("missing field 发布时间: no line 发布时间:… found")

    crumb_at = next((i for i, line in enumerate(lines[:meta_at]) if _BREADCRUMB.search(line)), None)
    city = category = None
    if crumb_at is not None:
        trail = _BREADCRUMB.split(lines[crumb_at], maxsplit=1)[1]
        parts = [p for p in _CRUMB_SPLIT.split(trail.strip()) if p]
        # 首页 > section > city > category; with two parts there is no city.
        if len(parts) >= 3:
            city, category = parts[1], parts[-1]
        elif len(parts) == 2:
            category = parts[1]

    first_title_line = crumb_at + 1 if crumb_at is not None else 0
    title_lines = [line for line in lines[first_title_line:meta_at] if line]
    if not title_lines:
        raise ValueError("missing field title: no title line before 发布时间")
    title = title_lines[-1]

    fields = {k: v.strip(_WS) for k, v in _META_FIELD.findall(lines[meta_at])}
    if not fields.get("发布时间"):
        raise ValueError("missing field 发布时间: it is empty")
    try:
        published = parse_date(fields["发布时间"], tz)
    except ValueError as e:
        raise ValueError(f"field 发布时间: {e}") from e

    paragraphs: list[str] = []
    for line in lines[meta_at + 1 :]:
        if _BODY_END.match(line):
            break
        if line:
            paragraphs.append(line)
    if not paragraphs:
        raise ValueError("missing body: no text between 发布时间 and 上一条/下一条")

    zone = fields.get("发布开发区", "")
    return PageFields(
        title=title,
        published=published,
        body_html=paragraphs_html(paragraphs),
        source=fields.get("来源", ""),
        zones=(zone,) if zone else (),
        city=city,
        category=category,
    )


_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.I)
_FRONT_KEYS = {"title", "published", "source", "zone", "city", "category", "link"}
_MARKDOWN = MarkdownIt("commonmark")


def parse_front_matter(text: str, tz: tzinfo) -> PageFields:
    """Parse ``+++`` TOML front matter and a Markdown body."""
    text = text.lstrip("\ufeff")
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "+++":
        raise ValueError("missing front matter: the file must begin with a +++ line")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "+++")
    except StopIteration:
        raise ValueError("front matter is not closed: no second +++ line") from None
    try:
        meta = tomllib.loads("\n".join(lines[1:end]))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"front matter is not valid TOML: {e}") from e

    unknown = sorted(set(meta) - _FRONT_KEYS)
    if unknown:
        raise ValueError(f"unknown front matter key {unknown[0]!r} (known: {', '.join(sorted(_FRONT_KEYS))})")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("missing field title")
    if "published" not in meta:
        raise ValueError("missing field published")
    published = _front_date(meta["published"], tz)

    body_md = "\n".join(lines[end + 1 :]).strip()
    if not body_md:
        raise ValueError("missing body: nothing after the front matter")

    zone = meta.get("zone", ())
    zones = (zone,) if isinstance(zone, str) else zone
    if not isinstance(zones, list | tuple) or not all(isinstance(z, str) for z in zones):
        raise ValueError("field zone: must be a string or a list of strings")
    for key in ("source", "city", "category", "link"):
        if key in meta and not isinstance(meta[key], str):
            raise ValueError(f"field {key}: must be a string")
    link = meta.get("link", "").strip() or None
    if link is not None and not _HTTP_URL.match(link):
        raise ValueError(f"field link: must be an absolute http(s) URL, got {link[:100]!r}")
    return PageFields(
        title=title.strip(),
        published=published,
        body_html=_MARKDOWN.render(body_md),
        source=meta.get("source", "").strip(),
        zones=tuple(z.strip() for z in zones if z.strip()),
        city=meta.get("city") or None,
        category=meta.get("category") or None,
        link=link,
    )


def _front_date(value: object, tz: tzinfo) -> datetime:
    try:
        return as_datetime(value, tz)
    except ValueError as e:
        raise ValueError(f"field published: {e}") from e
