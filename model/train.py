"""Training entry point: one phase of Rosie's three, as a DeepSpeed job.

Runs as a plain process or under the DeepSpeed launcher (one or many processes, one or many hosts)::

    python -m model.train --phase base
    deepspeed --num_gpus 2 model/train.py --phase personality
    deepspeed --hostfile hosts.txt model/train.py --phase emotion --config run/train_config.json

Phases: ``base`` (LM on the pretraining tokens → ``weights/base.pth``), ``personality`` (chat LM on
Rosie's turns, from ``base.pth`` → ``personality.pth``), ``emotion`` (LM + weighted emotion-head
cross-entropy at each ``<|rosie|>`` position, from ``personality.pth`` → ``final.pth``).

Checkpoints (``checkpoints/<phase>/``, every ``checkpoint_interval`` steps) carry the optimizer,
scheduler, RNG states and data position; a restarted run resumes from the latest one as long as
its fingerprint (configs, data and initial weights) still matches, and ends bit-identical to an
uninterrupted run on CPU. Rank 0 logs to TensorBoard (``logs/<phase>/``), a progress bar, and —
when launched by Dagster — streams metrics and the final materialization through Dagster Pipes.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (``deepspeed model/train.py``): import from the repo root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import torch

from foundation.hashing import file_sha256
from foundation.settings import PROJECT_ROOT, Settings
from model.batches import MixtureSampler, ShardSampler, rank_positions
from model.config import ModelConfig
from model.ds_config import deepspeed_config, select_precision
from model.evaluate import emotion_scores, lm_loss
from model.gpt import RosieGPT, emotion_loss
from model.shards import TokenShard, shard_content_hash
from model.tokenizer import RosieTokenizer
from model.train_config import PHASE_INIT, PHASE_TOKENS, PHASE_WEIGHTS, PHASES, PhaseConfig, TrainConfig
from model.weights import load_weights, save_weights

log = logging.getLogger("rosie.train")

RUN_FILE = "run.json"  # the fingerprint of the run a checkpoint folder belongs to


# --- distributed setup ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); a plain ``python`` run becomes a world of one."""
    import deepspeed

    for name, default in (
        ("RANK", "0"),
        ("LOCAL_RANK", "0"),
        ("WORLD_SIZE", "1"),
        ("MASTER_ADDR", "127.0.0.1"),
    ):
        os.environ.setdefault(name, default)
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    deepspeed.init_distributed(verbose=False)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])


def device_for(local_rank: int) -> torch.device:
    from deepspeed.accelerator import get_accelerator

    accelerator = get_accelerator()
    if accelerator.device_name() == "cpu":
        return torch.device("cpu")
    accelerator.set_device(local_rank)
    return torch.device(accelerator.device_name(local_rank))


# --- throughput -----------------------------------------------------------------------------------

# Dense bf16/fp16 tensor-core peaks (TFLOPS) by device name; other devices are measured.
GPU_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
    "RTX 3090": 71.0,
    "RTX 3060": 51.0,
    "RTX 4070": 117.0,
    "V100": 125.0,
    "T4": 65.0,
}


def cpu_peak_flops() -> float:
    """fp32 peak of the cores torch uses: threads x clock x FMA lanes (AVX-512: 64, AVX2: 32 FLOPs/cycle)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    per_cycle = 64 if " avx512f" in info else 32 if " fma" in info else 8
    return torch.get_num_threads() * (max(mhz) if mhz else 2000.0) * 1e6 * per_cycle


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    """The denominator of MFU: datasheet peak for known GPUs, the cores' FMA peak on CPU, else a
    measured matmul peak."""
    if device.type == "cpu":
        return cpu_peak_flops(), f"{torch.get_num_threads()} CPU threads x clock x FMA width (fp32)"
    name = torch.cuda.get_device_name(device)
    for key, tflops in GPU_PEAK_TFLOPS.items():
        if key in name and dtype != torch.float32:
            return tflops * 1e12, f"{name} datasheet"
    n = 8192
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    for _ in range(3):
        torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best, f"measured {dtype} matmul on {name}"


def flops_per_token(config: ModelConfig, n_params: int, block_size: int) -> float:
    """Training FLOPs per token (PaLM appendix B, as in nanoGPT): 6N plus the attention scores."""
    return 6 * n_params + 12 * config.n_layer * config.n_embd * block_size


def peak_memory_gib(device: torch.device) -> float:
    """Peak accelerator memory allocated (GPU), else the process's peak resident memory (CPU)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


