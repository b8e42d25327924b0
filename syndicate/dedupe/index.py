"""The in-memory index of dedupe keys (LSH buckets, sentence hashes) to the articles holding them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


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
