"""A partner document is read without its address where that changes nothing (feedparser resolves every
address against it, a quarter of its time): generated documents with absolute, relative and malformed
links, GUIDs that are and are not links, link elements, thumbnails and bases must read the same either way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.sources import feed

from .helpers import SHANGHAI

URL = "https://www.example.gov.cn/zsj/rss.xml?id=7"

# Addresses as partners write them: absolute, relative in every way, with a scheme but no host, an empty
# query, a fragment, an upper-case scheme, spaces and escaped ampersands, a broken IPv6 host.
ADDRESSES = st.sampled_from(
    [
        "https://www.example.gov.cn/art/2024/5/1/art_1.html",
        "http://other.example.org/news?id=3&amp;lang=zh",
        "/art/2024/5/1/art_2.html",
        "art_3.html",
        "../up/art_4.html",
        "//cdn.example.org/a.html",
        "?id=5",
        "#p6",
        "12345",
        "HTTP://Example.org/Upper",
        "http:no-host",
        "https://www.example.gov.cn/q?",
        "https://www.example.gov.cn/f#",
        "https://www.example.gov.cn/path;",
        "  https://www.example.gov.cn/spaced  ",
        "http://[::1/broken",
        "tag:example.org,2024:7",
        "urn:uuid:1b4e28ba-2d11-4e8a-9c6b-2b8d0c8e1f01",
        "mailto:office@example.gov.cn",
        "",
    ]
)
# A CMS body: a lazy image, an embedded player, a relative link with a fragment, the site's footer.
BODY = (
    '<p><img src="/images/blank.gif" data-original="/uploadfile/2024/0501/a.jpg"></p>'
    '<iframe src="//player.example.com/v/7"></iframe><p><a href="#p2">下一页</a></p>'
    "<p>责任编辑:张蕾 来源:锡山区宣传部</p>"
)
PERMALINK = st.sampled_from(
    ["", ' isPermaLink="false"', ' isPermaLink="true"', ' isPermaLink="False"', " isPermaLink='no'"]
)


@st.composite
def rss_item(draw: st.DrawFn) -> str:
    parts = [f"<title>第{draw(st.integers(1, 99))}条</title>", "<description>&lt;p&gt;锡山&lt;/p&gt;</description>"]
    if draw(st.booleans()):
        link = draw(ADDRESSES)
        parts.append(f"<link><![CDATA[{link}]]></link>" if draw(st.booleans()) else f"<link>{link}</link>")
    if draw(st.booleans()):
        parts.append(f"<content:encoded><![CDATA[{BODY}]]></content:encoded>")
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), f"<guid{draw(PERMALINK)}>{draw(ADDRESSES)}</guid>")
    if draw(st.booleans()):
        parts.append(f'<enclosure url="{draw(ADDRESSES)}" type="video/mp4" length="10"/>')
    if draw(st.booleans()):
        parts.append(f'<media:thumbnail url="{draw(ADDRESSES)}"/>')
    if draw(st.booleans()):
        parts.append(f"<media:thumbnail>{draw(ADDRESSES)}</media:thumbnail>")
    if draw(st.booleans()):
        parts.append(f'<atom:link rel="related" href="{draw(ADDRESSES)}"/>')
    return "<item>" + "".join(parts) + "</item>"


@st.composite
def atom_entry(draw: st.DrawFn) -> str:
    base = f' xml:base="{draw(ADDRESSES)}"' if draw(st.integers(0, 4)) == 0 else ""
    parts = [f"<title>第{draw(st.integers(1, 99))}条</title>", f"<id>{draw(ADDRESSES)}</id>"]
    for rel in draw(st.lists(st.sampled_from(["alternate", "enclosure", "related", ""]), max_size=3)):
        kind = ' type="text/html"' if rel == "alternate" else ""
        parts.append(f'<link{f" rel={rel!r}" if rel else ""}{kind} href="{draw(ADDRESSES)}"/>')
    parts.append("<updated>2024-05-01T08:00:00+08:00</updated><summary>园区</summary>")
    return f"<entry{base}>" + "".join(parts) + "</entry>"


@st.composite
def documents(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        items = "".join(draw(st.lists(rss_item(), min_size=1, max_size=4)))
        link = f"<link>{draw(ADDRESSES)}</link>" if draw(st.booleans()) else ""
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
            ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
            f' xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>招商</title>{link}{items}</channel></rss>'
        )
    entries = "".join(draw(st.lists(atom_entry(), min_size=1, max_size=4)))
    base = f' xml:base="{draw(ADDRESSES)}"' if draw(st.integers(0, 4)) == 0 else ""
    link = f'<link href="{draw(ADDRESSES)}"/>' if draw(st.booleans()) else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{base}>'
        f"<title>招商</title>{link}<id>urn:x</id><updated>2024-05-01T00:00:00Z</updated>{entries}</feed>"
    )


def _read(parsed: Any) -> object:
    """What parsing takes from feedparser's reading (a detail's "base" is not read)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k != "base"}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return plain(dict(parsed.feed)), [plain(dict(e)) for e in parsed.entries], parsed.bozo


