"""Pure pieces of ingestion: backoff, Retry-After, link normalization, addresses, charset choice."""

from __future__ import annotations

import gc
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.parsing import collecting_less
from syndicate.sources import decode_body, health
from syndicate.sources.feed import _references, read_date
from syndicate.types import SourceState
from syndicate.urls import is_private_address, normalize_link

from .helpers import SHANGHAI

NOW = datetime(2020, 12, 1, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("errors", "expected"),
    [(0, 15 * M), (1, 30 * M), (2, 60 * M), (3, 120 * M), (6, 960 * M), (7, 24 * 60 * M), (50, 24 * 60 * M)],
)
def test_backoff(errors: int, expected: timedelta) -> None:
    assert health.backoff(errors, 15 * M, timedelta(hours=24)) == expected


def test_failure_then_success() -> None:
    s = health.start("p", "http://x/", None)
    s = health.failed(s, NOW, 15 * M, timedelta(hours=24), "http", "HTTP 500", http_status=500)
    s = health.failed(s, NOW, 15 * M, timedelta(hours=24), "http", "HTTP 500", http_status=500)
    assert (s.consecutive_errors, s.next_due) == (2, NOW + 60 * M)
    s = health.succeeded(s, NOW, 15 * M, http_status=200, etag='"e"')
    assert (s.consecutive_errors, s.next_due, s.etag, s.last_success) == (0, NOW + 15 * M, '"e"', NOW)


def test_due_by_stored_state_with_a_ticks_slack_and_a_shortened_interval() -> None:
    url = "http://x/"
    s = health.succeeded(health.start("p", url, None), NOW, 24 * 60 * M)  # next due a day later
    assert health.due(None, url, NOW)  # never read
    assert not health.due(s, url, NOW + 60 * M)
    assert health.due(s, "http://moved/", NOW)  # its URL changed: read at once
    assert health.due(s, url, NOW + 24 * 60 * M - M, slack=M)  # a tick early is in time
    # The interval was shortened to 15 minutes since: due 15 minutes after the last read, not a day.
    assert health.due(s, url, NOW + 15 * M, interval=15 * M)
    assert not health.due(s, url, NOW + 14 * M, interval=15 * M)
    # A source in backoff gets neither slack nor the shorter interval; a gone one is never due.
    f = health.failed(s, NOW, 15 * M, timedelta(hours=24), "http", "HTTP 500")
    assert not health.due(f, url, NOW + 29 * M, slack=M, interval=M)
    assert health.due(f, url, NOW + 30 * M)
    assert not health.due(health.gone(s, NOW, url), url, NOW + 365 * 24 * 60 * M, interval=M)


def test_retry_after_never_exceeds_the_cap() -> None:
    s = health.failed(SourceState("p"), NOW, M, timedelta(hours=24), "http", "429", wait_at_least=timedelta(days=30))
    assert s.next_due == NOW + timedelta(hours=24)


def test_new_config_url_starts_afresh() -> None:
    old = SourceState("p", config_url="http://a/", url="http://b/", disabled="410", consecutive_errors=4)
    assert health.start("p", "http://a/", old) is old
    fresh = health.start("p", "http://c/", old)
    assert (fresh.url, fresh.disabled, fresh.consecutive_errors) == ("http://c/", None, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        ("Tue, 01 Dec 2020 01:00:00 GMT", timedelta(hours=1)),
        ("Mon, 30 Nov 2020 00:00:00 GMT", timedelta(0)),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after(value: str | None, expected: timedelta | None) -> None:
    assert health.retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.Example.ORG:80/a/B.html#frag", "http://www.example.org/a/B.html"),
        ("https://example.org:443/x?utm_source=rss&id=3&utm_medium=f", "https://example.org/x?id=3"),
        ("https://example.org:8443", "https://example.org:8443/"),
        ("https://example.org/p?b=2&a=1", "https://example.org/p?b=2&a=1"),
    ],
)
def test_normalize_link(url: str, expected: str) -> None:
    assert normalize_link(url) == expected


