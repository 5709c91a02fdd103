"""Group ``clean``: ``clean_web``, ``clean_books``, ``clean_reddit`` and their checks.

Thin: the datatrove pipelines live in ``dedup/`` (``dedup.layers.run_clean``). Each asset's
metadata shows documents in/out, drops by reason and the per-step table; its checks read back the
shards it wrote.
"""


import dagster as dg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dedup.layers import LayerRun, run_clean
from pipelines.resources import CleaningResource, StorageResource

GROUP = "clean"
def layer_metadata(run: LayerRun) -> dict:
    """What the UI shows first for a cleaning or dedup layer."""
    steps = "\n".join(
        f"| {s.index} | {s.name} | {s.docs_in} | {s.kept} | {s.dropped} | {s.seconds:.1f} |"
        for s in run.stats.steps
    )
    dropped = dict(sorted(run.dropped.items(), key=lambda kv: -kv[1]))
    return {
        "documents_in": dg.MetadataValue.int(run.rows_in),
        "documents": dg.MetadataValue.int(run.rows_out),
        "dropped_total": dg.MetadataValue.int(sum(dropped.values())),
        "dropped_by_reason": dg.MetadataValue.json(dropped),
        "bytes": dg.MetadataValue.int(run.bytes_out),
        "output": dg.MetadataValue.path(str(run.output_dir)),
        "count_problems": dg.MetadataValue.json(run.problems),
        "steps": dg.MetadataValue.md(
            "| # | step | in | kept | dropped | seconds |\n|---|---|---|---|---|---|\n" + steps
        ),
    }


def empty_documents(run: LayerRun) -> int:
    """Documents whose text is blank, read back from the written shards."""
    empty = 0
    for path in sorted(run.output_dir.glob("*.parquet")):
        text = pq.read_table(path, columns=["text"]).column("text")
        empty += int(pc.sum(pc.equal(pc.utf8_trim_whitespace(text), "")).as_py() or 0)
    return empty


def layer_checks(asset_name: str, run: LayerRun) -> list[dg.AssetCheckResult]:
    empty = empty_documents(run)
    return [
        dg.AssetCheckResult(
            asset_key=asset_name,
            check_name="no_empty_documents",
            passed=empty == 0,
            metadata={"empty_documents": empty},
        ),
        dg.AssetCheckResult(
            asset_key=asset_name,
            check_name="count_conservation",
            passed=not run.problems,
            metadata={"problems": dg.MetadataValue.json(run.problems), "documents_in": run.rows_in},
            description="every input row is kept, dropped with a reason, or (books, reddit) re-cut",
        ),
    ]


LAYER_CHECK_NAMES = ("no_empty_documents", "count_conservation")


def _clean_asset(source: str, description: str) -> dg.AssetsDefinition:
    name = f"clean_{source}"

    @dg.asset(
        name=name,
        group_name=GROUP,
        deps=[f"raw_{source}"],
        description=description,
        kinds={"parquet", "duckdb"},
        check_specs=[dg.AssetCheckSpec(check, asset=name) for check in LAYER_CHECK_NAMES],
    )
    def clean_asset(
        context: dg.AssetExecutionContext, storage: StorageResource, cleaning: CleaningResource
    ) -> dg.MaterializeResult:
        run = run_clean(source, storage.settings, cleaning.config())
        context.log.info(f"{name}: {run.rows_in} in -> {run.rows_out} out, dropped {run.dropped}")
        return dg.MaterializeResult(metadata=layer_metadata(run), check_results=layer_checks(name, run))

    return clean_asset


clean_web = _clean_asset(
    "web",
    "Web pages: Trafilatura extraction, URL blocklist, py3langid language filter, Gopher/C4/FineWeb "
    "quality filters (FineWeb thresholds), PII scrubbing, appropriate-content filter.",
)
clean_books = _clean_asset(
    "books",
    "Books: Gutenberg boilerplate and front matter removed, paragraphs normalised, content-defined "
    "chunks at paragraph boundaries; language, PII and content filters.",
)
clean_reddit = _clean_asset(
    "reddit",
    "Reddit: deleted/removed/bot/low-score/length filters, content filter, threads rebuilt from "
    "parent_id into root→reply chains rendered as dialogue.",
)
