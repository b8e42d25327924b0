"""The pure parts of digests: schedule, tokens, rendering and message building, with plain data."""

from __future__ import annotations

import email
import email.policy
import itertools
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path
from zoneinfo import ZoneInfo

import dkim
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import html as lxml_html

from syndicate.config import default_templates_dir
from syndicate.mail import (
    DigestGroup,
    DigestItem,
    DigestView,
    DkimKey,
    MessageParts,
    TokenError,
    build_message,
    due_slot,
    make_message_id,
    make_token,
    next_send,
    read_token,
    render_digest,
    retry_at,
)
from syndicate.text import summarize

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
DATA = Path(__file__).parent / "data"


# -- schedule -------------------------------------------------------------------------------------------


def test_due_once_a_day_at_or_after_send_at_in_the_recipients_zone() -> None:
    at_759 = datetime(2020, 12, 1, 7, 59, tzinfo=SHANGHAI)
    at_800 = datetime(2020, 12, 1, 8, 0, tzinfo=SHANGHAI)
    assert due_slot(at_759, SHANGHAI, (8, 0), None) is None
    assert due_slot(at_800, SHANGHAI, (8, 0), None) == "2020-12-01"
    assert due_slot(at_800, SHANGHAI, (8, 0), "2020-11-30") == "2020-12-01"
    assert due_slot(at_800 + timedelta(hours=10), SHANGHAI, (8, 0), "2020-12-01") is None  # already today
    # Started late (09:10): still due, once.
    assert due_slot(datetime(2020, 12, 1, 9, 10, tzinfo=SHANGHAI), SHANGHAI, (8, 0), "2020-11-30") == "2020-12-01"


def test_the_same_instant_is_due_in_one_zone_and_not_in_another() -> None:
    now = datetime(2020, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, 19:30 the day before in New York
    assert due_slot(now, SHANGHAI, (8, 0), None) == "2020-12-01"
    assert due_slot(now, NEW_YORK, (8, 0), "2020-11-30") is None  # New York's 30 Nov digest is done
    assert due_slot(now, NEW_YORK, (8, 0), None) == "2020-11-30"


def test_next_send() -> None:
    before = datetime(2020, 12, 1, 7, 0, tzinfo=SHANGHAI)
    assert next_send(before, SHANGHAI, (8, 0), None) == datetime(2020, 12, 1, 8, 0, tzinfo=SHANGHAI)
    done = datetime(2020, 12, 1, 9, 0, tzinfo=SHANGHAI)
    assert next_send(done, SHANGHAI, (8, 0), "2020-12-01") == datetime(2020, 12, 2, 8, 0, tzinfo=SHANGHAI)
    assert next_send(done, SHANGHAI, (8, 0), "2020-11-30") == done  # due now


def test_retry_backoff_grows_and_is_capped() -> None:
    now = datetime(2020, 12, 1, tzinfo=UTC)
    waits = [retry_at(n, now) - now for n in range(1, 12)]
    assert waits[0] == timedelta(minutes=1)
    assert waits[1] == timedelta(minutes=2)
    assert all(a <= b for a, b in itertools.pairwise(waits))
    assert waits[-1] == timedelta(hours=2)


# -- tokens ---------------------------------------------------------------------------------------------

SECRET = b"k" * 32
NOW = datetime(2020, 12, 1, 8, 0, tzinfo=UTC)
YEAR = timedelta(days=365)


def test_token_round_trip() -> None:
    token = make_token(SECRET, "Zhang@Example.org", NOW)
    assert read_token(SECRET, token, NOW + timedelta(days=3), YEAR) == ("zhang@example.org", NOW)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "invalid signature"),
        (lambda t: t.replace(t.split(".")[1], "bGlAZXhhbXBsZS5vcmc"), "invalid signature"),  # another address
        (lambda t: ".".join([*t.split(".")[:2], "1606809700", t.split(".")[3]]), "invalid signature"),  # issued
        (lambda t: "garbage", "malformed"),
        (lambda t: "", "malformed"),
    ],
)
def test_altered_tokens_are_refused(tamper: object, reason: str) -> None:
    token = make_token(SECRET, "zhang@example.org", NOW)
    with pytest.raises(TokenError, match=reason):
        read_token(SECRET, tamper(token), NOW, YEAR)  # type: ignore[operator]


