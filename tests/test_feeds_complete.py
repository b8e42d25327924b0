"""Complete feeds: JSON Feed, attribution, images, discovery documents, stylesheet, incremental publish."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import feedparser
from lxml import etree

from syndicate import pipeline
from syndicate.pipeline import Context

from .helpers import FixedClock, page
from .storeviews import source_articles

ATOM = "{http://www.w3.org/2005/Atom}"
PARTNER = """
[[sources]]
id = "partner"
kind = "feed"
url = "partner.xml"
title = "合作伙伴网站"
priority = 10
"""


def articles(ctx: Context) -> Path:
    assert ctx.config.path is not None
    return ctx.config.path.parent / "articles"


def body(n: int) -> tuple[str, ...]:
    return tuple(f"第{n}篇第{i}段:开发区举行重大项目签约活动,签约项目{n}个,总投资{n * 10}亿元。" for i in range(3))


def test_json_feed_required_fields(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles(ctx) / "a.txt").write_text(page(title="甲", body=body(1)), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    doc = json.loads((ctx.config.publish.output_dir / "zones/xishan/feed.json").read_text(encoding="utf-8"))
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["title"].startswith("锡山经济技术开发区")
    assert doc["feed_url"] == "http://feeds.example.org/zones/xishan/feed.json"
    [item] = doc["items"]
    assert item["id"].startswith("urn:uuid:")
    assert item["title"] == "甲"
    assert item["content_html"].startswith("<p>第1篇第0段")
    assert item["date_published"] == "2020-10-19T00:00:00+08:00"
    assert {"锡山经济技术开发区", "无锡", "文字新闻"} <= set(item["tags"])
    assert item["authors"] == [{"name": "锡山区宣传部"}]


def test_attribution_other_sources_and_image(make_context: Callable[..., Context], tmp_path: Path) -> None:
    ctx = make_context(PARTNER)
    text = "".join(f"<p>{p}</p>" for p in body(2))
    (tmp_path / "partner.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>p</title>'
        "<link>https://partner.example.org/</link><description>d</description>"
        "<item><title>转载:重大项目签约</title><link>https://partner.example.org/1.html</link>"
        f'<guid isPermaLink="false">p-1</guid><description><![CDATA[{text}<img src="/img/a.png">]]></description>'
        "<category>锡山经开区</category></item></channel></rss>",
        encoding="utf-8",
    )
    (articles(ctx) / "a.txt").write_text(page(title="重大项目签约", body=body(2)), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    [item] = json.loads((out / "zones/xishan/feed.json").read_text(encoding="utf-8"))["items"]
    assert item["title"] == "重大项目签约"  # the platform's own version is canonical (priority 100 > 10)
    assert item["_syndicate"]["also_reported_by"] == ["合作伙伴网站"]
    assert item["_syndicate"]["source"]["title"] == "测试平台"

    [partner] = source_articles(ctx.store, "partner")
    assert 'src="https://partner.example.org/img/a.png"' in partner.article.body_html  # made absolute


def test_atom_source_and_enclosure(make_context: Callable[..., Context], tmp_path: Path, clock: FixedClock) -> None:
    ctx = make_context(PARTNER.replace("priority = 10", "priority = 100"))
    (tmp_path / "partner.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>p</title>'
        "<link>https://partner.example.org/</link><description>d</description>"
        "<item><title>合作方稿件</title><link>https://partner.example.org/9.html</link>"
        '<guid isPermaLink="false">p-9</guid><description>&lt;p&gt;正文&lt;img src="https://partner.example.org/a.jpg"&gt;&lt;/p&gt;'
        "</description><category>苏州工业园区</category></item></channel></rss>",
        encoding="utf-8",
    )
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    root = etree.fromstring((out / "zones/sip/atom.xml").read_bytes())
    [entry] = root.findall(f"{ATOM}entry")
    source = entry.find(f"{ATOM}source")
    assert source is not None
    # A partner feed read from a file is credited by its title, at the site its articles link to.
    assert source.findtext(f"{ATOM}title") == "合作伙伴网站"
    assert source.findtext(f"{ATOM}id") == "https://partner.example.org/"
    assert source.findtext(f"{ATOM}updated")
    enclosure = entry.find(f"{ATOM}link[@rel='enclosure']")
    assert enclosure is not None
    assert (enclosure.get("href"), enclosure.get("type")) == ("https://partner.example.org/a.jpg", "image/jpeg")
    rss = etree.fromstring((out / "zones/sip/rss.xml").read_bytes())
    media = rss.find(".//{http://search.yahoo.com/mrss/}content")
    assert media is not None
    assert media.get("url") == "https://partner.example.org/a.jpg"


def test_discovery_documents(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles(ctx) / "a.txt").write_text(page(title="甲", body=body(3)), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    html = etree.HTML((out / "index.html").read_bytes())
    assert html.xpath("//link[@rel='alternate']/@href") == [
        f"http://feeds.example.org/all/{n}" for n in ("rss.xml", "atom.xml")
    ]
    linked = html.xpath("//a/@href")
    specs = pipeline.feed_selections(ctx)
    for selection in specs:
        # The index links each feed's page; the page names the feed's three documents for readers.
        page_url = f"http://feeds.example.org/{selection.spec.path}/"
        assert page_url in linked or selection.group == "zones"  # zones without items are folded, still linked
        feed_page = etree.HTML((out / selection.spec.path / "index.html").read_bytes())
        alternates = feed_page.xpath("//link[@rel='alternate']/@href")
        assert alternates == [f"{page_url}{n}" for n in ("rss.xml", "atom.xml", "feed.json")]
        assert (out / selection.spec.path / "rss.xml").exists()  # nothing listed that is not written
    assert "http://feeds.example.org/zones/xishan/" in linked
    row = next(tr for tr in html.xpath("//tr") if tr.xpath("td[1]/a/text()") == ["锡山经济技术开发区"])
    assert row.xpath("td[2]/text()") == ["无锡"]
    assert row.xpath("td[3]/text()") == ["1"]
    opml = etree.fromstring((out / "feeds.opml").read_bytes())
    assert opml.get("version") == "2.0"
    urls = opml.xpath("//outline[@type='rss']/@xmlUrl")
    assert len(urls) == len(specs)
    assert "http://feeds.example.org/zones/xishan/rss.xml" in urls


def test_stylesheet_makes_a_page(make_context: Callable[..., Context]) -> None:
    ctx = make_context()
    (articles(ctx) / "a.txt").write_text(page(title="甲文章", body=body(4)), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    transform = etree.XSLT(etree.parse(str(out / "feed.xsl")))
    for name in ("rss.xml", "atom.xml"):
        raw = (out / "zones/xishan" / name).read_bytes()
        assert b'<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>' in raw.split(b"\n", 2)[1]
        page_html = str(transform(etree.fromstring(raw)))
        assert "甲文章" in page_html
        assert "<h1>" in page_html


def test_incremental_publish_rewrites_only_changed_feeds(
    make_context: Callable[..., Context], clock: FixedClock
) -> None:
    ctx = make_context()
    (articles(ctx) / "a.txt").write_text(page(title="甲", body=body(5)), encoding="utf-8")
    pipeline.fetch(ctx)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.*")}
    clock.now += timedelta(hours=1)
    (articles(ctx) / "b.txt").write_text(
        page(title="乙", zone="苏州工业园区", city="苏州", body=body(6)), encoding="utf-8"
    )
    pipeline.fetch(ctx)
    report = pipeline.publish(ctx)
    rewritten = {str(p.relative_to(out).parent) for p in report.written if p.parent != out}
    assert rewritten == {"zones/sip", "cities/suzhou", "categories/wenzixinwen", "all"}
    assert report.looked_at == 4  # and no other feed was even read
    for path in ("zones/xishan/rss.xml", "zones/wuxi-hitech/atom.xml", "cities/wuxi/feed.json"):
        assert (out / path).stat().st_mtime_ns == before[out / path]
    assert {e.title for e in feedparser.parse((out / "all/rss.xml").read_bytes()).entries} == {"甲", "乙"}


def _walk(out: Path, start: str) -> list[tuple[str, list[str]]]:
    """Follow prev-archive links from a subscription document: [(document, entry ids)]."""
    docs = []
    url: str | None = f"http://feeds.example.org/{start}"
    while url:
        path = out / url.removeprefix("http://feeds.example.org/")
        root = etree.fromstring(path.read_bytes())
        docs.append((path.name, [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]))
        prev = root.find(f"{ATOM}link[@rel='prev-archive']")
        url = prev.get("href") if prev is not None else None
    return docs


def test_archives_chain_to_the_beginning(make_context: Callable[..., Context], clock: FixedClock) -> None:
    ctx = make_context()  # items_per_feed = 3
    days = [5, 1, 9, 3, 7, 2, 8]
    for n, day in enumerate(days):
        (articles(ctx) / f"{n}.txt").write_text(
            page(title=f"第{n}篇", date=f"2020-10-0{day}", body=body(10 + n)), encoding="utf-8"
        )
        pipeline.fetch(ctx)  # one at a time: they arrive in this order
        clock.now += timedelta(minutes=1)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    docs = _walk(out, "zones/xishan/atom.xml")
    assert [name for name, _ in docs] == ["atom.xml", "2.xml", "1.xml"]
    everything = {s.guid for s in source_articles(ctx.store, "local")}
    subscription, *archives = [set(ids) for _, ids in docs]
    assert all(len(a) == 3 for a in archives)
    assert not archives[0] & archives[1]  # archives never repeat an item
    assert subscription | set.union(*archives) == everything  # nothing lost
    # The subscription holds the last arrivals, newest published first.
    assert [e.title for e in feedparser.parse((out / "zones/xishan/atom.xml").read_bytes()).entries] == [
        "第6篇",
        "第4篇",
        "第5篇",
    ]
    archive = etree.fromstring((out / "zones/xishan/archive/1.xml").read_bytes())
    assert archive.find("{http://purl.org/syndication/history/1.0}archive") is not None
    current = archive.find(f"{ATOM}link[@rel='current']")
    assert current is not None
    assert current.get("href") == "http://feeds.example.org/zones/xishan/atom.xml"
    assert archive.find(f"{ATOM}link[@rel='prev-archive']") is None  # the first archive
    onward = archive.find(f"{ATOM}link[@rel='next-archive']")
    assert onward is not None and onward.get("href") == "http://feeds.example.org/zones/xishan/archive/2.xml"
    newest = etree.fromstring((out / "zones/xishan/archive/2.xml").read_bytes())
    onward = newest.find(f"{ATOM}link[@rel='next-archive']")  # the newest page: the subscription document
    assert onward is not None and onward.get("href") == "http://feeds.example.org/zones/xishan/atom.xml"

    # Three more arrive: a third archive page fills; the first stays byte for byte, the second changes only
    # where it links onward (to the new page instead of the subscription document).
    frozen = {n: (out / f"zones/xishan/archive/{n}.xml").read_bytes() for n in (1, 2)}
    for n in (7, 8, 9):
        (articles(ctx) / f"{n}.txt").write_text(
            page(title=f"第{n}篇", date="2020-10-04", body=body(10 + n)), encoding="utf-8"
        )
        pipeline.fetch(ctx)
        clock.now += timedelta(minutes=1)
    pipeline.publish(ctx)
    assert [name for name, _ in _walk(out, "zones/xishan/atom.xml")] == ["atom.xml", "3.xml", "2.xml", "1.xml"]
    assert (out / "zones/xishan/archive/1.xml").read_bytes() == frozen[1]
    after = (out / "zones/xishan/archive/2.xml").read_bytes()
    link = b'<link rel="next-archive" href="http://feeds.example.org/zones/xishan/%s"/>'
    assert link % b"atom.xml" in frozen[2]
    assert after == frozen[2].replace(link % b"atom.xml", link % b"archive/3.xml")


def test_archives_follow_a_change_in_the_middle(make_context: Callable[..., Context], clock: FixedClock) -> None:
    """An article early in the arrival order joins the feed later (a split makes a duplicate canonical):
    every page from its place on is rebuilt, and the chain still holds each article once."""
    ctx = make_context()  # items_per_feed = 3
    for n in range(8):
        text = body(40 + n) if n != 2 else body(41)  # the third to arrive repeats the second: a duplicate
        (articles(ctx) / f"{n}.txt").write_text(page(title=f"第{n}篇", body=text), encoding="utf-8")
        pipeline.fetch(ctx)
        clock.now += timedelta(minutes=1)
    pipeline.publish(ctx)
    out = ctx.config.publish.output_dir
    [story] = ctx.store.stories()
    copy = next(v for v in story.versions if not v.canonical)
    clock.now += timedelta(minutes=1)
    pipeline.split(ctx, str(copy.id))
    pipeline.publish(ctx)
    docs = _walk(out, "zones/xishan/atom.xml")
    subscription, *archives = [set(ids) for _, ids in docs]
    everything = {s.guid for s in source_articles(ctx.store, "local")}
    assert subscription | set.union(*archives) == everything
    archived = [i for a in archives for i in a]
    assert len(archived) == len(set(archived))  # no article in two archive pages
    assert copy.guid in set.union(*archives)


def test_archives_of_a_large_feed_read_page_by_page(
    write_config: Callable[..., Path], tmp_path: Path, clock: FixedClock, db_url: str
) -> None:
    """With many pages, an incremental publish reads only the pages after the first change."""
    path = write_config(db_url=db_url)
    path.write_text(
        path.read_text(encoding="utf-8").replace("items_per_feed = 3", "items_per_feed = 1"), encoding="utf-8"
    )
    from syndicate.config import load_config

    with Context.open(load_config(path), clock) as ctx:
        ctx.store.ensure_ready()
        for n in range(12):
            (tmp_path / "articles" / f"{n}.txt").write_text(page(title=f"第{n}篇", body=body(60 + n)), encoding="utf-8")
            pipeline.fetch(ctx)
            clock.now += timedelta(minutes=1)
        pipeline.publish(ctx)
        out = ctx.config.publish.output_dir
        frozen = (out / "zones/xishan/archive/3.xml").read_bytes()
        for n in (12, 13):
            (tmp_path / "articles" / f"{n}.txt").write_text(page(title=f"第{n}篇", body=body(60 + n)), encoding="utf-8")
            pipeline.fetch(ctx)
            clock.now += timedelta(minutes=1)
        pipeline.publish(ctx)
        docs = _walk(out, "zones/xishan/atom.xml")
        assert [name for name, _ in docs][:3] == ["atom.xml", "13.xml", "12.xml"]
        ids = [i for _, entries in docs for i in entries]
        everything = {s.guid for s in source_articles(ctx.store, "local")}
        assert set(ids) == everything
        assert len(ids) == len(everything)  # each archive holds one item; the subscription repeats none
        assert (out / "zones/xishan/archive/3.xml").read_bytes() == frozen
