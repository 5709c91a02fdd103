"""datatrove reader and writer for DOCUMENT_SCHEMA Parquet shards (raw, clean, deduped, pretrain).

A row becomes a datatrove ``Document``: ``text`` and ``id`` map across, every other column and
every key of the ``metadata`` JSON become ``doc.metadata`` entries. The writer reverses this:
schema columns come back from ``doc.metadata``, everything else (including what pipeline steps
annotated: language, cluster ids, drop reason) goes into the ``metadata`` JSON.
"""

from __future__ import annotations

import json
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import ParquetWriter

from dedup.schema import DOCUMENT_SCHEMA
from foundation.hashing import text_hash

COLUMNS = tuple(DOCUMENT_SCHEMA.names)
_META_COLUMNS = tuple(c for c in COLUMNS if c not in ("id", "text", "metadata", "content_hash"))
# Large raw payloads that must not travel past extraction into later layers.
DROPPED_METADATA_KEYS = frozenset({"html", "raw_html"})


def row_to_document(row: dict[str, Any]) -> dict[str, Any]:
    """A DOCUMENT_SCHEMA row as the keyword arguments of a datatrove ``Document``."""
    extra = row.get("metadata") or "{}"
    try:
        metadata = json.loads(extra) if isinstance(extra, str) else dict(extra)
    except json.JSONDecodeError:
        metadata = {"metadata_unparsed": extra}
    if not isinstance(metadata, dict):
        metadata = {"metadata_value": metadata}
    for column in _META_COLUMNS:
        metadata[column] = row.get(column)
    return {"text": row.get("text") or "", "id": row["id"], "metadata": metadata}


def document_to_row(doc: Document) -> dict[str, Any]:
    """The DOCUMENT_SCHEMA row for ``doc``; the content hash is recomputed from the final text."""
    metadata = dict(doc.metadata)
    row: dict[str, Any] = {column: metadata.pop(column, None) for column in _META_COLUMNS}
    for key in DROPPED_METADATA_KEYS:
        metadata.pop(key, None)
    row.update(
        id=doc.id,
        text=doc.text,
        content_hash=text_hash(doc.text),
        metadata=json.dumps(metadata, ensure_ascii=False, sort_keys=True, default=str),
        source=row["source"] or "unknown",
        source_file=row["source_file"] or "",
        input_sha256=row["input_sha256"] or "",
    )
    return row


class DocumentReader(ParquetReader):
    """Reads DOCUMENT_SCHEMA shards. Tasks split the files: rank r reads files r, r+N, ... in order.

    Rows with empty text are counted as ``empty_skipped`` (datatrove's readers skip them), so the
    count ledger still adds up. datatrove's ``file_path`` (the shard's absolute path) is not added:
    a layer's content must not depend on where the artifacts are or how tasks split the files.
    """

    name = "📒 Documents"

    def __init__(self, data_folder: str, glob_pattern: str = "**/*.parquet", **kwargs: Any) -> None:
        super().__init__(data_folder, glob_pattern=glob_pattern, **kwargs)
        self.add_file_path = False

    def _default_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
        return row_to_document(data)

    def get_document_from_dict(self, data: dict, source_file: str, id_in_file: int | str):
        document = super().get_document_from_dict(data, source_file, id_in_file)
        if document is None:
            self.stat_update("empty_skipped")
        return document


class DocumentWriter(ParquetWriter):
    """Writes DOCUMENT_SCHEMA shards (zstd), one file per task rank unless told otherwise.

    As an exclusion writer, ``reason`` is recorded as ``filter_reason`` for steps that drop
    without naming one (datatrove's dedup filters).
    """

    name = "📒 Documents"

    def __init__(
        self,
        output_folder: str,
        output_filename: str = "${rank}.parquet",
        reason: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.reason = reason
        super().__init__(
            output_folder,
            output_filename=output_filename,
            compression="zstd",
            schema=DOCUMENT_SCHEMA,
            **kwargs,
        )

    def _default_adapter(self, document: Document) -> dict:
        if self.reason:
            document.metadata.setdefault("filter_reason", self.reason)
        return document_to_row(document)
