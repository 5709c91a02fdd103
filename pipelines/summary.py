"""Where the outputs are, and the counts a person checks first. ``python -m pipelines.summary``.

Reads the DuckDB catalog (refreshing its views first), so it shows every layer that exists so far:
raw shards and quarantine after ingestion, then clean/deduped/pretrain/datasets as they land.
``--hashes`` prints a content hash of every output instead (Parquet rows, token shards, the
tokenizer), to check that two runs or two versions of the code produced the same data.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from foundation.catalog import connect, refresh_views
from foundation.hashing import file_sha256
from foundation.settings import Settings


def summary(settings: Settings) -> str:
    catalog = settings.layout.catalog_path
    lines = [
        f"data root:      {settings.data_root}",
        f"artifacts:      {settings.artifacts_dir}",
        f"catalog:        {catalog}  (duckdb {catalog} -c 'SHOW TABLES')",
        f"models:         {settings.model_dir}",
        f"dagster home:   {os.environ.get('DAGSTER_HOME', '(not set)')}",
    ]
    if not catalog.exists():
        return "\n".join([*lines, "", "no catalog yet: run `make demo` (dagster job launch -j data_refresh)"])
    with connect(catalog) as con:
        lines += ["", f"{'layer':<20} {'rows':>9}  folder"]
        folders = settings.layout.catalog_views()
        for view in refresh_views(con, settings.layout):
            rows = con.execute(f'SELECT count(*) FROM "{view}"').fetchone()[0]
            lines.append(f"{view:<20} {rows:>9}  {folders[view]}")
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
                lines.append(f"quarantine files: {settings.layout.quarantine_dir('raw')}")
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


def _table_sha256(path: Path) -> str:
    """Hash of a Parquet file's rows and schema (not of its bytes, which depend on the writer)."""
    table = pq.read_table(path).replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def _staging_or_old(parts: tuple[str, ...]) -> bool:
    """A layer's work folder, or what a killed writer left (``.<name>.tmp-*``)."""
    return "work" in parts or any(part.startswith(".") for part in parts)


def content_hashes(settings: Settings) -> dict[str, str]:
    """Relative path -> content hash of every data output, the token shards and the tokenizer."""
    root = settings.artifacts_dir
    hashes = {
        path.relative_to(root).as_posix(): _table_sha256(path)
        for path in sorted(root.rglob("*.parquet"))
        if not _staging_or_old(path.relative_to(root).parts)
    }
    for path in sorted(root.glob("tokens/*/*/*.bin")):
        hashes[path.relative_to(root).as_posix()] = file_sha256(path)
    tokenizer = settings.layout.model.tokenizer_dir / "tokenizer.json"
    if tokenizer.exists():
        hashes["tokenizer/tokenizer.json"] = file_sha256(tokenizer)
    return hashes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.summary", description=__doc__.splitlines()[0])
    parser.add_argument("--hashes", action="store_true", help="content hash of every output, one per line")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    if args.hashes:
        print("\n".join(f"{digest}  {name}" for name, digest in content_hashes(settings).items()))
    else:
        print(summary(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
