"""Parsing a partner's RSS or Atom document into articles. Pure: bytes in, articles out.

Owns: handing feedparser a clean UTF-8 document (decoded by ``encoding``), and normalizing each entry:
identity, title as text, date, the fullest body sanitized with nh3, author, categories and first image.
Does not own fetching (``http``) or zones.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import mimetypes
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..dates import parse_date
from ..text import plain_text, sanitize_html, sanitized_text, strip_control
from ..types import Article, Enclosure, pickled_by_slots
from ..urls import absolute, normalize_link
from .encoding import decode_document
from .jsonfeed import JsonFeedError, is_json, read_json_feed

__all__ = ["FeedDefaults", "ParsedFeed", "parse_feed", "read_date"]

_XML_DECL_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([A-Za-z0-9._-]+)\2""")
_MAX_KEY = 200
# feedparser's dictionaries answer ``.get`` through a Python method (aliases such as "description" for
# "summary", computed keys such as "enclosures"): keys feedparser stores are read with ``dict.get``,
# a tenth of the time spent on each entry. Aliases and computed keys are still asked of feedparser.
_stored = dict.get
_NO_LOCAL_ZONE = re.compile(r"\s-0000\s*$")
_FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class FeedDefaults:
    """What the source's config adds to every entry, and how to read dates."""

    source_id: str
    url: str  # where the document came from, to make relative links absolute
    tz: tzinfo
    now: datetime
    category: str | None = None


@pickled_by_slots
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
_ENTRY_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.I)
MAX_BODY = 1_000_000


def parse_feed(data: bytes, content_type: str | None, d: FeedDefaults) -> ParsedFeed:
    """An RSS, Atom or JSON Feed document as articles. A web page, a document cut off before any entry,
    or anything else that is not a feed gives an error saying so (a web page: with the feeds it links)."""
    parsed = _parse_document(data, content_type, d)
    if isinstance(parsed, str):
        return ParsedFeed((), (), (), parsed)
    feed, entries, warnings, lossy = parsed
    feed_link = absolute(feed.get("link"), d.url) or (d.url if d.url.startswith("http") else None)
    articles, problems = _articles(entries, feed_link, d, warnings, lossy)
    return ParsedFeed(
        tuple(articles),
        tuple(problems),
        tuple(dict.fromkeys(warnings)),
        None,
        title=plain_text(feed.get("title", "")),
        link=feed_link,
    )


def _parse_document(
    data: bytes, content_type: str | None, d: FeedDefaults
) -> tuple[dict[str, Any], list[Any], list[str], bool] | str:
    """(feed, entries, warnings, lossy) as feedparser gives them (a JSON Feed in the same shape), lossy
    when decoding replaced bytes with U+FFFD; or why the document is not a feed."""
    text, _encoding, note = decode_document(data, content_type)
    lossy = text.count("\ufffd") > data.count("\ufffd".encode())
    # Whitespace before the XML declaration makes a strict parser refuse a good document.
    text = strip_control(text).lstrip(" \t\r\n")
    warnings: list[str] = [note] if note else []
    if is_json(text):
        try:
            feed, entries = read_json_feed(text)
        except JsonFeedError as e:
            return str(e)
        if len(entries) > MAX_ENTRIES:
            return f"more than the {MAX_ENTRIES} entries a feed may have"
        return feed, entries, warnings, lossy
    if _HTML_PAGE.match(text[:4096]):
        return _web_page(text, d.url)
    text = _references(text)
    # Every element the parser would take for an entry, whatever its namespace prefix (<x:entry>, <rss:item>).
    entries_seen = sum(1 for _ in itertools.islice(_ENTRY_TAG.finditer(text), MAX_ENTRIES + 1))
    if entries_seen > MAX_ENTRIES:
        return f"more than the {MAX_ENTRIES} entries a feed may have"
    if len(text) > MAX_BODY:
        text = _cut_long_text(text)
    # feedparser gets UTF-8 and is told so, with the XML declaration saying the same.
    text = _XML_DECL_TEXT.sub(r"\1\2utf-8\2", text, count=1)
    parsed = _feedparser(text, d.url)
    if len(parsed.entries) > MAX_ENTRIES:  # the count above is of start tags; this is what was parsed
        return f"more than the {MAX_ENTRIES} entries a feed may have"
    cut = _cut_off(text) if parsed.bozo else None
    if not parsed.entries:
        if cut:
            return f"{cut}, before any entry"
        if parsed.bozo:
            return f"not a feed: {_bozo(parsed)}"
        if not parsed.version:
            return "not an RSS, Atom or JSON Feed document"
    elif cut:
        # The entry the cut goes through is incomplete (its link or text may stop half-way): left out.
        entries = parsed.entries[: len(_ENTRY_END.findall(text))]
        if not entries:
            return f"{cut}, inside its first entry"
        n = len(entries)
        warnings.append(
            f"{cut}; the {n} {'entry' if n == 1 else 'entries'} before the cut used, the one it cuts left out"
        )
        return parsed.feed, entries, warnings, lossy
    elif parsed.bozo:
        warnings.append(f"malformed feed, entries used anyway: {_bozo(parsed)}")
    return parsed.feed, parsed.entries, warnings, lossy


