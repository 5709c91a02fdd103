"""Does bf16 train like fp32? The demo preset's phase 1, on the sample books, once per precision.

Both runs are the real trainer (``python -m model.train --phase base``) with the same seed, data
and schedule; only ``precision`` differs (bf16 on CPU is autocast: fp32 weights and optimizer,
bf16 matmuls). The per-step training losses come from each run's TensorBoard log and are drawn
together in ``docs/precision_loss.png``.

    PYTHONPATH=. .venv/bin/python benchmarks/precision_curves.py [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.bench_train import sample_tokenizer, trainer_metrics
from foundation.settings import PROJECT_ROOT, Settings
from model.shard_building import build_text_shards
from model.tokenizer_corpus import paragraphs

PLOT = PROJECT_ROOT / "docs" / "precision_loss.png"


def book_documents(data_root: str, limit: int = 12) -> list[tuple[str, str]]:
    """Paragraph documents of the first ``limit`` sample books (about 2M tokens at the demo vocab)."""
    books = sorted((Path(data_root) / "books").rglob("*.txt"))[:limit]
    return [
        (f"{book.name}#{i}", text)
        for book in books
        for i, text in enumerate(paragraphs(book.read_text(encoding="utf-8", errors="replace")))
    ]


def training_losses(settings: Settings) -> list[float]:
    """``train/loss`` per step from the phase's TensorBoard log."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(settings.layout.model.tensorboard_dir("base")))
    events.Reload()
    return [event.value for event in events.Scalars("train/loss")]


def run(steps: int = 60) -> dict:
    data_root = Settings.from_env().data_root
    losses: dict[str, list[float]] = {}
    speed: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shared = Settings.from_env(
            data_root=data_root, artifacts_dir=root / "artifacts", model_dir=root / "m"
        )
        tokenizer = sample_tokenizer(data_root, 8192)
        build_text_shards(
            book_documents(data_root),
            tokenizer,
            shared.layout.tokens_dir("pretrain"),
            validation_fraction=0.02,
        )
        for precision in ("fp32", "bf16"):
            settings = Settings.from_env(
                data_root=data_root, artifacts_dir=shared.artifacts_dir, model_dir=root / precision
            )
            tokenizer.save(settings.layout.model.tokenizer_dir)
            phase = {
                "max_steps": steps,
                "eval_interval": 0,
                "eval_examples": 8,
                "checkpoint_interval": steps + 1,
            }
            manifest = trainer_metrics(settings, "demo", phase, {"precision": precision})
            losses[precision] = training_losses(settings)
            speed[precision] = manifest["metrics"]["tokens_per_s"]
            shutil.rmtree(settings.model_dir)
    plot(losses)
    tail = max(1, steps // 6)
    gap = [abs(a - b) for a, b in zip(losses["fp32"][-tail:], losses["bf16"][-tail:], strict=True)]
    result = {
        "preset": "demo",
        "steps": steps,
        "final_loss": {p: round(sum(v[-tail:]) / tail, 4) for p, v in losses.items()},
        "max_abs_gap_last_steps": round(max(gap), 4),
        "tokens_per_s": {p: round(v, 1) for p, v in speed.items()},
        "plot": str(PLOT.relative_to(PROJECT_ROOT)),
        "load_average": os.getloadavg()[0],
    }
    print(f"precision curves: {json.dumps(result)}", flush=True)
    return result


def plot(losses: dict[str, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for precision, values in losses.items():
        axes.plot(range(1, len(values) + 1), values, label=precision)
    axes.set(xlabel="step", ylabel="training loss", title="demo preset, phase 1: bf16 autocast vs fp32 (CPU)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(PLOT, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    run(parser.parse_args().steps)


if __name__ == "__main__":
    main()
