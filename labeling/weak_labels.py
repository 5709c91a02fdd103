"""Weak emotion labels from the NRC Emotion Lexicon shipped in the ``nrclex`` PyPI package.

``nrclex``'s own ``load_raw_text`` needs TextBlob and NLTK corpora downloaded at run time; we
tokenise ourselves (a regex and a small suffix-stripping lemmatiser) and feed tokens to
``NRCLex.load_token_list``, so nothing is downloaded.

Confidence of a label = share of the text's emotion-word hits that vote for it. A label is kept
only when the text has at least ``min_hits`` votes for it, it wins outright, its confidence
reaches ``threshold``, and the lexicon's polarity words do not contradict it (a "happy" text with
more negative than positive words is dropped).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from nrclex import NRCLex

from labeling.mappings import NRC_LEXICON

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_SUFFIXES = ("iest", "ies", "ied", "ing", "ed", "es", "ly", "s", "d")
_NEGATIONS = frozenset(
    {"not", "no", "never", "don't", "doesn't", "didn't", "isn't", "wasn't", "can't", "won't"}
)
_POSITIVE_LABELS = frozenset({"happy", "excited", "affectionate"})
_NEGATIVE_LABELS = frozenset({"sad", "angry", "scared", "disgusted"})

DEFAULT_THRESHOLD = 0.6
DEFAULT_MIN_HITS = 2


@dataclass(frozen=True)
class WeakLabel:
    label: str
    source_label: str  # the NRC category that won
    confidence: float
    hits: int


class LexiconLabeller:
    """Labels text with the NRC lexicon; returns None when the evidence is below the threshold."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, min_hits: int = DEFAULT_MIN_HITS) -> None:
        self.threshold = threshold
        self.min_hits = min_hits
        self._nrc = NRCLex(None)  # the bundled lexicon file, no download
        self._lexicon: dict[str, list[str]] = self._nrc.__lexicon__

    def lemmas(self, text: str) -> list[str]:
        """Lower-cased words reduced to a lexicon entry where a suffix strip finds one.

        A word right after a negation ("not happy") is skipped: the lexicon cannot flip it.
        """
        out: list[str] = []
        negated = False
        for word in _WORD.findall(text.lower()):
            if word in _NEGATIONS:
                negated = True
                continue
            if not negated:
                out.append(self._lemma(word))
            negated = False
        return out

    def _lemma(self, word: str) -> str:
        if word in self._lexicon:
            return word
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                stem = word[: -len(suffix)]
                for candidate in (stem, stem + "e", stem + "y"):
                    if candidate in self._lexicon:
                        return candidate
        return word

    def label(self, text: str) -> WeakLabel | None:
        self._nrc.load_token_list(self.lemmas(text))
        scores: Counter[str] = Counter(self._nrc.raw_emotion_scores)
        votes = Counter(
            {category: n for category, n in scores.items() if NRC_LEXICON.map(category) is not None}
        )
        if not votes:
            return None
        (category, top), *rest = votes.most_common(2) + [("", 0)]
        total = sum(votes.values())
        confidence = top / total
        if top < self.min_hits or rest[0][1] == top or confidence < self.threshold:
            return None
        label = NRC_LEXICON.map(category)
        positive, negative = scores.get("positive", 0), scores.get("negative", 0)
        if (label in _POSITIVE_LABELS and negative > positive) or (
            label in _NEGATIVE_LABELS and positive > negative
        ):
            return None
        return WeakLabel(label, category, round(confidence, 4), top)
