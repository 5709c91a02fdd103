"""Group ``datasets``: the personality and emotion datasets, their checks and the emotion baseline.

Thin: the work is in ``labeling/``. Checks read back what was written, so they test the files
training will read, not the objects in memory.
"""

import json
from collections import Counter
from collections.abc import Callable

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from dedup.atomic import write_text_atomic
from labeling.baseline import train_and_score
from labeling.cards import emotion_card, personality_card
from labeling.datasets import (
    baseline_path,
    personality_conversations,
    read_split,
    write_quarantine,
    write_splits,
)
from labeling.emotion_dataset import EmotionOptions, build_emotion_dataset
from labeling.emotions import EMOTIONS
from labeling.licences import exclude_noncommercial_default
from labeling.personality import CATEGORIES, PersonalityOptions, build_personality_dataset, conversation_text
from labeling.splits import SPLITS, text_key
from pipelines.resources import StorageResource

GROUP = "datasets"
# Label-distribution bounds: every label present, none swamping the rest.
MIN_LABEL_SHARE, MAX_LABEL_SHARE = 0.005, 0.45
MIN_CATEGORY_SHARE = 0.03  # of conversations holding each kind of exchange
EMOTION_MIN_EXAMPLES = 10_000
PERSONALITY_MIN_CONVERSATIONS = 10_000


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
    return MaterializeResult(
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
        }
    )


@asset(
    group_name=GROUP,
    description="Emotion-labelled utterances: gold from annotated sources, weak from the NRC lexicon.",
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


# ---------------------------------------------------------------- checks


def _shares(counts: Counter) -> dict[str, float]:
    total = sum(counts.values()) or 1
    return {key: round(counts[key] / total, 4) for key in sorted(counts)}


def _distribution_result(counts: Counter, labels: tuple[str, ...]) -> AssetCheckResult:
    full = Counter(dict.fromkeys(labels, 0))
    full.update(counts)  # keeps zero counts, so a missing label shows up as 0.0
    shares = _shares(full)
    outside = {
        k: v for k, v in shares.items() if k not in labels or not MIN_LABEL_SHARE <= v <= MAX_LABEL_SHARE
    }
    return AssetCheckResult(
        passed=not outside,
        metadata={"shares": shares, "outside_bounds": outside, "bounds": [MIN_LABEL_SHARE, MAX_LABEL_SHARE]},
    )


def _leakage_result(keys: dict[str, set[str]]) -> AssetCheckResult:
    overlap = {f"{a}&{b}": len(keys[a] & keys[b]) for i, a in enumerate(SPLITS) for b in SPLITS[i + 1 :]}
    return AssetCheckResult(passed=not any(overlap.values()), metadata={"overlap": overlap})


def _emotion_column(storage: StorageResource, split: str, column: str) -> list:
    return read_split(storage.settings, "emotion", split, [column]).column(column).to_pylist()


@asset_check(asset=emotion_dataset, description="Every label holds 0.5%..45% of the examples.")
def emotion_label_distribution(storage: StorageResource) -> AssetCheckResult:
    return _distribution_result(
        Counter(x for s in SPLITS for x in _emotion_column(storage, s, "label")), EMOTIONS
    )


@asset_check(asset=emotion_dataset, description="No (normalised) text appears in two splits.")
def emotion_no_split_leakage(storage: StorageResource) -> AssetCheckResult:
    return _leakage_result({s: {text_key(t) for t in _emotion_column(storage, s, "text")} for s in SPLITS})


@asset_check(asset=emotion_dataset, description="At least 10,000 examples and gold rows in every split.")
def emotion_minimum_size(storage: StorageResource) -> AssetCheckResult:
    gold = {s: Counter(_emotion_column(storage, s, "label_source"))["gold"] for s in SPLITS}
    sizes = {s: len(_emotion_column(storage, s, "label")) for s in SPLITS}
    return AssetCheckResult(
        passed=sum(sizes.values()) >= EMOTION_MIN_EXAMPLES and all(gold.values()),
        metadata={"split_sizes": sizes, "gold_rows": gold, "minimum": EMOTION_MIN_EXAMPLES},
    )


@asset_check(
    asset=personality_dataset,
    description="Rosie's emotions each hold 0.5%..45% of her turns; every exchange category is present.",
)
def personality_label_distribution(storage: StorageResource) -> AssetCheckResult:
    emotions: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    conversations = 0
    for split in SPLITS:
        table = read_split(storage.settings, "personality", split, ["category"])
        categories.update(table.column("category").to_pylist())
        for turns in personality_conversations(storage.settings, split):
            emotions.update(t.emotion for t in turns if t.role == "rosie")
            conversations += 1
    result = _distribution_result(emotions, EMOTIONS)
    scarce = {c: categories[c] for c in CATEGORIES if categories[c] < MIN_CATEGORY_SHARE * conversations}
    return AssetCheckResult(
        passed=result.passed and not scarce,
        metadata={**result.metadata, "categories": dict(categories), "scarce_categories": scarce},
    )


@asset_check(asset=personality_dataset, description="No conversation appears in two splits.")
def personality_no_split_leakage(storage: StorageResource) -> AssetCheckResult:
    return _leakage_result(
        {
            s: {text_key(conversation_text(t)) for t in personality_conversations(storage.settings, s)}
            for s in SPLITS
        }
    )


@asset_check(
    asset=personality_dataset,
    description="At least 10,000 conversations, no exact duplicates, an emotion on every Rosie turn.",
)
def personality_minimum_size(storage: StorageResource) -> AssetCheckResult:
    # personality_conversations re-validates every turn: a Rosie turn without an emotion raises.
    texts = [
        text_key(conversation_text(t)) for s in SPLITS for t in personality_conversations(storage.settings, s)
    ]
    duplicates = len(texts) - len(set(texts))
    return AssetCheckResult(
        passed=len(texts) >= PERSONALITY_MIN_CONVERSATIONS and duplicates == 0,
        metadata={"conversations": len(texts), "exact_duplicates": duplicates},
    )


EMOTION_CHECKS = [emotion_label_distribution, emotion_no_split_leakage, emotion_minimum_size]
PERSONALITY_CHECKS = [personality_label_distribution, personality_no_split_leakage, personality_minimum_size]
