"""Books: Gutenberg boilerplate and front-matter removal, edition noise removal, paragraph
normalisation, and chunking into training-sized documents at chapter and paragraph boundaries.

What one edition has and another lacks is removed wherever it stands: ``[Illustration: ...]``
captions (nested brackets and blank lines included) and copyright lines ("Copyright 1894 by
George Allen.", repeated under every plate of an illustrated edition).

Chunk boundaries follow the text, not the edition: a chapter heading (``CHAPTER I.``,
``Chapter 1``, ``CHAPTER 1. Loomings.``, ``STAVE ONE``, a bare ``XII`` or ``12``, ``PREFACE``)
starts a new chunk once the current one holds ``min_chars``; inside a chapter a chunk may end after
a paragraph once it holds ``min_chars``, and does end there when the paragraph's hash hits a fixed
residue (or at ``max_chars``). Two editions that differ in front matter, a preface, heading style,
captions, line wrapping or spacing therefore cut at the same places, and their chunks pair up as
near-duplicates; a preface only one edition has stays in chunks of its own.
"""

from __future__ import annotations

import re
import unicodedata
import zlib

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

_START = re.compile(r"^\*{3}\s*START OF (THIS|THE) PROJECT GUTENBERG.*$", re.I | re.M)
_END = re.compile(
    r"^(\*{3}\s*END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg)",
    re.I | re.M,
)
_BOILERPLATE_PARAGRAPH = re.compile(
    r"^\s*(\[?(produced|prepared|transcribed|e-?text prepared) (by|from)\b|this e-?book is for the use of"
    r"|special thanks\b|\[illustration[^\]]*\]$|\[?end of (the )?project gutenberg)",
    re.I,
)
_TRANSCRIBER = re.compile(r"^\s*\[?\s*(original\s+)?(transcriber|preparer)[’']?s?\s+notes?\b", re.I)
_CHAPTER_ENTRY = re.compile(r"^\s*(chapter|book|part|volume|canto|act|letter|[ivxlc]+\.|\d+\.)\s", re.I)
_CONTENTS = re.compile(r"^\s*((table of )?contents|list of (illustrations|plates))[.:]?\s*$", re.I)
_NLTK_TITLE = re.compile(r"^\[[^\]]{3,120}\]$")  # nltk's "[Emma by Jane Austen 1816]"
_ITALICS = re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)")
_ILLUSTRATION = re.compile(r"\[\s*_?(illustration|frontispiece)", re.I)
_ILLUSTRATION_MAX_CHARS = 2000  # a caption block is short; an unclosed bracket must not eat the book
_COPYRIGHT_LINE = re.compile(r"^[ \t\[(_]*copyright\b[^\n]{0,100}\n?", re.I | re.M)
_NUMBERING = (
    r"(\d{1,3}|[ivxlcdm]{1,8}|(the\s+)?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth"
    r"|last|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve))\b"
)
_CHAPTER_HEADING = re.compile(
    rf"^((chapter|chap\.|book|part|volume|vol\.|letter|stave|canto|act)\s+{_NUMBERING}"
    r"|(preface|introduction|foreword|prologue|epilogue|etymology|extracts)\b[^a-z]*$)",
    re.I,
)
_BARE_NUMBER = re.compile(r"^([IVXLCDM]{1,8}|\d{1,3})\.?$")  # "XII." or "12" alone on its line
_SPACES = re.compile(r"[ \t\u00a0]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# Front matter (title page, contents, notes) sits in the first part of a book.
FRONT_MATTER_SHARE = 0.15
_HEADING_MAX_CHARS = 60
_CHAPTER_HEADING_MAX_CHARS = 120
_FINGERPRINT_CHARS = 48
_TOC_MAX_AVG_LINE = 50
_TOC_MAX_LINE = 80
_TOC_MAX_ENTRY = 300
_VERSE_MAX_AVG_LINE = 48
_NOTE_MAX_PARAGRAPHS = 10


def strip_gutenberg(text: str) -> str:
    """Text between the ``*** START OF`` and ``*** END OF`` markers (whole text when absent)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    start = _START.search(text)
    if start:
        text = text[start.end() :]
    end = _END.search(text)
    if end:
        text = text[: end.start()]
    return text


def strip_illustrations(text: str) -> str:
    """Text without ``[Illustration ...]`` blocks (brackets may nest and span paragraphs)."""
    parts, position = [], 0
    for found in _ILLUSTRATION.finditer(text):
        if found.start() < position:
            continue  # inside a block already removed
        depth, end = 0, found.start()
        limit = min(len(text), found.start() + _ILLUSTRATION_MAX_CHARS)
        while end < limit:
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            end += 1
            if depth == 0:
                break
        if depth:
            continue  # unbalanced: leave it
        parts.append(text[position : found.start()])
        position = end
    return "".join(parts) + text[position:]


def strip_edition_noise(text: str) -> str:
    """Illustration captions and copyright lines removed (see the module docstring)."""
    return _COPYRIGHT_LINE.sub("", strip_illustrations(text))


def split_paragraphs(text: str) -> list[str]:
    return [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]


def _lines(paragraph: str) -> list[str]:
    return [line.strip() for line in paragraph.split("\n") if line.strip()]


def _is_heading(paragraph: str) -> bool:
    lines = _lines(paragraph)
    return len(lines) == 1 and len(lines[0]) <= _HEADING_MAX_CHARS


def _is_toc_entry(paragraph: str) -> bool:
    """A short line (or block of short lines) that is not itself a note or boilerplate."""
    if _TRANSCRIBER.match(paragraph) or _BOILERPLATE_PARAGRAPH.match(paragraph):
        return False
    lines = _lines(paragraph)
    if _CHAPTER_ENTRY.match(paragraph):
        return len(paragraph) <= _TOC_MAX_ENTRY
    if len(lines) == 1:
        return len(lines[0]) <= _TOC_MAX_LINE
    return bool(lines) and sum(map(len, lines)) / len(lines) <= _TOC_MAX_AVG_LINE


def remove_front_matter(paragraphs: list[str]) -> tuple[list[str], int]:
    """Drops boilerplate, tables of contents and transcriber notes from the front of a book.

    Returns the kept paragraphs and how many were removed.
    """
    limit = max(20, int(len(paragraphs) * FRONT_MATTER_SHARE))
    kept: list[str] = []
    i = 0
    while i < len(paragraphs):
        paragraph = paragraphs[i]
        in_front = i < limit
        if _BOILERPLATE_PARAGRAPH.match(paragraph) or (in_front and _NLTK_TITLE.match(paragraph.strip())):
            i += 1
        elif in_front and _CONTENTS.match(paragraph):
            i += 1  # the heading, then its entries: short list-like paragraphs
            while i < len(paragraphs) and i < limit and _is_toc_entry(paragraphs[i]):
                i += 1
        elif _TRANSCRIBER.match(paragraph):
            i += 1
            if _is_heading(paragraph):  # a "Transcriber's Notes:" heading: its body runs to the next heading
                body_end = min(len(paragraphs), i + _NOTE_MAX_PARAGRAPHS)
                while i < body_end and not _is_heading(paragraphs[i]):
                    i += 1
        else:
            kept.append(paragraph)
            i += 1
    return kept, len(paragraphs) - len(kept)


def normalise_paragraph(paragraph: str) -> str:
    """One paragraph as one line (prose) or short lines kept (verse); italics marks and spacing unified."""
    paragraph = unicodedata.normalize("NFC", _ITALICS.sub(r"\1", paragraph))
    lines = [_SPACES.sub(" ", line).strip() for line in _lines(paragraph)]
    if len(lines) > 1 and sum(map(len, lines)) / len(lines) <= _VERSE_MAX_AVG_LINE:
        return "\n".join(lines)
    return " ".join(lines)


def clean_book(text: str) -> tuple[str, int]:
    """Book text with boilerplate, edition noise and front matter removed, one blank line between
    paragraphs."""
    paragraphs, removed = remove_front_matter(split_paragraphs(strip_edition_noise(strip_gutenberg(text))))
    return "\n\n".join(filter(None, map(normalise_paragraph, paragraphs))), removed


class BookCleaner(BaseFilter):
    """Cleans each book in place; a book left empty goes to the exclusion writer."""

    name = "📖 Book cleaner"

    def __init__(self, min_chars: int = 500, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.min_chars = min_chars

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        doc.text, removed = clean_book(doc.text)
        self.stat_update("front_matter_paragraphs", value=removed)
        if len(doc.text) < self.min_chars:
            return False, "book_too_short"
        return True


def _letters_and_digits(paragraph: str) -> str:
    """What two editions of a paragraph share: quotes, dashes, spacing and case differ."""
    return _NOT_ALNUM.sub("", paragraph.lower())


def _cut_fingerprint(content: str) -> int:
    """Hash of a paragraph's opening letters: a typo further on (editions have them) leaves the
    cut decision alone."""
    return zlib.crc32(content[:_FINGERPRINT_CHARS].encode())


def is_chapter_heading(paragraph: str) -> bool:
    """A short paragraph whose first line names a chapter, part, preface, ... or is a bare number."""
    first = paragraph.lstrip().split("\n", 1)[0].strip()
    if len(paragraph) > _CHAPTER_HEADING_MAX_CHARS:
        return False
    return bool(_CHAPTER_HEADING.match(first) or _BARE_NUMBER.match(first))


def chunk_paragraphs(
    paragraphs: list[str], min_chars: int, max_chars: int, divisor: int = 4
) -> list[list[str]]:
    """Chunks of whole paragraphs, cut at chapter headings and content-defined inside chapters
    (see the module docstring). Sizes count letters and digits only, so punctuation, quotes,
    dashes and line breaks, which editions style differently, never move a cut."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        heading = is_chapter_heading(paragraph)
        if heading and size >= min_chars:
            chunks.append(current)
            current, size = [], 0
        content = _letters_and_digits(paragraph)
        size += len(content)
        current.append(paragraph)
        if heading:
            continue  # a heading begins a chunk, it never ends one
        if size >= max_chars or (size >= min_chars and _cut_fingerprint(content) % divisor == 0):
            chunks.append(current)
            current, size = [], 0
    if current:
        if chunks and size < min_chars // 2:
            chunks[-1].extend(current)  # a short tail joins the previous chunk
        else:
            chunks.append(current)
    return chunks


class BookChunker(PipelineStep):
    """Splits each cleaned book into training-sized documents ``<book id>#c<index>``."""

    type = "✂️ - SPLIT"
    name = "📚 Book chunker"

    def __init__(self, min_chars: int = 6000, max_chars: int = 20000) -> None:
        super().__init__()
        self.min_chars = min_chars
        self.max_chars = max_chars

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for book in data:
            self.stat_update("books")
            with self.track_time():
                chunks = chunk_paragraphs(split_paragraphs(book.text), self.min_chars, self.max_chars)
            for index, paragraphs in enumerate(chunks):
                self.stat_update("chunks")
                metadata = dict(book.metadata, book_id=book.id, chunk_index=index, chunk_count=len(chunks))
                yield Document(text="\n\n".join(paragraphs), id=f"{book.id}#c{index:04d}", metadata=metadata)