@settings(max_examples=400, deadline=None)
@given(documents())
def test_a_document_reads_the_same_without_its_address_as_with_it(text: str) -> None:
    with_address = feed._read(text.encode(), {**feed._HEADERS, "content-location": URL})
    assert _read(feed._feedparser(text, URL)) == _read(with_address)


def test_a_document_qualifies_for_reading_without_its_address_only_when_nothing_is_relative() -> None:
    absolute = (
        '<rss version="2.0"><channel><title>招商</title><link>https://www.example.gov.cn/</link>'
        "<item><title>一</title><link>https://www.example.gov.cn/art_1.html</link>"
        '<guid isPermaLink="false">12345</guid></item></channel></rss>'
    )
    assert feed._ids_resolved(absolute) is False  # the GUID says it is no address: it stays "12345"
    assert not feed._visibly_relative(absolute, False)
    plain = feed._read(absolute.encode(), feed._HEADERS)
    assert feed._read_alike(plain, URL, False)  # read once, without the address
    assert feed._feedparser(absolute, URL).entries[0].id == "12345"
    relative = absolute.replace("https://www.example.gov.cn/art_1.html", "/art_1.html")
    assert feed._visibly_relative(relative, False)
    assert feed._feedparser(relative, URL).entries[0].link == "https://www.example.gov.cn/art_1.html"
    # In CDATA a relative link is not seen before reading; the reading finds it and reads again.
    hidden = absolute.replace("https://www.example.gov.cn/art_1.html", "<![CDATA[/art_1.html]]>")
    assert not feed._visibly_relative(hidden, False)
    assert not feed._read_alike(feed._read(hidden.encode(), feed._HEADERS), URL, False)
    assert feed._feedparser(hidden, URL).entries[0].link == "https://www.example.gov.cn/art_1.html"
    # A GUID that is its entry's address, relative, is resolved like any link.
    numeric = absolute.replace(' isPermaLink="false"', "")
    assert feed._ids_resolved(numeric) is True
    assert feed._feedparser(numeric, URL).entries[0].id == "https://www.example.gov.cn/zsj/12345"


def test_a_cms_feed_in_gbk_keeps_its_articles_addresses() -> None:
    """End to end: a GBK document whose links are in CDATA (one relative, one with a fragment, one empty),
    whose bodies carry a lazy image, a player and a footer, gives the articles it gave before."""
    items = [
        ("<![CDATA[art/2024/5/1/art_1.html]]>", "c-1"),  # relative to the document, not the site
        ("<![CDATA[https://www.example.gov.cn/col/index.html#p3]]>", "c-2"),
        ("", "c-3"),
    ]
    entries = "".join(
        f'<item><title>开发区新闻{n}</title><link>{link}</link><guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>Wed, 01 May 2024 08:00:00 +0800</pubDate><description><![CDATA[{BODY}]]></description></item>"
        for n, (link, guid) in enumerate(items)
    )
    text = (
        '<?xml version="1.0" encoding="gbk"?><rss version="2.0"><channel><title>锡山区</title>'
        f"<link>https://www.example.gov.cn/</link>{entries}</channel></rss>"
    )
    defaults = feed.FeedDefaults("xishan", URL, SHANGHAI, datetime(2024, 5, 2, tzinfo=UTC))
    parsed = feed.parse_feed(text.encode("gbk"), "text/xml; charset=gbk", defaults)
    assert parsed.error is None and not parsed.problems
    assert [(a.key, a.link, a.link_fallback) for a in parsed.articles] == [
        ("c-1", "https://www.example.gov.cn/zsj/art/2024/5/1/art_1.html", False),
        ("c-2", "https://www.example.gov.cn/col/index.html#p3", False),
        ("c-3", "https://www.example.gov.cn/", True),
    ]
    body = parsed.articles[0].body_html
    assert "https://www.example.gov.cn/uploadfile/2024/0501/a.jpg" in body  # the lazy image, absolute
    assert "https://player.example.com/v/7" in body and "<iframe" not in body  # the player as a link