def test_a_token_signed_with_another_key_is_refused() -> None:
    forged = make_token(b"x" * 32, "zhang@example.org", NOW)
    with pytest.raises(TokenError, match="signature"):
        read_token(SECRET, forged, NOW, YEAR)


def test_expired_and_future_tokens_are_refused() -> None:
    token = make_token(SECRET, "zhang@example.org", NOW)
    with pytest.raises(TokenError, match="expired"):
        read_token(SECRET, token, NOW + YEAR + timedelta(seconds=1), YEAR)
    with pytest.raises(TokenError, match="future"):
        read_token(SECRET, token, NOW - timedelta(hours=1), YEAR)


# -- rendering ------------------------------------------------------------------------------------------


def _view(title: str = "锡山经开区举办<b>培训</b> & 交流", items: int = 1, more: int = 0) -> DigestView:
    item = DigestItem(
        title=title,
        link="https://www.example.org/news/1.html",
        date="2020-12-01",
        source="锡山区宣传部",
        summary="摘要文字",
        also=("新吴区新闻",),
    )
    return DigestView(
        site_title="测试平台",
        site_url="http://feeds.example.org/",
        date="2020-12-01",
        recipient_name="张伟",
        groups=(DigestGroup("锡山经济技术开发区", "无锡", (item,) * items, more, "http://feeds.example.org/zones/x/"),),
        total=items + more,
        unsubscribe_url="http://feeds.example.org/unsubscribe?token=abc",
    )


def test_html_part_has_inlined_styles_no_style_sheet_rules_left_and_no_script() -> None:
    html, _text = render_digest(default_templates_dir(), _view())
    doc = lxml_html.fromstring(html)
    assert doc.xpath("//script") == []
    title = doc.xpath('//a[@href="https://www.example.org/news/1.html"]')[0]
    assert "font-size" in title.get("style")  # inlined from the class rule
    assert "background" in doc.xpath("//body")[0].get("style")
    # Only @media rules (which cannot be inlined) stay in a <style>.
    for style in doc.xpath("//style"):
        assert "@media" in style.text and ".title {" not in style.text.split("@media")[0]
    assert doc.xpath("//table[@role='presentation']")


def test_a_title_with_markup_shows_as_text() -> None:
    html, text = render_digest(default_templates_dir(), _view())
    doc = lxml_html.fromstring(html)
    assert doc.xpath("//b") == []
    link = doc.xpath('//a[@href="https://www.example.org/news/1.html"]')[0]
    assert link.text_content() == "锡山经开区举办<b>培训</b> & 交流"
    assert "锡山经开区举办<b>培训</b> & 交流" in text


def test_digest_parts_carry_header_counts_groups_also_and_unsubscribe() -> None:
    html, text = render_digest(default_templates_dir(), _view(items=2, more=3))
    for part in (lxml_html.fromstring(html).text_content(), text):
        assert "2020-12-01" in part
        assert "5 篇新消息" in part
        assert "锡山经济技术开发区" in part
        assert "同时报道:新吴区新闻" in part
        assert "另有 3 篇未列出" in part
        assert "锡山区宣传部" in part
    assert "http://feeds.example.org/unsubscribe?token=abc" in text
    assert lxml_html.fromstring(html).xpath('//a[@href="http://feeds.example.org/unsubscribe?token=abc"]')


@given(st.text(min_size=0, max_size=400))
def test_summaries_are_at_most_120_characters_and_never_split_a_character(body: str) -> None:
    out = summarize(body, 120)
    assert len(out) <= 120
    out.encode("utf-8")  # a lone surrogate half would fail here


# -- messages -------------------------------------------------------------------------------------------


def _parts(**kw: object) -> MessageParts:
    values: dict[str, object] = {
        "sender": "投促中国 <news@example.org>",
        "to_name": "张伟",
        "to_email": "zhang@example.org",
        "subject": "2020-12-01 开发区新闻日报",
        "text": "纯文本内容\n",
        "html": "<html><body><p>网页内容</p></body></html>",
        "date": datetime(2020, 12, 1, 8, 0, tzinfo=SHANGHAI),
        "message_id": make_message_id("投促中国 <news@example.org>"),
        "unsubscribe_url": "http://feeds.example.org/unsubscribe?token=" + "v1.abc." + "x" * 120,
        "unsubscribe_mailto": "news@example.org",
    }
    values.update(kw)
    return MessageParts(**values)  # type: ignore[arg-type]