_URLS = st.builds(
    "{}://{}{}/{}?{}#{}".format,
    st.sampled_from(["http", "HTTP", "https"]),
    st.from_regex(r"[A-Za-z0-9]{1,10}(\.[A-Za-z]{2,5}){1,2}", fullmatch=True),
    st.sampled_from(["", ":80", ":443", ":8080"]),
    st.text(alphabet="abc/锡山-_", max_size=10),
    st.lists(st.sampled_from(["utm_source=x", "id=1", "a=", "utm_medium=y", "p=锡"]), max_size=4).map("&".join),
    st.text(alphabet="abc", max_size=3),
)


@given(_URLS)
def test_normalize_link_is_idempotent_and_drops_tracking(url: str) -> None:
    once = normalize_link(url)
    assert normalize_link(once) == once
    assert "utm_" not in once
    assert "#" not in once
    assert once == once.split("://")[0].lower() + "://" + once.split("://")[1]


@pytest.mark.parametrize(
    ("ip", "private"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("not an ip", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_private_addresses(ip: str, private: bool) -> None:
    assert is_private_address(ip) is private


TEXT = '<?xml version="1.0" encoding="{enc}"?><rss><channel><title>锡山经济技术开发区新闻</title></channel></rss>'


@pytest.mark.parametrize(
    ("data", "content_type", "encoding"),
    [
        (TEXT.format(enc="utf-8").encode(), None, "utf-8"),
        (TEXT.format(enc="utf-8").encode("gbk"), "text/xml; charset=utf-8", "gb18030"),  # mislabelled
        (TEXT.format(enc="gb2312").encode("gbk"), None, "gb18030"),
        (TEXT.format(enc="gbk").encode("utf-8"), "text/xml; charset=gbk", "utf-8"),  # UTF-8 declared GBK
        ("\ufeff".encode() + TEXT.format(enc="utf-8").encode(), None, "utf-8-sig"),
        (TEXT.format(enc="utf-16").encode("utf-16"), None, "utf-16-le"),
    ],
)
def test_decode_body(data: bytes, content_type: str | None, encoding: str) -> None:
    text, used = decode_body(data, content_type)
    assert "锡山经济技术开发区新闻" in text
    assert used == encoding


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Mon, 19 Oct 2020 08:30:00 +0800", datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)),
        ("Mon, 19 Oct 2020 08:30:00 CST", datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)),
        ("Mon, 19 Oct 2020 08:30:00 GMT", datetime(2020, 10, 19, 8, 30, tzinfo=UTC)),
        ("Mon, 19 Oct 2020 08:30:00", datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)),
        ("2020-10-19 08:30", datetime(2020, 10, 19, 8, 30, tzinfo=SHANGHAI)),
        ("2020年10月19日", datetime(2020, 10, 19, tzinfo=SHANGHAI)),
        ("garbage", None),
        ("", None),
    ],
)
def test_read_date(raw: str, expected: datetime | None) -> None:
    assert read_date(raw, SHANGHAI) == expected


def test_saving_decides_new_changed_departed_and_stamps_in_order_read() -> None:
    from syndicate.store.decisions import Departure, Held, decide_save, stamp
    from syndicate.types import Article

    def art(key: str, body: str, category: str | None = "文字新闻") -> Article:
        return Article("p", key, key, f"http://x/{key}", NOW, body, category=category)

    same, edited, moved, fresh = art("a", "甲"), art("b", "乙二", "图片新闻"), art("c", "丙"), art("d", "丁")
    held = {
        "a": Held(1, same.content_hash(), "文字新闻", frozenset({"xishan"})),
        "b": Held(2, art("b", "乙").content_hash(), "文字新闻", frozenset({"xishan"})),
        "c": Held(3, moved.content_hash(), "文字新闻", frozenset({"xishan", "sip"})),
    }
    later = NOW + timedelta(hours=1)  # a stamp stored by another process with a clock ahead
    items = [(same, ("xishan",)), (edited, ("xishan",)), (moved, ("sip",)), (fresh, ()), (art("d", "另一个"), ())]
    d = decide_save(items, held, NOW, later)
    us = timedelta(microseconds=1)
    assert [(n.article.key, n.at) for n in d.new] == [("d", later + 4 * us)]  # the second "d" is dropped
    assert d.unchanged == 1
    assert [(c.id, c.article is not None, c.zones, c.at) for c in d.changed] == [
        (2, True, None, later + 2 * us),
        (3, False, ("sip",), later + 3 * us),
    ]
    assert d.departures == [
        Departure("category", "文字新闻", later + 2 * us),
        Departure("zone", "xishan", later + 3 * us),
    ]
    assert d.last_stamp == later + 4 * us
    assert stamp(later, NOW) == later and stamp(NOW, NOW) == NOW + us
    assert decide_save([], held, NOW, later).last_stamp is None


