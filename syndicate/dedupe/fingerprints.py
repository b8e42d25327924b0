"""Fingerprints: what dedupe compares of an article, made once from its stored body.

A body is split into sentences (blocks end one), folded (width, bylines and editor lines dropped) and
hashed; the source's boilerplate (``learn_boilerplate``: what it repeats around many of its distinct
entries) is left out of the text compared. The text's character 3-shingles give a MinHash signature cut
into LSH bands; its first sentences' hashes are index keys too. Pure: no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ..text import sanitized_text
from ..types import Article, restore_slots
from ..urls import normalize_link

SHORT_TEXT = 80
NOTICE_MIN = 20  # a short body under this many characters is no evidence: only its title and day are
BANDS, ROWS = 20, 5
SENTENCE_MIN = 8  # shorter sentences ("特此通知") are everywhere: not a key
SENTENCE_KEYS = 16  # the first sentences: an excerpt is the lead
BOILERPLATE_ENTRIES = 3  # a sentence is boilerplate when at least this many of a source's entries
BOILERPLATE_SHARE = 0.5  # and this share of them carry it (a footer is on every entry; a phrase is not)
OWN_TEXT_MIN = 10  # an entry whose own text is shorter is no evidence that the shared text is boilerplate
_PERMS = BANDS * ROWS
_SHINGLE = 3

# Bylines and editor lines differ between re-posts of one release; they are not the story.
_BOILERPLATE = re.compile(
    r"[(（【\[]\s*(?:记者|通讯员|来源|作者|摄影|图|文)[^)）】\]]{0,40}[)）】\]]"  # (记者 王明 通讯员 李华)
    r"|(?:来源|责任编辑|编辑|记者|通讯员|作者|审核|校对|供稿|摄影)\s*[:：]\s*[^\s。;；]{0,30}"  # 责任编辑:张蕾
)
_NOT_WORD = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|[零〇一二三四五六七八九十百千万两]+(?=季度|月份|月|日|号|年|届|期|批|次|周年)")
# Where a block of the stored (sanitized) body ends: a sentence ends there too.
_BLOCK = re.compile(
    r"</?(?:p|div|li|ul|ol|h[1-6]|tr|td|th|table|blockquote|section|article|pre|figure|figcaption|dd|dt)\b[^>]*>"
    r"|<br\s*/?>",
    re.I,
)
_SENTENCE_END = re.compile(r"[。!?;]+|\.(?=\s|$)")


def _stable_u64(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "little")


# Fixed forever (fingerprints are stored): derived from labels, not from a random generator's stream.
_A = np.array([(_stable_u64(f"syndicate-minhash-a-{i}") >> 32) | 1 for i in range(_PERMS)], dtype=np.uint32)
_B = np.array([_stable_u64(f"syndicate-minhash-b-{i}") >> 32 for i in range(_PERMS)], dtype=np.uint32)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)


def _fold(text: str) -> str:
    """Width folded, bylines and editor lines dropped."""
    return _BOILERPLATE.sub("", unicodedata.normalize("NFKC", text))


def normalize_text(text: str) -> str:
    """Fold width, drop bylines, whitespace and punctuation: what is left is the wording."""
    return _NOT_WORD.sub("", _fold(text)).lower()


def numbers(text: str) -> frozenset[str]:
    """Figures and dates a text states: digits, and Chinese numerals before 季度/月/年/届/期/…."""
    return frozenset(_NUMBER.findall(_fold(text)))


class Sentence(NamedTuple):
    """One sentence of a body (a tuple: a fingerprint carries every sentence of its article, and the
    parsing workers send tens of thousands of them back per fetch)."""

    text: str  # folded
    norm: str  # normalized: the wording
    key: int  # the hash of the wording


def _sentence_key(norm: str) -> int:
    return int.from_bytes(hashlib.blake2b(b"s" + norm.encode(), digest_size=8).digest(), "little", signed=True)


def sentences(body_html: str) -> tuple[Sentence, ...]:
    """A stored body's sentences, as ``fingerprint`` and ``learn_boilerplate`` take them (split once)."""
    return tuple(_sentences(body_html))


def _numbers(kept: Sequence[Sentence]) -> frozenset[str]:
    return frozenset(_NUMBER.findall("。".join(s.text for s in kept)))


def _sentences(body_html: str) -> list[Sentence]:
    """The stored body's sentences (blocks end one), folded, without those that are only punctuation."""
    folded = _fold(sanitized_text(_BLOCK.sub("。", body_html)))
    out = []
    for part in _SENTENCE_END.split(folded):
        norm = _NOT_WORD.sub("", part).lower()
        if norm:
            out.append(Sentence(part, norm, _sentence_key(norm)))
    return out


