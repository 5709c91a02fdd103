"""Training throughput on one process: Rosie's trainer, a plain PyTorch loop and a nanoGPT-equivalent
peer at the same shape and precision, interleaved, median of the repetitions (ratios: the median of each
repetition's own ratio), with the load average.

- trainer: ``python -m model.train --phase base`` (DeepSpeed engine with the stage it resolves,
  memmapped token shards, checkpoints off the clock), with AdamW whatever the preset's optimizer;
  its per-step tokens/s from the manifest;
- plain: ``RosieGPT`` + ``torch.optim.AdamW`` in a bare loop (what the trainer must not lose to);
- nanogpt: HF transformers' ``GPT2LMHeadModel`` (the architecture nanoGPT reproduces) trained with
  nanoGPT's settings: AdamW betas (0.9, 0.95), weight decay 0.1 on matrices only, clipping at 1.0.

All three train in the precision the trainer's ``auto`` picks on this machine (bf16 autocast where
the CPU's bf16 matmul measures faster), on random token ids (values do not change the speed).
MFU = ``model.config.training_flops_per_token`` x tokens/s / the measured matmul peak at that
precision; both are named in the results.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_train.py [--presets demo gpt768] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.bench_model import gpt2_peer
from foundation.settings import PROJECT_ROOT, Settings
from model.config import ModelConfig, training_flops_per_token
from model.distributed import peak_flops
from model.ds_config import select_precision
from model.gpt import RosieGPT
from model.optimizer import parameter_groups
from model.shards import TokenShardWriter
from model.tokenizer import RosieTokenizer
from model.tokenizer_corpus import paragraphs
from model.train_config import TrainConfig
from model.weights import manifest_path

# micro-batch x context per preset: the demo's own shape, and gpt768 cut to 4 x 256 so three
# systems x three repetitions finish in minutes on a 2-core CPU (per-token work scales alike)
SHAPES = {"demo": (8, 256), "gpt768": (4, 256), "500m": (1, 256), "1b": (1, 256)}
LEARNING_RATE = 6e-4


def sample_tokenizer(data_root: str, vocab_size: int) -> RosieTokenizer:
    """A tokenizer of the preset's vocabulary size (its quality does not change the speed)."""
    books = sorted((Path(data_root) / "books" / "nltk_gutenberg").glob("*.txt"))[:3]
    texts = [p for book in books for p in paragraphs(book.read_text(encoding="utf-8", errors="replace"))]
    return RosieTokenizer.train(texts, vocab_size)


