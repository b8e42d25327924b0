"""Reading a partner's bytes as text: the character encoding a document is in, whatever it says it is.
Pure. Chinese sites often declare UTF-8 and send GBK, or declare GB2312 and use GBK characters."""

from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

__all__ = ["decode_body", "decode_document"]

# Supersets: a page declared GB2312 routinely holds GBK characters, Big5 holds HKSCS ones.
_SUPERSET = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "big5": "big5hkscs", "ascii": "utf-8"}
_XML_DECL = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([A-Za-z0-9._-]+)\2""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.I)
_BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
]


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        return None
    return _SUPERSET.get(canonical, canonical)


def decode_body(data: bytes, content_type: str | None = None) -> tuple[str, str]:
    """Decode a feed body. Returns (text, encoding used); ``decode_document`` also says what it repaired."""
    text, encoding, _note = decode_document(data, content_type)
    return text, encoding


def decode_document(data: bytes, content_type: str | None = None) -> tuple[str, str, str | None]:
    """Decode a feed body. Returns (text, encoding used, a note on what was repaired or None).

    Order: a byte-order mark; valid UTF-8 (a multi-byte UTF-8 sequence by chance is vanishingly rare, so
    this wins over a wrong declaration); a document that is UTF-8 but for a few bad bytes (a stray
    Windows-1252 quote, a last character cut off: at least 20 valid multi-byte characters per bad one) is
    UTF-8 with those bytes repaired; the encoding declared in HTTP, then in the XML declaration, decoded
    strictly; a guess from the bytes among the encodings Chinese sites use. Never mojibake silently: when
    nothing decodes cleanly, undecodable bytes become U+FFFD and the note says so.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data.decode(name, errors="replace").lstrip("\ufeff"), name, None
    mostly = _mostly_utf8(data)
    if mostly is not None and not mostly[1]:
        return mostly[0], "utf-8", None
    declared = []
    if content_type and (m := _CHARSET.search(content_type)):
        declared.append(m.group(1))
    if m2 := _XML_DECL.match(data[:200]):
        declared.append(m2.group(3).decode("ascii"))
    text, bad = mostly if mostly is not None else ("", [])
    multibyte = sum(1 for c in text if ord(c) > 0x7F) - len(bad)
    if mostly is not None and multibyte >= _UTF8_EVIDENCE * len(bad):
        return text, "utf-8", _repaired(bad, len(data))
    for name in declared:
        codec = _codec(name)
        if codec and codec not in ("utf-8", "utf-16", "utf-32"):
            try:
                return data.decode(codec), codec, None
            except UnicodeDecodeError:
                continue
    if mostly is not None and multibyte <= 0 and len(bad) <= 3:
        return text, "utf-8", _repaired(bad, len(data))  # ASCII but for a stray byte or two
    guess = from_bytes(data, cp_isolation=["gb18030", "big5hkscs", "utf_16_le", "utf_16_be", "cp1252"]).best()
    codec = (_codec(guess.encoding) if guess is not None else None) or "gb18030"
    text = data.decode(codec, errors="replace")
    note = f"undecodable bytes replaced (read as {codec})" if "\ufffd" in text else None
    return text, codec, note


# At least this many valid multi-byte UTF-8 characters per invalid byte sequence make a document UTF-8.
_UTF8_EVIDENCE = 20
_MAX_BAD = 50


def _mostly_utf8(data: bytes) -> tuple[str, list[tuple[int, bytes]]] | None:
    """The bytes read as UTF-8 with each invalid sequence repaired, and those sequences (offset, bytes);
    None when there are more than ``_MAX_BAD`` of them. A lone byte 0x80-0x9F is read as Windows-1252
    (curly quotes and dashes pasted into UTF-8 text); anything else invalid becomes U+FFFD."""
    parts: list[str] = []
    bad: list[tuple[int, bytes]] = []
    pos = 0
    while True:
        try:
            parts.append(data[pos:].decode("utf-8"))
            return "".join(parts), bad
        except UnicodeDecodeError as e:
            start, end = pos + e.start, pos + e.end
            parts.append(data[pos:start].decode("utf-8"))
            seq = data[start:end]
            bad.append((start, seq))
            if len(bad) > _MAX_BAD:
                return None
            parts.append(_cp1252_or_replacement(seq))
            pos = end


def _cp1252_or_replacement(seq: bytes) -> str:
    if len(seq) == 1 and 0x80 <= seq[0] <= 0x9F:
        try:
            return seq.decode("cp1252")
        except UnicodeDecodeError:
            pass
    return "\ufffd"


def _repaired(bad: list[tuple[int, bytes]], size: int) -> str:
    def one(offset: int, seq: bytes) -> str:
        if offset + len(seq) == size and seq[0] >= 0xC0:
            return f"cut off inside its last character at byte {offset}"
        read = _cp1252_or_replacement(seq)
        shown = "U+FFFD" if read == "\ufffd" else repr(read)
        return f"byte {offset} (0x{seq.hex()}) read as {shown}"

    listed = "; ".join(one(o, s) for o, s in bad[:5]) + ("; …" if len(bad) > 5 else "")
    return f"invalid UTF-8 repaired ({len(bad)} place{'s' if len(bad) > 1 else ''}): {listed}"
