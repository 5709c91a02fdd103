"""Appropriate-content filter: profanity/NSFW share with a per-source threshold; slurs always dropped.

Word lists live in ``dedup/wordlists/`` as keyed hashes (see its README), so no offensive word is
stored in the repository as plain text. datatrove's bundled adult-term list (shipped in its wheel)
is added to the profanity list.
"""

from __future__ import annotations

import functools
import hashlib
import re
from functools import lru_cache
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils._import_utils import ASSETS_PATH

WORDLIST_DIR = Path(__file__).parent / "wordlists"
_KEY = b"rosie-wordlist"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def word_digest(word: str) -> str:
    """The stored form of a word list entry: keyed BLAKE2b-64 of the lower-cased word."""
    return hashlib.blake2b(word.lower().encode("utf-8"), digest_size=8, key=_KEY).hexdigest()


def load_digests(name: str) -> frozenset[str]:
    lines = (WORDLIST_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _datatrove_adult_terms() -> frozenset[str]:
    lines = (Path(ASSETS_PATH) / "banned_words.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(word_digest(w.strip()) for w in lines if w.strip() and not w.startswith("#"))


@functools.cache
def shared_scorer() -> ContentScorer:
    """One scorer (and word cache) per process, shared by every task that process runs."""
    return ContentScorer()


class ContentScorer:
    """Counts profane/NSFW words and slurs in a text (hash lookups, cached per distinct word)."""

    def __init__(self) -> None:
        self.profanity = load_digests("profanity") | _datatrove_adult_terms()
        self.slurs = load_digests("slurs")
        self._classify = lru_cache(maxsize=200_000)(self._classify_word)

    def _classify_word(self, word: str) -> int:
        digest = word_digest(word)
        return 2 if digest in self.slurs else 1 if digest in self.profanity else 0

    def score(self, text: str) -> tuple[int, int, int]:
        """(words, profane words, slurs)."""
        words = _WORD.findall(text.lower())
        profane = slurs = 0
        for word in words:
            kind = self._classify(word)
            profane += kind == 1
            slurs += kind == 2
        return len(words), profane, slurs


class ContentFilter(BaseFilter):
    """Drops documents with any slur, or with a profanity share above ``max_ratio``."""

    name = "🧼 Appropriate content"

    def __init__(self, max_ratio: float, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.max_ratio = max_ratio

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        words, profane, slurs = shared_scorer().score(doc.text)
        if slurs:
            return False, "slur"
        ratio = profane / words if words else 0.0
        doc.metadata["profanity_ratio"] = round(ratio, 5)
        if ratio > self.max_ratio:
            return False, "profanity"
        return True
