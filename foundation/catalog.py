"""The DuckDB catalog: one view per layer over its Parquet shards, next to statistics tables.

Views are defined over ``read_parquet('<layer dir>/**/*.parquet')``, so they always show the shards
on disk; re-creating them is cheap and every layer does it after writing. Examples::

    SELECT source, sum(records_in), sum(kept), sum(skipped_total), sum(quarantined_total)
    FROM ingest_stats GROUP BY source;
    SELECT source_file, input_sha256, count(*) AS documents FROM raw_web GROUP BY ALL;
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from foundation.layout import Layout


@contextlib.contextmanager
def connect(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the catalog file, closed on exit."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = _connect_with_retry(str(path))
    try:
        yield con
    finally:
        con.close()


def _connect_with_retry(path: str, attempts: int = 60, wait_s: float = 0.5) -> duckdb.DuckDBPyConnection:
    """DuckDB lets one process write a file at a time; parallel steps wait their turn."""
    for _ in range(attempts - 1):
        try:
            return duckdb.connect(path)
        except duckdb.IOException:
            time.sleep(wait_s)
    return duckdb.connect(path)  # the last attempt raises the lock error to the caller


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


def refresh_views(con: duckdb.DuckDBPyConnection, layout: Layout) -> list[str]:
    """Create a view for every layer that has shards on disk; returns the view names."""
    return [view for view, folder in layout.catalog_views().items() if register_layer(con, view, folder)]
