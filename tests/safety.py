"""Checking outputs for anything unsafe by parsing them, not by grepping for a string.

Every published document is parsed (XML strictly with lxml, JSON with json, mail with the email package);
every HTML fragment in it (item bodies, summaries, titles, the digest's HTML part) is parsed as HTML and
walked: no element that runs code or changes how the page loads, no event-handler attribute, no inline
style in article content, and every URL attribute http(s) or mailto.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path

from lxml import etree
from lxml import html as lxml_html

UNSAFE_TAGS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
    "form", "input", "button", "select", "textarea", "svg", "math", "isindex", "template", "noscript", "xss",
}  # fmt: skip
URL_ATTRIBUTES = {
    "href", "src", "action", "formaction", "background", "poster", "data", "srcset", "cite", "longdesc",
    "lowsrc", "dynsrc", "xlink:href", "codebase", "classid", "manifest", "icon", "ping",
}  # fmt: skip
SAFE_SCHEMES = ("http://", "https://", "mailto:")
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
}


def html_problems(fragment: str, where: str, allow_style: bool = False) -> list[str]:
    """What is unsafe in one HTML fragment (an empty list when nothing is)."""
    if not fragment.strip():
        return []
    if "\x00" in fragment:
        return [f"{where}: NUL character"]
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    problems = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue  # comments, processing instructions: inert
        tag = el.tag.rsplit("}", 1)[-1].lower()
        if tag in UNSAFE_TAGS:
            problems.append(f"{where}: <{tag}>")
        for name, value in el.attrib.items():
            attr = name.rsplit("}", 1)[-1].lower()
            if attr.startswith("on"):
                problems.append(f"{where}: <{tag} {attr}=...>")
            if attr == "style" and (not allow_style or "expression" in value or "url(" in value.lower()):
                problems.append(f"{where}: <{tag} style={value!r}>")
            if attr in URL_ATTRIBUTES or name.lower().endswith("href"):
                url = "".join(value.split()).lower()
                if url and not url.startswith(SAFE_SCHEMES) and not url.startswith("#"):
                    problems.append(f"{where}: <{tag} {attr}={value!r}>")
    return problems


def feed_fragments(path: Path) -> Iterator[tuple[str, str]]:
    """(where, HTML or text) of every item field of one published document."""
    data = path.read_bytes()
    if path.suffix == ".json":
        doc = json.loads(data)
        for i, item in enumerate(doc.get("items", [])):
            for key in ("title", "summary", "content_html", "content_text"):
                if key in item:
                    yield f"{path}#{i}.{key}", str(item[key])
            for key in ("url", "external_url", "image"):
                if key in item:
                    yield f"{path}#{i}.{key}", f'<a href="{item[key]}">x</a>'
        return
    root = etree.fromstring(data)  # strict: a control character or broken markup fails here
    if root.tag == "rss":
        for i, item in enumerate(root.iter("item")):
            for child in item:
                tag = etree.QName(child).localname
                if tag in ("title", "description", "encoded"):
                    yield f"{path}#{i}.{tag}", child.text or ""
                if tag == "link" and child.text:
                    yield f"{path}#{i}.link", f'<a href="{child.text}">x</a>'
    else:
        for i, entry in enumerate(root.iter(f"{{{NS['atom']}}}entry")):
            for child in entry:
                tag = etree.QName(child).localname
                if tag in ("title", "summary", "content"):
                    yield f"{path}#{i}.{tag}", child.text or ""
                if tag == "link":
                    yield f"{path}#{i}.link", f'<a href="{child.get("href")}">x</a>'


def published_problems(folder: Path) -> list[str]:
    problems = []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".xml", ".json") or path.name.startswith("."):
            continue
        for where, fragment in feed_fragments(path):
            problems += html_problems(fragment, where)
    return problems


def mail_problems(folder: Path) -> list[str]:
    """The digests written as .eml files: the HTML part's body (our template's own head aside)."""
    problems = []
    for path in sorted(folder.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        body = lxml_html.document_fromstring(html).find("body")
        inner = "".join(lxml_html.tostring(child, encoding="unicode") for child in body)
        problems += html_problems(inner, str(path), allow_style=True)
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        if "\x00" in text:
            problems.append(f"{path}: NUL in the text part")
    return problems
