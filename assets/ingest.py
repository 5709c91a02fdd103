"""Raw ingestion assets: ``raw_web``, ``raw_books``, ``raw_reddit`` (group ``ingest``).

Partitioned by source file (the shared dynamic ``source_files`` partitions). A run for one
partition ingests that file; an unpartitioned run (``data_refresh``) registers every file in the
data root as a partition, ingests them all and records one materialization per partition.
"""

import hashlib
from collections import Counter

import dagster as dg

from dedup.ingest import IngestResult, discover
from dedup.ingest_stats import ingest_files
from pipelines.partitions import SOURCE_FILES
from pipelines.resources import StorageResource


def file_metadata(result: IngestResult) -> dict:
    """What the UI shows for one ingested file (one partition)."""
    return {
        "source_file": result.source_file,
        "format": result.format,
        "unchanged": result.reused,
        "documents": dg.MetadataValue.int(result.kept),
        "records_in": dg.MetadataValue.int(result.records_in),
        "skipped": dg.MetadataValue.json(result.skipped),
        "quarantined": dg.MetadataValue.json(result.quarantined),
        "quarantined_total": dg.MetadataValue.int(sum(result.quarantined.values())),
        "replaced_bytes": dg.MetadataValue.int(result.replaced_bytes),
        "input_bytes": dg.MetadataValue.int(result.input_bytes),
        "bytes": dg.MetadataValue.int(result.shard_bytes),
        "input_sha256": result.input_sha256,
        "shard": dg.MetadataValue.path(result.shard),
        "quarantine_file": dg.MetadataValue.path(result.quarantine_file or "-"),
    }


def summary_metadata(results: list[IngestResult]) -> dict:
    """Totals over the files of one run; the sha256 lists every input's hash, in path order."""
    quarantined: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for result in results:
        quarantined.update(result.quarantined)
        skipped.update(result.skipped)
    inputs = hashlib.sha256("".join(f"{r.source_file}\t{r.input_sha256}\n" for r in results).encode())
    table = "\n".join(
        f"| {r.source_file} | {r.records_in} | {r.kept} | {sum(r.skipped.values())} | "
        f"{sum(r.quarantined.values())} | {r.input_sha256[:12]} |"
        for r in results
    )
    return {
        "files": dg.MetadataValue.int(len(results)),
        "files_unchanged": dg.MetadataValue.int(sum(r.reused for r in results)),
        "documents": dg.MetadataValue.int(sum(r.kept for r in results)),
        "records_in": dg.MetadataValue.int(sum(r.records_in for r in results)),
        "skipped": dg.MetadataValue.json(dict(skipped)),
        "quarantined": dg.MetadataValue.json(dict(quarantined)),
        "quarantined_total": dg.MetadataValue.int(sum(quarantined.values())),
        "input_bytes": dg.MetadataValue.int(sum(r.input_bytes for r in results)),
        "bytes": dg.MetadataValue.int(sum(r.shard_bytes for r in results)),
        "input_sha256": inputs.hexdigest(),
        "per_file": dg.MetadataValue.md(
            "| file | records in | kept | skipped | quarantined | sha256 |\n|---|---|---|---|---|---|\n"
            + table
        ),
    }


class IngestConfig(dg.Config):
    force: bool = False  # re-read files whose sha256 is unchanged (e.g. after a reader fix)


def ingest_source(
    source: str,
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    storage: StorageResource,
) -> dg.MaterializeResult:
    settings = storage.settings
    files = discover(settings.data_root)[source]
    if context.has_partition_key:
        key = context.partition_key
        if not key.startswith(f"{source}/"):
            # A UI backfill over all partitions also asks raw_books for web files: nothing to do.
            return dg.MaterializeResult(
                metadata={"source_file": key, "documents": 0, "note": f"not a {source} file"}
            )
        files = [key]
    else:
        known = set(context.instance.get_dynamic_partitions(SOURCE_FILES.name))
        new = [path for path in files if path not in known]
        if new:
            context.instance.add_dynamic_partitions(SOURCE_FILES.name, new)
    results = ingest_files(settings, source, files, config.force)
    for result in results:
        note = "unchanged, shard kept; " if result.reused else ""
        context.log.info(
            f"{result.source_file}: {note}{result.records_in} in, {result.kept} kept, "
            f"skipped {result.skipped}, quarantined {result.quarantined}"
        )
    if context.has_partition_key:
        return dg.MaterializeResult(metadata=file_metadata(results[0]))
    materialized = context.instance.get_materialized_partitions(context.asset_key)
    for result in results:
        if result.reused and result.source_file in materialized:
            continue  # unchanged and already recorded: a new event would only mark downstream stale
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key, partition=result.source_file, metadata=file_metadata(result)
            )
        )
    return dg.MaterializeResult(metadata=summary_metadata(results))


def _raw_asset(source: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{source}",
        group_name="ingest",
        partitions_def=SOURCE_FILES,
        description=description,
        kinds={"parquet", "duckdb"},
    )
    def raw_asset(
        context: dg.AssetExecutionContext,
        config: IngestConfig,
        storage: StorageResource,
    ) -> dg.MaterializeResult:
        return ingest_source(source, context, config, storage)

    return raw_asset


raw_web = _raw_asset(
    "web", "Common Crawl WARC/WET (gzipped or plain) and CC JSONL: raw HTML or text per page."
)
raw_books = _raw_asset(
    "books", "Project Gutenberg books, header and licence stripped, title and author kept."
)
raw_reddit = _raw_asset("reddit", "Reddit comments/submissions (pushshift JSONL, API listings, pair arrays).")
