"""Group ``datasets``: the personality and emotion datasets, their checks and the emotion baseline.

Thin: the work is in ``labeling/``. Checks read back what was written, so they test the files
training will read, not the objects in memory.
"""

import json

import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from dedup.atomic import write_text_atomic
from labeling.baseline import train_and_score
from labeling.cards import emotion_card
from labeling.datasets import baseline_path, read_split, write_quarantine, write_splits
from labeling.emotion_dataset import EmotionOptions, build_emotion_dataset
from labeling.emotions import EMOTIONS
from labeling.licences import exclude_noncommercial_default
from labeling.splits import SPLITS, text_key
from pipelines.resources import StorageResource

GROUP = "datasets"
# Bounds for the label-distribution checks: every label present, none swamping the rest.
EMOTION_MIN_SHARE, EMOTION_MAX_SHARE = 0.005, 0.45
EMOTION_MIN_EXAMPLES = 10_000


class DatasetConfig(Config):
    exclude_noncommercial: bool = exclude_noncommercial_default()


@asset(
    group_name=GROUP,
    description="Emotion-labelled utterances: gold from annotated sources, weak from the NRC lexicon.",
)
def emotion_dataset(
    context: AssetExecutionContext, config: DatasetConfig, storage: StorageResource
) -> MaterializeResult:
    settings = storage.settings
    build = build_emotion_dataset(
        settings.data_root, EmotionOptions(exclude_noncommercial=config.exclude_noncommercial)
    )
    paths = write_splits(settings, "emotion", build.tables)
    quarantine_path = write_quarantine(settings, "emotion", build.quarantine.records)
    sizes = {split: build.tables[split].num_rows for split in SPLITS}
    context.log.info(f"emotion dataset: {sizes}, filtered {sum(build.stats['filtered'].values())}")
    return MaterializeResult(
        metadata={
            "rows": sum(sizes.values()),
            "split_sizes": sizes,
            "records_in": build.stats["records_in"],
            "kept": build.stats["kept"],
            "filtered": build.stats["filtered"],
            "quarantined": build.stats["quarantined"],
            "records_accounted": build.stats["accounted"],
            "class_balance": build.stats["class_balance"],
            "excluded_sources": build.stats["excluded_sources"],
            "exclude_noncommercial": config.exclude_noncommercial,
            "input_sha256": build.input_sha256,
            "paths": {split: str(p) for split, p in paths.items()},
            "quarantine_path": str(quarantine_path),
            "dataset_card": MetadataValue.md(emotion_card(build.stats, sizes, config.exclude_noncommercial)),
        }
    )


@asset(
    group_name=GROUP,
    deps=[emotion_dataset],
    description="TF-IDF + logistic regression on the emotion dataset: the bar the emotion head must beat.",
)
def emotion_baseline(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    settings = storage.settings
    figures = train_and_score(
        read_split(settings, "emotion", "train"), read_split(settings, "emotion", "test")
    )
    path = write_text_atomic(json.dumps(figures, indent=2), baseline_path(settings))
    context.log.info(
        f"emotion baseline macro-F1 {figures['macro_f1']} ({figures['macro_f1_vs_majority']}x majority)"
    )
    return MaterializeResult(
        metadata={
            "macro_f1": figures["macro_f1"],
            "accuracy": figures["accuracy"],
            "per_class_f1": figures["per_class_f1"],
            "majority_class_macro_f1": figures["majority_class_macro_f1"],
            "n_train": figures["n_train"],
            "n_test": figures["n_test"],
            "path": str(path),
        }
    )


def _label_shares(storage: StorageResource, dataset: str, labels: list[str]) -> dict[str, float]:
    counts = {label: 0 for label in labels}
    for split in SPLITS:
        for item in pc.value_counts(
            read_split(storage.settings, dataset, split, ["label"]).column("label")
        ).to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    total = sum(counts.values()) or 1
    return {label: round(n / total, 4) for label, n in counts.items()}


def _split_leakage(storage: StorageResource, dataset: str, column: str) -> dict[str, int]:
    keys = {
        split: {
            text_key(t)
            for t in read_split(storage.settings, dataset, split, [column]).column(column).to_pylist()
        }
        for split in SPLITS
    }
    return {f"{a}&{b}": len(keys[a] & keys[b]) for i, a in enumerate(SPLITS) for b in SPLITS[i + 1 :]}


@asset_check(
    asset=emotion_dataset,
    description=f"Every label has {EMOTION_MIN_SHARE:.1%}..{EMOTION_MAX_SHARE:.0%} of the examples.",
)
def emotion_label_distribution(storage: StorageResource) -> AssetCheckResult:
    shares = _label_shares(storage, "emotion", list(EMOTIONS))
    outside = {
        k: v
        for k, v in shares.items()
        if not EMOTION_MIN_SHARE <= v <= EMOTION_MAX_SHARE or k not in EMOTIONS
    }
    return AssetCheckResult(passed=not outside, metadata={"shares": shares, "outside_bounds": outside})


@asset_check(asset=emotion_dataset, description="No (normalised) text appears in two splits.")
def emotion_no_split_leakage(storage: StorageResource) -> AssetCheckResult:
    overlap = _split_leakage(storage, "emotion", "text")
    return AssetCheckResult(passed=not any(overlap.values()), metadata={"overlap": overlap})


@asset_check(
    asset=emotion_dataset, description=f"At least {EMOTION_MIN_EXAMPLES:,} examples and a gold test split."
)
def emotion_minimum_size(storage: StorageResource) -> AssetCheckResult:
    sizes = {split: read_split(storage.settings, "emotion", split, ["label"]).num_rows for split in SPLITS}
    gold_test = pc.sum(
        pc.equal(read_split(storage.settings, "emotion", "test", ["label_source"]).column(0), "gold")
    ).as_py()
    passed = sum(sizes.values()) >= EMOTION_MIN_EXAMPLES and bool(gold_test)
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={"split_sizes": sizes, "gold_test_rows": gold_test or 0, "minimum": EMOTION_MIN_EXAMPLES},
    )


EMOTION_CHECKS = [emotion_label_distribution, emotion_no_split_leakage, emotion_minimum_size]
