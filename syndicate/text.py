"""Pure text helpers shared by every step: HTML sanitizing, plain text, control characters.

Owns the one sanitizing policy of syndicate (nh3): every article body is cleaned here before it is stored,
whatever its source, because feedparser's own sanitizer keeps ``<img src="javascript:...">`` and forms.
Imports nothing of syndicate's.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3

__all__ = [
    "MAX_DEPTH",
    "drop_bad_references",
    "first_image",
    "join_cjk",
    "keep_media",
    "limit_nesting",
    "paragraphs_html",
    "plain_text",
    "sanitize_html",
    "sanitized_text",
    "strip_control",
    "summarize",
]

# XML 1.0 forbids C0 controls other than tab, LF and CR; lxml refuses them outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
# A tag as the sanitizer writes it: it escapes "<" and ">" everywhere else (text and attribute values).
_SANITIZED_TAG = re.compile(r"<[^>]*>")

_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"area", "map"}
_ATTRIBUTES = {
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
    "blockquote": {"cite"},
    "q": {"cite"},
}
_SCHEMES = frozenset({"http", "https", "mailto"})
# Removed with their content, not just unwrapped: their text is never article text.
_DROP_WITH_CONTENT = frozenset({"script", "style", "noscript", "iframe", "object", "embed", "template"})


# Elements nested deeper than this are unwrapped (their text kept) before the sanitizer sees them: the
# HTML parser's work grows faster than the square of the depth (40,000 nested <div>: 7 s, <ul><li>: 25 s),
# while real articles stay under 30.
MAX_DEPTH = 100
_TAG = re.compile(r"<!--.*?-->|<(/?)([a-zA-Z][^\s/>]*)[^>]*>", re.S)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "keygen",
        "basefont",
        "bgsound",
        "frame",
    ]
)
# Opening one of these closes an open element of the same group at the top (HTML's implied end tags).
_IMPLIED = {
    "li": {"li"},
    "dt": {"dt", "dd"},
    "dd": {"dt", "dd"},
    "p": {"p"},
    "option": {"option"},
    "tr": {"tr", "td", "th"},
    "td": {"td", "th"},
    "th": {"td", "th"},
}
_CLOSES_P = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "div",
        "dl",
        "fieldset",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "ul",
    ]
)


def limit_nesting(fragment: str, max_depth: int = MAX_DEPTH) -> str:
    """``fragment`` with the tags that would nest deeper than ``max_depth`` removed (their text stays).
    One linear pass with HTML's common implied end tags; a fragment within the limit is returned as is."""
    if fragment.count("<") <= max_depth:
        return fragment
    stack: list[str] = []
    drop: list[tuple[int, int]] = []
    dropped: dict[str, int] = {}
    for m in _TAG.finditer(fragment):
        closing, name = m.group(1), m.group(2)
        if name is None:
            continue  # a comment
        name = name.lower()
        if closing:
            if name in stack[-max_depth:]:
                while stack and stack.pop() != name:
                    pass
            elif dropped.get(name):
                dropped[name] -= 1
                drop.append(m.span())
            continue
        if name in _VOID:
            continue
        implied = _IMPLIED.get(name)
        if stack and ((implied and stack[-1] in implied) or (stack[-1] == "p" and name in _CLOSES_P)):
            stack.pop()
        if len(stack) >= max_depth:
            dropped[name] = dropped.get(name, 0) + 1
            drop.append(m.span())
        else:
            stack.append(name)
    if not drop:
        return fragment
    parts, at = [], 0
    for start, end in drop:
        parts.append(fragment[at:start])
        at = end
    parts.append(fragment[at:])
    return "".join(parts)


