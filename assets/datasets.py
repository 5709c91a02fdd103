"""Group ``datasets``: the personality and emotion datasets, their checks and the emotion baseline.

Thin: the work is in ``labeling/``. The checks (``labeling/checks.py``) read back what was written,
so they test the files training will read. They run inside the dataset step (one process instead
of one per check: each Dagster step re-imports the whole project) and are blocking.
"""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from labeling.build import WrittenDataset, write_baseline, write_emotion_dataset, write_personality_dataset
from labeling.checks import CHECKS
from labeling.emotion_dataset import EmotionOptions
from labeling.personality import PersonalityOptions
from labeling.weak_labels import DEFAULT_MIN_HITS, DEFAULT_THRESHOLD
from pipelines.resources import StorageResource

GROUP = "datasets"


def check_specs(dataset: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(name, asset=f"{dataset}_dataset", description=description, blocking=True)
        for name, (_, description) in CHECKS[dataset].items()
    ]


class DatasetConfig(Config):
    exclude_noncommercial: bool | None = Field(
        default=None,
        description="keep only sources cleared for commercial use (unset: ROSIE_EXCLUDE_NONCOMMERCIAL)",
    )

    def excluding_noncommercial(self, storage: StorageResource) -> bool:
        if self.exclude_noncommercial is None:
            return storage.settings.exclude_noncommercial
        return self.exclude_noncommercial


class EmotionDatasetConfig(DatasetConfig):
    weak_threshold: float = Field(
        default=DEFAULT_THRESHOLD, description="min share of lexicon votes for a weak label"
    )
    weak_min_hits: int = Field(
        default=DEFAULT_MIN_HITS, description="min lexicon words voting for the weak label"
    )


class PersonalityDatasetConfig(DatasetConfig):
    templated: int = Field(
        default=PersonalityOptions.templated, description="templated conversations to generate"
    )
    seed: int = Field(default=PersonalityOptions.seed, description="seed of the template generator")


def _materialize(
    context: AssetExecutionContext, written: WrittenDataset, metadata: dict
) -> MaterializeResult:
    """Metadata both dataset assets share, plus theirs, the card and the check results."""
    build = written.build
    context.log.info(f"{written.name} dataset: {written.split_sizes}, checks passed: {written.passed}")
    return MaterializeResult(
        check_results=[
            AssetCheckResult(check_name=check, passed=outcome.passed, metadata=outcome.metadata)
            for check, outcome in written.checks.items()
        ],
        metadata={
            "rows": sum(written.split_sizes.values()),
            "split_sizes": written.split_sizes,
            **metadata,
            "quarantined": build.stats["quarantined"],
            "input_sha256": build.input_sha256,
            "paths": {split: str(p) for split, p in written.paths.items()},
            "quarantine_path": str(written.quarantine_path),
            "card_path": str(written.card_path),
            "dataset_card": MetadataValue.md(written.card),
        },
    )


@asset(
    group_name=GROUP,
    description="Emotion-labelled utterances: gold from annotated sources, weak from the NRC lexicon.",
    check_specs=check_specs("emotion"),
)
def emotion_dataset(
    context: AssetExecutionContext, config: EmotionDatasetConfig, storage: StorageResource
) -> MaterializeResult:
    exclude = config.excluding_noncommercial(storage)
    options = EmotionOptions(exclude, config.weak_threshold, config.weak_min_hits)
    written = write_emotion_dataset(storage.settings, options)
    stats = written.build.stats
    metadata = {k: stats[k] for k in ("records_in", "kept", "filtered", "class_balance", "excluded_sources")}
    metadata["records_accounted"] = stats["accounted"]
    metadata["exclude_noncommercial"] = exclude
    return _materialize(context, written, metadata)


@asset(
    group_name=GROUP,
    description="Conversations in Rosie's voice: authored templates plus restyled real chit-chat.",
    check_specs=check_specs("personality"),
)
def personality_dataset(
    context: AssetExecutionContext, config: PersonalityDatasetConfig, storage: StorageResource
) -> MaterializeResult:
    exclude = config.excluding_noncommercial(storage)
    options = PersonalityOptions(templated=config.templated, seed=config.seed, exclude_noncommercial=exclude)
    written = write_personality_dataset(storage.settings, options)
    build = written.build
    metadata = {
        **{k: v for k, v in build.stats.items() if k != "quarantined"},
        **{f"diversity_{k}": v for k, v in build.diversity["all"].items()},
        "diversity_by_kind": build.diversity,
        "exclude_noncommercial": exclude,
    }
    return _materialize(context, written, metadata)


@asset(
    group_name=GROUP,
    deps=[emotion_dataset],
    description="TF-IDF + logistic regression on the emotion dataset: the bar the emotion head must beat.",
)
def emotion_baseline(context: AssetExecutionContext, storage: StorageResource) -> MaterializeResult:
    figures, path = write_baseline(storage.settings)
    context.log.info(
        f"emotion baseline macro-F1 {figures['macro_f1']} ({figures['macro_f1_vs_majority']}x majority)"
    )
    return MaterializeResult(
        metadata={
            **{k: figures[k] for k in ("macro_f1", "accuracy", "per_class_f1", "majority_class_macro_f1")},
            "per_source": MetadataValue.json(figures["per_source"]),
            **{k: figures[k] for k in ("n_train", "n_test", "fit_seconds")},
            "path": str(path),
        }
    )
