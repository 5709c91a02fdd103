"""Decode speed of Rosie's engine vs Hugging Face GPT2LMHeadModel with its KV cache, same shape, same run.

For each preset (demo, gpt768) and precision (fp32, bf16 weights, int8 weight-only) it measures, at
batch 1:
- first-token latency for a 512-token prompt (prefill + first sampled token; Rosie's also includes
  the emotion head's reading of the user's message, taken from the prefill);
- decode tokens/s from the first to the last generated token, and the share of the memory-bandwidth
  bound it reaches (weight bytes read per token vs the measured read bandwidth).

The peer is ``GPT2LMHeadModel`` with identical width/depth/heads/vocab/context, exact GELU, SDPA
attention and ``generate(use_cache=True)``. Both do the same sampling work per token: greedy after
a 1.1 repetition penalty, the special tokens suppressed, a minimum length. For bf16 both models are
cast to bfloat16 (``Engine.from_model(..., "bf16")``, as ``Engine.load`` does). For int8 both get the
same treatment: every Linear, including the (tied) LM head, becomes ``model.quantize.Int8Linear``
(GPT-2's Conv1D layers are converted to Linear first). Both compute the LM head at the last
position only during prefill (HF via ``logits_to_keep``). Weights are random: speed does not
depend on them. Warm-up runs the real prompt length. The demo preset's context is stretched to fit
the 512-token prompt (position table only; per-token compute unchanged).

    python benchmarks/decode_bench.py                      # both presets, fp32 + bf16 + int8
    python benchmarks/decode_bench.py --presets demo --new-tokens 32 --repeats 2
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from model.config import ModelConfig
from model.engine import DECODE_DTYPES, DECODE_PRECISIONS, Engine, TokenEvent
from model.gpt import RosieGPT
from model.quantize import linear_weight_bytes, quantize_int8
from model.sampling import SamplingConfig
from model.tokenizer import RosieTokenizer

REPETITION_PENALTY = 1.1


@dataclass
class Measurement:
    preset: str
    precision: str
    system: str
    first_token_s: float
    decode_tokens_per_s: float
    bandwidth_bound_tokens_per_s: float
    load_average: float


def time_rosie(engine: Engine, prompt: list[int], new_tokens: int) -> tuple[float, float]:
    sampling = SamplingConfig(
        temperature=0.0,
        repetition_penalty=REPETITION_PENALTY,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
    )
    started = time.perf_counter()
    times = [
        time.perf_counter() for e in engine.stream(prompt, sampling=sampling) if isinstance(e, TokenEvent)
    ]
    return times[0] - started, (len(times) - 1) / (times[-1] - times[0])


def hf_peer(config: ModelConfig, precision: str):
    from transformers import GPT2Config, GPT2LMHeadModel

    peer = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=config.vocab_size,
            n_positions=config.block_size,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            activation_function="gelu",  # exact GELU, as Rosie
            attn_implementation="sdpa",
            bos_token_id=None,
            eos_token_id=None,
        )
    ).eval()
    if precision == "int8":
        conv1d_to_linear(peer)
        return quantize_int8(peer)
    return peer.to(DECODE_DTYPES[precision])


def conv1d_to_linear(model: torch.nn.Module) -> None:
    """GPT-2 keeps its projections in Conv1D (weight [in, out]); swap them for equivalent Linears."""
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                linear = torch.nn.Linear(child.weight.shape[0], child.weight.shape[1])
                linear.weight.data = child.weight.data.t().contiguous()
                linear.bias.data = child.bias.data
                setattr(parent, name, linear)


def time_hf(peer, prompt: list[int], new_tokens: int, banned: list[int]) -> tuple[float, float]:
    from transformers.generation.streamers import BaseStreamer

    class Clock(BaseStreamer):
        """generate() calls put() once with the prompt, then once per new token."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: torch.Tensor) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    clock = Clock()
    ids = torch.tensor([prompt])
    started = time.perf_counter()
    with torch.inference_mode():
        peer.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            repetition_penalty=REPETITION_PENALTY,
            suppress_tokens=banned,
            use_cache=True,
            streamer=clock,
            pad_token_id=0,
        )
    token_times = clock.times[1:]
    return token_times[0] - started, (len(token_times) - 1) / (token_times[-1] - token_times[0])