def _feedparser(text: str, url: str) -> Any:
    """feedparser's reading of the document as one from ``url``: its relative addresses resolved against
    ``url`` (links, GUIDs that are links, link elements, thumbnails). Told the address, feedparser joins
    it with each element's base and resolves every address against it, a fifth of its time; the
    document is read without it when that cannot change what it says: no element names a base, and each
    address read here comes out already absolute (joining it with ``url`` gives it back). Otherwise (a
    link visibly relative, or one found so after reading) it is read with the address."""
    data = text.encode("utf-8")
    if not _BASE.search(text):
        ids_resolved = _ids_resolved(text)
        if ids_resolved is not None and not _visibly_relative(text, ids_resolved):
            parsed = _read(data, _HEADERS)
            if _read_alike(parsed, url, ids_resolved):
                return parsed
    return _read(data, {**_HEADERS, "content-location": url})


def _read(data: bytes, headers: dict[str, str]) -> Any:
    # Imported where documents are parsed: the parsing workers' server imports it before they start,
    # and the command that hands them the documents need not load it.
    import feedparser

    # nh3 sanitizes and resolves each body later; feedparser's own sanitizer keeps javascript: images.
    return feedparser.parse(data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False)


_HEADERS = {"content-type": "application/xml; charset=utf-8"}  # feedparser gets UTF-8 and is told so
# An attribute feedparser takes for an element's base (xml:base, base), in any case and namespace.
_BASE = re.compile(r"base\s*=", re.I)
# Start tags feedparser reads an id from (<guid>, <id>, in any namespace), and the isPermaLink attribute
# whose value (anything but "true") tells it the GUID is not an address.
_ID_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:guid|id)(?=[\s/>])([^>]*)>", re.I)
_PERMALINK = re.compile(r"""(?<=\s)ispermalink\s*=\s*(["'])([A-Za-z]*)\1""", re.I)
_SCHEME = r"(?![A-Za-z][A-Za-z0-9+.-]*:)"  # what follows does not start with a scheme
_RELATIVE_LINK = re.compile(rf"<link\b[^>]*>\s*{_SCHEME}[^<\s]|<link\b[^>]*\shref\s*=\s*[\"']?{_SCHEME}", re.I)
_RELATIVE_ID = re.compile(rf"<(?:[A-Za-z_][\w.-]*:)?(?:guid|id)\b[^>]*>\s*{_SCHEME}[^<\s]", re.I)


def _ids_resolved(text: str) -> bool | None:
    """Whether feedparser resolves the document's ids (GUIDs) as addresses: all of them (no isPermaLink
    anywhere), none (every id element says isPermaLink other than "true", once), or None: some, which
    reading cannot tell apart."""
    mentions = text.lower().count("ispermalink")
    if not mentions:
        return True
    said = [_PERMALINK.findall(attributes) for attributes in _ID_TAG.findall(text)]
    if sum(map(len, said)) == mentions and all(len(found) == 1 and found[0][1].lower() != "true" for found in said):
        return False
    return None


def _visibly_relative(text: str, ids_resolved: bool) -> bool:
    """A link element, or an id taken for an address, that starts without a scheme: read with the address
    at once instead of twice."""
    return bool(_RELATIVE_LINK.search(text) or (ids_resolved and _RELATIVE_ID.search(text)))