@lru_cache(maxsize=256)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    # Relative URLs become absolute against the article's own link (feed validators warn on relative
    # references, and a partner's page would resolve them against itself); with no base they are dropped.
    return nh3.Cleaner(
        tags=set(_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={k: set(v) for k, v in _ATTRIBUTES.items()},
        url_schemes=set(_SCHEMES),
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


@lru_cache(maxsize=1)
def _text_cleaner() -> nh3.Cleaner:
    # Built once: ``nh3.clean`` builds a sanitizer on every call, which cost more than the cleaning.
    return nh3.Cleaner(tags=set(), clean_content_tags=set(_DROP_WITH_CONTENT))


def strip_control(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (NUL and the other C0 controls, U+FFFE, U+FFFF, lone
    surrogates). Applied to whatever a transformation gave, not only to its input: decoding a character
    reference or an HTML entity can make such a character out of harmless text."""
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));?")


def _no_char(code: int) -> bool:
    """A code point XML cannot carry, or one HTML turns into U+FFFD (NUL, surrogates, beyond Unicode)."""
    return (
        (code < 0x20 and code not in (0x9, 0xA, 0xD))
        or 0xD800 <= code <= 0xDFFF
        or code in (0xFFFE, 0xFFFF)
        or code > 0x10FFFF
    )


def drop_bad_references(fragment: str) -> str:
    """Character references to nothing a reader could see (``&#0;``, ``&#1;``, ``&#xD800;``) removed
    before they are decoded: the sanitizer would make them control characters or U+FFFD."""
    if "&#" not in fragment:
        return fragment

    def keep(m: re.Match[str]) -> str:
        code = int(m.group(1), 16) if m.group(1) else int(m.group(2))
        return "" if _no_char(code) else m.group(0)

    return _CHAR_REF.sub(keep, fragment)


def sanitize_html(fragment: str, base_url: str | None = None) -> str:
    """Clean untrusted HTML: no scripts, styles, event handlers or non-http(s) URLs; links absolute.
    Embedded players and lazy images are kept in a safe form first (``keep_media``)."""
    base = base_url if base_url and base_url.startswith(("http://", "https://")) else None
    # Stripped before and after: the sanitizer decodes character references (``&#1;``) into the very
    # characters stripped before it.
    prepared = keep_media(limit_nesting(drop_bad_references(strip_control(fragment))))
    # A sanitizer is built per base (30 µs, more than cleaning an article), and every article has a base
    # of its own: a fragment whose links are all absolute (or that has none) is cleaned alike by any.
    clean = _cleaner(base if base and _may_be_relative(prepared) else None).clean(prepared)
    return strip_control(clean).strip()


# The attributes the sanitizer keeps that hold URLs, wherever they are written (``<a href>`` without a
# value is the empty, relative URL), each followed by a value with a scheme or not.
_URL_ATTRIBUTE = re.compile(r"(?<![\w:.-])(?:href|src|cite)(?![\w:.-])(\s*=\s*[\"']?[a-zA-Z][a-zA-Z0-9+.-]*:)?", re.I)


def _may_be_relative(fragment: str) -> bool:
    """Whether any URL the sanitizer keeps might be relative: one written without a scheme right after
    ``=`` and an optional quote (``/a.jpg``, ``//cdn/a.jpg``, ``#p2``, an empty value, an entity or space
    before the scheme: all resolved against the base, so they get the sanitizer that has it)."""
    return any(m.group(1) is None for m in _URL_ATTRIBUTE.finditer(fragment))


# -- media: what the sanitizer would drop without a trace ---------------------------------------------

_MEDIA_HINT = re.compile(r"<(?:iframe|embed|video|audio|object|noscript)\b|\s(?:data-|lazy-src|file\s*=)", re.I)
_PLAYER = re.compile(
    r"<(iframe|video|audio|object)\b([^>]*)>(.*?)</\1\s*>|<(embed|iframe|video|audio)\b([^>]*?)/?>", re.I | re.S
)
_NOSCRIPT = re.compile(r"<noscript\b[^>]*>(.*?)</noscript\s*>", re.I | re.S)
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)
_ATTR = re.compile(r"""([^\s"'<>/=]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+)""")
_SOURCE_SRC = re.compile(r"""<source\b[^>]*?\ssrc\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+)""", re.I)
# Where lazy-loading CMSs keep an image's real address (WeChat, Discuz, WordPress plugins, jQuery lazyload).
_LAZY = ("data-src", "data-original", "data-lazy-src", "data-actualsrc", "data-echo", "data-url", "lazy-src", "file")
_PLACEHOLDER = re.compile(r"^data:|blank|placeholder|loading|lazy|spacer|grey\.gif|pixel\.gif|/none\.", re.I)
_VIDEO_HOSTS = re.compile(
    r"(?:^|\.)(?:bilibili\.com|weibo\.(?:com|cn)|youtube(?:-nocookie)?\.com|youtu\.be|v\.qq\.com|youku\.com"
    r"|iqiyi\.com|ixigua\.com|douyin\.com|vimeo\.com|miaopai\.com|mgtv\.com|cctv\.com|cntv\.cn)$",
    re.I,
)


def _attrs(tag_attrs: str) -> dict[str, str]:
    return {k.lower(): html.unescape(v.strip("\"'")) for k, v in _ATTR.findall(tag_attrs)}


def _web_url(url: str | None) -> str | None:
    """An address a reader can follow: http(s), protocol-relative (made https) or relative; else None."""
    if not url or not (url := url.strip()):
        return None
    if url.startswith("//"):
        return "https:" + url
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", url)
    return url if scheme is None or scheme.group(1).lower() in ("http", "https") else None


def _player_link(kind: str, attrs: dict[str, str], inner: str) -> str:
    """A safe trace of an embedded player: a link to it and its poster image, never the player itself."""
    inner_src = _SOURCE_SRC.search(inner)
    raw = attrs.get("src") or attrs.get("data") or attrs.get("data-src") or (inner_src and inner_src.group(1))
    src = _web_url(html.unescape(raw.strip("\"'")) if raw else None)
    if src is None:
        return ""
    host = re.match(r"^(?:https?:)?//([^/:?#]+)", src)
    video = kind == "video" or (host is not None and _VIDEO_HOSTS.search(host.group(1)))
    label = "音频" if kind == "audio" else "视频" if video else "嵌入内容"
    title = " ".join(attrs.get("title", "").split())
    text = f"{label}:{title}" if title else label
    poster = _web_url(attrs.get("poster"))
    image = f'<img src="{html.escape(poster)}" alt="{html.escape(text)}">' if poster else ""
    return f'<p>{image}<a href="{html.escape(src)}">{html.escape(text)}</a></p>'


def _lazy_image(tag: str) -> str:
    attrs = _attrs(tag[4:])
    real = next((u for name in _LAZY if (u := _web_url(attrs.get(name)))), None)
    src = attrs.get("src", "")
    if real is None or (src and not _PLACEHOLDER.search(src) and _web_url(src)):
        return tag
    kept = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items() if k in ("alt", "title", "width", "height"))
    return f'<img src="{html.escape(real)}"{" " + kept if kept else ""}>'


def keep_media(fragment: str) -> str:
    """What the sanitizer would drop without a trace, kept in a safe form: an embedded player (``iframe``,
    ``embed``, ``object``, ``video``, ``audio``) becomes a link to it (with its poster image); an image a
    lazy-loading page keeps in ``data-src`` (or ``data-original`` …) gets it as ``src``; images inside
    ``<noscript>`` (the real ones of a lazy page) are kept unless the same image is already shown."""
    if not _MEDIA_HINT.search(fragment):
        return fragment
    fragment = _IMG_TAG.sub(lambda m: _lazy_image(m.group(0)), fragment)

    def unwrap(m: re.Match[str]) -> str:
        shown = {_attrs(t[4:]).get("src") for t in _IMG_TAG.findall(fragment[: m.start()])}
        images = [t for t in _IMG_TAG.findall(m.group(1)) if _attrs(t[4:]).get("src") not in shown]
        return "".join(images)

    fragment = _NOSCRIPT.sub(unwrap, fragment)

    def player(m: re.Match[str]) -> str:
        if m.group(1):
            return _player_link(m.group(1).lower(), _attrs(m.group(2)), m.group(3))
        return _player_link(m.group(4).lower(), _attrs(m.group(5)), "")

    return _PLAYER.sub(player, fragment)


def plain_text(fragment: str) -> str:
    """The text of an HTML fragment (or of plain text with entities), whitespace folded to one space."""
    text = _text_cleaner().clean(limit_nesting(drop_bad_references(strip_control(fragment))))
    return _SPACE.sub(" ", strip_control(html.unescape(text))).strip()


def sanitized_text(fragment: str) -> str:
    """``plain_text`` of HTML that ``sanitize_html`` wrote, as every stored body is: its markup is regular
    enough that dropping the tags is the whole job, without parsing again (about three times faster; a
    property test holds it to ``plain_text``)."""
    return _SPACE.sub(" ", strip_control(html.unescape(_SANITIZED_TAG.sub("", fragment)))).strip()


_CJK = "\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_STOP = "。！？；：，、）」』》〉】”’…"  # where a Chinese sentence or clause ends
_SPACE_IN_CJK = re.compile(f"(?<=[{_CJK_STOP}]) (?=[{_CJK}])")


_FIRST_IMG = re.compile(r'<img[^>]*?\ssrc="(https?://[^"]+)"')


def first_image(body_html: str) -> str | None:
    """The address of the first image of a stored (sanitized) body, if any."""
    m = _FIRST_IMG.search(body_html)
    return html.unescape(m.group(1)) if m else None


def join_cjk(text: str) -> str:
    """Text joined as Chinese is written: the space that folding put after a Chinese sentence (between two
    paragraphs, or two sentences) is dropped before the next Chinese one (``参加。会上``, not ``参加。 会上``);
    a space an author put between two words (``锡山区 签约``), and spaces beside Latin text, stay."""
    return _SPACE_IN_CJK.sub("", text)


def summarize(fragment: str, limit: int = 120, *, sanitized: bool = False) -> str:
    """Plain text cut to at most ``limit`` characters (code points, so never inside a character), joined
    as Chinese (``join_cjk``). ``sanitized``: the fragment is ``sanitize_html`` output (a stored body), read
    by ``sanitized_text``."""
    text = join_cjk(sanitized_text(fragment) if sanitized else plain_text(fragment))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def paragraphs_html(paragraphs: list[str]) -> str:
    """Plain-text paragraphs as escaped ``<p>`` elements."""
    return "".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs if p.strip())
