"""Build, write and check a dataset in one call: what the Dagster assets and the CLI both run.

Writes the splits, the quarantine file and the dataset card (``datasets/<name>/CARD.md``), then
runs the checks on the written files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from foundation.atomic import write_text_atomic
from foundation.settings import Settings
from labeling.baseline import train_and_score
from labeling.cards import emotion_card, personality_card
from labeling.checks import CheckOutcome, run_checks
from labeling.datasets import read_split, write_quarantine, write_splits
from labeling.emotion_dataset import EmotionBuild, EmotionOptions, build_emotion_dataset
from labeling.personality import PersonalityBuild, PersonalityOptions, build_personality_dataset
from labeling.splits import SPLITS


@dataclass
class WrittenDataset:
    name: str
    build: EmotionBuild | PersonalityBuild
    split_sizes: dict[str, int]
    paths: dict[str, Path]
    quarantine_path: Path
    card: str
    card_path: Path
    checks: dict[str, CheckOutcome]

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.checks.values())


def _write(settings: Settings, name: str, build, card_for) -> WrittenDataset:
    paths = write_splits(settings, name, build.tables)
    quarantine_path = write_quarantine(settings, name, build.quarantine.records, build.input_sha256)
    sizes = {split: build.tables[split].num_rows for split in SPLITS}
    card = card_for(sizes)
    card_path = write_text_atomic(card, settings.layout.dataset_dir(name) / "CARD.md")
    checks = run_checks(settings, name)
    return WrittenDataset(name, build, sizes, paths, quarantine_path, card, card_path, checks)


def write_emotion_dataset(settings: Settings, options: EmotionOptions | None = None) -> WrittenDataset:
    options = options or EmotionOptions()
    build = build_emotion_dataset(settings.data_root, options)
    return _write(
        settings,
        "emotion",
        build,
        lambda sizes: emotion_card(build.stats, sizes, options.exclude_noncommercial),
    )


def write_personality_dataset(
    settings: Settings, options: PersonalityOptions | None = None
) -> WrittenDataset:
    build = build_personality_dataset(settings.data_root, options or PersonalityOptions())
    return _write(
        settings, "personality", build, lambda sizes: personality_card(build.stats, sizes, build.diversity)
    )


def write_baseline(settings: Settings) -> tuple[dict, Path]:
    """Fit and score the TF-IDF baseline on the written emotion dataset; store it for model_eval."""
    figures = train_and_score(
        read_split(settings, "emotion", "train"), read_split(settings, "emotion", "test")
    )
    return figures, write_text_atomic(json.dumps(figures, indent=2), settings.layout.baseline_path)
