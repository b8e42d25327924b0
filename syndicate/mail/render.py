"""Rendering a digest: Jinja2 templates (``digest.html.j2``, ``digest.txt.j2``) → an HTML part with its
CSS inlined (mail clients drop ``<style>``) and a plain-text part. Pure: takes a ``DigestView``.

The HTML template is autoescaped, so an article title containing markup shows as text; bodies never reach
a digest, only plain-text summaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import css_inline

from ..templating import environment, template_problems

__all__ = ["PAGES", "DigestGroup", "DigestItem", "DigestView", "check_templates", "render_digest", "render_page"]


@dataclass(frozen=True, slots=True)
class DigestItem:
    title: str
    link: str
    date: str  # local date, for people
    source: str  # who published it (来源), or the source's name
    summary: str  # plain text, about 120 characters
    also: tuple[str, ...] = ()  # other sources that reported the same story
    files: tuple[DigestFile, ...] = ()  # what the article carries: audio, video, documents
    image: str | None = None  # its first image, shown as a thumbnail (a remote image, never attached)


@dataclass(frozen=True, slots=True)
class DigestFile:
    label: str  # its title, else its file name, with its kind: "通知全文.pdf(PDF)"
    url: str


@dataclass(frozen=True, slots=True)
class DigestGroup:
    name: str  # zone (or category) name
    city: str | None
    items: tuple[DigestItem, ...]
    more: int = 0  # further articles of this group, left out beyond max_items
    link: str | None = None  # where all of the group's news is


@dataclass(frozen=True, slots=True)
class DigestView:
    site_title: str
    site_url: str
    date: str  # the recipient's local date
    recipient_name: str
    groups: tuple[DigestGroup, ...]  # each with at least one article listed
    total: int  # articles new to the recipient, listed or not
    unsubscribe_url: str
    preferences_url: str = ""  # the recipient's preferences page; none in a preview
    unlisted: tuple[DigestGroup, ...] = ()  # groups none of whose articles fit under max_items: counts, links
    web_url: str = ""  # this digest's web copy ("在浏览器中查看"); none in a preview

    @property
    def preheader(self) -> str:
        """The line mail clients show beside the subject in the list: how many, and the first titles."""
        titles = "、".join(it.title for g in self.groups for it in g.items[:1])
        return f"{self.total} 篇新消息:{titles}" if titles else f"{self.total} 篇新消息"

    @property
    def listed(self) -> int:
        return sum(len(g.items) for g in self.groups)

    @property
    def more(self) -> int:
        return self.total - self.listed


# @media rules (the narrow-screen layout) cannot be inlined; they stay in a <style> of their own.
_INLINER = css_inline.CSSInliner(keep_style_tags=False, keep_at_rules=True, load_remote_stylesheets=False)


def render_digest(templates: Path, view: DigestView) -> tuple[str, str]:
    """(HTML with inlined styles, plain text) of one digest."""
    html = environment(templates, True).get_template("digest.html.j2").render(d=view)
    text = environment(templates, False).get_template("digest.txt.j2").render(d=view)
    return _INLINER.inline(html), text


PAGES = ("unsubscribe", "preferences", "signup", "notice")  # the self-service pages, each NAME.html.j2


def render_page(templates: Path, shipped: Path, name: str, /, **values: object) -> bytes:
    """A self-service page (``PAGES``) from ``NAME.html.j2`` of the digest templates folder, or of the
    ``shipped`` one when that folder has none."""
    folder = templates if (templates / f"{name}.html.j2").is_file() else shipped
    return environment(folder).get_template(f"{name}.html.j2").render(**values).encode("utf-8")


def check_templates(templates: Path) -> list[str]:
    """Problems loading the digest templates (for ``syndicate check``). A folder without a page's template
    (``unsubscribe.html.j2``, ...) uses the shipped one; a folder with one must load it."""
    names = [("digest.html.j2", True), ("digest.txt.j2", False)]
    names += [(f"{page}.html.j2", True) for page in PAGES if (templates / f"{page}.html.j2").is_file()]
    return template_problems(templates, names)
