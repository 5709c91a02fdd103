"""Where the outputs are, and the counts a person checks first. ``python -m pipelines.summary``.

Reads the DuckDB catalog (refreshing its views first), so it shows every layer that exists so far:
raw shards and quarantine after ingestion, then clean/deduped/pretrain/datasets as they land.
"""

from __future__ import annotations

import os
import sys

from dedup.catalog import LAYERS, refresh_views
from pipelines.resources import CatalogResource
from pipelines.settings import Settings


def summary(settings: Settings) -> str:
    lines = [
        f"data root:      {settings.data_root}",
        f"artifacts:      {settings.artifacts_dir}",
        f"catalog:        {settings.catalog_path}  (duckdb {settings.catalog_path} -c 'SHOW TABLES')",
        f"models:         {settings.model_dir}",
        f"dagster home:   {os.environ.get('DAGSTER_HOME', '(not set)')}",
    ]
    if not settings.catalog_path.exists():
        return "\n".join([*lines, "", "no catalog yet: run `make demo` (dagster job launch -j data_refresh)"])
    with CatalogResource(path=str(settings.catalog_path)).connect() as con:
        lines += ["", f"{'layer':<20} {'rows':>9}  folder"]
        for view in refresh_views(con, settings):
            rows = con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0]
            lines.append(f"{view:<20} {rows:>9}  {settings.layer_dir(LAYERS[view])}")
        tables = {
            row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if "ingest_stats" in tables:
            lines += ["", _INGEST_HEADER]
            for source, files, records_in, kept, quarantined in con.execute(_INGEST_TOTALS).fetchall():
                skipped = records_in - kept - quarantined
                lines.append(
                    f"{source:<8} {files:>5} {records_in:>10} {kept:>7} {skipped:>8} {quarantined:>11}"
                )
            reasons = con.execute(_QUARANTINE_REASONS).fetchall()
            if reasons:
                lines.append("quarantined by reason: " + ", ".join(f"{r} {n}" for r, n in reasons))
                lines.append(f"quarantine files: {settings.layer_dir('quarantine/raw')}")
    return "\n".join(lines)


_INGEST_HEADER = (
    f"{'ingest':<8} {'files':>5} {'records in':>10} {'kept':>7} {'skipped':>8} {'quarantined':>11}"
)
_INGEST_TOTALS = """
SELECT source, count(*), sum(records_in), sum(kept), sum(quarantined_total)
FROM ingest_stats GROUP BY source ORDER BY source
"""
_QUARANTINE_REASONS = """
SELECT key, sum(value::BIGINT) FROM ingest_stats, json_each(quarantined) GROUP BY key ORDER BY 2 DESC
"""


def main() -> int:
    print(summary(Settings.from_env()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
