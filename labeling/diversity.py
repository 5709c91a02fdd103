"""Diversity of a text collection: distinct-n and the share of near-duplicates.

distinct-n = unique n-grams / all n-grams (Li et al. 2016), over word tokens.
Near-duplicates: MinHash (64 multiply-shift permutations over xxhash'd word 3-grams) with LSH
banding finds candidate pairs; each pair is verified by its exact Jaccard similarity, so the share
is exact for the pairs LSH surfaces (the banding misses few pairs above 0.8).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import xxhash

_TOKEN = re.compile(r"\w+|[^\w\s]")
NUM_PERM = 64
BANDS = 16  # 16 bands x 4 rows: pairs above ~0.5 Jaccard become candidates
NEAR_DUPLICATE_JACCARD = 0.8


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float:
    total, unique = 0, set()
    for text in texts:
        words = tokens(text)
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return round(len(unique) / total, 4) if total else 0.0


def shingles(text: str, size: int = 3) -> set[str]:
    words = tokens(text)
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def _signatures(shingle_sets: Sequence[set[str]], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd: a bijection mod 2^64
    b = rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
    signatures = np.empty((len(shingle_sets), NUM_PERM), dtype=np.uint64)
    with np.errstate(over="ignore"):  # multiply-shift hashing relies on wrap-around
        for i, items in enumerate(shingle_sets):
            hashes = np.fromiter(
                (xxhash.xxh64_intdigest(s) for s in items), dtype=np.uint64, count=len(items)
            )
            signatures[i] = (hashes[:, None] * a + b).min(axis=0)
    return signatures


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD
) -> list[tuple[int, int]]:
    """Index pairs whose word-3-gram Jaccard similarity is at least ``threshold``."""
    sets = [shingles(t) for t in texts]
    signatures = _signatures(sets)
    rows = NUM_PERM // BANDS
    candidates: set[tuple[int, int]] = set()
    for band in range(BANDS):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for i, signature in enumerate(signatures[:, band * rows : (band + 1) * rows]):
            buckets[signature.tobytes()].append(i)
        for members in buckets.values():
            candidates.update((x, y) for k, x in enumerate(members) for y in members[k + 1 :])
    return sorted(
        (x, y) for x, y in candidates if len(sets[x] & sets[y]) >= threshold * len(sets[x] | sets[y])
    )


def diversity_report(
    texts: Sequence[str], near_duplicate_texts: Sequence[str] | None = None
) -> dict[str, float]:
    """distinct-1/2/3 of ``texts`` and the near-duplicate share of ``near_duplicate_texts``
    (defaults to ``texts``): the share of items with at least one near-duplicate elsewhere."""
    items = list(near_duplicate_texts if near_duplicate_texts is not None else texts)
    involved = {i for pair in near_duplicate_pairs(items) for i in pair}
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        "near_duplicate_share": round(len(involved) / len(items), 4) if items else 0.0,
        "near_duplicate_jaccard": NEAR_DUPLICATE_JACCARD,
    }
