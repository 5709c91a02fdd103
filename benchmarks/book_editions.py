"""Other editions of the sample's books, made from the sample's own text (nothing is downloaded).

The sample holds two real editions of three novels (Emma, Moby Dick, Sense and Sensibility:
``gutenberg_full`` and ``nltk_gutenberg``). For the books it holds once, :func:`other_edition`
writes what another publisher's edition of the same text looks like: another chapter-heading
style (``CHAPTER I.`` / ``Chapter 1`` / ``I.``, the title on its own line), lines wrapped at
another width, straight instead of curly quotes (or the reverse) and, for an illustrated edition,
``[Illustration: ...]`` captions quoting the text (each with a nested ``[_Copyright 1894 by
George Allen._]``), the same copyright line repeated on its own under plates, a list of
illustrations and a preface by another author.

The preface's prose is made of sentences drawn from other books, a few from each, so it is no
near-duplicate of any one of them, as a real preface is not.
"""

from __future__ import annotations

import random
import re
import textwrap
from dataclasses import dataclass

from dedup.books import chunk_paragraphs, clean_book, split_paragraphs, strip_gutenberg
from dedup.minhash import normalised_words

ROMAN = (
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
)  # fmt: skip
_HEADING = re.compile(r"^(?:CHAPTER|Chapter)\s+([0-9]+|[IVXLC]+)\b[.:]?\s*(.*)$")
_BARE_NUMBER = re.compile(r"^([0-9]{1,3})$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z“\"])")
COPYRIGHT = "[_Copyright 1894 by George Allen._]"


def to_roman(number: int) -> str:
    out = []
    for value, letters in ROMAN:
        while number >= value:
            out.append(letters)
            number -= value
    return "".join(out)


def from_roman(numeral: str) -> int:
    values = [dict((letters, value) for value, letters in ROMAN)[letter] for letter in numeral]
    return sum(-v if v < following else v for v, following in zip(values, [*values[1:], 0], strict=True))


@dataclass(frozen=True)
class Edition:
    """How the other edition is laid out."""

    heading: str = "roman"  # roman: "CHAPTER IV.", arabic: "Chapter 4", bare: "IV."
    width: int = 60  # line width of the wrapped text
    quotes: str = "straight"  # straight or curly
    illustrations: int = 0  # captions spread over the book
    preface_chars: int = 0  # length of the preface by another author (0: none)


# The illustrated Pride and Prejudice the issue describes: 71 plates, a preface by another author.
ILLUSTRATED = Edition(heading="roman", width=64, quotes="straight", illustrations=71, preface_chars=30_000)


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n[ \t]*\n", strip_gutenberg(text)) if p.strip()]


def _heading(number: int, style: str) -> str:
    styles = {
        "roman": f"CHAPTER {to_roman(number)}.",
        "arabic": f"Chapter {number}",
        "bare": f"{to_roman(number)}.",
    }
    return styles[style]


def _restyle_headings(paragraphs: list[str], style: str) -> list[str]:
    out: list[str] = []
    for paragraph in paragraphs:
        found = _HEADING.match(paragraph) or _BARE_NUMBER.match(paragraph)
        if not found or len(paragraph) > 80:
            out.append(paragraph)
            continue
        number = found.group(1)
        out.append(_heading(int(number) if number.isdigit() else from_roman(number), style))
        title = found.group(2) if found.re is _HEADING else ""
        if title:
            out.append(title)  # the chapter title on a line of its own
    return out


def _quotes(text: str, style: str) -> str:
    if style == "straight":
        return text.translate(str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"}))
    text = re.sub(r'"(?=\w)', "“", text)
    return text.replace('"', "”")


def _preface(sources: list[str], chars: int, rng: random.Random) -> list[str]:
    """Paragraphs of about ``chars`` characters, sentences drawn a few at a time from many books."""
    sentences = [
        s for text in sources for s in _SENTENCE.split(" ".join(_paragraphs(text))) if 40 < len(s) < 300
    ]
    paragraphs, size = [], 0
    while size < chars:
        paragraph = " ".join(rng.sample(sentences, 5))
        paragraphs.append(paragraph)
        size += len(paragraph)
    return ["PREFACE.", *paragraphs, "GEORGE SAINTSBURY."]


def other_edition(text: str, edition: Edition, preface_sources: list[str] = (), seed: int = 0) -> str:
    """The book ``text`` (a Gutenberg file) as another edition would print it."""
    rng = random.Random(seed)
    paragraphs = _restyle_headings(_paragraphs(text), edition.heading)
    first_chapter = next(
        (i for i, p in enumerate(paragraphs) if p.startswith(("CHAPTER", "Chapter")) or p == "I."), 0
    )
    body, front = paragraphs[first_chapter:], paragraphs[:first_chapter]
    captions = []
    if edition.illustrations:
        step = max(2, len(body) // edition.illustrations)
        illustrated: list[str] = []
        for i, paragraph in enumerate(body):
            illustrated.append(paragraph)
            if i % step == step - 1 and len(captions) < edition.illustrations:
                quote = " ".join(paragraph.split()[:8]).strip(",;:")
                captions.append(quote)
                illustrated.append(f"[Illustration:\n\n“{quote}”\n\n{COPYRIGHT}]")
                if len(captions) % 3 == 0:
                    illustrated.append(COPYRIGHT)  # the plate's copyright line again, on its own
        body = illustrated
        front += ["LIST OF ILLUSTRATIONS", *(f"“{c}” .... {10 + 7 * i}" for i, c in enumerate(captions))]
    if edition.preface_chars:
        front += _preface(list(preface_sources), edition.preface_chars, rng)
    wrapped = [
        p if p.startswith("[Illustration") else textwrap.fill(p, width=edition.width) for p in front + body
    ]
    return _quotes("\n\n".join(wrapped), edition.quotes) + "\n"


def chunk_texts(text: str, min_chars: int = 6000, max_chars: int = 20000) -> list[str]:
    """The chunks the clean layer makes of a book file."""
    cleaned, _ = clean_book(text)
    return ["\n\n".join(c) for c in chunk_paragraphs(split_paragraphs(cleaned), min_chars, max_chars)]


def shingle_set(text: str, n: int = 5) -> set[str]:
    """The 5-word shingles MinHash estimates the Jaccard similarity of (normalised words)."""
    words = normalised_words(text)
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def paired_chunks(first: str, second: str, bar: float = 0.75) -> tuple[int, int]:
    """(chunks of the ``second`` edition whose best match in the ``first`` reaches ``bar``, chunks)."""
    firsts = [shingle_set(c) for c in chunk_texts(first)]
    seconds = [shingle_set(c) for c in chunk_texts(second)]
    return sum(max(jaccard(s, f) for f in firsts) >= bar for s in seconds), len(seconds)
