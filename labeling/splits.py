"""Deterministic train/validation/test splits from a hash of the (normalised) text.

The same text always lands in the same split, whatever source or run it comes from, so no text
can appear in two splits and adding a source never moves existing examples.
"""

from __future__ import annotations

import hashlib
import re

SPLITS: tuple[str, ...] = ("train", "validation", "test")
# Percent of the hash space per split.
SPLIT_PERCENT: dict[str, int] = {"train": 80, "validation": 10, "test": 10}

_NON_WORD = re.compile(r"[\W_]+")


def text_key(text: str) -> str:
    """Case, punctuation and spacing folded: 'Thank you!' and 'thank you .' are the same text."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def split_of(text: str) -> str:
    bucket = int.from_bytes(hashlib.sha256(text_key(text).encode("utf-8")).digest()[:8], "big") % 100
    upper = 0
    for split in SPLITS:
        upper += SPLIT_PERCENT[split]
        if bucket < upper:
            return split
    raise AssertionError("split percentages must sum to 100")
