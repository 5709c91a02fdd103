"""One training phase, resolved once on every rank: :class:`PhaseRun` (settings, training and model
config, rank, device, tokenizer, upstream lineage), the architecture it trains and the token shards
it reads. The trainer, its checkpoints, its reporting and its outputs all take a ``PhaseRun``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from foundation.settings import Settings
from model.config import ModelConfig
from model.tokenizer import RosieTokenizer
from model.train_config import PHASE_TOKENS, PhaseConfig, TrainConfig


@dataclasses.dataclass
class PhaseRun:
    """Everything one phase needs, resolved once on every rank."""

    settings: Settings
    train: TrainConfig
    phase: str
    rank: int
    world: int
    device: torch.device
    tokenizer: RosieTokenizer
    config: ModelConfig
    lineage: dict[str, Any]

    @property
    def settings_of_phase(self) -> PhaseConfig:
        return self.train.phase(self.phase)

    @property
    def block_size(self) -> int:
        return min(self.settings_of_phase.block_size or self.config.block_size, self.config.block_size)

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_model_config(
    settings: Settings, train: TrainConfig, phase: str, tokenizer: RosieTokenizer
) -> ModelConfig:
    """Phase 1 fixes the architecture (preset + overrides, vocabulary from the tokenizer) in
    ``config.json``; later phases read it back so their weights always fit."""
    config_path = settings.layout.model.config_path
    if phase == "base":
        config = ModelConfig.from_preset(
            train.preset, **{**train.model_overrides, "vocab_size": tokenizer.vocab_size}
        )
    else:
        if not config_path.exists():
            raise FileNotFoundError(f"{config_path} missing: run phase 1 (base_model) first")
        config = ModelConfig.load_json(config_path)
        if config.vocab_size < tokenizer.vocab_size:
            raise ValueError(
                f"{config_path} has a {config.vocab_size}-token vocabulary but the tokenizer "
                f"has {tokenizer.vocab_size}: re-run phase 1 with this tokenizer"
            )
    return dataclasses.replace(config, gradient_checkpointing=train.activation_checkpointing)


def phase_shards(run: PhaseRun) -> dict[str, Path]:
    """The token shard folders the phase reads, as ``<name>/<split>``: what fingerprints and
    manifests record."""
    names = {PHASE_TOKENS[run.phase]} | (
        {"personality"} if run.settings_of_phase.personality_mix > 0 else set()
    )
    return {
        f"{name}/{split}": run.settings.layout.tokens_dir(name) / split
        for name in sorted(names)
        for split in ("train", "validation")
        if (run.settings.layout.tokens_dir(name) / split / "meta.json").exists()
    }
