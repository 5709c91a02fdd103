"""The DuckDB catalog: one view per layer over its Parquet shards, plus per-file statistics tables.

Views are defined over ``read_parquet('<layer dir>/**/*.parquet')``, so they always show the shards
on disk; re-creating them is cheap and every layer's asset does it after writing. Examples::

    SELECT source, sum(records_in), sum(kept), sum(skipped_total), sum(quarantined_total)
    FROM ingest_stats GROUP BY source;
    SELECT source_file, input_sha256, count(*) AS documents FROM raw_web GROUP BY ALL;
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from dedup.ingest import IngestResult
from pipelines.settings import Settings

# View name (= asset name) -> folder under the artifacts directory (the contracts in the brief).
LAYERS: dict[str, str] = {
    "raw_web": "raw/web",
    "raw_books": "raw/books",
    "raw_reddit": "raw/reddit",
    "quarantine_raw": "quarantine/raw",
    "clean_web": "clean/web",
    "clean_books": "clean/books",
    "clean_reddit": "clean/reddit",
    "deduped_corpus": "deduped",
    "pretrain_corpus": "pretrain",
    "personality_dataset": "datasets/personality",
    "emotion_dataset": "datasets/emotion",
}

_INGEST_STATS = """
CREATE TABLE IF NOT EXISTS ingest_stats (
    source VARCHAR, source_file VARCHAR PRIMARY KEY, format VARCHAR, input_sha256 VARCHAR,
    input_bytes BIGINT, shard VARCHAR, shard_bytes BIGINT, quarantine_file VARCHAR,
    records_in BIGINT, kept BIGINT, skipped JSON, quarantined JSON, skipped_total BIGINT,
    quarantined_total BIGINT, replaced_bytes BIGINT,
    seconds DOUBLE, ingested_at TIMESTAMPTZ DEFAULT current_timestamp
)
"""


def register_layer(con: duckdb.DuckDBPyConnection, view: str, folder: Path) -> bool:
    """(Re)create ``view`` over every Parquet file under ``folder``; False when there is none yet."""
    if not any(folder.rglob("*.parquet")):
        con.execute(f'DROP VIEW IF EXISTS "{view}"')
        return False
    pattern = str(folder / "**" / "*.parquet").replace("'", "''")
    con.execute(
        f"CREATE OR REPLACE VIEW \"{view}\" AS SELECT * FROM read_parquet('{pattern}', union_by_name = true)"
    )
    return True


def refresh_views(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """Create a view for every layer that has shards on disk; returns the view names."""
    return [view for view, folder in LAYERS.items() if register_layer(con, view, settings.layer_dir(folder))]


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
