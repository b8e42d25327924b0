"""Pure deduplication: fingerprints, the near-duplicate test, and the canonical choice.

No I/O. The store keeps what this module computes (fingerprints, LSH buckets, story membership); the
pipeline asks the store for candidates and this module decides.

One story, one item. Two articles are one story when (first rule that holds, docs/design.md "Dedupe"):

1. **link**: their links are equal (scheme/host case, default port, utm_* folded; the fragment kept) and they
   come from different sources. Within one source, entries with different identities are never one story
   by link (a blog whose posts are anchors of one page), and a link an entry only inherited (the channel's,
   for an entry without one) is no evidence at all;
2. **body**: their normalized bodies are equal (tags, whitespace, punctuation width and bylines folded);
3. **near**: their bodies' character 3-shingle sets are near-identical (Jaccard ≥ ``NEAR_JACCARD``);
4. **excerpt**: one is the lead (or a trimmed copy) of the other: containment ≥ ``NEAR_CONTAINMENT`` with the
   smaller under ``TRIM_RATIO`` of the larger;
5. **edited**: a lightly edited re-post, a sentence reworded and a paragraph dropped: containment ≥
   ``EDITED_CONTAINMENT`` and Jaccard ≥ ``EDITED_JACCARD``.

Rules 4 and 5 join articles of different sources only: a source re-posts nobody's posts in part, least of
all its own, and two of its posts that much alike are a series (a diary, a weekly notice).

Periodic reports from one template score 0.64-0.77 Jaccard and true re-posts 0.85 and more, so the near
threshold sits between; and **numbers veto** rules 3-5: when each text holds a number or date the other
lacks (一季度 vs 二季度, 3.2% vs 4.1%), they are different stories however similar the wording.

Texts under ``SHORT_TEXT`` characters say too little to be judged like articles: two of them are one story
as a **notice** (bodies of at least ``NOTICE_MIN`` characters, one the other with words added, at most
``NOTICE_DAYS`` apart) or, when a body says less than that, by **title** (equal normalized titles on the
same day); numbers veto both. A short text is an **excerpt** of a long one from another source when it is
its lead word for word (at least ``LEAD_MIN`` characters, contained ≥ ``LEAD_CONTAINMENT``).

What a source repeats around many of its distinct entries (a footer, a disclaimer, a "follow us" block) is
its boilerplate (``learn_boilerplate``); fingerprints leave it out, so only the post's own text is compared.

Candidates are found in an in-memory ``LshIndex`` holding, per article, MinHash LSH keys (100 values from one
multiply-add hash family, 20 bands of 5: found by Jaccard) and the hashes of its first sentences (found by
containment: an excerpt or an edited copy repeats whole sentences). A lookup returns at most a few ids per
key, so a story arriving thousands of times costs no more per version than a new one.
"""

from __future__ import annotations

import difflib
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

from .text import sanitized_text
from .types import Article, restore_slots
from .urls import normalize_link

__all__ = [
    "BANDS",
    "EDITED_CONTAINMENT",
    "EDITED_JACCARD",
    "NEAR_CONTAINMENT",
    "NEAR_JACCARD",
    "NOTICE_MIN",
    "SHORT_TEXT",
    "Candidate",
    "Fingerprint",
    "LshIndex",
    "Match",
    "Member",
    "Sentence",
    "choose_canonical",
    "fingerprint",
    "learn_boilerplate",
    "match",
    "sentences",
    "similarity",
]

SHORT_TEXT = 80
NEAR_JACCARD = 0.80
NEAR_CONTAINMENT = 0.90
TRIM_RATIO = 0.85
EDITED_CONTAINMENT = 0.85
EDITED_JACCARD = 0.50
NOTICE_MIN = 20  # a short body under this many characters is no evidence: only its title and day are
LEAD_MIN = 40  # a short text is taken for the lead of a long one from this many characters
LEAD_CONTAINMENT = 0.95
LEAD_SENTENCES = 3  # an excerpt opens with one of the first sentences of what it is an excerpt of
NOTICE_ADDED = 0.4  # a re-posted notice adds or drops words, at most this share of its length
NOTICE_DAYS = 1
BANDS, ROWS = 20, 5
SENTENCE_MIN = 8  # shorter sentences ("特此通知") are everywhere: not a key
SENTENCE_KEYS = 16  # the first sentences: an excerpt is the lead
BOILERPLATE_ENTRIES = 3  # a sentence is boilerplate when at least this many of a source's entries
BOILERPLATE_SHARE = 0.5  # and this share of them carry it (a footer is on every entry; a phrase is not)
OWN_TEXT_MIN = 10  # an entry whose own text is shorter is no evidence that the shared text is boilerplate
_PERMS = BANDS * ROWS
_SHINGLE = 3
_RULES = ("notice", "excerpt", "edited", "near", "title", "body", "link")  # weakest first

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


def similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(Jaccard, containment) of the two bodies' shingle sets."""
    common = len(np.intersect1d(a.shingles, b.shingles, assume_unique=True))
    union = len(a.shingles) + len(b.shingles) - common
    smaller = min(len(a.shingles), len(b.shingles))
    return (common / union if union else 1.0, common / smaller if smaller else 1.0)


@dataclass(frozen=True, slots=True)
class Candidate:
    article_id: int
    fingerprint: Fingerprint
    pinned: bool = False  # split by an operator: never joined again


@dataclass(frozen=True, slots=True)
class Match:
    article_id: int
    rule: str  # link | body | title | near | edited | excerpt | notice
    similarity: float


def match(new: Fingerprint, candidates: Sequence[Candidate]) -> Match | None:
    """The candidate ``new`` is a duplicate of, by the strongest rule that holds, the most similar first."""
    best: Match | None = None
    for c in candidates:
        if c.pinned:
            continue
        found = _rule(new, c.fingerprint)
        if found is None:
            continue
        rule, score = found
        if best is None or (_RULES.index(rule), score) > (_RULES.index(best.rule), best.similarity):
            best = Match(c.article_id, rule, score)
            if rule == "link":
                break  # nothing is stronger
    return best


def _added_words_only(a: str, b: str) -> float | None:
    """How alike two short texts are when one is the other with words added (各有关企业:…, …特此通知,
    请 → 敬请), none replaced or dropped in exchange (长江路 → 黄河路, 消防安全 → 安全生产 are other notices),
    and at most ``NOTICE_ADDED`` of the shorter's length; else None."""
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    tags = {tag for tag, *_ in ops} - {"equal"}
    if tags not in ({"insert"}, {"delete"}):
        return None
    changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
    if changed > NOTICE_ADDED * min(len(a), len(b)):
        return None
    return 1 - changed / max(len(a), len(b))


def _opens_inside(small: Fingerprint, large: Fingerprint) -> bool:
    """Whether the smaller text's first sentence (of ``SENTENCE_MIN`` characters or more) is one of the
    larger's first ``LEAD_SENTENCES``: an excerpt is the lead of the release. Text the two share with
    every other story of a zone (its introduction, template lines) can make one nearly contained in
    another; their leads differ."""
    first = next((s.key for s in small.parts[small.span[0] : small.span[1]] if len(s.norm) >= SENTENCE_MIN), None)
    opening = large.parts[large.span[0] : large.span[1]][:LEAD_SENTENCES]
    return first is not None and any(s.key == first for s in opening)


def _rule(a: Fingerprint, b: Fingerprint) -> tuple[str, float] | None:
    if a.link and a.link == b.link and a.source != b.source:
        return "link", 1.0
    if a.boilerplate != b.boilerplate:
        # Compared on what neither source calls boilerplate, unless that leaves one a short text: an
        # excerpt ending where the other source's template lines begin is still an excerpt.
        both = a.boilerplate | b.boilerplate
        a2, b2 = a.without(both), b.without(both)
        if (a2.short <= a.short) and (b2.short <= b.short):
            a, b = a2, b2
    veto = bool((a.numbers - b.numbers) and (b.numbers - a.numbers))  # each states a figure the other lacks
    if a.short != b.short:
        # A short lead of a long article from another source, word for word.
        short, long = (a, b) if a.short else (b, a)
        if veto or a.source == b.source or short.length < LEAD_MIN or not _opens_inside(short, long):
            return None
        containment = similarity(a, b)[1]
        return ("excerpt", round(containment, 3)) if containment >= LEAD_CONTAINMENT else None
    if a.short:
        # A short text says too little to be recognised like an article. Bodies that say something decide
        # (nearly the same within a day); below ``NOTICE_MIN`` characters, the title and day do.
        if veto:
            return None
        if min(a.length, b.length) < NOTICE_MIN:
            return ("title", 1.0) if a.title_key == b.title_key else None
        if abs(a.day - b.day) > NOTICE_DAYS:
            return None
        if a.body_hash == b.body_hash:
            return "notice", 1.0
        return ("notice", round(score, 3)) if (score := _added_words_only(a.text, b.text)) is not None else None
    if a.body_hash == b.body_hash:
        return "body", 1.0
    if veto:
        return None
    jaccard, containment = similarity(a, b)
    if jaccard >= NEAR_JACCARD:
        return "near", round(jaccard, 3)
    if a.source == b.source:
        return None  # a source does not re-post its own posts in part: two of them alike are a series
    ratio = min(a.length, b.length) / max(a.length, b.length)
    if (
        containment >= NEAR_CONTAINMENT
        and ratio < TRIM_RATIO
        and _opens_inside(*((a, b) if a.length < b.length else (b, a)))
    ):
        return "excerpt", round(containment, 3)
    if containment >= EDITED_CONTAINMENT and jaccard >= EDITED_JACCARD:
        return "edited", round(jaccard, 3)
    return None


