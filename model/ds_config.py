"""The DeepSpeed config of one phase, generated from the training settings and the device.

Nothing here is hand-edited JSON: the same settings produce a CPU config for the demo and a
ZeRO-2 + optimizer-offload bf16 config on a 12 GB GPU. Activation checkpointing is the model's own
switch (``ModelConfig.gradient_checkpointing``, per block), set by the trainer from the same
settings, so it needs no DeepSpeed section.
"""

from __future__ import annotations

from typing import Any

import torch

from model.train_config import TrainConfig

PRECISIONS = ("fp32", "bf16", "fp16")


def select_precision(requested: str, device_type: str) -> str:
    """``auto``: fp32 on CPU (bf16 autocast is far slower there), bf16 on GPUs that support it,
    otherwise fp16 with dynamic loss scaling."""
    if requested != "auto":
        if requested not in PRECISIONS:
            raise ValueError(f"precision {requested!r}: expected auto or one of {PRECISIONS}")
        return requested
    if device_type == "cpu":
        return "fp32"
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp16"


def deepspeed_config(train: TrainConfig, phase: str, *, precision: str, world_size: int) -> dict[str, Any]:
    """The config dict passed to ``deepspeed.initialize`` for ``phase``."""
    settings = train.phase(phase)
    zero: dict[str, Any] = {
        "stage": train.zero_stage,
        "overlap_comm": False,
        "contiguous_gradients": True,
    }
    if train.offload_optimizer:
        if train.zero_stage == 0:
            raise ValueError("optimizer offload needs ZeRO stage 1, 2 or 3")
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if train.zero_stage == 3:
        # Weights are written as one full state_dict, so gather them on save.
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    config: dict[str, Any] = {
        "train_batch_size": settings.micro_batch_size * settings.grad_accum_steps * world_size,
        "train_micro_batch_size_per_gpu": settings.micro_batch_size,
        "gradient_accumulation_steps": settings.grad_accum_steps,
        "gradient_clipping": train.gradient_clipping,
        "optimizer": {
            "type": "AdamW",
            "params": {
                "lr": settings.learning_rate,
                "betas": list(train.betas),
                "eps": 1e-8,
                "weight_decay": train.weight_decay,
                # torch's AdamW: no JIT-compiled op to build (minutes on a small CPU), bit-exact
                # resume; with optimizer offload DeepSpeed's CPU Adam replaces it
                "torch_adam": not train.offload_optimizer,
            },
        },
        "scheduler": {
            "type": "WarmupCosineLR",
            "params": {
                "total_num_steps": settings.max_steps,
                "warmup_num_steps": max(settings.warmup_steps, 1),
                "warmup_type": "linear",
                "warmup_min_ratio": 0.0,
                "cos_min_ratio": settings.min_lr_ratio,
            },
        },
        "zero_optimization": zero,
        "steps_per_print": 2**31 - 1,  # the trainer logs; DeepSpeed's own step log stays quiet
        "wall_clock_breakdown": False,
    }
    if precision == "bf16":
        config["bf16"] = {"enabled": True}
    elif precision == "fp16":
        config["fp16"] = {
            "enabled": True,
            "loss_scale": 0,  # 0: dynamic loss scaling
            "initial_scale_power": 16,
            "loss_scale_window": 1000,
            "hysteresis": 2,
            "min_loss_scale": 1,
        }
    return config
