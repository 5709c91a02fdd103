"""Training-memory estimator: bytes for parameters, gradients, optimizer states and activations.

Assumes what DeepSpeed's own estimators assume: 16-bit mixed precision with Adam. Per parameter:

- parameters: 2 bytes (fp16/bf16 working copy)
- gradients: 2 bytes (16-bit) on the GPU
- optimizer: 16 bytes = fp32 master copy 4 + fp32 gradient 4 + Adam momentum 4 + variance 4

ZeRO partitions these over the ``G`` data-parallel GPUs: stage 1 the optimizer states, stage 2 also
the gradients, stage 3 also the parameters (which are gathered one layer at a time, so the GPU
holds the largest layer's 16-bit parameter and gradient: ``4 * largest_layer`` bytes; its 16-bit
gradients are reduce-scattered straight into the fp32 partition). CPU offload moves the optimizer
states (ZeRO-Offload, stages 2-3) and, in stage 3, also the parameters (ZeRO-Infinity) to host
memory. On ONE GPU partitioning saves nothing: only offload and activation checkpointing shrink
the footprint, which is what the 12 GB table shows.

Activations (16-bit, per micro-batch ``b``, sequence ``s``, hidden ``h``) follow Korthikanti et al.
2022, "Reducing Activation Recomputation in Large Transformer Models": ``34*s*b*h`` bytes per block
with a fused (flash / memory-efficient) SDPA kernel that never stores the ``s x s`` scores, plus
``10*s*b*h`` per memory cross-attention sublayer and ``6*s*b*V`` for the logits (16-bit logits and
the fp32 softmax kept by the cross-entropy). With activation checkpointing a block keeps only its
``2*s*b*h`` input and one block at a time is recomputed.

``python -m model.memory`` prints the tables in docs/model.md; ``deepspeed_model_states`` calls
DeepSpeed's ``estimate_zero2/zero3_model_states_mem_needs`` for the cross-check.
"""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass

import torch

from model.config import PRESETS, ModelConfig, parameter_count_formula

GIB = 1024**3
CUDA_RESERVE_BYTES = 1 * GIB  # CUDA context, allocator fragmentation, communication buckets
PARAM_BYTES, GRAD_BYTES, OPTIMIZER_BYTES = 2, 2, 16


@dataclass(frozen=True)
class Strategy:
    name: str
    zero_stage: int
    offload_optimizer: bool = False
    offload_params: bool = False

    def __post_init__(self) -> None:
        if self.offload_optimizer and self.zero_stage < 2:
            raise ValueError("optimizer offload needs ZeRO stage 2 or 3")
        if self.offload_params and (self.zero_stage != 3 or not self.offload_optimizer):
            raise ValueError("parameter offload needs ZeRO-3 with optimizer offload")


