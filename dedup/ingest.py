"""Raw ingestion: one input file in, one Parquet shard (DOCUMENT_SCHEMA) and its quarantine out.

Runnable without Dagster (``assets/ingest.py`` is a thin wrapper). The input is read once, through
fsspec, so the data root can be a local folder or an object store; its sha256 is computed on the
way and stored in every row for lineage.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from dedup.readers import Document, Quarantined, Skipped, inflate_chunks, reader_for
from dedup.readers.records import raw_preview
from dedup.schema import DOCUMENT_SCHEMA
from foundation.atomic import atomic_path
from foundation.data_root import DataRoot
from foundation.hashing import text_hash
from foundation.layout import SOURCES
from foundation.quarantine import QUARANTINE_SCHEMA
from foundation.settings import Settings

BATCH_ROWS = 2000  # rows buffered before a Parquet row group is written: bounds memory on huge files


@dataclass
class IngestResult:
    """What one file produced; ``records_in == kept + sum(skipped) + sum(quarantined)``."""

    source: str
    source_file: str
    format: str
    input_sha256: str
    input_bytes: int
    shard: str
    shard_bytes: int
    quarantine_file: str | None
    records_in: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    replaced_bytes: int = 0  # invalid bytes replaced by U+FFFD in kept documents
    seconds: float = 0.0
    reused: bool = False  # unchanged input (same sha256): the existing shard was kept, not rewritten

    @property
    def balanced(self) -> bool:
        return self.records_in == self.kept + sum(self.skipped.values()) + sum(self.quarantined.values())

    def to_row(self) -> dict:
        row = asdict(self)
        del row["reused"]
        row["skipped"] = orjson.dumps(self.skipped).decode()
        row["quarantined"] = orjson.dumps(self.quarantined).decode()
        row["skipped_total"] = sum(self.skipped.values())
        row["quarantined_total"] = sum(self.quarantined.values())
        return row

    @classmethod
    def from_row(cls, row: dict) -> IngestResult:
        """Back from an ``ingest_stats`` row (the inverse of ``to_row``)."""
        fields = {name: row[name] for name in cls.__dataclass_fields__ if name in row}
        for name in ("skipped", "quarantined"):
            value = fields.get(name) or "{}"
            fields[name] = orjson.loads(value) if isinstance(value, str | bytes) else dict(value)
        return cls(**fields)


def discover(data_root: str) -> dict[str, list[str]]:
    """Every ingestible file under the data root, by source, as sorted paths relative to the root."""
    root = DataRoot(data_root)
    return {
        source: [path for path in root.find(source) if reader_for(path) is not None] for source in SOURCES
    }


class _ShardWriter:
    """Buffers rows and writes Parquet row groups to a temporary file (renamed by ``atomic_path``)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._schema = schema
        self._rows: list[dict] = []

    def add(self, row: dict) -> None:
        self._rows.append(row)
        if len(self._rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self.flush()
        self._writer.close()


def ingest_file(settings: Settings, source_file: str, previous: IngestResult | None = None) -> IngestResult:
    """Read ``source_file`` (relative to the data root) into its raw shard and quarantine file.

    ``previous`` is the file's last result (``ingest_stats``): when the input's sha256 and reader
    are the same and the shard is still there, the file is not read again and ``previous`` comes
    back marked ``reused``, so a daily refresh only reads new and changed files. A bad record never
    raises (it is quarantined); an error about the file itself (unreadable, gone) names it.
    """
    try:
        return _ingest_file(settings, source_file, previous)
    except Exception as exc:
        exc.add_note(f"while ingesting {source_file} from the data root {settings.data_root}")
        raise


def _ingest_file(settings: Settings, source_file: str, previous: IngestResult | None) -> IngestResult:
    reader = reader_for(source_file)
    if reader is None:
        raise ValueError(
            f"{source_file}: no reader for this path; raw inputs live under web/ (WARC, WET, JSONL), "
            "books/ (.txt) or reddit/ (.json, .jsonl), optionally gzipped"
        )
    started = time.perf_counter()
    root = DataRoot(settings.data_root)
    # Hashed in a first pass: every row carries the input's sha256, and rows are written as they come.
    input_sha256, input_bytes = root.sha256(source_file)
    shard = settings.layout.raw_shard(source_file)
    if (
        previous is not None
        and (previous.input_sha256, previous.format, previous.shard)
        == (input_sha256, reader.format, str(shard))
        and shard.exists()
    ):
        return replace(previous, reused=True, seconds=time.perf_counter() - started)
    quarantine = settings.layout.raw_quarantine(source_file)
    skipped: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    kept = replaced = 0
    bad: list[Quarantined] = []
    if input_bytes == 0:
        quarantined["empty_file"] += 1
        bad.append(Quarantined.of("file", "empty_file", "the input file has no bytes"))
    with atomic_path(shard) as tmp, root.open(source_file) as raw:
        writer = _ShardWriter(tmp, DOCUMENT_SCHEMA)
        events = reader.read(inflate_chunks(raw)) if input_bytes else iter(())
        for event in events:
            if isinstance(event, Document) and not event.text.strip():
                event = Skipped("empty_text")
            if isinstance(event, Document):
                try:
                    row = document_row(event, reader.source, source_file, input_sha256)
                except BadRecord as exc:
                    event = Quarantined.of(event.position or "file", exc.reason, exc.detail, exc.preview)
            if isinstance(event, Document):
                kept += 1
                replaced += event.replaced_bytes
                writer.add(row)
            elif isinstance(event, Skipped):
                skipped[event.reason] += 1
            else:
                quarantined[event.reason] += 1
                bad.append(event)
        writer.close()
    _write_quarantine(quarantine, bad, reader.source, source_file, input_sha256)
    return IngestResult(
        source=reader.source,
        source_file=source_file,
        format=reader.format,
        input_sha256=input_sha256,
        input_bytes=input_bytes,
        shard=str(shard),
        shard_bytes=shard.stat().st_size,
        quarantine_file=str(quarantine) if bad else None,
        records_in=kept + sum(skipped.values()) + sum(quarantined.values()),
        kept=kept,
        skipped=dict(skipped),
        quarantined=dict(quarantined),
        replaced_bytes=replaced,
        seconds=time.perf_counter() - started,
    )


class BadRecord(ValueError):
    """A record a reader understood whose values do not fit the document schema."""

    def __init__(self, reason: str, detail: str, preview: bytes = b"") -> None:
        super().__init__(detail)
        self.reason, self.detail, self.preview = reason, detail, preview


def document_row(document: Document, source: str, source_file: str, input_sha256: str) -> dict:
    """The Parquet row of a kept document; raises ``BadRecord`` for a value the schema cannot hold
    (a title that is a number, a URL that is an object)."""
    for name in ("key", "text", "url", "title"):
        value = getattr(document, name)
        if not isinstance(value, str) and (value is not None or name in ("key", "text")):
            detail = f"{name}: expected a string, got {type(value).__name__}"
            raise BadRecord("bad_field", detail, raw_preview(value))
    metadata = {k: v for k, v in document.metadata.items() if v is not None}
    if document.replaced_bytes:
        metadata["replaced_bytes"] = document.replaced_bytes
    return {
        "id": f"{source}/{source_file}#{document.key}",
        "source": source,
        "source_file": source_file,
        "url": document.url,
        "title": document.title,
        "text": document.text,
        "created": document.created,
        "metadata": orjson.dumps(metadata, default=str).decode(),
        "content_hash": text_hash(document.text),
        "input_sha256": input_sha256,
    }


def _write_quarantine(path: Path, bad: list[Quarantined], source: str, source_file: str, sha256: str) -> None:
    """The quarantine file holds one row per bad record; a clean re-run removes a stale one."""
    if not bad:
        path.unlink(missing_ok=True)
        return
    rows = [
        {
            "source": source,
            "source_file": source_file,
            "position": q.position,
            "reason": q.reason,
            "detail": q.detail,
            "raw": q.raw,
            "input_sha256": sha256,
        }
        for q in bad
    ]
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA), tmp, compression="zstd")
