"""The one document schema every layer's Parquet shards share (raw, clean, deduped)."""

from __future__ import annotations

import hashlib

import pyarrow as pa

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # stable: "<source>/<source_file>#<record index or key>"
        pa.field("source", pa.string(), nullable=False),  # web | books | reddit
        pa.field("source_file", pa.string(), nullable=False),  # path relative to the data root
        pa.field("url", pa.string()),
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("created", pa.timestamp("s", tz="UTC")),
        pa.field("metadata", pa.string()),  # JSON object: per-source fields (content type, parent_id, ...)
        pa.field("content_hash", pa.string(), nullable=False),  # sha256 of text
        pa.field("input_sha256", pa.string(), nullable=False),  # sha256 of the input file (lineage)
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("position", pa.string()),  # line number, byte offset or record index
        pa.field("reason", pa.string(), nullable=False),  # short machine-readable reason
        pa.field("detail", pa.string()),  # the error message
        pa.field("raw", pa.binary()),  # the bad bytes, truncated to a preview
        pa.field("input_sha256", pa.string(), nullable=False),
    ]
)


def text_hash(text: str) -> str:
    """Content hash of a document's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
