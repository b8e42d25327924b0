"""A checker for the rules of the W3C Feed Validation Service (its errors and warnings
that syndicate's feeds could trigger), written for our tests. Each problem names the rule it breaks."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
A = f"{{{ATOM}}}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC = "{http://purl.org/dc/elements/1.1/}creator"
KNOWN_NS = {
    ATOM,
    "http://purl.org/rss/1.0/modules/content/",
    "http://purl.org/dc/elements/1.1/",
    "http://search.yahoo.com/mrss/",
    "http://purl.org/syndication/history/1.0",
}
RSS_ITEM = {"title", "link", "description", "author", "category", "comments", "enclosure", "guid", "pubDate", "source"}
RSS_CHANNEL = {
    "title",
    "link",
    "description",
    "language",
    "copyright",
    "managingEditor",
    "webMaster",
    "pubDate",
    "lastBuildDate",
    "category",
    "generator",
    "docs",
    "cloud",
    "ttl",
    "image",
    "rating",
    "textInput",
    "skipHours",
    "skipDays",
    "item",
}
REGISTERED_RELS = {"alternate", "self", "enclosure", "related", "via", "hub", "current", "prev-archive", "next-archive"}
DANGEROUS = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "form",
    "input",
    "meta",
    "link",
    "base",
    "frame",
    "applet",
    "svg",
    "math",
}
RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    r"\d{2}:\d{2}:\d{2} [+-]\d{4}$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LANG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$")
C0 = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _absolute(url: str | None) -> bool:
    if not url or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _uri(value: str | None) -> bool:
    """An absolute URL written as a URI: RSS allows nothing else; the validator warns on IRIs in Atom."""
    return _absolute(value) and bool(value) and (value or "").isascii()


def _iri(value: str | None) -> bool:
    return bool(value) and (_absolute(value) or bool(re.match(r"^(urn:[a-z0-9][a-z0-9-]*:|tag:)\S+$", value or "")))


def check_html(fragment: str, where: str) -> list[str]:
    problems: list[str] = []
    if not fragment.strip():
        return problems
    doc = lxml.html.fragment_fromstring(fragment, create_parent="div")
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag.lower() in DANGEROUS:
            problems.append(f"{where}: SecurityRisk <{el.tag}>")
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                problems.append(f"{where}: SecurityRiskAttr {name}")
            if name.lower() == "style" and "url(" in value.lower():
                problems.append(f"{where}: DangerousStyleAttr")
            if name.lower() in ("href", "src", "action", "background", "cite", "poster"):
                if value.strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                    problems.append(f"{where}: SecurityRisk {name}={value[:30]}")
                elif not value.startswith("mailto:") and not _absolute(value):
                    problems.append(f"{where}: ContainsRelRef {name}={value[:40]}")
    return problems


def check_rss(data: bytes, self_url: str, now: datetime) -> list[str]:
    problems = _common(data)
    root = etree.fromstring(data)
    channel = root.find("channel")
    if root.tag != "rss" or root.get("version") != "2.0" or channel is None:
        return [*problems, "not RSS 2.0"]
    for name in ("title", "link", "description"):
        if not channel.findtext(name):
            problems.append(f"channel: MissingElement {name}")
    if not _absolute(channel.findtext("link")) or channel.findtext("link") == self_url:
        problems.append("channel: link must be the HTML page, absolute")
    selfs = [link for link in channel.findall(f"{A}link") if link.get("rel") == "self"]
    if len(selfs) != 1 or selfs[0].get("href") != self_url or selfs[0].get("type") != "application/rss+xml":
        problems.append("channel: MissingAtomSelfLink / SelfDoesntMatchLocation")
    if not LANG.match(channel.findtext("language") or ""):
        problems.append("channel: InvalidLanguage")
    for el in channel:
        if isinstance(el.tag, str) and not el.tag.startswith("{") and el.tag not in RSS_CHANNEL:
            problems.append(f"channel: UndefinedElement {el.tag}")
    for date_el in ("lastBuildDate", "pubDate"):
        if channel.find(date_el) is not None:
            problems += _rfc822(channel.findtext(date_el) or "", f"channel {date_el}", now)
    guids = Counter()
    for n, item in enumerate(channel.findall("item")):
        where = f"item {n + 1}"
        if not (item.findtext("title") or item.findtext("description")):
            problems.append(f"{where}: ItemMustContainTitleOrDescription")
        for el in item:
            if isinstance(el.tag, str) and not el.tag.startswith("{") and el.tag not in RSS_ITEM:
                problems.append(f"{where}: UndefinedElement {el.tag}")
        title = item.findtext("title") or ""
        if re.search(r"<[a-zA-Z/]", title):
            problems.append(f"{where}: ContainsHTML in title")
        guid = item.find("guid")
        if guid is None or not guid.text:
            problems.append(f"{where}: MissingGuid")
        else:
            guids[guid.text] += 1
            if guid.get("isPermaLink", "true") != "false" and not _absolute(guid.text):
                problems.append(f"{where}: InvalidHttpGUID")
            if guid.text.isdigit():
                problems.append(f"{where}: NotSufficientlyUnique")
        if item.find("link") is not None and not _absolute(item.findtext("link")):
            problems.append(f"{where}: InvalidFullLink")
        elif item.find("link") is not None and not _uri(item.findtext("link")):
            problems.append(f"{where}: UriNotIri link")
        for enclosure in item.findall("enclosure"):
            if not _uri(enclosure.get("url")):
                problems.append(f"{where}: enclosure url {enclosure.get('url')!r}")
            if not (enclosure.get("length") or "").isdigit():
                problems.append(f"{where}: enclosure MissingAttribute length")
            if not re.match(r"^[a-z]+/[\w.+-]+$", enclosure.get("type") or ""):
                problems.append(f"{where}: enclosure InvalidMIMEAttribute type")
        problems += _rfc822(item.findtext("pubDate") or "", f"{where} pubDate", now)
        author = item.find("author")
        if author is not None:
            if not re.match(r"^\S+@\S+", author.text or ""):
                problems.append(f"{where}: InvalidContact")
            if item.find(DC) is not None:
                problems.append(f"{where}: both author and dc:creator")
        if len(item.findall("enclosure")) > 1:
            problems.append(f"{where}: DuplicateEnclosure")
        source = item.find("source")
        if source is not None and not _absolute(source.get("url")):
            problems.append(f"{where}: source url")
        problems += check_html(item.findtext("description") or "", f"{where} description")
        problems += check_html(item.findtext(CONTENT) or "", f"{where} content:encoded")
    problems += [f"guid {g}: DuplicateValue" for g, c in guids.items() if c > 1]
    return problems


def _rfc822(value: str, where: str, now: datetime) -> list[str]:
    if not RFC822.match(value):
        return [f"{where}: InvalidRFC2822Date {value!r}"]
    when = parsedate_to_datetime(value)
    problems = []
    if when.strftime("%a") != value[:3]:
        problems.append(f"{where}: IncorrectDOW")
    if when > now + timedelta(days=1) or when.year < 1990:
        problems.append(f"{where}: ImplausibleDate")
    return problems


def check_atom(data: bytes, self_url: str, now: datetime) -> list[str]:
    problems = _common(data)
    root = etree.fromstring(data)
    if root.tag != f"{A}feed":
        return [*problems, "not Atom"]
    # AvoidNamespacePrefix: Atom elements written with a prefix (<ns0:source xmlns:ns0="...Atom">).
    problems += [f"{el.tag}: AvoidNamespacePrefix ({el.prefix})" for el in root.iter(f"{A}*") if el.prefix]
    if not LANG.match(root.get("{http://www.w3.org/XML/1998/namespace}lang") or ""):
        problems.append("feed: InvalidLanguage")
    for name in ("id", "title", "updated"):
        if root.find(f"{A}{name}") is None:
            problems.append(f"feed: MissingElement {name}")
    if not _iri(root.findtext(f"{A}id")):
        problems.append("feed: id must be a full and valid URL")
    problems += _rfc3339(root.findtext(f"{A}updated") or "", "feed updated", now)
    problems += _links(root, "feed")
    selfs = [link for link in root.findall(f"{A}link") if link.get("rel") == "self"]
    if len(selfs) != 1 or selfs[0].get("href") != self_url or selfs[0].get("type") != "application/atom+xml":
        problems.append("feed: MissingSelf / SelfDoesntMatchLocation")
    feed_author = root.find(f"{A}author") is not None
    ids, updateds = Counter(), Counter()
    for n, entry in enumerate(root.findall(f"{A}entry")):
        where = f"entry {n + 1}"
        for name in ("id", "title", "updated"):
            if entry.find(f"{A}{name}") is None:
                problems.append(f"{where}: MissingElement {name}")
        if not feed_author and entry.find(f"{A}author") is None:
            problems.append(f"{where}: Missing entry element: author")
        eid = entry.findtext(f"{A}id")
        ids[eid] += 1
        if not _iri(eid):
            problems.append(f"{where}: id must be a full and valid URL")
        updated = entry.findtext(f"{A}updated") or ""
        updateds[updated] += 1
        problems += _rfc3339(updated, f"{where} updated", now)
        if entry.find(f"{A}published") is not None:
            problems += _rfc3339(entry.findtext(f"{A}published") or "", f"{where} published", now)
        title = entry.find(f"{A}title")
        if title is not None and title.get("type", "text") == "text" and re.search(r"<[a-zA-Z/]", title.text or ""):
            problems.append(f"{where}: ContainsUndeclaredHTML in title")
        content = entry.find(f"{A}content")
        if content is None:
            if entry.find(f"{A}link[@rel='alternate']") is None:
                problems.append(f"{where}: MissingContentOrAlternate")
        else:
            if content.get("type") not in ("text", "html", "xhtml"):
                problems.append(f"{where}: InvalidMIMEType {content.get('type')}")
            if content.get("type") == "html":
                problems += check_html(content.text or "", f"{where} content")
        summary = entry.find(f"{A}summary")
        if (
            summary is not None
            and summary.get("type", "text") == "text"
            and re.search(r"<[a-zA-Z/]", summary.text or "")
        ):
            problems.append(f"{where}: ContainsUndeclaredHTML in summary")
        problems += _links(entry, where)
        source = entry.find(f"{A}source")
        if source is not None and (source.find(f"{A}id") is None or source.find(f"{A}updated") is None):
            problems.append(f"{where}: MissingSourceElement")
    problems += [f"id {i}: DuplicateEntries" for i, c in ids.items() if c > 1]
    problems += [f"updated {u}: DuplicateUpdated" for u, c in updateds.items() if c > 1]
    return problems


def _links(el: etree._Element, where: str) -> list[str]:
    problems = []
    seen = Counter()
    for link in el.findall(f"{A}link"):
        rel = link.get("rel", "alternate")
        if rel not in REGISTERED_RELS and not _absolute(rel):
            problems.append(f"{where}: UnregisteredAtomLinkRel {rel}")
        if not _absolute(link.get("href")):
            problems.append(f"{where}: InvalidFullLink {link.get('href')}")
        elif not _uri(link.get("href")):
            problems.append(f"{where}: UriNotIri {link.get('href')}")
        if rel == "enclosure" and link.get("length") is not None and not (link.get("length") or "").isdigit():
            problems.append(f"{where}: enclosure length {link.get('length')!r}")
        if rel == "alternate":
            seen[(link.get("type"), link.get("hreflang"))] += 1
    problems += [f"{where}: DuplicateAtomLink" for c in seen.values() if c > 1]
    return problems


def _rfc3339(value: str, where: str, now: datetime) -> list[str]:
    if not RFC3339.match(value):
        return [f"{where}: InvalidRFC3339Date {value!r}"]
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when > now + timedelta(days=1) or when.year < 1990:
        return [f"{where}: ImplausibleDate"]
    return []


def _common(data: bytes) -> list[str]:
    problems = []
    if not data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") and not data.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>'
    ):
        problems.append("NotUTF8 / missing XML declaration")
    if C0.search(data):
        problems.append("C0 control character")
    if "\ufffd".encode() in data:
        problems.append("U+FFFD in the document: text was lost in decoding")
    if len(data) > 5_000_000:
        problems.append("ValidatorLimit")
    data.decode("utf-8")
    root = etree.fromstring(data)
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{") and el.tag[1:].split("}")[0] not in KNOWN_NS:
            problems.append(f"unknown namespace {el.tag}")
    return problems


def check_json(data: bytes, self_url: str) -> list[str]:
    doc = json.loads(data)
    problems = []
    if doc.get("version") != "https://jsonfeed.org/version/1.1":
        problems.append("json: version")
    if not doc.get("title"):
        problems.append("json: title")
    if doc.get("feed_url") != self_url:
        problems.append("json: feed_url")
    top = {"version", "title", "home_page_url", "feed_url", "description", "user_comment", "next_url", "icon"}
    top |= {"favicon", "authors", "author", "language", "expired", "hubs", "items"}
    problems += [f"json: unknown key {key}" for key in doc if key not in top and not key.startswith("_")]
    hubs = doc.get("hubs", [])
    if not isinstance(hubs, list):
        problems.append("json: hubs is no list")
    else:
        for n, hub in enumerate(hubs):
            ok = isinstance(hub, dict) and isinstance(hub.get("type"), str) and hub["type"]
            if not ok or not str(hub.get("url", "")).startswith(("http://", "https://")):
                problems.append(f"json hub {n + 1}: a type and an http(s) url")
    if not isinstance(doc.get("items"), list):
        return [*problems, "json: items"]
    ids = Counter(item.get("id") for item in doc["items"])
    for n, item in enumerate(doc["items"]):
        if not isinstance(item.get("id"), str) or not item["id"]:
            problems.append(f"json item {n + 1}: id")
        if "content_html" not in item and "content_text" not in item:
            problems.append(f"json item {n + 1}: content_html or content_text")
        for key in ("date_published", "date_modified"):
            if key in item and not RFC3339.match(item[key]):
                problems.append(f"json item {n + 1}: {key}")
        for key in item:
            if key not in {
                "id",
                "url",
                "external_url",
                "title",
                "content_html",
                "content_text",
                "summary",
                "image",
                "banner_image",
                "date_published",
                "date_modified",
                "authors",
                "tags",
                "language",
                "attachments",
            } and not key.startswith("_"):
                problems.append(f"json item {n + 1}: unknown key {key}")
        problems += check_html(item.get("content_html", ""), f"json item {n + 1}")
    problems += [f"json id {i}: duplicate" for i, c in ids.items() if c > 1]
    return problems
