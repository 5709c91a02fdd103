"""Trainer throughput on CPU against a plain PyTorch loop at the same shape, in the same run.

The trainer (``python -m model.train --phase base``: DeepSpeed ZeRO-2 engine, memmapped token
shards, checkpoints off the clock) and a bare loop (``RosieGPT`` + ``torch.optim.AdamW`` on
in-memory random batches) train the same model preset at the same micro-batch and context. The
ratio is the overhead of DeepSpeed and of the data path.

    PYTHONPATH=. python benchmarks/bench_train.py [--preset demo] [--steps 30] [--micro-batch 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from foundation.settings import PROJECT_ROOT, Settings
from model.config import ModelConfig
from model.distributed import flops_per_token, peak_flops
from model.gpt import RosieGPT
from model.shards import TokenShardWriter
from model.tokenizer import RosieTokenizer
from model.tokenizer_corpus import paragraphs
from model.weights import manifest_path


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


def trainer_tokens_per_s(
    settings: Settings, preset: str, steps: int, micro_batch: int, block: int, overrides: dict | None = None
) -> dict:
    """Phase 1 of the real trainer on ``settings``' shards; its manifest metrics (tokens/s, MFU, memory)."""
    phase = {
        "max_steps": steps,
        "warmup_steps": 2,
        "micro_batch_size": micro_batch,
        "block_size": block,
        "eval_interval": 0,
        "eval_examples": 4,
        "checkpoint_interval": steps + 1,
        "log_interval": 1,
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "ROSIE_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "ROSIE_MODEL_DIR": str(settings.model_dir),
        "ROSIE_PRESET": preset,
        "ROSIE_TRAIN_OVERRIDES": json.dumps({**(overrides or {}), "phases": {"base": phase}}),
    }
    subprocess.run([sys.executable, "-m", "model.train", "--phase", "base"], env=env, check=True)
    manifest = json.loads(manifest_path(settings.layout.model.weights_path("base")).read_text())
    return manifest["metrics"]


def plain_tokens_per_s(config: ModelConfig, steps: int, micro_batch: int, block: int) -> float:
    torch.manual_seed(0)
    model = RosieGPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    batches = [torch.randint(0, config.vocab_size, (micro_batch, block + 1)) for _ in range(4)]
    timings = []
    for step in range(steps):
        batch = batches[step % len(batches)]
        started = time.perf_counter()
        loss = model(batch[:, :-1], targets=batch[:, 1:]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        timings.append(time.perf_counter() - started)
    recent = timings[-min(10, len(timings)) :]  # the trainer reports the mean of its last 10 steps too
    return micro_batch * block / (sum(recent) / len(recent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--block", type=int, default=0, help="context length (0: the preset's)")
    args = parser.parse_args()
    config = ModelConfig.from_preset(args.preset)
    block = args.block or config.block_size
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            artifacts_dir=Path(tmp) / "artifacts", model_dir=Path(tmp) / "model", preset=args.preset
        )
        tokenizer = sample_tokenizer(settings.data_root, config.vocab_size)
        tokenizer.save(settings.layout.model.tokenizer_dir)
        config = ModelConfig.from_preset(args.preset, vocab_size=tokenizer.vocab_size)
        random_shard(settings.layout.tokens_dir("pretrain"), tokenizer.vocab_size, 2_000_000)
        trainer = trainer_tokens_per_s(settings, args.preset, args.steps, args.micro_batch, block)
    plain = plain_tokens_per_s(config, args.steps, args.micro_batch, block)
    n_params = RosieGPT(config).num_parameters()
    peak, source = peak_flops(torch.device("cpu"), torch.float32)
    plain_mfu = flops_per_token(config, n_params, block) * plain / peak
    print(
        f"preset {args.preset}: {n_params:,} parameters, micro-batch {args.micro_batch} x {block} tokens, "
        f"{torch.get_num_threads()} threads"
    )
    trainer_speed = trainer["tokens_per_s"]
    print(f"trainer (DeepSpeed, token shards): {trainer_speed:,.0f} tokens/s, MFU {trainer['mfu']:.1%}")
    print(f"plain PyTorch loop:               {plain:,.0f} tokens/s, MFU {plain_mfu:.1%}")
    print(f"ratio trainer/plain: {trainer_speed / plain:.2f}  (MFU peak: {source})")


if __name__ == "__main__":
    main()