# fastest first: the first one that fits is the recommendation
STRATEGIES: tuple[Strategy, ...] = (
    Strategy("ZeRO-0", 0),
    Strategy("ZeRO-1", 1),
    Strategy("ZeRO-2", 2),
    Strategy("ZeRO-3", 3),
    Strategy("ZeRO-2 + offload optimizer", 2, offload_optimizer=True),
    Strategy("ZeRO-3 + offload optimizer", 3, offload_optimizer=True),
    Strategy("ZeRO-3 + offload optimizer+params", 3, offload_optimizer=True, offload_params=True),
)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU (and host bytes for offloaded state), one field per component."""

    params: int
    grads: int
    optimizer: int
    working_set: int  # stage 3: the gathered largest layer
    activations: int
    cpu: int

    @property
    def model_states(self) -> int:
        return self.params + self.grads + self.optimizer + self.working_set

    @property
    def gpu_total(self) -> int:
        return self.model_states + self.activations


def largest_layer_params(config: ModelConfig) -> int:
    """Parameters of the largest single module (what ZeRO-3 gathers at once), like DeepSpeed counts them."""
    return _largest_layer_params(tuple(sorted(config.to_dict().items())))


@functools.lru_cache(maxsize=64)
def _largest_layer_params(config_items: tuple) -> int:
    from model.gpt import RosieGPT

    with torch.device("meta"):  # shapes only: no memory, no init
        model = RosieGPT(ModelConfig(**dict(config_items)))
    return max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())


def activation_bytes(config: ModelConfig, micro_batch: int, seq_len: int, checkpointing: bool) -> int:
    sbh = seq_len * micro_batch * config.n_embd
    per_block = 34 * sbh
    memory = 10 * sbh * len(config.memory_layers())
    logits = 6 * seq_len * micro_batch * config.vocab_size
    if checkpointing:
        return config.n_layer * 2 * sbh + per_block + memory + logits
    return config.n_layer * per_block + memory + logits


def estimate(config: ModelConfig, strategy: Strategy, *, micro_batch: int = 1, seq_len: int | None = None,
             checkpointing: bool = False, num_gpus: int = 1) -> MemoryEstimate:
    n = parameter_count_formula(config)
    g = num_gpus
    stage = strategy.zero_stage
    params = PARAM_BYTES * n // (g if stage == 3 else 1)
    grads = 0 if stage == 3 else GRAD_BYTES * n // (g if stage == 2 else 1)
    optimizer = OPTIMIZER_BYTES * n // (g if stage >= 1 else 1)
    working_set = 4 * largest_layer_params(config) if stage == 3 else 0
    cpu = 0
    if strategy.offload_optimizer:
        cpu += optimizer
        grads = optimizer = 0  # gradients stream to the host bucket by bucket
    if strategy.offload_params:
        cpu += params
        params = 0
    activations = activation_bytes(config, micro_batch, seq_len or config.block_size, checkpointing)
    return MemoryEstimate(params, grads, optimizer, working_set, activations, cpu)


def deepspeed_model_states(config: ModelConfig, strategy: Strategy, num_gpus: int = 1) -> tuple[int, int]:
    """DeepSpeed's own (cpu_bytes, gpu_bytes) for model states; stages 2 and 3 only (its estimators)."""
    os.environ.setdefault("DS_ACCELERATOR", "cpu")  # import without probing for CUDA
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    n = parameter_count_formula(config)
    if strategy.zero_stage == 2:
        return estimate_zero2_model_states_mem_needs(n, num_gpus_per_node=num_gpus,
                                                     cpu_offload=strategy.offload_optimizer)
    if strategy.zero_stage == 3:
        cpu, gpu, _ = estimate_zero3_model_states_mem_needs(
            n, largest_layer_params(config), num_gpus_per_node=num_gpus,
            cpu_offload=strategy.offload_optimizer, cpu_offload_params=strategy.offload_params)
        return cpu, gpu
    raise ValueError("DeepSpeed ships estimators for ZeRO-2 and ZeRO-3 only")


def fits(estimate_: MemoryEstimate, gpu_bytes: int) -> bool:
    return estimate_.gpu_total + CUDA_RESERVE_BYTES <= gpu_bytes


def max_micro_batch(config: ModelConfig, strategy: Strategy, gpu_bytes: int, checkpointing: bool,
                    limit: int = 1024) -> int:
    """Largest micro-batch at full context that fits (0 when not even one sequence does)."""
    best = 0
    while best < limit and fits(estimate(config, strategy, micro_batch=best + 1, checkpointing=checkpointing),
                                gpu_bytes):
        best += 1
    return best


def first_fit(config: ModelConfig, gpu_bytes: int,
              strategies: tuple[Strategy, ...] = STRATEGIES) -> tuple[Strategy, bool, int] | None:
    """(strategy, checkpointing, max micro-batch) of the fastest way to fit, or None.

    Order of preference: fewer host transfers first, and for each strategy no recomputation before
    activation checkpointing (~1/3 more compute, usually cheaper than streaming optimizer states).
    """
    for strategy in strategies:
        for checkpointing in (False, True):
            batch = max_micro_batch(config, strategy, gpu_bytes, checkpointing)
            if batch:
                return strategy, checkpointing, batch
    return None


