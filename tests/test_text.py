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


_URL_VALUES = [
    "http://a.example/x.jpg",
    "HTTPS://A.example/p?q=1#f",
    "mailto:office@a.example",
    "javascript:alert(1)",
    "/uploads/1.jpg",
    "2020/10/1.jpg",
    "//cdn.a.example/1.jpg",
    "#p2",
    "?page=2",
    "",
    " http://a.example/space",
    "&#104;ttp://a.example/entity",
    "ht\ttp://a.example/tab",
    "data:image/png;base64,AAAA",
]
_PIECES = st.one_of(
    st.sampled_from(["<p>园区签约。</p>", "<a href>空链接</a>", "文字 href=/在正文里 ", "<br>"]),
    st.builds(
        lambda form, value: form.format(value),
        st.sampled_from(
            [
                '<a href="{}">链接</a>',
                "<a HREF = '{}'>链接</a>",
                "<img src={}>",
                '<img data-src="{}" src="grey.gif">',
                '<blockquote cite="{}">引文</blockquote>',
                '<iframe src="{}"></iframe>',
                '<a title="x" href="{}" href="/second">两个</a>',
            ]
        ),
        st.sampled_from(_URL_VALUES),
    ),
)


@settings(max_examples=300)
@given(st.lists(_PIECES, max_size=6))
def test_the_sanitizer_without_a_base_is_used_only_where_the_base_changes_nothing(pieces: list[str]) -> None:
    """Every article has a base URL of its own, and a sanitizer built per base costs more than cleaning:
    a fragment none of whose kept URLs may be relative is cleaned by the one without a base. Where that
    shortcut is taken, the one with the base gives the very same HTML."""
    from syndicate import text

    fragment = text.keep_media("".join(pieces))
    base = "https://partner.example/news/2020/1.html"
    if not text._may_be_relative(fragment):
        assert text._cleaner(None).clean(fragment) == text._cleaner(base).clean(fragment)
    assert sanitize_html("".join(pieces), base) == text.strip_control(text._cleaner(base).clean(fragment)).strip()


def test_relative_links_still_resolve_against_the_article() -> None:
    html = '<p><a href="/n/2.html">下一条</a><img src="1.jpg"><a href="http://b.example/">外链</a></p>'
    out = sanitize_html(html, "https://partner.example/news/1.html")
    assert 'href="https://partner.example/n/2.html"' in out
    assert 'src="https://partner.example/news/1.jpg"' in out
    assert 'href="http://b.example/"' in out
