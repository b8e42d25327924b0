"""Text helpers: the fast reading of stored (sanitized) bodies must give what parsing them gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.text import plain_text, sanitize_html, sanitized_text, summarize

# Pieces of hostile-looking HTML: tags the sanitizer keeps, drops or unwraps, quotes and brackets inside
# attribute values and text, entities, comments, whitespace and CJK text.
_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<b>",
        "</b>",
        "<script>x<y</script>",
        "<style>p{}</style>",
        '<img src="https://e.org/a.jpg" alt="a>b">',
        "<img src='/r.png' alt='x\"y'>",
        '<a href="https://e.org/?a=1&b=2" title="<t>">',
        '<a href="javascript:alert(1)">',
        "</a>",
        "<table><tr><td>",
        "</td></tr></table>",
        "<!-- c -->",
        "<![CDATA[x]]>",
        "&amp;",
        "&lt;",
        "&nbsp;",
        "&#x4e2d;",
        "&bogus;",
        "<",
        ">",
        '"',
        "'",
        "&",
        " ",
        "\n\t",
        "\u3000",
        "招商引资",
        "开发区",
        "a",
    ]
)


@settings(max_examples=400)
@given(st.lists(_PIECES, max_size=40), st.sampled_from([None, "https://www.example.org/news/1.html"]))
def test_stored_bodies_read_as_parsing_reads_them(pieces: list[str], base: str | None) -> None:
    stored = sanitize_html("".join(pieces), base_url=base)
    assert sanitized_text(stored) == plain_text(stored)


@given(st.text(max_size=300))
def test_any_text_sanitized_reads_back(text: str) -> None:
    stored = sanitize_html(text)
    assert sanitized_text(stored) == plain_text(stored)


def test_summary_of_a_stored_body() -> None:
    stored = sanitize_html('<p>锡山区 <img alt="1>0" src="https://e.org/a.png">签约&amp;开工</p><p>' + "项目" * 200)
    out = summarize(stored, 20, sanitized=True)
    assert out == summarize(stored, 20)
    assert out.startswith("锡山区 签约&开工项目") and out.endswith("…") and len(out) == 20


def test_summaries_are_joined_as_chinese() -> None:
    stored = sanitize_html(
        "<p>请各企业负责人准时参加。</p>\n<p>会上,双方签署协议!</p><p>锡山区 签约 Li Ming 2020 年</p>"
    )
    assert (
        summarize(stored, 200, sanitized=True)
        == "请各企业负责人准时参加。会上,双方签署协议!锡山区 签约 Li Ming 2020 年"
    )