def _read_alike(parsed: Any, url: str, ids_resolved: bool) -> bool:
    """Whether every address read here (the feed's link; each entry's link, id when ids are resolved, link
    elements and thumbnails) is one that resolving against ``url`` gives back unchanged."""

    def same(value: object) -> bool:
        if not isinstance(value, str):
            return True  # an empty href is resolved too: it is the document's own address
        try:
            return urljoin(url, value) == value
        except ValueError:  # feedparser makes it "" when resolving
            return False

    if not same(_stored(parsed.feed, "link")):
        return False
    for entry in parsed.entries:
        if not same(_stored(entry, "link")) or (ids_resolved and not same(_stored(entry, "id"))):
            return False
        links = _stored(entry, "links") or ()
        thumbnails = _stored(entry, "media_thumbnail") or ()
        if not all(same(_stored(x, "href")) for x in links) or not all(same(_stored(x, "url")) for x in thumbnails):
            return False
    return True


_HTML_PAGE = re.compile(r"(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])", re.I | re.S)
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.I)
_ATTRIBUTE = re.compile(r"""([\w:-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json")
_ROOT = re.compile(r"<([A-Za-z_][\w.:-]*)")


def _web_page(text: str, url: str) -> str:
    """The error for a web page where a feed was expected, naming the feeds it links to."""
    found: list[str] = []
    for tag in _LINK_TAG.findall(text[:200_000]):
        attrs = {k.lower(): html.unescape(v.strip("\"'")) for k, v in _ATTRIBUTE.findall(tag)}
        rel = attrs.get("rel", "").lower().split()
        kind = attrs.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in _FEED_TYPES and (href := absolute(attrs.get("href"), url)):
            found.append(href)
    if found:
        return f"this is a web page, not a feed; its feeds are: {', '.join(dict.fromkeys(found))}"
    return 'this is a web page, not a feed, and it links to no feed (no <link rel="alternate">)'


def _cut_off(text: str) -> str | None:
    """Why a malformed document is malformed when the reason is that it stops before its root closes."""
    body = re.sub(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>", "", text[:4096], flags=re.S)
    root = _ROOT.search(body)
    if root is None or f"</{root.group(1)}>" in text[-4096:]:
        return None
    return f"the document is cut off after {len(text.encode('utf-8'))} bytes (it ends before </{root.group(1)}>)"


def _articles(
    entries: list[Any], feed_link: str | None, d: FeedDefaults, warnings: list[str], lossy: bool = False
) -> tuple[list[Article], list[str]]:
    """The entries as articles, and a problem for each entry that cannot be one (the others are kept).
    Notes about single entries are added to ``warnings``. In a ``lossy`` document (bytes no encoding
    reads became U+FFFD), an entry whose text lost characters is held back: published, it would be garbled
    without a word; it comes when the partner's document reads cleanly."""
    ids = [_clean_id(_stored(e, "id")) for e in entries]
    links = [absolute(_stored(e, "link"), feed_link) for e in entries]
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
            if lossy and (lost := title.count("\ufffd") + body_html.count("\ufffd")):
                raise ValueError(f"{lost} character(s) of its text could not be decoded; held back until they can")
            key = _key(ids[n], id_counts, norm_links[n], link_counts, title, published)
            if key in seen_keys:
                continue  # the same entry twice in one document
            seen_keys.add(key)
            tags = tuple(dict.fromkeys(t for t in (_tag(x) for x in _stored(entry, "tags", [])) if t))
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
                    enclosures=_enclosures(entry, link),
                    link_fallback=not links[n],
                )
            )
        except (ValueError, TypeError, KeyError) as e:
            problems.append(f"entry {n + 1}: {e}")
    return articles, problems


# CDATA sections and comments are left as they are: a "&" in them is literal.
_VERBATIM = re.compile(r"(<!\[CDATA\[.*?\]\]>|<!--.*?-->)", re.S)
# An "&" that does not start a reference XML knows, with the name after it when it names something. The
# references XML knows are passed over by the pattern itself: they are most of the ampersands of a feed
# (its escaped markup: &lt;p&gt;), and a Python call for each was a tenth of the parsing outside feedparser.
_AMPERSAND = re.compile(
    r"&(?!(?:lt|gt|amp|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});)"  # not a reference XML knows
    r"([A-Za-z][A-Za-z0-9]{0,31};)?"
)


