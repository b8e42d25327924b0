"""Parsing a partner's RSS or Atom document into articles. Pure: bytes in, articles out.

Owns: choosing the right character encoding (Chinese sites often declare UTF-8 and send GBK), handing
feedparser a clean UTF-8 document, and normalizing each entry: identity, title as text, date, the fullest
body sanitized with nh3, author, categories and first image. Does not own fetching (``http``) or zones.
"""

from __future__ import annotations

import codecs
import hashlib
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser
from charset_normalizer import from_bytes

from ..dates import parse_date
from ..text import plain_text, sanitize_html, sanitized_text, strip_control
from ..types import Article
from ..urls import absolute, normalize_link

__all__ = ["FeedDefaults", "ParsedFeed", "decode_body", "parse_feed", "read_date"]

# Supersets: a page declared GB2312 routinely holds GBK characters, Big5 holds HKSCS ones.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "big5": "big5hkscs", "ascii": "utf-8"}
_XML_DECL = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([A-Za-z0-9._-]+)\2""")
_XML_DECL_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([A-Za-z0-9._-]+)\2""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.I)
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]
_MAX_KEY = 200
_FUTURE_SLACK = timedelta(days=1)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return None
    return _SUPERSET.get(canonical, canonical)


def decode_body(data: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode a feed body. Returns (text, encoding used).

    Order: a byte-order mark; valid UTF-8 (a multi-byte UTF-8 sequence by chance is vanishingly rare, so
    this wins over a wrong declaration); the encoding declared in HTTP, then in the XML declaration,
    decoded strictly; a guess from the bytes among the encodings Chinese sites use. Never mojibake
    silently: when nothing decodes cleanly, undecodable bytes become U+FFFD and the caller is told.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace").lstrip("\ufeff"), name
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = []
    if content_type and (m := _CHARSET.search(content_type)):
        declared.append(m.group(1))
    if m2 := _XML_DECL.match(data[:200]):
        declared.append(m2.group(3).decode("ascii"))
    for name in declared:
        codec = _codec(name)
        if codec and codec not in ("utf-8", "utf-16", "utf-32"):
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                continue
    guess = from_bytes(data, cp_isolation=["gb18030", "big5hkscs", "utf_16_le", "utf_16_be", "cp1252"]).best()
    if guess is not None:
        codec = _codec(guess.encoding) or "gb18030"
        return data.decode(codec, errors="replace"), codec
    return data.decode("gb18030", errors="replace"), "gb18030"


@dataclass(frozen=True, slots=True)
class FeedDefaults:
    """What the source's config adds to every entry, and how to read dates."""

    source_id: str
    url: str  # where the document came from, to make relative links absolute
    tz: tzinfo
    now: datetime
    category: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    articles: tuple[Article, ...]
    problems: tuple[str, ...]  # entries that could not be used
    warnings: tuple[str, ...]  # the document was malformed but still gave entries; dates clamped
    error: str | None  # nothing usable at all
    title: str = ""
    link: str | None = None


# A partner document with more entries than this is refused before parsing (parsing 100,000 entries
# takes feedparser ten seconds and hundreds of MB); a body longer than MAX_BODY characters is cut
# before sanitizing (the sanitizer closes what the cut left open).
MAX_ENTRIES = 10_000
_TEXT_RUN = re.compile(r"[^<]+")
_PARTIAL_REF = re.compile(r"&[#\w]*$")
_ENTRY_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)(?=[\s/>])", re.I)
MAX_BODY = 1_000_000


def parse_feed(data: bytes, content_type: str | None, d: FeedDefaults) -> ParsedFeed:
    parsed = _parse_document(data, content_type, d)
    if isinstance(parsed, str):
        return ParsedFeed((), (), (), parsed)
    document, warnings = parsed
    feed_link = absolute(document.feed.get("link"), d.url) or (d.url if d.url.startswith("http") else None)
    articles, problems = _articles(document.entries, feed_link, d, warnings)
    return ParsedFeed(
        tuple(articles),
        tuple(problems),
        tuple(dict.fromkeys(warnings)),
        None,
        title=plain_text(document.feed.get("title", "")),
        link=feed_link,
    )


