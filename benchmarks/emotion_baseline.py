"""Emotion baseline: TF-IDF + logistic regression on the emotion dataset, against two peers.

Peers scored on the same gold test split in the same run: the majority class, and the NRC lexicon
labeller used for the weak labels (where it abstains it predicts neutral). Prints macro-F1,
per-class F1 and the ratios; ``--write`` also stores the figures where model_eval reads them
(``artifacts/datasets/emotion/baseline.json``, the same file the ``emotion_baseline`` asset writes).

    PYTHONPATH=. .venv/bin/python benchmarks/emotion_baseline.py [--write]
"""

from __future__ import annotations

import argparse
import json
import time

from foundation.atomic import write_text_atomic
from foundation.settings import Settings
from labeling.baseline import macro_f1_scores, train_and_score
from labeling.datasets import read_split
from labeling.emotion_dataset import build_emotion_dataset
from labeling.weak_labels import LexiconLabeller


def lexicon_peer(test) -> dict:
    """The weak labeller as a classifier: macro-F1 on gold rows, and precision where it speaks."""
    rows = test.select(["text", "label", "label_source"]).to_pylist()
    rows = [r for r in rows if r["label_source"] == "gold"]
    labeller = LexiconLabeller()
    predicted = [(labeller.label(r["text"]), r["label"]) for r in rows]
    y_pred = [weak.label if weak else "neutral" for weak, _ in predicted]
    y_true = [gold for _, gold in predicted]
    spoken = [(weak.label, gold) for weak, gold in predicted if weak]
    return {
        "macro_f1": macro_f1_scores(y_true, y_pred)["macro_f1"],
        "coverage": round(len(spoken) / len(rows), 4),
        "precision_where_labelled": round(sum(p == g for p, g in spoken) / max(1, len(spoken)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store baseline.json for model_eval")
    args = parser.parse_args()
    settings = Settings.from_env()
    started = time.perf_counter()
    if settings.layout.split_path("emotion", "test").exists():
        train, test = read_split(settings, "emotion", "train"), read_split(settings, "emotion", "test")
    else:
        build = build_emotion_dataset(settings.data_root)
        train, test = build.tables["train"], build.tables["test"]
    build_s = time.perf_counter() - started
    figures = train_and_score(train, test)
    peer = lexicon_peer(test)
    figures["lexicon_peer"] = peer
    figures["macro_f1_vs_lexicon"] = round(figures["macro_f1"] / peer["macro_f1"], 2)
    print(f"dataset ready in {build_s:.1f}s; train {figures['n_train']:,}, gold test {figures['n_test']:,}")
    print(f"{'class':<14}{'F1':>7}")
    for label, f1 in figures["per_class_f1"].items():
        print(f"{label:<14}{f1:>7.3f}")
    f = figures
    print(f"macro-F1 {f['macro_f1']:.3f} (accuracy {f['accuracy']:.3f}, fit {f['fit_seconds']}s)")
    print(f"  majority-class peer {f['majority_class_macro_f1']:.3f} -> {f['macro_f1_vs_majority']}x")
    print(
        f"  NRC-lexicon peer    {peer['macro_f1']:.3f} -> {f['macro_f1_vs_lexicon']}x (labels "
        f"{peer['coverage']:.0%} of texts, {peer['precision_where_labelled']:.0%} precise where it does)"
    )
    if args.write:
        path = write_text_atomic(json.dumps(figures, indent=2), settings.layout.baseline_path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
