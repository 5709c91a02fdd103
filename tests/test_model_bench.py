"""The model benchmark compares like with like: GPT-2 peer at the identical shape, a sane FLOP count."""

from __future__ import annotations

import torch

from benchmarks.bench_model import gpt2_peer
from model.config import ModelConfig, parameter_count_formula, training_flops_per_token
from model.distributed import matmul_flops


def test_gpt2_peer_has_the_identical_shape() -> None:
    """Identical to GPT-2's learned-position shape; the default rotary/QK-norm model differs only by
    the position table and the per-head norms."""
    config = ModelConfig(
        vocab_size=300, block_size=64, n_layer=2, n_head=2, n_embd=32, rotary=False, qk_norm=False
    )
    peer = gpt2_peer(config)
    d = config.n_embd
    rosie_only = config.n_personas * d + (4 * d * d + 6 * d + 1) + (d * config.n_emotions + config.n_emotions)
    assert sum(p.numel() for p in peer.parameters()) == parameter_count_formula(config) - rosie_only
    idx = torch.randint(0, 300, (2, 64))
    assert peer(input_ids=idx).logits.shape == (2, 64, 300)


def test_flops_and_peak_are_plausible() -> None:
    config = ModelConfig.from_preset("demo")
    n = parameter_count_formula(config)
    assert 5 * n < training_flops_per_token(config, 256) < 8 * n
    assert 1e8 < matmul_flops("cpu", torch.float32, n=256, repeats=2) < 1e14