class LshIndex:
    """Index key (LSH bucket or sentence hash) → article ids, in memory: lookups cost the same at any size.

    Bulk loads (the stored keys, the first time a process deduplicates, then whatever other processes
    stored since ``high_water``) go to two sorted arrays searched with ``searchsorted``; the articles this
    process adds go to a dictionary. Loading 100,000 articles' keys is one sort.

    A key many articles share (a story re-posted thousands of times, a sentence every report of a zone
    opens with) answers with its ``per_key`` oldest and newest ids only: any version of a story is as good
    a candidate as another, and comparing a new article with all of them made a large story quadratic.
    """

    def __init__(self, per_key: int = 16) -> None:
        self._keys: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._ids: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._added: dict[int, list[int]] = {}
        self._half = max(1, per_key // 2)
        self.high_water = 0

    def load(self, article_ids: Sequence[int], packed: Sequence[bytes]) -> None:
        """Add many articles at once, from their packed keys."""
        if not article_ids:
            return
        keys = np.frombuffer(b"".join(packed), dtype="<i8").astype(np.int64)
        counts = [len(p) // 8 for p in packed]
        ids = np.repeat(np.asarray(article_ids, dtype=np.int64), counts)
        keys = np.concatenate([self._keys, keys])
        ids = np.concatenate([self._ids, ids])
        order = np.argsort(keys, kind="stable")
        self._keys, self._ids = keys[order], ids[order]
        self.high_water = max(self.high_water, max(article_ids))

    def add_many(self, articles: Sequence[tuple[int, Sequence[int]]]) -> None:
        """``add`` for each (id, keys). Many keys at once (a quarter or more of what the arrays hold: a
        first fetch) are merged into the sorted arrays, one sort for the lot; fewer go to the dictionary
        (a daemon's batch against a large store, where a merge would re-sort everything each time)."""
        count = sum(len(keys) for _, keys in articles)
        if count < 1024 or count < len(self._keys) // 4:
            for article_id, keys in articles:
                self.add(article_id, keys)
            return
        ids = np.repeat(np.asarray([a for a, _ in articles], dtype=np.int64), [len(k) for _, k in articles])
        added = np.fromiter((k for _, ks in articles for k in ks), dtype=np.int64, count=count)
        merged_keys = np.concatenate([self._keys, added])
        merged_ids = np.concatenate([self._ids, ids])
        order = np.argsort(merged_keys, kind="stable")
        self._keys, self._ids = merged_keys[order], merged_ids[order]
        self.high_water = max(self.high_water, max(a for a, _ in articles))

    def add(self, article_id: int, keys: Sequence[int]) -> None:
        for k in keys:
            self._added.setdefault(k, []).append(article_id)
        self.high_water = max(self.high_water, article_id)

    def query(self, keys: Sequence[int]) -> Counter[int]:
        """The ids sharing a key with ``keys``, with how many keys each shares."""
        if not keys:
            return Counter()
        half = self._half
        hits: list[int] = []
        for k in keys:
            ids = self._added.get(k)
            if ids:
                hits += ids if len(ids) <= 2 * half else ids[:half] + ids[-half:]
        if len(self._keys):
            q = np.asarray(keys, dtype=np.int64)
            lo = self._keys.searchsorted(q)
            found = lo < len(self._keys)
            found[found] = self._keys[lo[found]] == q[found]
            if not found.any():
                return Counter(hits)
            lo = lo[found]
            count = self._keys.searchsorted(q[found], side="right") - lo
            # Each key's run of ids (a long run: its first and last ``half``), gathered in one step.
            long = count > 2 * half
            if long.any():
                lo = np.concatenate([lo[~long], lo[long], lo[long] + count[long] - half])
                count = np.concatenate([count[~long], np.full(2 * int(long.sum()), half)])
            ends = np.cumsum(count)
            positions = np.arange(ends[-1]) + np.repeat(lo - ends + count, count)
            hits += self._ids[positions].tolist()
        return Counter(hits)


@dataclass(frozen=True, slots=True)
class Member:
    article_id: int
    priority: int
    first_seen: datetime  # when we stored it: a date a partner claims is no claim to the story


def choose_canonical(members: Sequence[Member]) -> int:
    """The version a story is published as: the highest source priority, then the first we saw. Never
    the earliest *claimed* date: a partner copying a release with a backdated ``pubDate`` would take the
    story over, with its own link, in every feed and digest."""
    return min(members, key=lambda m: (-m.priority, m.first_seen, m.article_id)).article_id