def recommendation(config: ModelConfig, gpu_bytes: int) -> str:
    """The fastest fit; when it only just fits (micro-batch 1), also the first fit with offload."""
    def describe(fit: tuple[Strategy, bool, int]) -> str:
        strategy, checkpointing, batch = fit
        how = " + activation checkpointing" if checkpointing else ""
        return f"{strategy.name}{how}, micro-batch ≤ {batch}"

    fastest = first_fit(config, gpu_bytes)
    if fastest is None:
        return "does not fit"
    if fastest[2] > 1 or fastest[0].offload_optimizer:
        return describe(fastest)
    roomier = first_fit(config, gpu_bytes, tuple(s for s in STRATEGIES if s.offload_optimizer))
    return describe(fastest) + (f" (more headroom: {describe(roomier)})" if roomier else "")


def _gib(n: int) -> str:
    return f"{n / GIB:.2f}"


def markdown_tables(gpu_gib: float = 12.0, micro_batch: int = 1) -> str:
    """GPU GiB per preset and strategy (without / with checkpointing), fit verdicts, DeepSpeed cross-check."""
    gpu_bytes = int(gpu_gib * GIB)
    names = list(PRESETS)
    lines = [
        f"GPU memory per strategy, one GPU, micro-batch {micro_batch} at full context, GiB "
        f"(without / with activation checkpointing); ✓ fits {gpu_gib:g} GiB after a "
        f"{_gib(CUDA_RESERVE_BYTES)} GiB CUDA reserve",
        "",
        "| strategy | " + " | ".join(f"{n} ({parameter_count_formula(PRESETS[n]) / 1e6:.0f}M)" for n in names)
        + " |",
        "|---|" + "---|" * len(names),
    ]
    for strategy in STRATEGIES:
        cells = []
        for name in names:
            plain, ckpt = (estimate(PRESETS[name], strategy, micro_batch=micro_batch, checkpointing=c)
                           for c in (False, True))
            mark = "✓" if fits(plain, gpu_bytes) else ("✓ckpt" if fits(ckpt, gpu_bytes) else "✗")
            cells.append(f"{_gib(plain.gpu_total)} / {_gib(ckpt.gpu_total)} {mark}")
        lines.append(f"| {strategy.name} | " + " | ".join(cells) + " |")
    lines += ["", f"Components, ZeRO-2 (+offload), micro-batch {micro_batch}, GiB:", "",
              "| preset | params | grads | optimizer | activations (ckpt) | host RAM with offload |",
              "|---|---|---|---|---|---|"]
    zero2, offload = STRATEGIES[2], STRATEGIES[4]
    for name in names:
        e = estimate(PRESETS[name], zero2, micro_batch=micro_batch)
        ckpt = estimate(PRESETS[name], zero2, micro_batch=micro_batch, checkpointing=True)
        host = estimate(PRESETS[name], offload).cpu
        lines.append(f"| {name} | {_gib(e.params)} | {_gib(e.grads)} | {_gib(e.optimizer)} | "
                     f"{_gib(e.activations)} ({_gib(ckpt.activations)}) | {_gib(host)} |")
    lines += ["", f"Recommendation for one {gpu_gib:g} GiB GPU:", ""]
    lines += [f"- **{name}**: {recommendation(PRESETS[name], gpu_bytes)}" for name in names]
    lines += ["", "Cross-check: model-state GiB per GPU, this estimator vs DeepSpeed's estimators "
              "(DeepSpeed's host figure includes its 1.5x buffer factor):", "",
              "| preset | strategy | GPU here | GPU DeepSpeed | host here | host DeepSpeed |",
              "|---|---|---|---|---|---|"]
    for name in names:
        for strategy in STRATEGIES[2:]:
            ours = estimate(PRESETS[name], strategy)
            ds_cpu, ds_gpu = deepspeed_model_states(PRESETS[name], strategy)
            lines.append(f"| {name} | {strategy.name} | {_gib(ours.model_states)} | {_gib(ds_gpu)} | "
                         f"{_gib(ours.cpu)} | {_gib(ds_cpu) if strategy.offload_optimizer else '-'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Estimate training memory per preset under ZeRO 0-3.")
    parser.add_argument("--gpu-gib", type=float, default=12.0)
    parser.add_argument("--micro-batch", type=int, default=1)
    args = parser.parse_args()
    print(markdown_tables(args.gpu_gib, args.micro_batch))


if __name__ == "__main__":
    main()
