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
    return distinct_ns(texts, (n,))[n]


def distinct_ns(texts: Sequence[str], ns: Sequence[int] = (1, 2, 3)) -> dict[int, float]:
    """distinct-n for several n in one pass over the tokens."""
    totals = dict.fromkeys(ns, 0)
    unique: dict[int, set] = {n: set() for n in ns}
    for text in texts:
        words = tokens(text)
        for n in ns:
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            totals[n] += len(grams)
            unique[n].update(grams)
    return {n: round(len(unique[n]) / totals[n], 4) if totals[n] else 0.0 for n in ns}


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
    items: Sequence[tuple[str, Sequence[str]]], groups: dict[str, Sequence[int]]
) -> dict[str, dict[str, float]]:
    """Per group of items: distinct-1/2/3 over the items' turns and the near-duplicate share (items
    with at least one near-duplicate inside the same group). ``items`` are (whole text, turns)."""
    pairs = near_duplicate_pairs([text for text, _ in items])
    report = {}
    for name, members in groups.items():
        member_set = set(members)
        involved = {i for pair in pairs if pair[0] in member_set and pair[1] in member_set for i in pair}
        distinct = distinct_ns([turn for i in members for turn in items[i][1]])
        report[name] = {
            **{f"distinct_{n}": value for n, value in distinct.items()},
            "near_duplicate_share": round(len(involved) / len(member_set), 4) if member_set else 0.0,
        }
    return report
