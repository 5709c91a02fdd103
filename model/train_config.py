"""Training settings: one dataclass for the run, one per phase, presets matching the model presets.

A preset is a starting point; any field can be overridden with a JSON object (nested for phases)
from ``ROSIE_TRAIN_OVERRIDES`` (the JSON text itself or a path to a JSON file), e.g.::

    ROSIE_TRAIN_OVERRIDES='{"zero_stage": 3, "phases": {"base": {"max_steps": 2000}}}'

The resolved config travels to the trainer as a JSON file, so the subprocess trains exactly what
the Dagster asset decided, and it is recorded in each weight file's lineage manifest.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from foundation.settings import Settings

PHASES: tuple[str, ...] = ("base", "personality", "emotion")
# What each phase writes, what it starts from, and which token shards it reads.
PHASE_WEIGHTS: dict[str, str] = {"base": "base", "personality": "personality", "emotion": "final"}
PHASE_INIT: dict[str, str | None] = {"base": None, "personality": "base", "emotion": "personality"}
PHASE_TOKENS: dict[str, str] = {"base": "pretrain", "personality": "personality", "emotion": "emotion"}


@dataclass(frozen=True)
class PhaseConfig:
    """One phase's schedule and batch shape. Steps are optimizer steps."""

    max_steps: int
    learning_rate: float
    warmup_steps: int
    micro_batch_size: int
    grad_accum_steps: int = 1
    block_size: int | None = None  # None: the model's context length
    min_lr_ratio: float = 0.1  # the schedule decays to learning_rate * min_lr_ratio
    schedule: str = "cosine"  # after warmup: "cosine" decay, or "wsd" (stable, then linear decay)
    decay_fraction: float = 0.2  # wsd: the share of the steps spent decaying
    muon_learning_rate: float = 0.02  # optimizer "muon": the peak for the blocks' matrices
    eval_interval: int = 0  # 0: evaluate at the end only
    eval_examples: int = 256  # cap on held-out windows/conversations per evaluation
    checkpoint_interval: int = 50
    log_interval: int = 1
    emotion_loss_weight: float = 0.0  # phase 3: total = LM loss + weight * emotion-head CE
    # phase 3: weight each label by its inverse frequency in the phase's data (as the baseline's
    # class_weight="balanced"), so rare emotions count in the loss as they count in macro-F1
    balance_emotions: bool = True
    # False: the phase's own rows train the emotion head only, no LM loss (phase 3: Rosie's words
    # stay those of the personality mix, not the emotion corpora's Reddit comments and dialogues)
    language_model_loss: bool = True
    personality_mix: float = 0.0  # phase 3: share of samples from the personality data (keeps her voice)


