"""Group ``dedup``: ``deduped_corpus`` (exact + MinHash across sources, decontamination) and
``pretrain_corpus`` (the pretraining text), with their checks.

Thin: the work is in ``dedup/`` (``dedup.layers``). The datasets are upstream of the corpus so
decontamination always sees their evaluation splits.
"""


import dagster as dg
from pydantic import Field

from assets.clean import LAYER_CHECK_NAMES, layer_checks, layer_metadata
from dedup.layers import dedup_rate, language_purity, raw_to_deduped_problems, run_dedup, run_pretrain
from labeling.datasets import evaluation_texts
from pipelines.resources import CleaningResource, StorageResource

GROUP = "dedup"


class DedupConfig(dg.Config):
    decontaminate: bool = Field(
        default=True,
        description="drop documents sharing a 13-gram with the datasets' validation and test texts "
        "(needs personality_dataset and emotion_dataset; off only to dedup without them)",
    )


@dg.asset(
    group_name=GROUP,
    deps=["clean_web", "clean_books", "clean_reddit", "personality_dataset", "emotion_dataset"],
    kinds={"parquet", "duckdb"},
    description="Clean documents of all sources deduplicated together (exact on normalised text, "
    "MinHash near-duplicates, earliest document kept per cluster) and decontaminated against the "
    "datasets' evaluation splits (shared 13-grams).",
    check_specs=[
        dg.AssetCheckSpec("no_empty_documents", asset="deduped_corpus"),
        dg.AssetCheckSpec("count_conservation", asset="deduped_corpus", description="raw → clean → deduped"),
        dg.AssetCheckSpec("dedup_rate_within_bounds", asset="deduped_corpus"),
        dg.AssetCheckSpec("language_purity", asset="deduped_corpus"),
    ],
)
def deduped_corpus(
    context: dg.AssetExecutionContext,
    config: DedupConfig,
    storage: StorageResource,
    cleaning: CleaningResource,
) -> dg.MaterializeResult:
    settings, clean_config = storage.settings, cleaning.config()
    texts = evaluation_texts(settings) if config.decontaminate else []
    run = run_dedup(settings, clean_config, texts)
    run.problems = raw_to_deduped_problems(settings, run)
    rate = dedup_rate(run)
    low, high = clean_config.dedup_rate_bounds
    purity, sampled = language_purity(run, clean_config.language, clean_config.language_purity_sample)
    context.log.info(f"deduped_corpus: {run.rows_in} in -> {run.rows_out} out, dedup rate {rate:.3f}")
    checks = layer_checks("deduped_corpus", run) + [
        dg.AssetCheckResult(
            check_name="dedup_rate_within_bounds",
            passed=low <= rate <= high,
            metadata={"dedup_rate": rate, "bounds": dg.MetadataValue.json([low, high])},
        ),
        dg.AssetCheckResult(
            check_name="language_purity",
            passed=purity >= clean_config.language_purity_min,
            metadata={"purity": purity, "sampled": sampled, "language": clean_config.language},
        ),
    ]
    metadata = layer_metadata(run) | {"dedup_rate": dg.MetadataValue.float(rate)}
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


@dg.asset(
    group_name=GROUP,
    deps=[deduped_corpus],
    kinds={"parquet", "duckdb"},
    description="The pretraining corpus: deduped documents as plain text (Reddit paths as dialogue).",
    check_specs=[dg.AssetCheckSpec(check, asset="pretrain_corpus") for check in LAYER_CHECK_NAMES],
)
def pretrain_corpus(
    context: dg.AssetExecutionContext, storage: StorageResource, cleaning: CleaningResource
) -> dg.MaterializeResult:
    run = run_pretrain(storage.settings, cleaning.config())
    context.log.info(f"pretrain_corpus: {run.rows_out} documents, {run.bytes_out} bytes")
    return dg.MaterializeResult(
        metadata=layer_metadata(run), check_results=layer_checks("pretrain_corpus", run)
    )
