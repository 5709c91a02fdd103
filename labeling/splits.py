"""Train/validation/test splits: one per source item, from a hash of its name, for every dataset.

A source item is what a text came from, whole: a dialogue (Topical-Chat, DailyDialog,
EmpatheticDialogues, Persona-Chat, ...), a GoEmotions comment, an ISEAR questionnaire row, a Reddit
comment tree, a generated conversation. The emotion and personality datasets both read Topical-Chat
(and the chit-chat corpora); because both call :func:`split_of` on the same :func:`item_key`, every
turn of a dialogue lands in the same split in both datasets: no reply the model trains on in one
dataset is scored in the other. Adding a source never moves existing examples.
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


def item_key(source: str, item: str) -> str:
    """The name of a source item, as the datasets' ``source_item`` column holds it."""
    return f"{source}:{item}"


def split_of(key: str) -> str:
    """The split of the source item named ``key`` (:func:`item_key`)."""
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 100
    upper = 0
    for split in SPLITS:
        upper += SPLIT_PERCENT[split]
        if bucket < upper:
            return split
    raise AssertionError("split percentages must sum to 100")