def _parse_document(data: bytes, content_type: str | None, d: FeedDefaults) -> tuple[Any, list[str]] | str:
    """The document as feedparser reads it, with warnings about it; or why it is not a feed."""
    text, encoding = decode_body(data, content_type)
    text = strip_control(text)
    # Every element the parser would take for an entry, whatever its namespace prefix (<x:entry>, <rss:item>).
    entries_seen = sum(1 for _ in itertools.islice(_ENTRY_TAG.finditer(text), MAX_ENTRIES + 1))
    if entries_seen > MAX_ENTRIES:
        return f"more than the {MAX_ENTRIES} entries a feed may have"
    if len(text) > MAX_BODY:
        text = _cut_long_text(text)
    # feedparser gets UTF-8 and is told so, with the XML declaration saying the same.
    text = _XML_DECL_TEXT.sub(r"\1\2utf-8\2", text, count=1)
    parsed = feedparser.parse(
        text.encode("utf-8"),
        response_headers={"content-type": "application/xml; charset=utf-8", "content-location": d.url},
        sanitize_html=False,  # nh3 sanitizes below; feedparser's own sanitizer keeps javascript: images
        resolve_relative_uris=False,
    )
    if len(parsed.entries) > MAX_ENTRIES:  # the count above is of start tags; this is what was parsed
        return f"more than the {MAX_ENTRIES} entries a feed may have"
    warnings: list[str] = []
    if "\ufffd" in text and encoding != "utf-8":
        warnings.append(f"undecodable bytes replaced (read as {encoding})")
    if not parsed.entries:
        if parsed.bozo:
            return f"not a feed: {_bozo(parsed)}"
        if not parsed.version:
            return "not an RSS or Atom document"
    elif parsed.bozo:
        warnings.append(f"malformed feed, entries used anyway: {_bozo(parsed)}")
    return parsed, warnings


def _articles(
    entries: list[Any], feed_link: str | None, d: FeedDefaults, warnings: list[str]
) -> tuple[list[Article], list[str]]:
    """The entries as articles, and a problem for each entry that cannot be one (the others are kept).
    Notes about single entries are added to ``warnings``."""
    ids = [_clean_id(e.get("id")) for e in entries]
    links = [absolute(e.get("link"), feed_link) for e in entries]
    norm_links = [normalize_link(link) if link else None for link in links]
    id_counts = Counter(i for i in ids if i)
    link_counts = Counter(n for n in norm_links if n)
    if any(c > 1 for c in id_counts.values()):
        warnings.append("entry ids repeat within the document; those entries are identified by link")
    articles: list[Article] = []
    problems: list[str] = []
    seen_keys: set[str] = set()
    for n, entry in enumerate(entries):
        try:
            title = _title(entry)
            published, note = _published(entry, d)
            if note:
                warnings.append(note)
            link = links[n] or feed_link
            if not link:
                raise ValueError("no link, and the feed has none to fall back on")
            body = _body(entry)
            if not title and not body:
                raise ValueError("neither title nor content")
            body_html = sanitize_html(body, base_url=link) or ""  # the body's one pass through the sanitizer
            key = _key(ids[n], id_counts, norm_links[n], link_counts, title, published)
            if key in seen_keys:
                continue  # the same entry twice in one document
            seen_keys.add(key)
            tags = tuple(dict.fromkeys(t for t in (_tag(x) for x in entry.get("tags", [])) if t))
            articles.append(
                Article(
                    source_id=d.source_id,
                    key=key,
                    title=title or sanitized_text(body_html)[:60],
                    link=link,
                    published=published,
                    body_html=body_html,
                    author=_author(entry),
                    tags=tags,
                    category=d.category,
                    image=_image(entry, link),
                )
            )
        except (ValueError, TypeError, KeyError) as e:
            problems.append(f"entry {n + 1}: {e}")
    return articles, problems


def _cut_long_text(text: str) -> str:
    """Runs of text between two tags cut to MAX_BODY characters before parsing: nothing longer is kept
    after it (bodies are cut there, titles far sooner), and the parser and the steps after it copy a 10 MB
    title a dozen times over."""
    long = [m.span() for m in _TEXT_RUN.finditer(text) if m.end() - m.start() > MAX_BODY]
    if not long:
        return text
    parts, at = [], 0
    for start, end in long:
        # Not inside a reference ("&am"), and a CDATA section that ended in the run still ends.
        parts.append(_PARTIAL_REF.sub("", text[at : start + MAX_BODY]))
        parts.append("]]>" if text.endswith("]]>", start, end) else "")
        at = end
    parts.append(text[at:])
    return "".join(parts)


