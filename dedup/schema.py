"""The one document schema every layer's Parquet shards share (raw, clean, deduped)."""

from __future__ import annotations

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
