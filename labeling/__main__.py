"""Build the datasets without Dagster: ``python -m labeling [emotion|personality|baseline|leaks|all]``.

Reads ``ROSIE_DATA_ROOT`` and writes under ``ROSIE_ARTIFACTS_DIR`` exactly as the assets do
(splits, quarantine, ``CARD.md``, ``baseline.json``); exits 1 when a check fails. ``leaks`` prints
what crosses splits within and across the two written datasets (``labeling.leaks``).
"""

from __future__ import annotations

import argparse
import json
import sys

from foundation.settings import Settings
from labeling.build import write_baseline, write_emotion_dataset, write_personality_dataset
from labeling.datasets import read_splits
from labeling.emotion_dataset import EmotionOptions
from labeling.leaks import split_leaks
from labeling.licences import EXCLUDE_NONCOMMERCIAL_ENV
from labeling.personality import PersonalityOptions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labeling", description=__doc__.splitlines()[0])
    parser.add_argument(
        "what", nargs="?", default="all", choices=["emotion", "personality", "baseline", "leaks", "all"]
    )
    parser.add_argument(
        "--exclude-noncommercial",
        action="store_true",
        default=Settings.from_env().exclude_noncommercial,
        help=f"keep only sources cleared for commercial use (default: ${EXCLUDE_NONCOMMERCIAL_ENV})",
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    written = []
    if args.what in ("emotion", "all"):
        written.append(
            write_emotion_dataset(settings, EmotionOptions(exclude_noncommercial=args.exclude_noncommercial))
        )
    if args.what in ("personality", "all"):
        options = PersonalityOptions(exclude_noncommercial=args.exclude_noncommercial)
        written.append(write_personality_dataset(settings, options))
    for dataset in written:
        print(f"{dataset.name}: {dataset.split_sizes} -> {dataset.card_path.parent}")
        for name, outcome in dataset.checks.items():
            print(f"  {'ok  ' if outcome.passed else 'FAIL'} {name}")
    if args.what in ("baseline", "all"):
        figures, path = write_baseline(settings)
        print(
            f"baseline macro-F1 {figures['macro_f1']} ({figures['macro_f1_vs_majority']}x majority) -> {path}"
        )
    if args.what in ("leaks", "all"):
        leaks = split_leaks(read_splits(settings, "emotion"), read_splits(settings, "personality"))
        print("leaks across splits:", json.dumps(leaks, indent=2))
    return 0 if all(dataset.passed for dataset in written) else 1


if __name__ == "__main__":
    sys.exit(main())
