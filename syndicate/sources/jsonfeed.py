"""Reading a JSON Feed (https://jsonfeed.org/version/1 and 1.1) into the shape feedparser gives RSS and
Atom entries, so one path (``feed._articles``) makes articles of all three. Pure: text in, dicts out.

What maps where: ``id`` → id (a number in 1.0 feeds becomes its text), ``url`` → link (``external_url``
when there is none), ``content_html`` / ``content_text`` / ``summary`` → content, ``date_published`` /
``date_modified`` → published / updated, ``author`` (1.0) and ``authors`` (1.1) → author, ``tags`` →
categories, ``image`` → the first image, ``attachments`` → enclosures.
"""

from __future__ import annotations

import html
import json
from typing import Any

__all__ = ["JsonFeedError", "is_json", "read_json_feed"]


class JsonFeedError(ValueError):
    """Not a JSON Feed; the message says why."""


def is_json(text: str) -> bool:
    return text.lstrip()[:1] == "{"


def read_json_feed(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(feed, entries) in feedparser's shape. Raises ``JsonFeedError``."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()) - 1:
            raise JsonFeedError(
                f"JSON cut off after {len(text)} characters (it ends before the document closes)"
            ) from e
        raise JsonFeedError(f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith("https://jsonfeed.org/version/"):
        raise JsonFeedError('JSON, but not a JSON Feed (no https://jsonfeed.org/version/ in "version")')
    items = doc.get("items")
    if not isinstance(items, list):
        raise JsonFeedError('a JSON Feed without an "items" list')
    feed = {"title": _text(doc.get("title")), "link": _text(doc.get("home_page_url")) or None}
    return feed, [_entry(item) for item in items if isinstance(item, dict)]


def _text(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return value if isinstance(value, str) else ""


def _entry(item: dict[str, Any]) -> dict[str, Any]:
    content = _text(item.get("content_html"))
    if not content and (plain := _text(item.get("content_text"))):
        content = "".join(f"<p>{html.escape(p.strip())}</p>" for p in plain.split("\n\n") if p.strip())
    entry: dict[str, Any] = {
        "id": _text(item.get("id")),
        "link": _text(item.get("url")) or _text(item.get("external_url")),
        "title": _text(item.get("title")),
        "title_detail": {"type": "text/plain"},
        "content": [{"value": content}] if content else [],
        "summary": html.escape(_text(item.get("summary"))),
        "tags": [{"term": t} for t in item.get("tags") or () if isinstance(t, str)],
        "enclosures": [a for a in map(_attachment, item.get("attachments") or ()) if a is not None],
    }
    for ours, theirs in (("published", "date_published"), ("updated", "date_modified")):
        if value := _text(item.get(theirs)):
            entry[ours] = value
    many = item.get("authors")
    authors: list[Any] = many if isinstance(many, list) else [item.get("author")]
    names = [_text(a.get("name")) for a in authors if isinstance(a, dict)]
    if names := [n for n in names if n]:
        entry["author"] = ", ".join(names)
    if image := _text(item.get("image")) or _text(item.get("banner_image")):
        entry["media_thumbnail"] = [{"url": image}]
    return entry


def _attachment(a: object) -> dict[str, str] | None:
    if not isinstance(a, dict) or not (url := _text(a.get("url"))):
        return None
    size = a.get("size_in_bytes")
    out = {"href": url, "type": _text(a.get("mime_type"))}
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        out["length"] = str(size)
    if title := _text(a.get("title")):
        out["title"] = title
    return out
