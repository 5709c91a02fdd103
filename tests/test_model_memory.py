"""Memory estimator: agrees with DeepSpeed's estimators and with activations measured on a real model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.config import PRESETS, ModelConfig, parameter_count_formula
from model.gpt import RosieGPT
from model.memory import (
    GIB,
    STRATEGIES,
    Strategy,
    activation_bytes,
    deepspeed_model_states,
    estimate,
    fits,
    markdown_tables,
    recommendation,
)

TWELVE_GIB = 12 * GIB


@pytest.mark.parametrize("preset", list(PRESETS))
def test_model_states_match_deepspeed_estimators(preset: str) -> None:
    config = PRESETS[preset]
    for strategy in STRATEGIES:
        if strategy.zero_stage < 2:
            continue
        for num_gpus in (1, 4):
            ours = estimate(config, strategy, num_gpus=num_gpus)
            ds_cpu, ds_gpu = deepspeed_model_states(config, strategy, num_gpus=num_gpus)
            assert ours.model_states == pytest.approx(ds_gpu, rel=1e-6), (strategy, num_gpus)
            if strategy.offload_optimizer and num_gpus == 1:  # DeepSpeed adds a 1.5x host buffer factor
                assert ours.cpu * 1.5 == pytest.approx(ds_cpu, rel=1e-6), strategy


def test_components_follow_zero_partitioning() -> None:
    config, n = PRESETS["gpt768"], parameter_count_formula(PRESETS["gpt768"])
    stage0, stage1, stage2 = (estimate(config, s, num_gpus=4) for s in STRATEGIES[:3])
    assert (stage0.params, stage0.grads, stage0.optimizer) == (2 * n, 2 * n, 16 * n)
    assert (stage1.grads, stage1.optimizer) == (2 * n, 4 * n)
    assert (stage2.grads, stage2.optimizer) == (n // 2, 4 * n)
    offloaded = estimate(config, Strategy("o", 3, offload_optimizer=True, offload_params=True))
    assert offloaded.params == offloaded.optimizer == 0 and offloaded.cpu == 18 * n
    with pytest.raises(ValueError, match="stage 2 or 3"):
        Strategy("bad", 1, offload_optimizer=True)


def test_activation_formula_matches_tensors_saved_by_a_real_forward() -> None:
    config = ModelConfig(vocab_size=512, block_size=256, n_layer=4, n_head=4, n_embd=128, memory_every=2)
    model = RosieGPT(config).train()
    idx = torch.randint(0, config.vocab_size, (2, 256))
    param_ptrs = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def record(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in param_ptrs:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(record, lambda t: t):
        model(idx, targets=idx, memory=torch.randn(2, 4, config.n_embd))
    measured_fp32 = sum(saved.values())
    estimated_fp32 = 2 * activation_bytes(config, micro_batch=2, seq_len=256, checkpointing=False)
    assert 0.75 < measured_fp32 / estimated_fp32 < 1.25
    assert activation_bytes(config, 4, 256, False) > 1.9 * activation_bytes(config, 2, 256, False)
    assert activation_bytes(config, 2, 256, True) < activation_bytes(config, 2, 256, False) / 1.5


def test_twelve_gib_verdicts() -> None:
    assert fits(estimate(PRESETS["gpt768"], STRATEGIES[0]), TWELVE_GIB)
    assert not fits(estimate(PRESETS["1b"], STRATEGIES[2], checkpointing=True), TWELVE_GIB)
    assert fits(estimate(PRESETS["1b"], STRATEGIES[4]), TWELVE_GIB)
    assert recommendation(PRESETS["1b"], TWELVE_GIB).startswith("ZeRO-2 + offload optimizer")
    huge_vocab = dataclasses.replace(PRESETS["1b"], vocab_size=2_000_000)  # the logits alone overflow
    assert recommendation(huge_vocab, TWELVE_GIB) == "does not fit"
    table = markdown_tables()
    assert "| ZeRO-3 + offload optimizer+params |" in table and "**1b**" in table
