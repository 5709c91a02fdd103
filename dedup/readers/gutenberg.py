"""Project Gutenberg plain-text books: one file, one record.

Strips the BOM, CRLF line endings, the Gutenberg header (up to ``*** START OF ...``) and the licence
footer (from ``*** END OF ...`` or ``End of the Project Gutenberg EBook``), keeping title and author.
Books whose header was already stripped (NLTK's copies start with ``[Title by Author Year]``) are
accepted as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dedup.readers.records import Document, Event, Quarantined, UndecodableText, decode_text
from dedup.readers.stream import Chunks, read_all

MAX_BOOK_BYTES = 64 * 1024 * 1024

_START = re.compile(
    r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK\b[^\n]*(?:\n[^\n*]*)?\*{3}[^\n]*\n",
    re.IGNORECASE | re.MULTILINE,
)
_END = re.compile(
    r"^\s*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the )?Project Gutenberg'?s?\b)",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_FIELD = re.compile(r"^(Title|Author|Release Date|Language):\s*(.+)$", re.MULTILINE)
# Transcriber credits ("Produced by ...") open many bodies; they are not the author's words.
_CREDITS = re.compile(r"\A\s*(?:Produced by|Transcribed from|E-text prepared by)\b.*?\n\s*\n", re.DOTALL)
_NLTK_TITLE = re.compile(r"^\[(?P<title>.+?) by (?P<author>.+?)(?: (?P<year>\d{4}))?\]\s*$")


def read_gutenberg(chunks: Chunks, name: str) -> Iterator[Event]:
    """Read one book file; ``name`` (the file name) is the fallback title."""
    data, gap, too_large = read_all(chunks, MAX_BOOK_BYTES)
    if too_large:
        yield Quarantined.of("file", "record_too_large", f"book over {MAX_BOOK_BYTES} bytes", data)
        return
    if gap is not None:
        yield Quarantined.of(f"compressed byte {gap.offset}", gap.reason, gap.detail, data[-2048:])
        return
    try:
        raw_text, encoding, replaced = decode_text(data)
    except UndecodableText as exc:
        yield Quarantined.of("file", "undecodable_text", str(exc), data)
        return
    yield parse_book(raw_text, name, encoding, replaced)


def parse_book(raw_text: str, name: str, encoding: str = "utf-8", replaced: int = 0) -> Document:
    """Split a Gutenberg text into header, body and footer; the body is the document."""
    text = raw_text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    fields: dict[str, str] = {}
    start = _START.search(text)
    if start:
        fields = {k.lower(): v.strip() for k, v in _HEADER_FIELD.findall(text[: start.start()])}
        body = text[start.end() :]
        layout = "gutenberg_full"
    else:
        body = text
        layout = "header_stripped"
    end = _END.search(body)
    if end:
        body = body[: end.start()]
    body = _CREDITS.sub("", body, count=1)
    title, author = fields.get("title"), fields.get("author")
    first_line, _, rest = body.lstrip("\n").partition("\n")
    nltk = _NLTK_TITLE.match(first_line.strip())
    if nltk and not start:
        title, author = nltk.group("title"), nltk.group("author")
        body = rest
    metadata = {
        "format": "gutenberg",
        "layout": layout,
        "author": author,
        "language": fields.get("language"),
        "release_date": fields.get("release date"),
        "encoding": encoding,
        "footer_stripped": bool(end),
    }
    return Document(
        key="book",
        text=body.strip("\n") + "\n" if body.strip() else "",
        title=title or name.rsplit(".", 1)[0],
        metadata=metadata,
        replaced_bytes=replaced,
    )