def test_a_fetch_collects_garbage_less_and_then_as_before() -> None:
    """During a fetch the collector leaves what existed before alone and runs less often; afterwards
    (also after a failure) its settings are back and a cycle the fetch left is collected."""
    before = gc.get_threshold()

    class Node:
        other: object = None

    with pytest.raises(RuntimeError), collecting_less():
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] >= 100_000
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle only the collector frees
        del a, b
        raise RuntimeError("a source's bug")
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert gc.collect() >= 2


def test_a_host_written_as_an_address_needs_no_lookup() -> None:
    from syndicate.sources.http import _address

    assert _address("127.0.0.2") == "127.0.0.2"
    assert _address("::1") == "::1"
    assert _address("2001:DB8::1") == "2001:db8::1"  # as the resolver writes it
    for name in ("partner.example.org", "127.1", "0x7f.0.0.1", "localhost", ""):
        assert _address(name) is None  # the resolver decides what these are


# Pieces of what feeds put after an "&": references XML knows, HTML entities, a CMS's query string, numbers
# too long to be a character, and the CDATA sections and comments the rewriting must leave alone.
_REFERENCE_PIECES = st.sampled_from(
    [
        "&",
        ";",
        "#",
        "x",
        "X",
        "1",
        "0",
        "a",
        "f",
        "lt",
        "gt",
        "amp",
        "quot",
        "apos",
        "nbsp",
        "copy",
        "lang",
        "zh",
        "锡山",
        "=",
        "&#",
        "&#x",
        "12345678",
        "&amp;",
        "&lt;",
        "&gt;",
        "&quot;",
        "&apos;",
        "&nbsp;",
        "&copy;",
        "&#38;",
        "&#x26;",
        "&#12345678;",
        "&lang=",
        "&ampx;",
        "<p>",
        "<!--",
        "-->",
        "<![CDATA[",
        "]]>",
        " ",
    ]
)
_ANY_REFERENCE = re.compile(r"&(#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)?")


def _references_one_by_one(text: str) -> str:
    """What ``_references`` must give, decided for each ampersand in turn (outside CDATA and comments)."""
    from html.entities import name2codepoint

    def fix(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref is None:
            return "&amp;"
        if ref[0] == "#" or ref[:-1] in ("lt", "gt", "amp", "quot", "apos"):
            return m.group(0)
        code = name2codepoint.get(ref[:-1])
        return f"&#{code};" if code is not None else "&amp;" + ref

    parts = re.split(r"(<!\[CDATA\[.*?\]\]>|<!--.*?-->)", text, flags=re.S)
    return "".join(p if i % 2 else _ANY_REFERENCE.sub(fix, p) for i, p in enumerate(parts))


@settings(max_examples=300)
@given(st.lists(_REFERENCE_PIECES, max_size=30).map("".join))
def test_ampersands_are_made_references_as_one_by_one(text: str) -> None:
    fixed = _references(text)
    assert fixed == _references_one_by_one(text)
    outside = re.sub(r"<!\[CDATA\[.*?\]\]>|<!--.*?-->", "", fixed, flags=re.S)
    assert all(re.match(r"&(?:lt|gt|amp|quot|apos|#[0-9]+|#[xX][0-9a-fA-F]+);", outside[i:]) for i in _amps(outside))


def _amps(text: str) -> list[int]:
    return [m.start() for m in re.finditer("&", text)]