def _bozo(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "unknown error"


def _clean_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _key(
    entry_id: str | None,
    id_counts: Counter[str],
    link: str | None,
    link_counts: Counter[str],
    title: str,
    published: datetime,
) -> str:
    """The entry's identity within its source, stable across fetches (docs/design.md, "Stable identifiers")."""
    if entry_id and id_counts[entry_id] == 1:
        key = entry_id
    elif link and link_counts[link] == 1:
        key = link
    else:
        key = "sha256:" + hashlib.sha256(f"{link}\x1f{published.isoformat()}\x1f{title}".encode()).hexdigest()
    if len(key) > _MAX_KEY:
        key = "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return key


def _title(entry: Any) -> str:
    raw = entry.get("title", "") or ""
    detail = entry.get("title_detail") or {}
    # A plain-text title is already text: "<b>" in it is literal, not markup to strip.
    text = raw if detail.get("type") == "text/plain" else plain_text(raw)
    return " ".join(strip_control(text).split())[:1000]


def _body(entry: Any) -> str:
    candidates = [str(c.get("value") or "") for c in entry.get("content", []) or []]
    candidates.append(str(entry.get("summary") or ""))
    candidates.append(str(entry.get("description") or ""))
    return max(candidates, key=len)[:MAX_BODY]


def _author(entry: Any) -> str:
    detail = entry.get("author_detail") or {}
    name = str(detail.get("name") or entry.get("author") or "")
    return " ".join(plain_text(name).split())[:200]


def _tag(tag: Any) -> str:
    return " ".join(plain_text(tag.get("term") or tag.get("label") or "").split())[:100]


def _image(entry: Any, link: str) -> str | None:
    for enc in entry.get("enclosures", []) or []:
        if str(enc.get("type", "")).startswith("image/") and (url := absolute(enc.get("href"), link)):
            return url
    for media in (entry.get("media_content") or []) + (entry.get("media_thumbnail") or []):
        if str(media.get("medium", "image")) == "image" and (url := absolute(media.get("url"), link)):
            return url
    return None


def read_date(raw: str | None, tz: tzinfo) -> datetime | None:
    """A feed date in any form partners write: ISO 8601, Chinese, or RFC 822 (``CST`` read as +0800
    when the site is in China, since that is what Chinese sites mean by it)."""
    if not raw or not raw.strip():
        return None
    raw = raw.strip()
    try:
        return parse_date(raw, tz)
    except ValueError:
        pass
    if raw.upper().endswith(" CST") and datetime(2020, 1, 1, tzinfo=tz).utcoffset() == timedelta(hours=8):
        raw = raw[:-4] + " +0800"
    years = [int(y) for y in re.findall(r"(?<!\d)\d{4}(?!\d)", raw)]
    if years and all(y < 1900 for y in years):
        return None  # "0000": the email parser would read it as 2000
    try:
        value = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value


def _published(entry: Any, d: FeedDefaults) -> tuple[datetime, str | None]:
    """Published, else updated, else first seen; a date more than a day ahead is clamped to now.
    (``dict.get``: feedparser's own lookup maps a missing ``updated`` to ``published``, with a warning.)"""
    for raw_key, parsed_key in (("published", "published_parsed"), ("updated", "updated_parsed")):
        value = read_date(dict.get(entry, raw_key), d.tz)
        parsed: Any = dict.get(entry, parsed_key)
        if value is None and parsed:
            try:
                y, mo, da, h, mi, se = parsed[:6]
                value = datetime(y, mo, da, h, mi, se, tzinfo=UTC)
            except (TypeError, ValueError):
                value = None
        if value is None:
            continue
        if value > d.now + _FUTURE_SLACK:
            return d.now, f"date {dict.get(entry, raw_key)!r} is in the future; first-seen time used"
        return value, None
    unread = next(
        (str(dict.get(entry, k)) for k in ("published", "updated") if str(dict.get(entry, k) or "").strip()), None
    )
    if unread is not None:
        return d.now, f"date {unread[:100]!r} not understood; first-seen time used"
    return d.now, None