def _references(text: str) -> str:
    """Make every ``&`` a well-formed reference, as the document's author meant it: a bare ``&`` (a CMS's
    ``...&lang=zh_CN`` link) becomes ``&amp;`` (left alone, the loose parser reads ``&lang`` as the HTML
    entity 〈), an HTML entity XML does not know (``&nbsp;``) becomes its character reference. The document
    can then be parsed strictly instead of loosely."""
    if "&" not in text:
        return text

    def fix(m: re.Match[str]) -> str:
        name = m.group(1)
        if name is None:
            return "&amp;"
        code = name2codepoint.get(name[:-1])
        return f"&#{code};" if code is not None else "&amp;" + name

    parts = _VERBATIM.split(text)
    for i in range(0, len(parts), 2):  # the even parts lie outside CDATA sections and comments
        if "&" in parts[i]:
            parts[i] = _AMPERSAND.sub(fix, parts[i])
    return "".join(parts)


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
    raw = _stored(entry, "title", "") or ""
    detail = _stored(entry, "title_detail") or {}
    # A plain-text title is already text: "<b>" in it is literal, not markup to strip.
    text = raw if _stored(detail, "type") == "text/plain" else plain_text(raw)
    return " ".join(strip_control(text).split())[:1000]


def _body(entry: Any) -> str:
    candidates = [str(_stored(c, "value") or "") for c in _stored(entry, "content", []) or []]
    candidates.append(str(_stored(entry, "summary") or ""))
    candidates.append(str(entry.get("description") or ""))
    return max(candidates, key=len)[:MAX_BODY]


def _author(entry: Any) -> str:
    detail = _stored(entry, "author_detail") or {}
    name = str(_stored(detail, "name") or _stored(entry, "author") or "")
    return " ".join(plain_text(name).split())[:200]


def _tag(tag: Any) -> str:
    return " ".join(plain_text(_stored(tag, "term") or _stored(tag, "label") or "").split())[:100]


def _image(entry: Any, link: str) -> str | None:
    for enc in entry.get("enclosures", []) or []:
        if str(enc.get("type", "")).startswith("image/") and (url := absolute(enc.get("href"), link)):
            return url
    for media in (_stored(entry, "media_content") or []) + (_stored(entry, "media_thumbnail") or []):
        if str(media.get("medium", "image")) == "image" and (url := absolute(media.get("url"), link)):
            return url
    return None


def _enclosures(entry: Any, link: str) -> tuple[Enclosure, ...]:
    """The files an entry carries (RSS <enclosure>, Atom rel="enclosure", JSON Feed attachments, Media
    RSS audio, video and documents), absolute http(s) URLs, each once. Images are the entry's image."""
    found: dict[str, Enclosure] = {}
    candidates = [
        (e.get("href"), e.get("type"), e.get("length"), e.get("title")) for e in entry.get("enclosures") or []
    ]
    for m in _stored(entry, "media_content") or []:
        if str(m.get("medium", "")) in ("audio", "video", "document") or not str(m.get("type", "image/")).startswith(
            "image/"
        ):
            candidates.append((m.get("url"), m.get("type"), m.get("filesize") or m.get("fileSize"), None))
    for href, kind, length, title in candidates:
        url = absolute(str(href or "").strip() or None, link)
        kind = str(kind or "").split(";")[0].strip().lower()
        if not url or not url.startswith(("http://", "https://")) or kind.startswith("image/") or url in found:
            continue
        # feedparser gives a link without a type "text/html": for a file, its name says more.
        if kind == "text/html" or not re.match(r"^[a-z]+/[a-z0-9][\w.+-]*$", kind):
            kind = mimetypes.guess_type(urlsplit(url).path)[0] or "application/octet-stream"
        if kind.startswith("image/"):
            continue
        size = int(length) if str(length or "").strip().isdigit() and int(length) < 2**53 else 0
        found[url] = Enclosure(url, kind, size, " ".join(plain_text(str(title or "")).split())[:200])
    return tuple(found.values())


def read_date(raw: str | None, tz: tzinfo) -> datetime | None:
    """A feed date in any form partners write: ISO 8601, Chinese, or RFC 822 (``CST`` read as +0800
    when the site is in China, since that is what Chinese sites mean by it). ``-0000``, ``+0000``, ``GMT``,
    ``UT``, ``UTC`` and ``Z`` are UTC; only a date naming no zone at all is read in ``tz``."""
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
        # RFC 5322: "-0000" is UTC with no local zone known (the parser leaves it naive, like no zone).
        value = value.replace(tzinfo=UTC if _NO_LOCAL_ZONE.search(raw) else tz)
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
