"""The duplicate rules (the package's docstring states them), and which version of a story is published.
Pure: no I/O."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .fingerprints import NOTICE_MIN, SENTENCE_MIN, Fingerprint

NEAR_JACCARD = 0.80
NEAR_CONTAINMENT = 0.90
TRIM_RATIO = 0.85
EDITED_CONTAINMENT = 0.85
EDITED_JACCARD = 0.50
LEAD_MIN = 40  # a short text is taken for the lead of a long one from this many characters
LEAD_CONTAINMENT = 0.95
LEAD_SENTENCES = 3  # an excerpt opens with one of the first sentences of what it is an excerpt of
NOTICE_ADDED = 0.4  # a re-posted notice adds or drops words, at most this share of its length
NOTICE_DAYS = 1
_RULES = ("notice", "excerpt", "edited", "near", "title", "body", "link")  # weakest first


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