def _edges(sentences: Sequence[Sentence], common: frozenset[int] | set[int]) -> tuple[int, int]:
    """Where the text between the leading and trailing runs of ``common`` sentences begins and ends."""
    start, end = 0, len(sentences)
    while start < end and sentences[start].key in common:
        start += 1
    while end > start and sentences[end - 1].key in common:
        end -= 1
    return start, end


def learn_boilerplate(bodies: Iterable[str | Sequence[Sentence]]) -> frozenset[int]:
    """The sentences one source repeats at the start or end of many of its distinct entries (a footer, a
    disclaimer, a "follow us" block), learned from those entries' stored bodies.

    A sentence counts when at least half the entries (and ``BOILERPLATE_ENTRIES``) carry it, and at least
    ``BOILERPLATE_ENTRIES`` of them at an edge *with* texts of their own that differ (Jaccard under 0.5
    between each): the same story posted many times with a few characters changed shares all its
    sentences, and none of them is boilerplate."""
    entries = [_sentences(b) if isinstance(b, str) else b for b in bodies]
    counts = Counter(key for e in entries for key in {s.key for s in e})
    least = max(BOILERPLATE_ENTRIES, BOILERPLATE_SHARE * len(entries))
    common = {key for key, n in counts.items() if n >= least}
    if not common:
        return frozenset()
    distinct: dict[int, list[npt.NDArray[np.uint32]]] = {}
    for e in entries:
        start, end = _edges(e, common)
        own = "".join(s.norm for s in e[start:end])
        if len(own) < OWN_TEXT_MIN or (start == 0 and end == len(e)):
            continue
        shingles = _shingles(own)
        for key in {s.key for s in (*e[:start], *e[end:])}:
            seen = distinct.setdefault(key, [])
            if len(seen) < BOILERPLATE_ENTRIES and all(_jaccard(shingles, other) < 0.5 for other in seen):
                seen.append(shingles)
    return frozenset(key for key, seen in distinct.items() if len(seen) >= BOILERPLATE_ENTRIES)


def _shingles(norm: str) -> npt.NDArray[np.uint32]:
    """The set of the text's character 3-shingles, as well-mixed 32-bit hashes (sorted, unique)."""
    codes = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < _SHINGLE:
        codes = np.concatenate([codes, np.zeros(_SHINGLE - len(codes), dtype=np.uint64)])
    h = codes[:-2] * np.uint64(0x100000001B3) ^ codes[1:-1] * np.uint64(0x9E3779B97F4A7C15) ^ codes[2:]
    h ^= h >> np.uint64(33)
    h *= _MIX1
    h ^= h >> np.uint64(33)
    h *= _MIX2
    h ^= h >> np.uint64(33)
    v = np.sort((h >> np.uint64(32)).astype(np.uint32))
    keep = np.empty(len(v), dtype=bool)
    keep[0] = True
    np.not_equal(v[1:], v[:-1], out=keep[1:])
    return v[keep]


