"""Is a reply well formed? The check ``model_eval`` reports over replies to held-out prompts.

A reply is well formed when all of these hold (``problems`` names the ones that fail). The
reference is the text Rosie was trained on: the pretraining corpus and her personality train split.

- ``empty``: it has at least one word;
- ``unknown_words``: at least 90% of its words occur in the reference: an undertrained model
  writes broken sub-word runs ("ocurous", "wonderr");
- ``word_salad``: at least one in five of its word triples occurs in the reference. Real replies,
  even about new facts, reuse common triples ("do you know", "i love it"); a model that has words
  but no grammar strings them at random ("I live a an the same?" has none);
- ``repeated_word``: no word three times in a row ("I I I", "the the the");
- ``unfinished``: it ends a sentence: after closing quotes and brackets, its last character is one
  of ``. ! ? ~ …`` or an emoji (Rosie often closes with one); a reply cut by the token budget, mid
  sentence, does not.

Words are lowercased runs of letters with inner apostrophes (``don't``, ``rosie's``). On the
sample, 93% of the personality test split's own Rosie turns pass (the bar a model can reach).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

MIN_KNOWN_WORD_SHARE = 0.9
MIN_KNOWN_TRIPLE_SHARE = 0.2
REPEAT_RUN = 3
SENTENCE_ENDS = ".!?~…"

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_CLOSERS = set(" \t\n\"')]}*»”’")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _triples(found: list[str]) -> list[int]:
    return [hash(triple) for triple in zip(found, found[1:], found[2:], strict=False)]


@dataclass(frozen=True)
class Reference:
    """The reference text as the check needs it: its words, and its word triples (hashed, sorted)."""

    words: frozenset[str]
    triples: np.ndarray

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Reference:
        known: set[str] = set()
        triples: list[np.ndarray] = []
        for text in texts:
            found = words(text)
            known.update(found)
            triples.append(np.asarray(_triples(found), dtype=np.int64))
        return cls(frozenset(known), np.unique(np.concatenate(triples)) if triples else np.zeros(0, np.int64))

    def known_triple_share(self, found: list[str]) -> float:
        hashes = np.asarray(_triples(found), dtype=np.int64)
        if not hashes.size:
            return 1.0  # under three words: nothing to judge
        at = np.minimum(np.searchsorted(self.triples, hashes), max(self.triples.size - 1, 0))
        return float((self.triples[at] == hashes).mean()) if self.triples.size else 0.0


def _ends_a_sentence(text: str) -> bool:
    end = len(text)
    while end and text[end - 1] in _CLOSERS:
        end -= 1
    last = text[end - 1] if end else ""
    emoji = bool(last) and not last.isascii() and not last.isalnum()  # symbols, emoji, their modifiers
    return last in SENTENCE_ENDS or emoji


def problems(text: str, reference: Reference) -> list[str]:
    """The checks ``text`` fails (empty list: well formed)."""
    found = words(text)
    if not found:
        return ["empty"]
    failed = []
    if sum(word in reference.words for word in found) < MIN_KNOWN_WORD_SHARE * len(found):
        failed.append("unknown_words")
    if reference.known_triple_share(found) < MIN_KNOWN_TRIPLE_SHARE:
        failed.append("word_salad")
    if any(len(set(found[i : i + REPEAT_RUN])) == 1 for i in range(len(found) - REPEAT_RUN + 1)):
        failed.append("repeated_word")
    if not _ends_a_sentence(text.strip()):
        failed.append("unfinished")
    return failed
