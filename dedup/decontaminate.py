"""Decontamination: drop training documents that share an n-gram (13 words) with evaluation texts.

The caller passes the evaluation texts explicitly (``labeling.datasets.evaluation_texts``, which
fails when the datasets are not built). An explicitly empty list passes everything through,
counted as ``no_evaluation_texts``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import xxhash
from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

_WORD = re.compile(r"\w+")


def ngram_hashes(text: str, n: int) -> set[int]:
    """64-bit hashes of the lower-cased word n-grams of ``text``."""
    words = _WORD.findall(text.lower())
    return {xxhash.xxh64_intdigest(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


class Decontaminate(BaseFilter):
    """Drops documents sharing any ``n``-gram with ``evaluation_texts`` (reason ``eval_overlap``)."""

    name = "🧪 Decontamination"

    def __init__(
        self,
        evaluation_texts: Iterable[str],
        n: int = 13,
        exclusion_writer: DiskWriter | None = None,
    ) -> None:
        super().__init__(exclusion_writer)
        self.n = n
        self.index: frozenset[int] = frozenset().union(*(ngram_hashes(t, n) for t in evaluation_texts))

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not self.index:
            self.stat_update("no_evaluation_texts")
            return True
        words = _WORD.findall(doc.text.lower())
        for i in range(len(words) - self.n + 1):
            if xxhash.xxh64_intdigest(" ".join(words[i : i + self.n])) in self.index:
                return False, "eval_overlap"
        return True
