"""The web pages behind the feeds, in a real Chromium (Debian's package, driven by Playwright) against
`syndicate serve`'s server on 127.0.0.1: the index filter, a zone page and its older pages, phone and
desktop widths; and a crawler that follows every link to our own server from every page, feed and OPML.

Screenshots are kept in the test's output folder (``tmp_path/screens``)."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from lxml import etree, html

from syndicate import app, delivery, pipeline
from syndicate.config import load_config
from syndicate.context import Context

from .helpers import free_port, page

DIGEST = """
[digest]
outbox_dir = "outbox"
max_items = 2

[[recipients]]
email = "zhang@example.org"
zones = ["xishan"]
"""
ZONE_TITLES = [f"锡山经开区第{n}条新闻" for n in range(1, 9)]


@dataclass
class Site:
    base: str
    ctx: Context
    out: Path


@pytest.fixture
def site(write_config: Callable[..., Path], tmp_path: Path, start_server: Callable[..., str]) -> Iterator[Site]:
    """Eight articles of one zone (three per page: two older pages), others in other zones and cities,
    published and served."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    path = write_config(DIGEST)
    path.write_text(path.read_text(encoding="utf-8").replace("http://feeds.example.org/", base), encoding="utf-8")
    articles = tmp_path / "articles"
    for n, title in enumerate(ZONE_TITLES, start=1):
        body = (f"第{n}条:锡山经济技术开发区举行重点项目推进会,部署第{n}批项目建设。",)
        (articles / f"x{n}.txt").write_text(page(title=title, date=f"2020-10-{n:02d}", body=body), encoding="utf-8")
    others = [
        ("苏州工业园区", "苏州", "园区发布人才新政"),
        ("无锡高新技术产业开发区", "无锡", "高新区集成电路项目签约"),
    ]
    for n, (zone, city, title) in enumerate(others):
        text = page(title=title, zone=zone, city=city, category="招商动态", body=(f"{title}。详情见正文第{n}段。",))
        (articles / f"o{n}.txt").write_text(text, encoding="utf-8")
    ctx = Context.open(load_config(path))
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    delivery.digest(ctx, force=True)  # an .eml in outbox/, its links to be followed too
    start_server(app.feed_app(ctx.config, lambda: ctx), port)  # what `serve` runs, on the port of base_url
    yield Site(base, ctx, ctx.config.publish.output_dir)
    ctx.close()


def visible_links(pg: Any, selector: str) -> list[str]:
    return [a.inner_text() for a in pg.locator(selector).all() if a.is_visible()]


def test_the_index_filter_narrows_by_chinese_name_and_pinyin(site: Site, browser: Any) -> None:
    pg = browser.new_page()
    pg.goto(site.base)
    zone_links = "section.province a"
    assert "锡山经济技术开发区" in visible_links(pg, zone_links)
    assert len(visible_links(pg, zone_links)) == 3  # the zones with items; the empty ones are folded away
    for query in ("锡山", "xishan", "XiShan"):
        pg.fill("#filter", query)
        assert visible_links(pg, zone_links) == ["锡山经济技术开发区"], query
    pg.fill("#filter", "苏州")  # a city
    assert visible_links(pg, zone_links) == ["苏州工业园区"]
    pg.fill("#filter", "no-such-zone")
    assert visible_links(pg, zone_links) == []
    assert pg.locator("#nothing").is_visible()
    pg.fill("#filter", "xishan")
    pg.click("text=锡山经济技术开发区")
    assert pg.url == f"{site.base}zones/xishan/"
    assert "锡山经济技术开发区" in pg.locator("h1").inner_text()


def test_a_zone_page_lists_its_newest_items_and_pages_back_to_the_first(site: Site, browser: Any) -> None:
    pg = browser.new_page()
    pg.goto(f"{site.base}zones/xishan/")
    assert pg.locator("ol.items h2 a").all_inner_texts() == ZONE_TITLES[::-1][:3]
    # How to subscribe: the three documents' URLs, as text to copy, not links into XML.
    urls = [pg.locator(f"#sub-{n}").input_value() for n in (1, 2, 3)]
    assert urls == [f"{site.base}zones/xishan/{name}" for name in ("rss.xml", "atom.xml", "feed.json")]
    assert pg.locator("a[href$='.xml'], a[href$='.json']").count() == 0
    seen = pg.locator("ol.items h2 a").all_inner_texts()
    pages = 1
    while pg.locator("a[rel=next]").count():
        pg.click("a[rel=next]")
        pages += 1
        seen += pg.locator("ol.items h2 a").all_inner_texts()
    assert pages == 3 and pg.url == f"{site.base}zones/xishan/page/1.html"
    # Every item; the newest page may repeat the newest of the page before it, as atom.xml repeats its
    # newest archive's (a page never changes once full, so the newest holds the last N, not what is left).
    assert set(seen) == set(ZONE_TITLES) and len(seen) < len(ZONE_TITLES) + 3
    pg.click("a[rel=prev]")
    assert pg.url == f"{site.base}zones/xishan/page/2.html"


