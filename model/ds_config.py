"""The DeepSpeed config of one phase, generated from the training settings and the device.

Nothing here is hand-edited JSON: the same settings produce a ZeRO-0 CPU config for the demo and a
ZeRO-2 + optimizer-offload bf16 config on a 12 GB GPU. Precision and ZeRO stage are resolved from
the hardware (:func:`select_precision`, :func:`resolve_zero`) before the config is built.
Activation checkpointing is the model's own switch (``ModelConfig.gradient_checkpointing``, per
block), set by the trainer from the same settings, so it needs no DeepSpeed section.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from model.config import ModelConfig
from model.distributed import cpu_bf16_is_faster, device_memory_bytes
from model.memory import Strategy, estimate
from model.train_config import TrainConfig

PRECISIONS = ("fp32", "bf16", "fp16")
# ZeRO-0 on one process only if its whole training state takes at most this share of the memory.
FIT_FRACTION = 0.8


def select_precision(requested: str, device_type: str) -> str:
    """``auto``: on CPU, bf16 where this machine's bf16 matmul measures faster than fp32 (bf16 units:
    AVX512-BF16, AMX), else fp32; bf16 on GPUs that support it, otherwise fp16 with loss scaling."""
    if requested != "auto":
        if requested not in PRECISIONS:
            raise ValueError(f"precision {requested!r}: expected auto or one of {PRECISIONS}")
        return requested
    if device_type == "cpu":
        return "bf16" if cpu_bf16_is_faster() else "fp32"
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp16"


def resolve_zero(
    train: TrainConfig, config: ModelConfig, phase: str, world_size: int, device: torch.device
) -> TrainConfig:
    """``train`` with the ZeRO stage and offload this run uses.

    One process whose whole training state fits the device runs ZeRO-0: partitioning over a single
    rank saves no memory and costs flat-buffer copies every step. Several processes keep the
    configured stage (it shards the states across them), and so does one process that needs the
    configured offload to fit, or whose ``zero0_when_fits`` is off.
    """
    if world_size > 1 or not train.zero0_when_fits:
        return train
    settings = train.phase(phase)
    needed = estimate(
        config,
        Strategy("ZeRO-0", 0),
        micro_batch=settings.micro_batch_size,
        seq_len=settings.block_size or config.block_size,
        checkpointing=train.activation_checkpointing,
    ).gpu_total
    if needed > FIT_FRACTION * device_memory_bytes(device):
        return train
    return replace(train, zero_stage=0, offload_optimizer=False)


def deepspeed_config(
    train: TrainConfig, phase: str, *, precision: str, world_size: int, device_type: str
) -> dict[str, Any]:
    """The config dict passed to ``deepspeed.initialize`` for ``phase``.

    The learning-rate schedule is not in it: the trainer passes :func:`model.optimizer.schedule`
    (cosine or warmup-stable-decay), and Muon comes built (:func:`model.optimizer.build_muon`).
    bf16 on an accelerator is DeepSpeed's bf16 mode (16-bit weights, fp32 master copy); on CPU it is
    autocast (fp32 weights, bf16 matmuls), which is what makes the CPU's bf16 units pay.
    """
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
        "zero_optimization": zero,
        "steps_per_print": 2**31 - 1,  # the trainer logs; DeepSpeed's own step log stays quiet
        "wall_clock_breakdown": False,
    }
    if train.optimizer == "adamw":
        config["optimizer"] = {
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
        }
        if not train.offload_optimizer:
            # torch's fused kernel (CPU and CUDA): at gpt768 one CPU step took 59 ms against 237 ms
            # for the per-tensor loop torch picks by default on CPU, about 9% of a training step
            config["optimizer"]["params"]["fused"] = True
    elif train.offload_optimizer:
        raise ValueError(f"optimizer {train.optimizer!r} runs without offload: set offload_optimizer false")
    if precision == "bf16" and device_type == "cpu":
        config["torch_autocast"] = {"enabled": True, "dtype": "bfloat16"}
    elif precision == "bf16":
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
