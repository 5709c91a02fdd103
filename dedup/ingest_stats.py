"""The ``ingest_stats`` table of the DuckDB catalog (one row per ingested file, with its counts),
and :func:`ingest_files`, the ingest run both entry points share: the ``raw_*`` assets and
``python -m dedup ingest`` produce the same shards, quarantine files and catalog.

The daily refresh reads the table back to skip files whose sha256 has not changed.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
from tqdm import tqdm

from dedup.ingest import IngestResult, ingest_file
from foundation.catalog import connect, refresh_views
from foundation.settings import Settings

_INGEST_STATS = """
CREATE TABLE IF NOT EXISTS ingest_stats (
    source VARCHAR, source_file VARCHAR PRIMARY KEY, format VARCHAR, input_sha256 VARCHAR,
    input_bytes BIGINT, shard VARCHAR, shard_bytes BIGINT, quarantine_file VARCHAR,
    records_in BIGINT, kept BIGINT, skipped JSON, quarantined JSON, skipped_total BIGINT,
    quarantined_total BIGINT, replaced_bytes BIGINT,
    seconds DOUBLE, ingested_at TIMESTAMPTZ DEFAULT current_timestamp
)
"""


def previous_results(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, IngestResult]:
    """The last ``ingest_stats`` row of each file of ``source``, by source file."""
    con.execute(_INGEST_STATS)
    cursor = con.execute("SELECT * FROM ingest_stats WHERE source = ?", [source])
    columns = [d[0] for d in cursor.description]
    rows = [IngestResult.from_row(dict(zip(columns, values, strict=True))) for values in cursor.fetchall()]
    return {row.source_file: row for row in rows}


def record_ingest_stats(con: duckdb.DuckDBPyConnection, results: Iterable[IngestResult]) -> None:
    """Upsert one ``ingest_stats`` row per ingested file."""
    con.execute(_INGEST_STATS)
    for result in results:
        row = result.to_row()
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        con.execute("DELETE FROM ingest_stats WHERE source_file = ?", [result.source_file])
        con.execute(f"INSERT INTO ingest_stats ({columns}) VALUES ({placeholders})", list(row.values()))


def ingest_files(
    settings: Settings, source: str, files: list[str], force: bool = False
) -> list[IngestResult]:
    """Ingests ``files`` (paths under the data root, all of ``source``), records their
    ``ingest_stats`` rows and refreshes the catalog views.

    Files whose sha256 and reader are unchanged since their last row keep their shard (``reused``)
    unless ``force``.
    """
    catalog = settings.layout.catalog_path
    with connect(catalog) as con:
        previous = {} if force else previous_results(con, source)
    results = [
        ingest_file(settings, path, previous.get(path))
        for path in tqdm(files, desc=f"raw_{source}", unit="file")
    ]
    with connect(catalog) as con:
        record_ingest_stats(con, [r for r in results if not r.reused])
        refresh_views(con, settings.layout)
    return results