@dataclass(frozen=True)
class TrainConfig:
    """The whole run: model preset, DeepSpeed switches, launcher and the three phases."""

    preset: str
    phases: dict[str, PhaseConfig]
    model_overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 1337
    zero_stage: int = 2
    offload_optimizer: bool = False
    # one process whose training state fits its device runs ZeRO-0 without offload (see
    # model.ds_config.resolve_zero); False keeps the configured stage (e.g. to measure a 12 GB setup)
    zero0_when_fits: bool = True
    gradient_clipping: float = 1.0
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    optimizer: str = "adamw"  # "adamw", or "muon": Muon for hidden matrices + AdamW (model/optimizer.py)
    precision: str = "auto"  # auto: CPU bf16 where its matmuls measure faster, GPU bf16 (else fp16)
    activation_checkpointing: bool = False
    keep_checkpoints: int = 2
    pretrain_validation_fraction: float = 0.02
    # launcher: "python" runs one plain process; "deepspeed" runs the deepspeed launcher with
    # num_processes per node, on every host of ``hostfile`` when one is given.
    launcher: str = "python"
    num_processes: int = 1
    hostfile: str | None = None
    master_port: int = 29500

    def phase(self, name: str) -> PhaseConfig:
        if name not in self.phases:
            raise ValueError(f"unknown phase {name!r}; expected one of {PHASES}")
        return self.phases[name]

    @classmethod
    def from_preset(cls, name: str) -> TrainConfig:
        if name not in TRAIN_PRESETS:
            raise ValueError(f"no training preset {name!r}; presets: {sorted(TRAIN_PRESETS)}")
        return TRAIN_PRESETS[name]

    def with_overrides(self, overrides: dict[str, Any]) -> TrainConfig:
        """A copy with ``overrides`` applied; ``phases`` entries merge field by field."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        changes = {k: v for k, v in overrides.items() if k != "phases"}
        if "betas" in changes:
            changes["betas"] = tuple(changes["betas"])
        phases = dict(self.phases)
        for name, phase_overrides in overrides.get("phases", {}).items():
            phases[name] = replace(self.phase(name), **phase_overrides)
        return replace(self, **changes, phases=phases)

    @classmethod
    def from_settings(cls, settings: Settings) -> TrainConfig:
        """The ``ROSIE_PRESET`` preset plus any ``ROSIE_TRAIN_OVERRIDES``."""
        return cls.from_preset(settings.preset).with_overrides(settings.train_overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save_json(self, path: str | os.PathLike) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def load_json(cls, path: str | os.PathLike) -> TrainConfig:
        data = json.loads(Path(path).read_text())
        data["phases"] = {name: PhaseConfig(**phase) for name, phase in data["phases"].items()}
        data["betas"] = tuple(data["betas"])
        return cls(**data)


def _phases(base: PhaseConfig, personality: PhaseConfig, emotion: PhaseConfig) -> dict[str, PhaseConfig]:
    return {"base": base, "personality": personality, "emotion": emotion}


# The demo preset: the recipe docs/training.md measured (Muon, warmup-stable-decay; rotary and
# QK-norm are the model's defaults) with the minutes of a 2-core CPU spent mostly on the phases that
# make Rosie talk and feel (about 1 min of phase 1, 2 of phase 2, 2 of phase 3); the others are the
# real recipes for a 12 GB GPU.
TRAIN_PRESETS: dict[str, TrainConfig] = {
    "demo": TrainConfig(
        preset="demo",
        optimizer="muon",
        phases=_phases(
            PhaseConfig(
                max_steps=150,
                learning_rate=3e-3,
                warmup_steps=10,
                micro_batch_size=8,
                schedule="wsd",
                eval_interval=0,
                eval_examples=32,
                checkpoint_interval=50,
            ),
            PhaseConfig(
                max_steps=250,
                learning_rate=3e-3,
                warmup_steps=10,
                micro_batch_size=8,
                schedule="wsd",
                eval_interval=0,
                eval_examples=64,
                checkpoint_interval=50,
            ),
            # The head learns from the emotion rows alone (no LM loss on them: her words stay those
            # of the personality mix), at 3x the LM's weight, with a gentler Muon step for the trunk
            # than in pretraining so her voice drifts little (docs/training.md, phase 3 settings).
            PhaseConfig(
                max_steps=300,
                learning_rate=3e-3,
                muon_learning_rate=0.01,
                warmup_steps=10,
                micro_batch_size=8,
                schedule="wsd",
                eval_interval=0,
                eval_examples=256,
                checkpoint_interval=100,
                emotion_loss_weight=3.0,
                language_model_loss=False,
                personality_mix=0.3,
            ),
        ),
    ),
    "gpt768": TrainConfig(
        preset="gpt768",
        phases=_phases(
            PhaseConfig(
                max_steps=20_000,
                learning_rate=6e-4,
                warmup_steps=1000,
                micro_batch_size=8,
                grad_accum_steps=8,
                eval_interval=1000,
                checkpoint_interval=1000,
                log_interval=10,
            ),
            PhaseConfig(
                max_steps=2_000,
                learning_rate=1e-4,
                warmup_steps=100,
                micro_batch_size=8,
                grad_accum_steps=4,
                eval_interval=500,
                checkpoint_interval=500,
                log_interval=10,
            ),
            PhaseConfig(
                max_steps=1_000,
                learning_rate=5e-5,
                warmup_steps=50,
                micro_batch_size=8,
                grad_accum_steps=4,
                eval_interval=250,
                checkpoint_interval=250,
                log_interval=10,
                emotion_loss_weight=0.5,
                personality_mix=0.3,
            ),
        ),
    ),
}
# The larger presets train the same recipe with a smaller micro-batch and optimizer offload so
# they fit a 12 GB card under ZeRO-2.
for _name in ("500m", "1b"):
    TRAIN_PRESETS[_name] = replace(
        TRAIN_PRESETS["gpt768"],
        preset=_name,
        offload_optimizer=True,
        activation_checkpointing=True,
        phases={
            name: replace(phase, micro_batch_size=4, grad_accum_steps=phase.grad_accum_steps * 2)
            for name, phase in TRAIN_PRESETS["gpt768"].phases.items()
        },
    )