def test_message_is_multipart_alternative_text_first_base64_utf8_and_headers_encoded() -> None:
    parts = _parts()
    data = build_message(parts)
    assert data.isascii()  # no 8bit anywhere: RFC 2047 headers, base64 bodies
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    subparts = list(msg.iter_parts())
    assert [p.get_content_type() for p in subparts] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "base64" for p in subparts)
    assert all(p.get_content_charset() == "utf-8" for p in subparts)
    assert subparts[0].get_content().replace("\r\n", "\n") == "纯文本内容\n"  # CRLF: canonical text form
    assert "网页内容" in subparts[1].get_content()
    assert str(make_header(decode_header(email.message_from_bytes(data)["Subject"]))) == "2020-12-01 开发区新闻日报"
    assert msg["To"].addresses[0].display_name == "张伟"
    assert msg["From"].addresses[0].display_name == "投促中国"
    assert msg["Date"].endswith("+0800")
    assert msg["Message-ID"] == parts.message_id


_LINE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=200)


@given(
    text=st.lists(_LINE, max_size=30).map("\n".join),
    html=st.lists(_LINE, max_size=30).map("\r\n".join),
)
def test_both_parts_come_back_exactly_whatever_they_hold(text: str, html: str) -> None:
    """Any text, empty or not, with any characters (a boundary-like line, base64-like runs, lone CRs
    excepted): the parts decode to it, line breaks in canonical CRLF, and the message parses without
    defects."""
    data = build_message(_parts(text=text, html=html))
    assert data.isascii()
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert not msg.defects
    plain, rich = msg.iter_parts()
    assert not plain.defects and not rich.defects
    assert plain.get_payload(decode=True).decode("utf-8") == text.replace("\n", "\r\n")
    assert rich.get_payload(decode=True).decode("utf-8") == html


def test_a_part_holding_a_boundary_like_line_does_not_end_early() -> None:
    text = "----=_syndicate_0\n--\n" + "开发区" * 500
    msg = email.message_from_bytes(build_message(_parts(text=text)), policy=email.policy.default)
    plain, _ = msg.iter_parts()
    assert plain.get_content().replace("\r\n", "\n") == text


def test_list_unsubscribe_headers_are_plain_urls_not_encoded_words() -> None:
    parts = _parts()
    msg = email.message_from_bytes(build_message(parts), policy=email.policy.default)
    value = str(msg["List-Unsubscribe"])
    assert "=?" not in value
    urls = [u.strip().strip("<>") for u in value.split(",")]
    assert urls[0] == parts.unsubscribe_url
    assert urls[1] == "mailto:news@example.org?subject=unsubscribe%20zhang%40example.org"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_message_ids_are_unique_and_in_the_senders_domain() -> None:
    ids = {make_message_id("投促中国 <news@example.org>") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("<") and i.endswith("@example.org>") for i in ids)


def test_dkim_signature_covers_both_list_unsubscribe_headers_and_verifies() -> None:
    key = DkimKey.load("news", "example.org", DATA / "dkim-test.pem")
    data = build_message(_parts(), key)
    assert data.startswith(b"DKIM-Signature:")
    signature = data.split(b"\r\n\r\n", 1)[0].split(b"MIME-Version")[0].decode()
    signed = signature.split(" h=")[1].split(";")[0].replace("\r\n", "").replace(" ", "").lower().split(":")
    assert "list-unsubscribe" in signed
    assert "list-unsubscribe-post" in signed
    public = (DATA / "dkim-test.pub.b64").read_text().strip()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news._domainkey.example.org."
        return f"v=DKIM1; k=rsa; p={public}".encode()

    assert dkim.verify(data, dnsfunc=dns)
    tampered = data.replace(b"unsubscribe?token=", b"unsubscribe?token=X")
    assert not dkim.verify(tampered, dnsfunc=dns)