# --- lineage ------------------------------------------------------------------------------------


def code_version() -> dict[str, Any]:
    """The git commit (and whether the tree was dirty) plus a hash of the training code itself."""
    version: dict[str, Any] = {}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        run = {"cwd": PROJECT_ROOT, "capture_output": True, "text": True, "check": True}
        version["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        version["git_dirty"] = bool(
            subprocess.run(["git", "status", "--porcelain", "--", "model"], **run).stdout
        )
    digest = hashlib.sha256()
    for path in sorted((PROJECT_ROOT / "model").glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    version["model_code_sha256"] = digest.hexdigest()
    return version


def shard_lineage(directory: Path) -> dict[str, Any]:
    meta = json.loads((directory / "meta.json").read_text())
    return {
        "path": str(directory),
        "content_sha256": shard_content_hash(directory),
        "n_tokens": meta["n_tokens"],
        "n_documents": meta["n_documents"],
        "sources": meta.get("sources", {}),
    }


# --- the phase ------------------------------------------------------------------------------------


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


def build_sampler(run: PhaseRun) -> ShardSampler | MixtureSampler:
    pad_id = run.tokenizer.token_id("<|pad|>")
    seed = run.train.seed + PHASES.index(run.phase) * 1000
    main = ShardSampler(
        TokenShard(run.settings.layout.tokens_dir(PHASE_TOKENS[run.phase]) / "train"),
        run.block_size,
        seed,
        pad_id,
    )
    mix = run.settings_of_phase.personality_mix
    if mix <= 0:
        return main
    voice = ShardSampler(
        TokenShard(run.settings.layout.tokens_dir("personality") / "train"), run.block_size, seed + 1, pad_id
    )
    return MixtureSampler([main, voice], [1.0 - mix, mix], seed + 2)


def phase_shards(run: PhaseRun) -> dict[str, Path]:
    names = {PHASE_TOKENS[run.phase]} | (
        {"personality"} if run.settings_of_phase.personality_mix > 0 else set()
    )
    return {
        f"{name}/{split}": run.settings.layout.tokens_dir(name) / split
        for name in sorted(names)
        for split in ("train", "validation")
        if (run.settings.layout.tokens_dir(name) / split / "meta.json").exists()
    }


def fingerprint(run: PhaseRun, init_path: Path | None) -> str:
    """What a checkpoint must match to be resumed: any change means a fresh start."""
    record = {
        "phase": run.phase,
        "world": run.world,
        "train": {
            k: v
            for k, v in run.train.to_dict().items()
            if k not in ("phases", "launcher", "hostfile", "master_port", "keep_checkpoints")
        },
        "phase_config": dataclasses.asdict(run.settings_of_phase),
        "model": run.config.to_dict(),
        "tokenizer": run.tokenizer.sha256,
        "shards": {name: shard_content_hash(path) for name, path in phase_shards(run).items()},
        "init": file_sha256(init_path) if init_path else None,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


class Reporter:
    """Rank 0's outlets: log lines, TensorBoard scalars, a progress bar, Dagster Pipes messages."""

    def __init__(self, run: PhaseRun, pipes: Any | None, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self.pipes = pipes
        self.writer = SummaryWriter(str(run.settings.layout.model.tensorboard_dir(run.phase)))
        self.bar = tqdm(
            total=run.settings_of_phase.max_steps,
            initial=start_step,
            desc=f"phase {run.phase}",
            unit="step",
            file=sys.stderr,
            mininterval=2.0,
            dynamic_ncols=True,
        )

    def info(self, message: str) -> None:
        log.info(message)
        if self.pipes is not None:
            self.pipes.log.info(message)

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", value, step)
        if self.pipes is not None:
            self.pipes.report_custom_message({"kind": prefix, "step": step, **values})

    def advance(self, metrics: dict[str, float]) -> None:
        self.bar.set_postfix(
            loss=f"{metrics['loss']:.3f}", tok_s=f"{metrics['tokens_per_s']:.0f}", refresh=False
        )
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        self.writer.close()


class NullReporter(Reporter):
    """Other ranks: silent."""

    def __init__(self) -> None:
        self.pipes = None

    def info(self, message: str) -> None:
        pass

    def scalars(self, step: int, values: dict[str, float], prefix: str) -> None:
        pass

    def advance(self, metrics: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


def evaluate(run: PhaseRun, model: torch.nn.Module) -> dict[str, float]:
    """Held-out loss and perplexity of the phase's data; emotion macro-F1 in phase 3."""
    settings = run.settings_of_phase
    pad_id = run.tokenizer.token_id("<|pad|>")
    batch_size = settings.micro_batch_size
    results: dict[str, float] = {}
    validation = run.settings.layout.tokens_dir(PHASE_TOKENS[run.phase]) / "validation"
    was_training = model.training
    model.eval()
    try:
        if (validation / "meta.json").exists() and len(shard := TokenShard(validation)) > 1:
            loss = lm_loss(
                model, shard, run.block_size, batch_size, pad_id, run.device, settings.eval_examples
            )
            if loss is not None:
                results["val_loss"] = loss
                results["val_perplexity"] = math.exp(min(loss, 50.0))
            if run.phase == "emotion":
                scores = emotion_scores(
                    model, shard, run.block_size, batch_size, pad_id, run.device, settings.eval_examples
                )
                results["val_emotion_macro_f1"] = scores["macro_f1"]
                results["val_emotion_accuracy"] = scores["accuracy"]
    finally:
        model.train(was_training)
    return results


def train_phase(run: PhaseRun, pipes: Any | None = None) -> dict[str, Any]:
    """Train one phase to its ``max_steps`` (resuming if possible) and write its weights."""
    import deepspeed

    settings = run.settings_of_phase
    init = PHASE_INIT[run.phase]
    init_path = run.settings.layout.model.weights_path(PHASE_WEIGHTS[init]) if init else None
    torch.manual_seed(run.train.seed + run.rank)
    model = RosieGPT(run.config)
    if init_path is not None:
        load_weights(model, init_path)
    n_params = model.num_parameters()
    sampler = build_sampler(run)

    precision = select_precision(run.train.precision, run.device.type)
    ds_config = deepspeed_config(run.train, run.phase, precision=precision, world_size=run.world)
    engine, _, _, _ = deepspeed.initialize(
        model=model, model_parameters=parameter_groups(model, run.train), config=ds_config
    )

    ckpt_dir = run.settings.layout.model.checkpoint_dir(run.phase)
    run_fingerprint = fingerprint(run, init_path)
    state = resume(engine, ckpt_dir, run_fingerprint, run)
    start_step = state.get("step", 0)
    history: list[dict[str, float]] = state.get("history", [])
    evals: list[dict[str, float]] = state.get("evals", [])

    reporter = Reporter(run, pipes, start_step) if run.is_main else NullReporter()
    reporter.info(
        f"phase {run.phase}: {n_params:,} parameters, {precision}, ZeRO-{run.train.zero_stage}"
        f"{' + optimizer offload' if run.train.offload_optimizer else ''}, world {run.world}, "
        f"steps {start_step}->{settings.max_steps}" + (" (resumed)" if start_step else "")
    )
    compute_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    peak, peak_source = peak_flops(run.device, compute_dtype)
    step_flops_per_token = flops_per_token(run.config, n_params, run.block_size)
    tokens_per_step = settings.micro_batch_size * settings.grad_accum_steps * run.world * run.block_size

    engine.train()
    for step in range(start_step, settings.max_steps):
        started = time.perf_counter()
        losses = train_step(engine, sampler, run, step)
        elapsed = time.perf_counter() - started
        tokens_per_s = tokens_per_step / elapsed
        metrics = {
            **losses,
            "lr": float(engine.get_lr()[0]),
            "tokens_per_s": tokens_per_s,
            "mfu": step_flops_per_token * tokens_per_s / (peak * run.world),
        }
        history.append({"step": step + 1, **metrics})
        reporter.advance(metrics)
        if (step + 1) % settings.log_interval == 0:
            reporter.scalars(step + 1, metrics, "train")
        if (
            settings.eval_interval
            and (step + 1) % settings.eval_interval == 0
            and step + 1 < settings.max_steps
        ):
            evals.append({"step": step + 1, **evaluate(run, engine.module)})
            reporter.scalars(step + 1, evals[-1], "eval")
            reporter.info(
                f"step {step + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in evals[-1].items() if k != "step")
            )
        if (step + 1) % settings.checkpoint_interval == 0 and step + 1 < settings.max_steps:
            save_checkpoint(engine, ckpt_dir, step + 1, history, evals, run)
    final_eval = {"step": settings.max_steps, **evaluate(run, engine.module)}
    if not evals or evals[-1]["step"] != settings.max_steps:
        evals.append(final_eval)
        reporter.scalars(settings.max_steps, final_eval, "eval")
    save_checkpoint(engine, ckpt_dir, settings.max_steps, history, evals, run)
    reporter.close()

    result: dict[str, Any] = {}
    if run.is_main:
        state_dict = consolidated_state_dict(engine, ckpt_dir, settings.max_steps, run.train.zero_stage)
        result = write_outputs(
            run,
            state_dict,
            history,
            evals,
            init_path,
            n_params,
            {"precision": precision, "mfu_peak": peak_source, "world_size": run.world},
        )
        reporter.info(f"phase {run.phase} done: wrote {result['weights']}")
    torch.distributed.barrier()
    return result


def parameter_groups(model: torch.nn.Module, train: TrainConfig) -> list[dict[str, Any]]:
    """Weight decay on matrices only, not on biases, LayerNorms or the gate scalars (nanoGPT)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    return [{"params": decay, "weight_decay": train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_step(
    engine: Any, sampler: ShardSampler | MixtureSampler, run: PhaseRun, step: int
) -> dict[str, float]:
    """One optimizer step: ``grad_accum_steps`` micro-batches, each from fixed sample positions."""
    settings = run.settings_of_phase
    weight = settings.emotion_loss_weight
    totals = torch.zeros(3)
    for micro in range(settings.grad_accum_steps):
        positions = rank_positions(
            step * settings.grad_accum_steps + micro, settings.micro_batch_size, run.rank, run.world
        )
        batch = sampler.batch(positions)
        output = engine(batch.idx.to(run.device), targets=batch.targets.to(run.device))
        loss = output.loss
        emotion = (
            emotion_loss(output.emotion_logits.float(), batch.emotion.to(run.device)) if weight else None
        )
        if emotion is not None:
            loss = loss + weight * emotion
        engine.backward(loss)
        engine.step()
        totals += torch.tensor(
            [loss.item(), output.loss.item(), emotion.item() if emotion is not None else 0.0]
        )
    totals /= settings.grad_accum_steps
    if run.world > 1:
        torch.distributed.all_reduce(totals)
        totals /= run.world
    losses = {"loss": float(totals[0]), "lm_loss": float(totals[1])}
    if weight:
        losses["emotion_loss"] = float(totals[2])
    return losses


# --- checkpoints ------------------------------------------------------------------------------------


def _rng_file(tag_dir: Path, rank: int) -> Path:
    return tag_dir / f"rng_rank{rank}.pt"


def save_checkpoint(
    engine: Any, ckpt_dir: Path, step: int, history: list, evals: list, run: PhaseRun
) -> None:
    """DeepSpeed state (model, optimizer, scheduler) + per-rank RNG + data position, then prune."""
    tag = f"step{step:08d}"
    settings = run.settings_of_phase
    client_state = {
        "step": step,
        "samples_seen": step * settings.grad_accum_steps * settings.micro_batch_size * run.world,
        "history": history,
        "evals": evals,
    }
    # RNG first: DeepSpeed writes ``latest`` last, so a kill at any moment leaves ``latest``
    # naming a complete checkpoint (or the previous one).
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    (ckpt_dir / tag).mkdir(parents=True, exist_ok=True)
    torch.save(rng, _rng_file(ckpt_dir / tag, run.rank))
    torch.distributed.barrier()
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=client_state)
    torch.distributed.barrier()
    if run.is_main:
        tags = sorted(p for p in ckpt_dir.glob("step*") if p.is_dir())
        for old in tags[: -run.train.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    torch.distributed.barrier()


def resume(engine: Any, ckpt_dir: Path, run_fingerprint: str, run: PhaseRun) -> dict[str, Any]:
    """Load the latest checkpoint of this exact run; start fresh (clearing stale ones) otherwise."""
    run_file, latest = ckpt_dir / RUN_FILE, ckpt_dir / "latest"
    matches = run_file.exists() and json.loads(run_file.read_text()).get("fingerprint") == run_fingerprint
    tag = latest.read_text().strip() if latest.exists() else ""
    if not matches or not tag or not (ckpt_dir / tag).is_dir():  # (an empty ``latest``: killed writing it)
        torch.distributed.barrier()
        if run.is_main:
            if ckpt_dir.exists():
                log.warning(
                    "no resumable checkpoint of this run in %s (config, data or init changed): start fresh",
                    ckpt_dir,
                )
                shutil.rmtree(ckpt_dir)
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            run_file.write_text(json.dumps({"fingerprint": run_fingerprint, "phase": run.phase}))
        torch.distributed.barrier()
        return {}
    path, client_state = engine.load_checkpoint(str(ckpt_dir), tag=tag)
    if path is None:
        raise RuntimeError(
            f"could not load checkpoint {ckpt_dir / tag}: delete {ckpt_dir} to start the phase over"
        )
    rng = torch.load(_rng_file(ckpt_dir / tag, run.rank), weights_only=True)
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"])
    return client_state


def consolidated_state_dict(
    engine: Any, ckpt_dir: Path, step: int, zero_stage: int
) -> dict[str, torch.Tensor]:
    """The fp32 master weights of the final checkpoint, gathered from every ZeRO partition
    (without ZeRO the module itself holds them)."""
    if zero_stage == 0:
        return {k: v.detach().float().cpu() for k, v in engine.module.state_dict().items()}
    from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

    return get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=f"step{step:08d}")


# --- outputs -------------------------------------------------------------------------------------


def loss_curve_png(history: list[dict[str, float]], evals: list[dict[str, float]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([h["step"] for h in history], [h["loss"] for h in history], label="train loss", linewidth=1)
    points = [e for e in evals if "val_loss" in e]
    if points:
        ax.plot([e["step"] for e in points], [e["val_loss"] for e in points], "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_outputs(
    run: PhaseRun,
    state_dict: dict[str, torch.Tensor],
    history: list,
    evals: list,
    init_path: Path | None,
    n_params: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Weights + lineage manifest + config.json + loss curve; returns the materialization metadata."""
    settings = run.settings_of_phase
    model = RosieGPT(dataclasses.replace(run.config, gradient_checkpointing=False))
    model.load_state_dict({k: v.float() for k, v in state_dict.items()}, strict=True)
    model.config.save_json(run.settings.layout.model.config_path)
    final = evals[-1] if evals else {}
    recent = history[-min(len(history), 10) :]
    metrics = {
        "final_train_loss": sum(h["loss"] for h in recent) / max(len(recent), 1),
        **{k: v for k, v in final.items() if k != "step"},
        "tokens_per_s": sum(h["tokens_per_s"] for h in recent) / max(len(recent), 1),
        "mfu": sum(h["mfu"] for h in recent) / max(len(recent), 1),
        "peak_memory_gib": peak_memory_gib(run.device),
        "steps": settings.max_steps,
        "tokens_seen": settings.max_steps
        * settings.micro_batch_size
        * settings.grad_accum_steps
        * run.world
        * run.block_size,
    }
    manifest = {
        "phase": run.phase,
        "train_config": run.train.to_dict(),
        "tokenizer_sha256": run.tokenizer.sha256,
        "token_shards": {name: shard_lineage(path) for name, path in phase_shards(run).items()},
        "init_weights": {"path": str(init_path), "sha256": file_sha256(init_path)} if init_path else None,
        "upstream": run.lineage,
        "code_version": code_version(),
        "metrics": metrics,
        **extra,
    }
    path = save_weights(model, run.settings.layout.model.weights_path(PHASE_WEIGHTS[run.phase]), manifest)
    png = loss_curve_png(history, evals, f"phase {run.phase} ({run.config.n_layer}x{run.config.n_embd})")
    curve = run.settings.layout.model.loss_curve_path(run.phase)
    curve.parent.mkdir(parents=True, exist_ok=True)
    curve.write_bytes(png)
    return {
        "weights": str(path),
        "weights_sha256": file_sha256(path),
        "manifest": str(path.with_name(f"{path.stem}.manifest.json")),
        "loss_curve": str(curve),
        "loss_curve_png_base64": base64.b64encode(png).decode(),
        "parameters": n_params,
        **metrics,
        **extra,
    }


# --- entry point -----------------------------------------------------------------------------------


@contextlib.contextmanager
def dagster_pipes(rank: int) -> Iterator[Any | None]:
    """Rank 0's Dagster Pipes session when Dagster launched this job; None otherwise."""
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if rank != 0 or not PipesEnvVarParamsLoader().is_dagster_pipes_process():
        yield None
        return
    with open_dagster_pipes() as pipes:
        yield pipes


def report_materialization(pipes: Any, result: dict[str, Any]) -> None:
    png = result["loss_curve_png_base64"]
    metadata: dict[str, Any] = {
        "loss_curve": {"raw_value": f"![loss curve](data:image/png;base64,{png})", "type": "md"},
        "weights": {"raw_value": result["weights"], "type": "path"},
        "manifest": {"raw_value": result["manifest"], "type": "path"},
    }
    for key, value in result.items():
        if key not in metadata and key not in ("loss_curve_png_base64", "weights_sha256"):
            metadata[key] = value if not isinstance(value, float) else round(value, 6)
    pipes.report_asset_materialization(metadata=metadata, data_version=result["weights_sha256"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase", required=True, choices=PHASES)
    parser.add_argument(
        "--config", help="TrainConfig JSON (default: the ROSIE_PRESET preset + ROSIE_TRAIN_OVERRIDES)"
    )
    parser.add_argument("--lineage", help="JSON file of upstream lineage (Dagster run ids) for the manifest")
    parser.add_argument("--local_rank", type=int, default=None, help="set by the deepspeed launcher")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.environ.setdefault("DS_ACCELERATOR", "cpu" if not torch.cuda.is_available() else "cuda")
    settings = Settings.from_env()
    train = TrainConfig.load_json(args.config) if args.config else TrainConfig.from_settings(settings)
    rank, world, local_rank = init_distributed()
    tokenizer = RosieTokenizer.load(settings.layout.model.tokenizer_dir)
    with dagster_pipes(rank) as pipes:
        lineage = json.loads(Path(args.lineage).read_text()) if args.lineage else {}
        if pipes is not None:
            lineage = {**lineage, **(pipes.extras.get("lineage") or {})}
        run = PhaseRun(
            settings=settings,
            train=train,
            phase=args.phase,
            rank=rank,
            world=world,
            device=device_for(local_rank),
            tokenizer=tokenizer,
            config=resolve_model_config(settings, train, args.phase, tokenizer),
            lineage=lineage,
        )
        result = train_phase(run, pipes)
        if pipes is not None:
            report_materialization(pipes, result)


if __name__ == "__main__":
    main()
