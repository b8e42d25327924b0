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

``fingerprints`` makes what is compared of an article, ``rules`` decides (and chooses the version a story
is published as), ``index`` finds the candidates.
"""

from .fingerprints import BANDS as BANDS
from .fingerprints import NOTICE_MIN as NOTICE_MIN
from .fingerprints import SHORT_TEXT as SHORT_TEXT
from .fingerprints import Fingerprint as Fingerprint
from .fingerprints import Sentence as Sentence
from .fingerprints import article_fingerprint as article_fingerprint
from .fingerprints import fingerprint as fingerprint
from .fingerprints import learn_boilerplate as learn_boilerplate
from .fingerprints import sentences as sentences
from .fingerprints import with_boilerplate as with_boilerplate
from .index import LshIndex as LshIndex
from .rules import EDITED_CONTAINMENT as EDITED_CONTAINMENT
from .rules import EDITED_JACCARD as EDITED_JACCARD
from .rules import LEAD_MIN as LEAD_MIN
from .rules import NEAR_CONTAINMENT as NEAR_CONTAINMENT
from .rules import NEAR_JACCARD as NEAR_JACCARD
from .rules import Candidate as Candidate
from .rules import Match as Match
from .rules import Member as Member
from .rules import choose_canonical as choose_canonical
from .rules import match as match
from .rules import similarity as similarity

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
