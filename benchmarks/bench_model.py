"""Forward+backward throughput and MFU of RosieGPT's demo preset vs HF GPT2LMHeadModel, same shape, same run.

MFU counts against the fp32 matmul peak measured here first (``model.distributed.matmul_flops``), so
the figure means "fraction of what this CPU's BLAS can actually do", not a datasheet number. Both
models run the same token batches, alternating step by step so background load hits both alike.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_model.py [--batch 8] [--steps 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from model.config import ModelConfig, parameter_count_formula, training_flops_per_token
from model.distributed import matmul_flops
from model.gpt import RosieGPT


def gpt2_peer(config: ModelConfig) -> torch.nn.Module:
    """HF GPT-2 at the identical shape: same vocab, context, layers, heads, width, exact GELU, SDPA."""
    from transformers import GPT2Config, GPT2LMHeadModel

    peer_config = GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        activation_function="gelu",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    peer_config._attn_implementation = "sdpa"
    return GPT2LMHeadModel(peer_config)


def training_step(model: torch.nn.Module, is_peer: bool) -> Callable[[torch.Tensor], None]:
    def step(idx: torch.Tensor) -> None:
        if is_peer:
            loss = model(input_ids=idx, labels=idx).loss  # HF shifts labels inside
        else:
            loss = model(idx[:, :-1], targets=idx[:, 1:]).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = ModelConfig.from_preset("demo")
    seq_len = config.block_size
    models = {"rosie": RosieGPT(config).train(), "hf_gpt2": gpt2_peer(config).train()}
    steps = {name: training_step(m, name == "hf_gpt2") for name, m in models.items()}
    # RosieGPT sees seq_len tokens (inputs are idx[:, :-1] of seq_len+1); GPT-2 sees the same seq_len
    batches = {
        "rosie": torch.randint(0, config.vocab_size, (args.batch, seq_len + 1)),
        "hf_gpt2": torch.randint(0, config.vocab_size, (args.batch, seq_len)),
    }
    peak = matmul_flops("cpu", torch.float32)
    for name in models:
        steps[name](batches[name])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.steps):
        for name in models:
            start = time.perf_counter()
            steps[name](batches[name])
            times[name].append(time.perf_counter() - start)
    tokens = args.batch * seq_len
    flops = training_flops_per_token(config, seq_len) * tokens
    results: dict = {
        "threads": torch.get_num_threads(),
        "matmul_peak_gflops": round(peak / 1e9, 2),
        "shape": {"batch": args.batch, "seq_len": seq_len, **config.to_dict()},
        "rosie_parameters": parameter_count_formula(config),
        "hf_gpt2_parameters": sum(p.numel() for p in models["hf_gpt2"].parameters()),
    }
    for name, samples in times.items():
        median = statistics.median(samples)
        results[name] = {
            "step_s": round(median, 4),
            "tokens_per_s": round(tokens / median, 1),
            "mfu": round(flops / median / peak, 4),
        }
    results["tokens_per_s_ratio_rosie_over_gpt2"] = round(
        results["rosie"]["tokens_per_s"] / results["hf_gpt2"]["tokens_per_s"], 3
    )
    report = json.dumps(results, indent=2)
    print(report)
    if args.json:
        Path(args.json).write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