def _jaccard(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    common = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - common
    return common / union if union else 1.0


def _minhash(shingles: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    # One multiply-add per hash function in 32-bit arithmetic (wrapping), over inputs already mixed.
    values: npt.NDArray[np.uint32] = np.multiply.outer(_A, shingles)
    values += _B[:, None]  # in place: one array of 100 rows per article, not two
    result: npt.NDArray[np.uint32] = values.min(axis=1)
    return result


def _buckets(signature: npt.NDArray[np.uint32]) -> tuple[int, ...]:
    out = []
    raw = signature.astype("<u4").tobytes()
    for band in range(BANDS):
        chunk = raw[band * ROWS * 4 : (band + 1) * ROWS * 4]
        digest = hashlib.blake2b(bytes([band]) + chunk, digest_size=8).digest()
        out.append(int.from_bytes(digest, "little", signed=True))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What dedupe needs of one article. ``buckets`` are its LSH keys (none for a body under
    ``NOTICE_MIN``), ``sentences`` the hashes of its first sentences; both are its index keys. ``parts``
    are all its sentences, ``span`` those left when its source's ``boilerplate`` is taken off: ``text``."""

    link: str  # "" when the article has no link of its own
    source: str
    day: int  # the day of publication (proleptic ordinal, in the site's timezone)
    body_hash: str
    title_key: str
    length: int
    numbers: frozenset[str]
    shingles: npt.NDArray[np.uint32]
    buckets: tuple[int, ...]
    sentences: tuple[int, ...] = ()
    text: str = ""
    parts: tuple[Sentence, ...] = ()
    span: tuple[int, int] = (0, 0)
    boilerplate: frozenset[int] = frozenset()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the tuple of its fields (as ``pickled_by_slots`` does), its sentences as plain
        tuples: a NamedTuple pickles through a Python call each, and the parsing workers send hundreds of
        thousands of them back per fetch (a quarter of pickling a parsed feed)."""
        values = [getattr(self, name) for name in _FINGERPRINT_FIELDS]
        values[_PARTS] = tuple(map(tuple, self.parts))
        return _restore_fingerprint, (tuple(values),)

    @property
    def short(self) -> bool:
        return self.length < SHORT_TEXT

    @property
    def keys(self) -> tuple[int, ...]:
        return self.buckets + self.sentences

    def without(self, boilerplate: frozenset[int]) -> Fingerprint:
        """The text as it reads with ``boilerplate`` (another source's too) taken off its edges: two
        sources are compared on what neither calls boilerplate."""
        span = _edges(self.parts, boilerplate)
        if span == self.span:
            return self
        kept = self.parts[span[0] : span[1]]
        norm = "".join(s.norm for s in kept)
        return replace(
            self,
            body_hash=hashlib.sha256(norm.encode()).hexdigest(),
            length=len(norm),
            numbers=_numbers(kept),
            shingles=_shingles(norm),
            text=norm,
            span=span,
        )


_FINGERPRINT_FIELDS: tuple[str, ...] = Fingerprint.__slots__
_PARTS = _FINGERPRINT_FIELDS.index("parts")
_as_sentence: Callable[[tuple[str, str, int]], Sentence] = functools.partial(tuple.__new__, Sentence)


def _restore_fingerprint(values: tuple[Any, ...]) -> Fingerprint:
    made = restore_slots(Fingerprint, values)
    object.__setattr__(made, "parts", tuple(map(_as_sentence, made.parts)))
    return made


def fingerprint(
    title: str,
    body_html: str,
    link: str,
    published: datetime,
    tz: tzinfo,
    *,
    source: str = "",
    boilerplate: frozenset[int] = frozenset(),
    parts: Sequence[Sentence] | None = None,
) -> Fingerprint:
    """``body_html`` as stored (sanitized); ``link`` "" for an article without a link of its own;
    ``boilerplate``: its source's, left out (``learn_boilerplate``); ``parts``: ``sentences(body_html)``
    when the caller has them already."""
    if parts is None:
        parts = _sentences(body_html)
    span = _edges(parts, boilerplate)
    sentences = parts[span[0] : span[1]]
    norm = "".join(s.norm for s in sentences)
    shingles = _shingles(norm)
    local = published.astimezone(tz).date()
    keys = dict.fromkeys(s.key for s in sentences if len(s.norm) >= SENTENCE_MIN)
    return Fingerprint(
        link=normalize_link(link, keep_fragment=True) if link else "",
        source=source,
        day=local.toordinal(),
        body_hash=hashlib.sha256(norm.encode()).hexdigest(),
        title_key=f"{local.isoformat()}|{normalize_text(title)}",
        length=len(norm),
        numbers=_numbers(sentences),
        shingles=shingles,
        buckets=_buckets(_minhash(shingles)) if len(norm) >= NOTICE_MIN else (),
        sentences=tuple(keys)[:SENTENCE_KEYS],
        text=norm,
        parts=tuple(parts),
        span=span,
        boilerplate=boilerplate,
    )


def article_fingerprint(
    article: Article,
    tz: tzinfo,
    *,
    boilerplate: frozenset[int] = frozenset(),
    parts: Sequence[Sentence] | None = None,
) -> Fingerprint:
    """``fingerprint`` of an article as stored; one without a link of its own (``link_fallback``) is
    joined by none."""
    link = "" if article.link_fallback else article.link
    return fingerprint(
        article.title,
        article.body_html,
        link,
        article.published,
        tz,
        source=article.source_id,
        boilerplate=boilerplate,
        parts=parts,
    )


def with_boilerplate(made: Fingerprint, boilerplate: frozenset[int]) -> Fingerprint | None:
    """``made`` (a fingerprint without boilerplate) as its source's ``boilerplate`` leaves it, when that
    trims none of its sentences; None when it does (make it again from ``made.parts``)."""
    if made.boilerplate or made.span != (0, len(made.parts)):
        return None
    if _edges(made.parts, boilerplate) != made.span:
        return None
    return replace(made, boilerplate=boilerplate) if boilerplate else made
