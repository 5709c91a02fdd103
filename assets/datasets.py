"""Group ``datasets``: the personality and emotion datasets, their checks and the emotion baseline.

Thin: the work is in ``labeling/``. The checks (``labeling/checks.py``) read back what was written,
so they test the files training will read. They run inside the dataset step (one process instead
of one per check: each Dagster step re-imports the whole project) and are blocking.
"""

import json
from collections.abc import Callable

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)

from dedup.atomic import write_text_atomic
from labeling.baseline import train_and_score
from labeling.cards import emotion_card, personality_card
from labeling.checks import CHECKS, run_checks
from labeling.datasets import baseline_path, read_split, write_quarantine, write_splits
from labeling.emotion_dataset import EmotionOptions, build_emotion_dataset
from labeling.licences import exclude_noncommercial_default
from labeling.personality import PersonalityOptions, build_personality_dataset
from labeling.splits import SPLITS
from pipelines.resources import StorageResource

GROUP = "datasets"


def check_specs(dataset: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(name, asset=f"{dataset}_dataset", description=description, blocking=True)
        for name, (_, description) in CHECKS[dataset].items()
    ]


class DatasetConfig(Config):
    exclude_noncommercial: bool = exclude_noncommercial_default()


def _materialize(
    context: AssetExecutionContext,
    config: DatasetConfig,
    storage: StorageResource,
    name: str,
    build,
    metadata: dict,
    card: Callable[[dict[str, int]], str],
) -> MaterializeResult:
    """Write splits and quarantine; metadata both dataset assets share, plus theirs and the card."""
    settings = storage.settings
    paths = write_splits(settings, name, build.tables)
    quarantine_path = write_quarantine(settings, name, build.quarantine.records)
    sizes = {split: build.tables[split].num_rows for split in SPLITS}
    context.log.info(f"{name} dataset: {sizes}")
    checks = [
        AssetCheckResult(check_name=check, passed=outcome.passed, metadata=outcome.metadata)
        for check, outcome in run_checks(settings, name).items()
    ]
    return MaterializeResult(
        check_results=checks,
        metadata={
            "rows": sum(sizes.values()),
            "split_sizes": sizes,
            **metadata,
            "quarantined": build.stats["quarantined"],
            "exclude_noncommercial": config.exclude_noncommercial,
            "input_sha256": build.input_sha256,
            "paths": {split: str(p) for split, p in paths.items()},
            "quarantine_path": str(quarantine_path),
            "dataset_card": MetadataValue.md(card(sizes)),
        },
    )


@asset(
    group_name=GROUP,
    description="Emotion-labelled utterances: gold from annotated sources, weak from the NRC lexicon.",
    check_specs=check_specs("emotion"),
)
def emotion_dataset(
    context: AssetExecutionContext, config: DatasetConfig, storage: StorageResource
) -> MaterializeResult:
    options = EmotionOptions(exclude_noncommercial=config.exclude_noncommercial)
    build = build_emotion_dataset(storage.settings.data_root, options)
    stats = build.stats
    metadata = {k: stats[k] for k in ("records_in", "kept", "filtered", "class_balance", "excluded_sources")}
    metadata["records_accounted"] = stats["accounted"]
    return _materialize(
        context,
        config,
        storage,
        "emotion",
        build,
        metadata,
        lambda sizes: emotion_card(stats, sizes, config.exclude_noncommercial),
    )


@asset(
    group_name=GROUP,
    description="Conversations in Rosie's voice: authored templates plus restyled real chit-chat.",
    check_specs=check_specs("personality"),
)
def personality_dataset(
    context: AssetExecutionContext, config: DatasetConfig, storage: StorageResource
) -> MaterializeResult:
    options = PersonalityOptions(exclude_noncommercial=config.exclude_noncommercial)
    build = build_personality_dataset(storage.settings.data_root, options)
    metadata = {
        **{k: v for k, v in build.stats.items() if k != "quarantined"},
        **{f"diversity_{k}": v for k, v in build.diversity["all"].items()},
        "diversity_by_kind": build.diversity,
    }
    return _materialize(
        context,
        config,
        storage,
        "personality",
        build,
        metadata,
        lambda sizes: personality_card(build.stats, sizes, build.diversity),
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
            **{k: figures[k] for k in ("macro_f1", "accuracy", "per_class_f1", "majority_class_macro_f1")},
            **{k: figures[k] for k in ("n_train", "n_test", "fit_seconds")},
            "path": str(path),
        }
    )
