"""A phase's optimizer and learning-rate schedule: one definition for the trainer and the recipe benchmark.

Optimizers (``TrainConfig.optimizer``):

- ``adamw``: nanoGPT's AdamW, weight decay on matrices only (DeepSpeed builds it from its config).
- ``muon``: Muon (momentum orthogonalised by Newton-Schulz) for the blocks' hidden matrices and
  AdamW for everything else (token/persona embeddings, the tied LM head, the emotion head, biases,
  norms, gates), the split Muon's authors use; DeepSpeed's ``MuonWithAuxAdam`` runs both.

Schedules (``PhaseConfig.schedule``), each after a linear warmup:

- ``cosine``: cosine decay to ``min_lr_ratio`` of the peak over the whole phase;
- ``wsd``: warmup-stable-decay, the peak held until the last ``decay_fraction`` of the steps, then a
  linear decay to ``min_lr_ratio``.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from model.train_config import PhaseConfig, TrainConfig

OPTIMIZERS = ("adamw", "muon")
SCHEDULES = ("cosine", "wsd")
# Muon's Newton-Schulz: the plain quintic, which DeepSpeed iterates in bf16 on every device that
# reports bf16 (its CPU accelerator does). The recipe was measured with it; DeepSpeed's default
# "gram" method (fp16 where supported, else fp32) was not compared.
MUON_NS_METHOD = "standard"


def lr_multiplier(step: int, phase: PhaseConfig) -> float:
    """Share of the peak learning rate at optimizer step ``step`` (0-based)."""
    warmup = max(phase.warmup_steps, 1)
    if step < warmup:
        return (step + 1) / warmup
    total = max(phase.max_steps, warmup + 1)
    floor = phase.min_lr_ratio
    if phase.schedule == "cosine":
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if phase.schedule == "wsd":
        decay_steps = max(round(phase.decay_fraction * total), 1)
        decay_start = total - decay_steps
        if step < decay_start:
            return 1.0
        return 1.0 - (1.0 - floor) * min((step - decay_start + 1) / decay_steps, 1.0)
    raise ValueError(f"schedule {phase.schedule!r}: expected one of {SCHEDULES}")


def is_hidden_matrix(name: str, param: torch.Tensor) -> bool:
    """Muon's share: 2-D weights inside the transformer blocks (not embeddings or output heads)."""
    return param.dim() == 2 and name.startswith("blocks.")


def parameter_groups(model: torch.nn.Module, train: TrainConfig, phase: PhaseConfig) -> list[dict[str, Any]]:
    """Weight decay on matrices only (nanoGPT); with Muon, its hidden matrices in a group of their own."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if train.optimizer == "adamw":
        decay = [p for _, p in named if p.dim() >= 2]
        no_decay = [p for _, p in named if p.dim() < 2]
        return [
            {"params": decay, "weight_decay": train.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
    if train.optimizer != "muon":
        raise ValueError(f"optimizer {train.optimizer!r}: expected one of {OPTIMIZERS}")
    adam = {"betas": train.betas, "eps": 1e-8, "lr": phase.learning_rate, "use_muon": False}
    return [
        {
            "params": [p for n, p in named if is_hidden_matrix(n, p)],
            "use_muon": True,
            "lr": phase.muon_learning_rate,
            "momentum": 0.95,
            "weight_decay": train.weight_decay,
            "ns_method": MUON_NS_METHOD,
        },
        {
            "params": [p for n, p in named if p.dim() >= 2 and not is_hidden_matrix(n, p)],
            "weight_decay": train.weight_decay,
            **adam,
        },
        {"params": [p for _, p in named if p.dim() < 2], "weight_decay": 0.0, **adam},
    ]


def build_muon(model: torch.nn.Module, train: TrainConfig, phase: PhaseConfig) -> torch.optim.Optimizer:
    """DeepSpeed's Muon + auxiliary AdamW over :func:`parameter_groups` (imported late: it compiles
    Newton-Schulz kernels on import). Every parameter is tagged ``use_muon`` as DeepSpeed tags those
    of an optimizer it builds itself: ZeRO-1/2 read the tag to orthogonalise each flat partition's
    update (untagged, a Muon group under ZeRO would take plain momentum-less steps)."""
    from deepspeed.runtime.zero.muon.muon_optimizer import MuonWithAuxAdam

    for name, param in model.named_parameters():
        param.use_muon = is_hidden_matrix(name, param)
    return MuonWithAuxAdam(parameter_groups(model, train, phase))


def build_plain_optimizer(
    model: torch.nn.Module, train: TrainConfig, phase: PhaseConfig
) -> torch.optim.Optimizer:
    """The phase's optimizer outside DeepSpeed (benchmarks): torch's AdamW or :func:`build_muon`."""
    if train.optimizer == "muon":
        return build_muon(model, train, phase)
    return torch.optim.AdamW(
        parameter_groups(model, train, phase), lr=phase.learning_rate, betas=train.betas, eps=1e-8
    )


def schedule(optimizer: torch.optim.Optimizer, phase: PhaseConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """:func:`lr_multiplier` on every group's own peak (Muon's and AdamW's move together)."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_multiplier(step, phase))
