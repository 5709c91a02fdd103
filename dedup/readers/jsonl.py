"""JSON Lines underneath the web (Common Crawl / dolma / CCNet) and Reddit (pushshift) readers.

Each non-blank line is one record. A line that is not UTF-8, not JSON, not an object, over the
line limit, or cut by a gzip gap is quarantined; the lines around it are read as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson

from dedup.readers.records import Document, Event, Quarantined, raw_preview, utc_from_iso
from dedup.readers.stream import BadLine, Chunks, split_lines

MAX_LINE_BYTES = 8 * 1024 * 1024

RecordParser = Callable[[dict, int], Event]


def read_jsonl(chunks: Chunks, parse: RecordParser, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Event]:
    """One event per non-blank line: ``parse(record, line_number)`` or a quarantine entry."""
    for line in split_lines(chunks, max_line_bytes):
        if isinstance(line, BadLine):
            yield Quarantined.of(f"line {line.number}", line.reason, line.detail, line.preview)
            continue
        if not line.data.strip():
            continue
        try:
            line.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Quarantined.of(f"line {line.number}", "invalid_utf8", str(exc), line.data)
            continue
        try:
            record = orjson.loads(line.data)
        except orjson.JSONDecodeError as exc:
            yield Quarantined.of(f"line {line.number}", "malformed_json", str(exc), line.data)
            continue
        if not isinstance(record, dict):
            yield Quarantined.of(f"line {line.number}", "not_an_object", type(record).__name__, line.data)
            continue
        yield parse(record, line.number)


def web_document(record: dict, line_number: int) -> Event:
    """A Common Crawl document: dolma (``text``, ``metadata.warc_url``) or CCNet (``url``, ``title``)."""
    text = record.get("text")
    if not isinstance(text, str):
        return Quarantined.of(
            f"line {line_number}", "missing_field", "no string 'text'", raw_preview(record)
        )
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    url = metadata.get("warc_url") or record.get("warc_url") or metadata.get("url") or record.get("url")
    if not url and str(record.get("id", "")).startswith(("http://", "https://")):
        url = record["id"]
    extra = {k: v for k, v in metadata.items() if k not in ("warc_url", "url", "title")}
    return Document(
        key=f"line{line_number}",
        position=f"line {line_number}",
        text=text,
        url=url,
        title=metadata.get("title") or record.get("title"),
        created=utc_from_iso(record.get("created") or metadata.get("warc_date")),
        metadata={
            "format": "cc_jsonl",
            "content_type": metadata.get("content_type", "text/plain"),
            "source_id": record.get("id"),
            "origin": record.get("source"),
            **extra,
        },
    )