def bench_preset(
    preset: str, precision: str, tokenizer: RosieTokenizer, prompt_tokens: int, new_tokens: int, repeats: int
) -> list[Measurement]:
    base = ModelConfig.from_preset(preset)
    config = ModelConfig.from_preset(preset, block_size=max(base.block_size, prompt_tokens + new_tokens + 2))
    torch.manual_seed(0)
    prompt = torch.randint(len(tokenizer.backend.get_vocab()), config.vocab_size, (prompt_tokens,)).tolist()
    engine = Engine.from_model(RosieGPT(config).eval(), tokenizer, precision)
    banned = engine.banned_ids + engine.stop_ids  # Rosie bans these until min_new_tokens: all of them here
    systems = {
        "rosie": (engine, time_rosie),
        "hf_gpt2": (hf_peer(config, precision), functools.partial(time_hf, banned=banned)),
    }
    for runner, timer in systems.values():
        timer(runner, prompt, 4)  # warm-up at the real prompt length: allocator, kernels, lazy init
    # Interleaved repeats, so background load on a shared machine hits both systems alike.
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in systems}
    for _ in range(repeats):
        for name, (runner, timer) in systems.items():
            runs[name].append(timer(runner, prompt, new_tokens))
    bound = bandwidth_bound(engine, read_bandwidth())
    results = []
    for name, timings in runs.items():
        first_token_s = statistics.median(t[0] for t in timings)
        tokens_per_s = statistics.median(t[1] for t in timings)
        results.append(
            Measurement(preset, precision, name, first_token_s, tokens_per_s, bound, os.getloadavg()[0])
        )
        print(
            f"  {preset:6} {precision:4} {name:8} first token {first_token_s * 1000:8.1f} ms"
            f"  decode {tokens_per_s:7.1f} tok/s ({tokens_per_s / bound:.0%} of the {bound:.0f} tok/s bound)",
            flush=True,
        )
    return results


@functools.cache
def read_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Best bytes/s of summing a buffer far larger than the caches (what a decode step does to weights)."""
    buffer = torch.ones(megabytes * 2**20 // 4)
    buffer.sum()
    best = min(_timed(buffer.sum) for _ in range(repeats))
    return buffer.numel() * 4 / best


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def bandwidth_bound(engine: Engine, bytes_per_s: float) -> float:
    """Tokens/s if a decode step cost only reading, once, every weight it multiplies by: the blocks'
    attention and MLP Linears and the LM head (the memory path does not run without memory)."""
    blocks = sum(linear_weight_bytes(b.attn) + linear_weight_bytes(b.mlp) for b in engine.model.blocks)
    head = engine.lm_head
    head_bytes = (
        linear_weight_bytes(head) if isinstance(head, torch.nn.Module) else engine.model.tok_emb.weight.nbytes
    )
    return bytes_per_s / (blocks + head_bytes)


def report(measurements: list[Measurement]) -> str:
    rows = [
        "| preset | precision | Rosie first token (ms) | HF first token (ms) | first-token ratio (HF/Rosie) "
        "| Rosie decode (tok/s) | HF decode (tok/s) | decode ratio (Rosie/HF) |",
        "|" + "---|" * 8,
    ]
    by_key = {(m.preset, m.precision, m.system): m for m in measurements}
    for preset, precision in dict.fromkeys((m.preset, m.precision) for m in measurements):
        rosie, hf = by_key[(preset, precision, "rosie")], by_key[(preset, precision, "hf_gpt2")]
        rows.append(
            f"| {preset} | {precision} | {rosie.first_token_s * 1000:.0f} | {hf.first_token_s * 1000:.0f} "
            f"| {hf.first_token_s / rosie.first_token_s:.2f} | {rosie.decode_tokens_per_s:.1f} "
            f"| {hf.decode_tokens_per_s:.1f} | {rosie.decode_tokens_per_s / hf.decode_tokens_per_s:.2f} |"
        )
    return "\n".join(rows)


def run(
    presets: list[str], precisions: list[str], prompt_tokens: int, new_tokens: int, repeats: int
) -> list[Measurement]:
    """Every preset x precision, Rosie and HF interleaved (see the module docstring)."""
    from foundation.settings import Settings
    from model.untrained import sample_texts

    tokenizer = RosieTokenizer.train(sample_texts(Settings.from_env().data_root), 2000)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; prompt {prompt_tokens} tokens, "
        f"{new_tokens} new tokens, median of {repeats}; read bandwidth {read_bandwidth() / 1e9:.1f} GB/s"
    )
    return [
        m
        for preset in presets
        for precision in precisions
        for m in bench_preset(preset, precision, tokenizer, prompt_tokens, new_tokens, repeats)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", nargs="+", default=["demo", "gpt768"])
    parser.add_argument("--precisions", nargs="+", default=list(DECODE_PRECISIONS), choices=DECODE_PRECISIONS)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    measurements = run(args.presets, args.precisions, args.prompt_tokens, args.new_tokens, args.repeats)
    print()
    print(report(measurements))
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in measurements], indent=2) + "\n")


if __name__ == "__main__":
    main()