def random_shard(directory: Path, vocab_size: int, n_tokens: int, seed: int = 0) -> None:
    """Token values do not change the speed: random ids in the real shard format."""
    rng = np.random.default_rng(seed)
    for split, size in (("train", n_tokens), ("validation", n_tokens // 50)):
        writer = TokenShardWriter(directory / split, vocab_size, chat=False)
        for _ in range(size // 1000):
            writer.add(rng.integers(0, vocab_size, 1000))
        writer.close(split=split)


def trainer_metrics(settings: Settings, preset: str, phase: dict, overrides: dict | None = None) -> dict:
    """Phase 1 of the real trainer on ``settings``' shards; its manifest (metrics, precision, stage)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ROSIE_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "ROSIE_MODEL_DIR": str(settings.model_dir),
        "ROSIE_PRESET": preset,
        "ROSIE_TRAIN_OVERRIDES": json.dumps({**(overrides or {}), "phases": {"base": phase}}),
    }
    subprocess.run(
        [sys.executable, "-m", "model.train", "--phase", "base"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(manifest_path(settings.layout.model.weights_path("base")).read_text())


def trainer_tokens_per_s(
    settings: Settings, preset: str, steps: int, micro_batch: int, block: int, overrides: dict | None = None
) -> dict:
    """The trainer's manifest metrics (median tokens/s of its last steps, MFU, peak memory)."""
    phase = {
        "max_steps": steps,
        "warmup_steps": 1,
        "micro_batch_size": micro_batch,
        "grad_accum_steps": 1,
        "block_size": block,
        "eval_interval": 0,
        "eval_examples": 4,
        "checkpoint_interval": steps + 1,
        "log_interval": 1,
    }
    manifest = trainer_metrics(settings, preset, phase, overrides)
    return {**manifest["metrics"], "precision": manifest["precision"], "zero_stage": manifest["zero_stage"]}


def decay_groups(model: torch.nn.Module) -> list[dict]:
    """nanoGPT's optimizer groups: weight decay 0.1 on every matrix, none on biases and norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def loop_step(
    model: torch.nn.Module, groups: list[dict], forward: Callable[[torch.Tensor], torch.Tensor], bf16: bool
) -> Callable[[torch.Tensor], None]:
    """One optimizer step of a bare loop: autocast forward, backward, clip at 1.0, AdamW (0.9, 0.95)."""
    optimizer = torch.optim.AdamW(groups, lr=LEARNING_RATE, betas=(0.9, 0.95))

    def step(batch: torch.Tensor) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = forward(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def plain_step(config: ModelConfig, bf16: bool) -> Callable[[torch.Tensor], None]:
    """Rosie's model in a bare PyTorch loop, with the trainer's own optimizer groups."""
    model = RosieGPT(config).train()
    train = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer="adamw")
    groups = parameter_groups(model, train, train.phase("base"))
    return loop_step(model, groups, lambda b: model(b[:, :-1], targets=b[:, 1:]).loss, bf16)


def nanogpt_step(config: ModelConfig, bf16: bool) -> Callable[[torch.Tensor], None]:
    """GPT-2 at the identical shape, trained as nanoGPT trains it (HF shifts the labels inside)."""
    model = gpt2_peer(config).train()
    return loop_step(
        model, decay_groups(model), lambda b: model(input_ids=b[:, 1:], labels=b[:, 1:]).loss, bf16
    )


def loop_tokens_per_s(make_step: Callable[[], Callable], batch: torch.Tensor, steps: int) -> float:
    """Median tokens/s of ``steps`` timed steps after one warm-up step (fresh model each repetition)."""
    step = make_step()
    step(batch)
    timings = []
    for _ in range(steps):
        started = time.perf_counter()
        step(batch)
        timings.append(time.perf_counter() - started)
    return batch.shape[0] * (batch.shape[1] - 1) / statistics.median(timings)


def paired_ratio(runs: dict[str, list[float]], peer: str) -> float:
    """Median over the repetitions of trainer / ``peer`` within each one: the two ran back to back,
    so a slow spell of the machine (one trainer run here fell to 412 tok/s between runs of 600)
    moves a pair's ratio only if it hits one side, and then it is one repetition of the median."""
    return round(statistics.median(t / p for t, p in zip(runs["trainer"], runs[peer], strict=True)), 3)


def bench_preset(preset: str, repeats: int, steps: int, data_root: str) -> dict:
    micro_batch, block = SHAPES[preset]
    precision = select_precision("auto", "cpu")
    bf16 = precision == "bf16"
    runs: dict[str, list[float]] = {"trainer": [], "plain": [], "nanogpt": []}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            data_root=data_root, artifacts_dir=Path(tmp) / "artifacts", model_dir=Path(tmp) / "model"
        )
        tokenizer = sample_tokenizer(data_root, ModelConfig.from_preset(preset).vocab_size)
        tokenizer.save(settings.layout.model.tokenizer_dir)
        config = ModelConfig.from_preset(preset, vocab_size=tokenizer.vocab_size)
        random_shard(settings.layout.tokens_dir("pretrain"), tokenizer.vocab_size, 200_000)
        batch = torch.randint(0, config.vocab_size, (micro_batch, block + 1))
        trainer: dict = {}
        # Interleaved: each repetition runs all three, so background load hits them alike.
        for _ in range(repeats):
            # a fresh run each time: left in place, the last checkpoint would be resumed, not retrained
            shutil.rmtree(settings.layout.model.checkpoint_dir("base"), ignore_errors=True)
            # AdamW as the two loops use: this measures the trainer's overhead, not Muon's
            # Newton-Schulz work (the demo preset's optimizer; its cost is in benchmarks/recipe.py)
            overrides = {"precision": precision, "optimizer": "adamw"}
            trainer = trainer_tokens_per_s(settings, preset, steps + 1, micro_batch, block, overrides)
            runs["trainer"].append(trainer["tokens_per_s"])
            runs["plain"].append(loop_tokens_per_s(lambda: plain_step(config, bf16), batch, steps))
            runs["nanogpt"].append(loop_tokens_per_s(lambda: nanogpt_step(config, bf16), batch, steps))
    peak, peak_source = peak_flops(torch.device("cpu"), torch.bfloat16 if bf16 else torch.float32)
    flops = training_flops_per_token(config, block)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    result = {
        "shape": f"{micro_batch}x{block}",
        "precision": precision,
        "zero_stage": trainer["zero_stage"],
        "repeats": repeats,
        "steps_per_repeat": steps,
        "tokens_per_s": {name: round(v, 1) for name, v in medians.items()},
        "runs_tokens_per_s": {name: [round(v, 1) for v in values] for name, values in runs.items()},
        "mfu": {name: round(flops * v / peak, 4) for name, v in medians.items()},
        "mfu_peak": peak_source,
        "mfu_flops_per_token": flops,
        "ratio_trainer_over_plain": paired_ratio(runs, "plain"),
        "ratio_trainer_over_nanogpt": paired_ratio(runs, "nanogpt"),
        "load_average": os.getloadavg()[0],
    }
    print(f"train {preset}: {json.dumps(result)}", flush=True)
    return result


def run(presets: list[str], repeats: int = 3, steps: int = 3) -> dict:
    data_root = Settings.from_env().data_root
    return {preset: bench_preset(preset, repeats, steps, data_root) for preset in presets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["demo", "gpt768"], choices=sorted(SHAPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per system per repetition")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = run(args.presets, args.repeats, args.steps)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
