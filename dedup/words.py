"""A regex word/sentence tokenizer for datatrove's quality filters.

datatrove tokenizes English with spaCy for the Gopher, C4 and FineWeb filters; on this sample
that tokenization is most of the web pipeline's time. This tokenizer splits the way spaCy does
for the cases the filters count (words, punctuation marks as their own tokens, clitics such as
``n't`` / ``'s``, sentences ending in ``.!?``) at regex speed. ``CleanConfig.word_tokenizer``
switches back to spaCy; ``benchmarks/dedup_throughput.py`` reports how often the two disagree.
"""

from __future__ import annotations

import re

from datatrove.utils.word_tokenizers import WordTokenizer

_TOKEN = re.compile(r"\w+(?=n't\b)|n't\b|'(?:s|re|ve|ll|d|m)\b|\w+(?:[-.]\w+)*|\.{2,}|[^\w\s]", re.I)
_SENTENCE = re.compile(r"\S.*?(?:[.!?]+[\"'”’)\]]*(?=\s|$)|$)", re.S)


class RegexWordTokenizer(WordTokenizer):
    def __init__(self) -> None:
        super().__init__("en")

    def word_tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [m.group(0).strip() for m in _SENTENCE.finditer(text)]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _SENTENCE.finditer(text)]

    # One instance per process is enough; equal instances let datatrove's caches hit.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegexWordTokenizer)

    def __hash__(self) -> int:
        return hash(RegexWordTokenizer)
