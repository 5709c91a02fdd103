"""Quality checks of the written datasets (the Parquet files training reads, not in-memory tables).

The dataset assets run them right after writing and report them as blocking Dagster asset
checks: a failed check stops the downstream tokenizer and training steps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from foundation.settings import Settings
from labeling.chat_format import Turn
from labeling.datasets import personality_conversations, read_split
from labeling.emotions import EMOTIONS
from labeling.personality import CATEGORIES, conversation_text
from labeling.splits import SPLITS, text_key

# Label-distribution bounds: every label present, none swamping the rest.
MIN_LABEL_SHARE, MAX_LABEL_SHARE = 0.005, 0.45
MIN_CATEGORY_SHARE = 0.03  # of conversations, per main exchange category
EMOTION_MIN_EXAMPLES = 10_000
PERSONALITY_MIN_CONVERSATIONS = 10_000


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    metadata: dict


def _label_distribution(counts: Counter) -> CheckOutcome:
    full = Counter(dict.fromkeys(EMOTIONS, 0))
    full.update(counts)  # keeps zero counts, so a missing label shows up as 0.0
    total = sum(full.values()) or 1
    shares = {label: round(n / total, 4) for label, n in sorted(full.items())}
    outside = {
        k: v for k, v in shares.items() if k not in EMOTIONS or not MIN_LABEL_SHARE <= v <= MAX_LABEL_SHARE
    }
    return CheckOutcome(
        not outside,
        {"shares": shares, "outside_bounds": outside, "bounds": [MIN_LABEL_SHARE, MAX_LABEL_SHARE]},
    )


def _leakage(**keys: dict[str, set[str]]) -> CheckOutcome:
    """Keys shared by two splits, per kind of key (texts, source items)."""
    pairs = [(a, b) for i, a in enumerate(SPLITS) for b in SPLITS[i + 1 :]]
    overlap = {kind: {f"{a}&{b}": len(of[a] & of[b]) for a, b in pairs} for kind, of in keys.items()}
    return CheckOutcome(not any(n for kind in overlap.values() for n in kind.values()), {"overlap": overlap})


def _emotion_column(settings: Settings, split: str, column: str) -> list:
    return read_split(settings, "emotion", split, [column]).column(column).to_pylist()


def emotion_label_distribution(settings: Settings) -> CheckOutcome:
    return _label_distribution(Counter(x for s in SPLITS for x in _emotion_column(settings, s, "label")))


def emotion_no_split_leakage(settings: Settings) -> CheckOutcome:
    return _leakage(
        texts={s: {text_key(t) for t in _emotion_column(settings, s, "text")} for s in SPLITS},
        source_items={s: set(_emotion_column(settings, s, "source_item")) for s in SPLITS},
    )


def emotion_minimum_size(settings: Settings) -> CheckOutcome:
    gold = {s: Counter(_emotion_column(settings, s, "label_source"))["gold"] for s in SPLITS}
    sizes = {s: len(_emotion_column(settings, s, "label")) for s in SPLITS}
    passed = sum(sizes.values()) >= EMOTION_MIN_EXAMPLES and all(gold.values())
    return CheckOutcome(passed, {"split_sizes": sizes, "gold_rows": gold, "minimum": EMOTION_MIN_EXAMPLES})


def _conversations(settings: Settings) -> dict[str, list[list[Turn]]]:
    # personality_conversations re-validates every turn (a bad role or label raises).
    return {s: personality_conversations(settings, s) for s in SPLITS}


def personality_label_distribution(settings: Settings) -> CheckOutcome:
    emotions = Counter(
        t.emotion for c in sum(_conversations(settings).values(), []) for t in c if t.role == "rosie"
    )
    outcome = _label_distribution(emotions)
    categories = Counter(
        x for s in SPLITS for x in read_split(settings, "personality", s, ["category"])[0].to_pylist()
    )
    scarce = {c: categories[c] for c in CATEGORIES if categories[c] < MIN_CATEGORY_SHARE * categories.total()}
    metadata = {**outcome.metadata, "categories": dict(categories), "scarce_categories": scarce}
    return CheckOutcome(outcome.passed and not scarce, metadata)


def personality_no_split_leakage(settings: Settings) -> CheckOutcome:
    items = {s: set(read_split(settings, "personality", s, ["source_item"])[0].to_pylist()) for s in SPLITS}
    return _leakage(
        texts={s: {text_key(conversation_text(c)) for c in cs} for s, cs in _conversations(settings).items()},
        source_items=items,
    )


def personality_minimum_size(settings: Settings) -> CheckOutcome:
    conversations = [c for cs in _conversations(settings).values() for c in cs]
    texts = [text_key(conversation_text(c)) for c in conversations]
    duplicates = len(texts) - len(set(texts))
    unlabelled = sum(t.role == "rosie" and t.emotion is None for c in conversations for t in c)
    passed = len(texts) >= PERSONALITY_MIN_CONVERSATIONS and duplicates == 0 and unlabelled == 0
    return CheckOutcome(
        passed,
        {
            "conversations": len(texts),
            "exact_duplicates": duplicates,
            "rosie_turns_without_emotion": unlabelled,
        },
    )


Check = Callable[[Settings], CheckOutcome]

# name -> (check, description), per dataset
CHECKS: dict[str, dict[str, tuple[Check, str]]] = {
    "emotion": {
        "emotion_label_distribution": (
            emotion_label_distribution,
            "Every label holds 0.5%..45% of the examples.",
        ),
        "emotion_no_split_leakage": (
            emotion_no_split_leakage,
            "No (normalised) text and no source item (dialogue, comment, ...) appears in two splits.",
        ),
        "emotion_minimum_size": (
            emotion_minimum_size,
            "At least 10,000 examples and gold rows in every split.",
        ),
    },
    "personality": {
        "personality_label_distribution": (
            personality_label_distribution,
            "Rosie's emotions each hold 0.5%..45% of her turns; every category holds >= 3% of conversations.",
        ),
        "personality_no_split_leakage": (
            personality_no_split_leakage,
            "No conversation and no source dialogue appears in two splits.",
        ),
        "personality_minimum_size": (
            personality_minimum_size,
            "At least 10,000 conversations, no exact duplicates, an emotion on every Rosie turn.",
        ),
    },
}


def run_checks(settings: Settings, dataset: str) -> dict[str, CheckOutcome]:
    return {name: check(settings) for name, (check, _) in CHECKS[dataset].items()}