@pytest.mark.parametrize("width", [390, 1280])
def test_no_page_scrolls_sideways(site: Site, browser: Any, tmp_path: Path, width: int) -> None:
    screens = tmp_path / "screens"
    screens.mkdir(exist_ok=True)
    pg = browser.new_page(viewport={"width": width, "height": 900})
    for name, path in [
        ("index", ""),
        ("zone", "zones/xishan/"),
        ("zone-page-1", "zones/xishan/page/1.html"),
        ("city", "cities/wuxi/"),
        ("category", "categories/zhaoshangdongtai/"),
        ("all", "all/"),
    ]:
        pg.goto(site.base + path)
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        assert pg.locator("html").get_attribute("lang") == "zh-CN"
        assert pg.locator("h1").count() == 1
        # No link leads a person into raw XML: feeds are URLs to copy, the OPML file is a download.
        into_xml = "a[href$='.xml']:not([download]), a[href$='.json']:not([download]), a[href$='.opml']:not([download])"
        assert pg.locator(into_xml).count() == 0, name
        shot = screens / f"{name}-{width}.png"
        pg.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000


def _links_of(url: str, body: bytes, ctype: str) -> list[str]:
    """Every URL a document points at: href and src in pages, feeds' links and ids, OPML's URLs."""
    if "json" in ctype:
        doc = json.loads(body)
        found = [doc.get("home_page_url"), doc.get("feed_url"), doc.get("next_url")]
        for item in doc.get("items", []):
            found += [item.get("url"), item.get("image")]
        return [u for u in found if u]
    if "html" in ctype:
        tree = html.fromstring(body)
        return [urljoin(url, v) for v in tree.xpath("//@href | //@src")]
    tree = etree.fromstring(body)
    values = tree.xpath("//@href | //@xmlUrl | //@htmlUrl | //*[local-name()='link']/text()")
    return [urljoin(url, str(v).strip()) for v in values if str(v).strip()]


def test_every_link_to_our_server_answers(site: Site, tmp_path: Path) -> None:
    """From index.html and the digest, every page, feed, archive and OPML linked, and every link in them
    to our server."""
    [eml] = (tmp_path / "outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    digest_html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    from_digest = [u for u in _links_of(site.base, digest_html.encode(), "text/html") if u.startswith(site.base)]
    assert f"{site.base}zones/xishan/" in from_digest  # 查看全部: the zone's page
    seen: set[str] = set()
    todo = [site.base, *from_digest]
    kinds: set[str] = set()
    with httpx.Client(timeout=10) as client:
        while todo:
            url = urljoin(todo.pop(), "").split("#")[0]
            if url in seen or not url.startswith(site.base):
                continue
            seen.add(url)
            r = client.get(url)
            assert r.status_code == 200, url
            ctype = r.headers["content-type"]
            kinds.add(ctype.split(";")[0])
            if any(t in ctype for t in ("html", "xml", "json", "opml")):
                todo += _links_of(url, r.content, ctype)
    assert {"text/html", "application/rss+xml", "application/atom+xml", "application/feed+json"} <= kinds
    assert f"{site.base}zones/xishan/page/1.html" in seen and f"{site.base}feeds.opml" in seen
    assert f"{site.base}zones/xishan/archive/1.xml" in seen
    # Every feed's human link is its page, and the page is there.
    atom = httpx.get(f"{site.base}zones/xishan/atom.xml").text
    assert re.search(rf'<link href="{re.escape(site.base)}zones/xishan/" rel="alternate"', atom)
    paths = {urlsplit(u).path for u in seen}
    assert {"/zones/xishan/", "/cities/wuxi/", "/all/"} <= paths
