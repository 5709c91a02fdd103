"""GPU figures of the trainer (needs a CUDA GPU; says so and exits otherwise).

1. Throughput and MFU of the 768/12/12 preset (``gpt768``, 2048 context) under the real trainer:
   DeepSpeed ZeRO-2, bf16 where supported (fp16 + loss scaling otherwise), against a plain PyTorch
   loop (autocast, same shape) in the same run.
2. Peak GPU memory of the ~500M preset (``500m``) under ZeRO-2 + optimizer CPU offload with
   activation checkpointing, micro-batch 4 at 2048 context: it must fit a 12 GB card.

    PYTHONPATH=. python benchmarks/bench_gpu.py [--steps 20]

Each figure comes from a trainer subprocess (``python -m model.train --phase base``) on random
token shards, read back from the weight manifest's metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.bench_train import random_shard, sample_tokenizer, trainer_tokens_per_s
from foundation.settings import Settings
from model.config import ModelConfig, training_flops_per_token
from model.distributed import peak_flops
from model.gpt import RosieGPT

TWELVE_GB = 12 * 10**9 / 2**30  # GiB


def prepared_settings(root: Path, preset: str) -> tuple[Settings, ModelConfig]:
    settings = Settings.from_env(artifacts_dir=root / "artifacts", model_dir=root / "model", preset=preset)
    config = ModelConfig.from_preset(preset)
    tokenizer = sample_tokenizer(settings.data_root, config.vocab_size)
    tokenizer.save(settings.layout.model.tokenizer_dir)
    random_shard(settings.layout.tokens_dir("pretrain"), tokenizer.vocab_size, 20_000_000)
    return settings, ModelConfig.from_preset(preset, vocab_size=tokenizer.vocab_size)


def plain_autocast_tokens_per_s(
    config: ModelConfig, steps: int, micro_batch: int, dtype: torch.dtype
) -> float:
    model = RosieGPT(config).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    block = config.block_size
    batch = torch.randint(0, config.vocab_size, (micro_batch, block + 1), device="cuda")
    for step in range(steps + 3):
        if step == 3:  # warm-up done
            torch.cuda.synchronize()
            started = time.perf_counter()
        with torch.autocast("cuda", dtype=dtype):
            loss = model(batch[:, :-1], targets=batch[:, 1:]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    return steps * micro_batch * block / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--micro-batch", type=int, default=8, help="for the 768/12/12 throughput run")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU on this machine; run it where `torch.cuda.is_available()` is True.")
        sys.exit(0)
    name = torch.cuda.get_device_name()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    with tempfile.TemporaryDirectory() as tmp:
        settings, config = prepared_settings(Path(tmp) / "gpt768", "gpt768")
        trainer = trainer_tokens_per_s(settings, "gpt768", args.steps, args.micro_batch, config.block_size)
    plain = plain_autocast_tokens_per_s(config, args.steps, args.micro_batch, dtype)
    n_params = RosieGPT(config).num_parameters()
    peak, source = peak_flops(torch.device("cuda"), dtype)
    plain_mfu = training_flops_per_token(config, config.block_size) * plain / peak
    print(
        f"{name}, {dtype}: gpt768 ({n_params / 1e6:.0f}M parameters), micro-batch {args.micro_batch} x 2048"
    )
    print(
        f"  trainer: {trainer['tokens_per_s']:,.0f} tokens/s, MFU {trainer['mfu']:.1%}, "
        f"peak {trainer['peak_memory_gib']:.1f} GiB"
    )
    print(f"  plain PyTorch (autocast): {plain:,.0f} tokens/s, MFU {plain_mfu:.1%} (peak: {source})")
    print(f"  ratio trainer/plain: {trainer['tokens_per_s'] / plain:.2f}")

    overrides = {
        "offload_optimizer": True,
        "activation_checkpointing": True,
        "zero_stage": 2,
        "zero0_when_fits": False,  # the 12 GB setup, even on a card where ZeRO-0 would fit
    }
    with tempfile.TemporaryDirectory() as tmp:
        settings, config = prepared_settings(Path(tmp) / "500m", "500m")
        big = trainer_tokens_per_s(settings, "500m", max(args.steps // 4, 3), 4, config.block_size, overrides)
    fits = big["peak_memory_gib"] < TWELVE_GB
    print(
        f"500m ({RosieGPT(config).num_parameters() / 1e6:.0f}M parameters), ZeRO-2 + optimizer offload, "
        f"micro-batch 4 x 2048: peak {big['peak_memory_gib']:.2f} GiB of {TWELVE_GB:.2f} -> "
        f"{'fits' if fits else 'does NOT fit'} a 12 GB GPU; {big['tokens_per_s']:,.0f} tokens/s"
    )
    print(
        json.dumps(
            {"gpt768": trainer, "gpt768_plain_tokens_per_s": plain, "500m": big}, indent=2, default=str
        )
    )


if __name__ == "__main__":
    main()
