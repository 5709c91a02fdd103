"""Which training recipe learns fastest per token and per second, on the demo's own pretraining shards.

Two measurements, both on ``artifacts/tokens/pretrain`` (built by ``make demo``), the demo model
shape, one process, the precision the trainer's ``auto`` picks:

- ``ablation``: each change alone against the demo's old recipe (learned positions, AdamW 3e-3,
  cosine, 8 x 256), trained for the same wall-clock seconds (the step count is sized from a timed
  probe of that variant, so the schedule ends on time), validation loss at the end; the seeds are
  interleaved. Rows: rotary positions, QK-norm, Muon, warmup-stable-decay, 16 x 128 windows, then
  every change that beat the old recipe at once ("kept").
- ``peer``: nanoGPT's train.py recipe (HF GPT-2 at the identical shape, AdamW with nanoGPT's
  small-model settings lr 1e-3 -> 1e-4 cosine, betas (0.9, 0.99), weight decay 0.1, clipping 1.0)
  beside Rosie's old and kept recipes, trained on the same token budget, validation loss every few
  steps: how many tokens Rosie needs to reach nanoGPT's final loss. The curves go to
  ``docs/recipe_vs_nanogpt.png``.

    PYTHONPATH=. .venv/bin/python benchmarks/recipe.py ablation [--seconds 50] [--seeds 2]
    PYTHONPATH=. .venv/bin/python benchmarks/recipe.py peer [--steps 400]

Results: ``benchmarks/recipe_results.json`` (one key per measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable

import torch

from benchmarks.bench_model import gpt2_peer
from benchmarks.bench_train import decay_groups
from foundation.atomic import write_text_atomic
from foundation.settings import PROJECT_ROOT, Settings
from labeling.special_tokens import PAD
from model.batches import ShardSampler
from model.config import ModelConfig
from model.ds_config import select_precision
from model.evaluate import lm_loss
from model.gpt import ModelOutput, RosieGPT
from model.optimizer import build_plain_optimizer, lr_multiplier
from model.shards import TokenShard
from model.tokenizer import RosieTokenizer
from model.train_config import PhaseConfig, TrainConfig

RESULTS = PROJECT_ROOT / "benchmarks" / "recipe_results.json"
PLOT = PROJECT_ROOT / "docs" / "recipe_vs_nanogpt.png"
EVAL_WINDOWS = 64  # validation windows of the block size (fixed, the same for every variant)
# The demo's recipe before this measurement: what every ablation row changes one thing of.
OLD_MODEL = {"rotary": False, "qk_norm": False}
OLD_PHASE = PhaseConfig(max_steps=1, learning_rate=3e-3, warmup_steps=6, micro_batch_size=8, block_size=256)
OLD_TRAIN = dataclasses.replace(TrainConfig.from_preset("demo"), optimizer="adamw")


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    model: dict
    train: TrainConfig
    phase: PhaseConfig


def variants() -> list[Recipe]:
    """The old recipe and each change alone."""
    old = Recipe("old (learned positions, AdamW, cosine, 8x256)", OLD_MODEL, OLD_TRAIN, OLD_PHASE)
    return [
        old,
        dataclasses.replace(old, name="+ rotary positions", model={**OLD_MODEL, "rotary": True}),
        dataclasses.replace(old, name="+ QK-norm", model={**OLD_MODEL, "qk_norm": True}),
        dataclasses.replace(
            old,
            name="+ Muon (hidden matrices, lr 0.02)",
            train=dataclasses.replace(OLD_TRAIN, optimizer="muon"),
        ),
        dataclasses.replace(
            old, name="+ warmup-stable-decay (last 20%)", phase=dataclasses.replace(OLD_PHASE, schedule="wsd")
        ),
        dataclasses.replace(
            old,
            name="+ 16 x 128 windows (same tokens per step)",
            phase=dataclasses.replace(OLD_PHASE, block_size=128, micro_batch_size=16),
        ),
    ]


def combined(winners: list[Recipe]) -> Recipe:
    """Every winning change at once (each differs from the old recipe in one place)."""
    old = variants()[0]
    model, train, phase = dict(old.model), old.train, old.phase
    for recipe in winners:
        model.update({k: v for k, v in recipe.model.items() if v != old.model[k]})
        if recipe.train != old.train:
            train = recipe.train
        changes = {
            f.name: getattr(recipe.phase, f.name)
            for f in dataclasses.fields(PhaseConfig)
            if getattr(recipe.phase, f.name) != getattr(old.phase, f.name)
        }
        phase = dataclasses.replace(phase, **changes)
    names = ", ".join(r.name.removeprefix("+ ") for r in winners) or "nothing"
    return Recipe(f"kept: {names}", model, train, phase)


def kept_recipe() -> Recipe:
    """The combination the last ablation kept (what the demo preset trains with)."""
    rows = json.loads(RESULTS.read_text())["ablation"]["rows"]
    winners = [
        r for r in variants()[1:] if any(row["recipe"] == r.name and row["delta_vs_old"] < 0 for row in rows)
    ]
    return combined(winners)


def load_shards(settings: Settings) -> tuple[TokenShard, TokenShard, int, int]:
    tokens = settings.layout.tokens_dir("pretrain")
    if not (tokens / "train" / "meta.json").exists():
        raise SystemExit(f"{tokens} has no token shards: run `make demo` first (it builds them)")
    tokenizer = RosieTokenizer.load(settings.layout.model.tokenizer_dir)
    return (
        TokenShard(tokens / "train"),
        TokenShard(tokens / "validation"),
        tokenizer.vocab_size,
        tokenizer.token_id(PAD),
    )


class Trainer:
    """One model trained in a bare loop (autocast, clipping at 1.0, the schedule per step)."""

    def __init__(
        self,
        model: torch.nn.Module,
        forward: Callable,
        optimizer: torch.optim.Optimizer,
        phase: PhaseConfig,
        sampler: ShardSampler,
        bf16: bool,
    ) -> None:
        self.model, self.forward, self.optimizer, self.phase = model.train(), forward, optimizer, phase
        self.sampler, self.bf16, self.step_index = sampler, bf16, 0
        self.peaks = [group["lr"] for group in optimizer.param_groups]

    def step(self) -> None:
        for group, peak in zip(self.optimizer.param_groups, self.peaks, strict=True):
            group["lr"] = peak * lr_multiplier(self.step_index, self.phase)
        positions = range(
            self.step_index * self.phase.micro_batch_size, (self.step_index + 1) * self.phase.micro_batch_size
        )
        batch = self.sampler.batch(list(positions))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.forward(batch.idx, batch.targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.step_index += 1

    def tokens(self) -> int:
        return self.step_index * self.phase.micro_batch_size * (self.phase.block_size or 256)


def rosie_trainer(
    recipe: Recipe, vocab: int, pad_id: int, train_shard: TokenShard, seed: int, bf16: bool, max_steps: int
) -> Trainer:
    torch.manual_seed(seed)
    config = ModelConfig.from_preset("demo", vocab_size=vocab, **recipe.model)
    model = RosieGPT(config)
    phase = dataclasses.replace(recipe.phase, max_steps=max_steps)
    sampler = ShardSampler(train_shard, phase.block_size, seed, pad_id)
    return Trainer(
        model,
        lambda idx, targets: model(idx, targets=targets).loss,
        build_plain_optimizer(model, recipe.train, phase),
        phase,
        sampler,
        bf16,
    )


def nanogpt_trainer(
    vocab: int, pad_id: int, train_shard: TokenShard, seed: int, bf16: bool, max_steps: int, warmup: int
) -> Trainer:
    """nanoGPT's train.py at its small-model settings (config/train_shakespeare_char.py)."""
    torch.manual_seed(seed)
    model = gpt2_peer(ModelConfig.from_preset("demo", vocab_size=vocab, **OLD_MODEL))
    optimizer = torch.optim.AdamW(decay_groups(model), lr=1e-3, betas=(0.9, 0.99))
    phase = PhaseConfig(
        max_steps=max_steps,
        learning_rate=1e-3,
        warmup_steps=warmup,
        micro_batch_size=8,
        block_size=256,
        min_lr_ratio=0.1,
    )
    sampler = ShardSampler(train_shard, 256, seed, pad_id)

    def forward(idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=idx).logits
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100
        )

    return Trainer(model, forward, optimizer, phase, sampler, bf16)


class LogitsOnly(torch.nn.Module):
    """The HF peer called the way :func:`model.evaluate.lm_loss` calls RosieGPT."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> ModelOutput:
        logits = self.model(input_ids=idx).logits
        return ModelOutput(logits=logits, emotion_logits=logits[..., :0])


@torch.no_grad()
def validation_loss(trainer: Trainer, shard: TokenShard, pad_id: int, bf16: bool) -> float:
    model = trainer.model.eval()
    forward = model if isinstance(model, RosieGPT) else LogitsOnly(model)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = lm_loss(forward, shard, 256, 16, pad_id, torch.device("cpu"), EVAL_WINDOWS)
    model.train()
    return float(loss)


def probe_seconds_per_step(make: Callable[[int], Trainer], steps: int = 4) -> float:
    trainer = make(100)
    trainer.step()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.step()
    return (time.perf_counter() - started) / steps


def ablation(seconds: float, seeds: int) -> dict:
    settings = Settings.from_env()
    train_shard, val_shard, vocab, pad_id = load_shards(settings)
    bf16 = select_precision("auto", "cpu") == "bf16"
    rows: dict[str, list[dict]] = {}

    def run(recipe: Recipe, seed: int) -> None:
        def make(steps: int) -> Trainer:
            return rosie_trainer(recipe, vocab, pad_id, train_shard, 1000 + seed, bf16, steps)

        steps = max(int(seconds / probe_seconds_per_step(make)), 10)
        trainer = make(steps)
        started = time.perf_counter()
        for _ in range(steps):
            trainer.step()
        elapsed = time.perf_counter() - started
        loss = validation_loss(trainer, val_shard, pad_id, bf16)
        rows.setdefault(recipe.name, []).append(
            {
                "seed": seed,
                "steps": steps,
                "tokens": trainer.tokens(),
                "seconds": round(elapsed, 1),
                "val_loss": round(loss, 4),
                "load": round(os.getloadavg()[0], 2),
            }
        )
        print(
            f"{recipe.name:<50} seed {seed}: {steps} steps, {elapsed:.0f} s, val loss {loss:.3f}", flush=True
        )

    def mean_loss(name: str) -> float:
        return statistics.mean(r["val_loss"] for r in rows[name])

    singles = variants()
    for seed in range(seeds):  # seeds outermost: the variants interleave
        for recipe in singles:
            run(recipe, seed)
    old = mean_loss(singles[0].name)
    kept = combined([r for r in singles[1:] if mean_loss(r.name) < old])
    for seed in range(seeds):
        run(kept, seed)
    return {
        "seconds_per_variant": seconds,
        "precision": "bf16" if bf16 else "fp32",
        "rows": [
            {
                "recipe": name,
                "val_loss": round(mean_loss(name), 4),
                "delta_vs_old": round(mean_loss(name) - old, 4),
                "tokens": round(statistics.mean(r["tokens"] for r in runs)),
                "runs": runs,
            }
            for name, runs in rows.items()
        ],
    }


def peer(steps: int, eval_every: int) -> dict:
    settings = Settings.from_env()
    train_shard, val_shard, vocab, pad_id = load_shards(settings)
    bf16 = select_precision("auto", "cpu") == "bf16"
    warmup = max(steps // 20, 1)
    kept = kept_recipe()
    kept = dataclasses.replace(kept, phase=dataclasses.replace(kept.phase, warmup_steps=warmup))
    runs = {
        "nanoGPT (AdamW 1e-3, cosine, learned positions)": nanogpt_trainer(
            vocab, pad_id, train_shard, 1000, bf16, steps, warmup
        ),
        "Rosie (old recipe: AdamW 3e-3, cosine)": rosie_trainer(
            variants()[0], vocab, pad_id, train_shard, 1000, bf16, steps
        ),
        "Rosie (" + kept.name + ")": rosie_trainer(kept, vocab, pad_id, train_shard, 1000, bf16, steps),
    }
    curves: dict[str, list[tuple[int, float]]] = {name: [] for name in runs}
    seconds = dict.fromkeys(runs, 0.0)
    for step in range(1, steps + 1):  # interleaved, step by step
        for name, trainer in runs.items():
            started = time.perf_counter()
            trainer.step()
            seconds[name] += time.perf_counter() - started
            if step % eval_every == 0 or step == steps:
                curves[name].append((trainer.tokens(), validation_loss(trainer, val_shard, pad_id, bf16)))
        if step % eval_every == 0:
            print(step, {n: round(c[-1][1], 3) for n, c in curves.items()}, flush=True)
    peer_name, _, rosie_name = list(runs)
    target = curves[peer_name][-1][1]
    reached = next((tokens for tokens, loss in curves[rosie_name] if loss <= target), None)
    plot(curves, target)
    return {
        "steps": steps,
        "tokens": curves[peer_name][-1][0],
        "precision": "bf16" if bf16 else "fp32",
        "final_val_loss": {name: round(c[-1][1], 4) for name, c in curves.items()},
        "seconds": {name: round(s, 1) for name, s in seconds.items()},
        "rosie_tokens_to_peer_final_loss": reached,
        "token_ratio": round(reached / curves[peer_name][-1][0], 3) if reached else None,
        "load": round(os.getloadavg()[0], 2),
        "curves": {name: [[t, round(v, 4)] for t, v in c] for name, c in curves.items()},
    }


def plot(curves: dict[str, list[tuple[int, float]]], target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for name, curve in curves.items():
        axes.plot([t / 1e6 for t, _ in curve], [v for _, v in curve], label=name, marker=".")
    axes.axhline(target, color="grey", linestyle=":", label=f"nanoGPT's final loss {target:.3f}")
    axes.set_xlabel("training tokens (millions)")
    axes.set_ylabel("validation loss (nats/token)")
    axes.set_title("Demo shape on the demo's pretraining shards")
    axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    tmp = PLOT.with_suffix(f".tmp{os.getpid()}.png")
    figure.savefig(tmp, dpi=110)
    os.replace(tmp, PLOT)


DOC = PROJECT_ROOT / "docs" / "training.md"
BEGIN, END = "<!-- recipe table: benchmarks/recipe.py table -->", "<!-- end recipe table -->"


def render(results: dict) -> str:
    """The ablation and peer tables as docs/training.md shows them (from recipe_results.json)."""
    ablation = results["ablation"]
    lines = [
        f"Each change alone, {ablation['seconds_per_variant']:.0f} s of training each, mean of "
        f"{len(ablation['rows'][0]['runs'])} seeds ({ablation['precision']}, load average "
        f"{min(r['load'] for row in ablation['rows'] for r in row['runs']):.1f}-"
        f"{max(r['load'] for row in ablation['rows'] for r in row['runs']):.1f}):",
        "",
        "| recipe | tokens in the time | validation loss | vs old |",
        "|---|---|---|---|",
    ]
    for row in ablation["rows"]:
        lines.append(
            f"| {row['recipe']} | {row['tokens']:,} | {row['val_loss']:.3f} | {row['delta_vs_old']:+.3f} |"
        )
    if "peer" in results:
        peer = results["peer"]
        rosie = [name for name in peer["final_val_loss"] if name.startswith("Rosie (kept")][0]
        lines += [
            "",
            f"Same {peer['tokens']:,} tokens ({peer['steps']} steps of 8 x 256), interleaved "
            f"(load average {peer['load']:.1f}):",
            "",
            "| run | final validation loss | seconds |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {loss:.3f} | {peer['seconds'][name]:.0f} |"
            for name, loss in peer["final_val_loss"].items()
        ]
        reached = peer["rosie_tokens_to_peer_final_loss"]
        lines += [
            "",
            f"{rosie} reaches nanoGPT's final loss after "
            + (
                f"{reached:,} tokens, {peer['token_ratio']:.2f} of nanoGPT's."
                if reached
                else "no point measured."
            ),
        ]
    return "\n".join(lines)


def doc_block(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("ablation")
    a.add_argument("--seconds", type=float, default=50.0)
    a.add_argument("--seeds", type=int, default=2)
    sub.add_parser("table", help="print the tables docs/training.md shows")
    p = sub.add_parser("peer")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--eval-every", type=int, default=25)
    args = parser.parse_args()
    if args.command == "table":
        print(render(json.loads(RESULTS.read_text())))
        return
    torch.set_num_threads(os.cpu_count() or 1)
    result = (
        ablation(args.seconds, args.seeds)
        if args.command == "ablation"
        else peer(args.steps, args.eval_every)
    )
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.command] = result
    write_text_atomic(json.dumps(results, indent=2) + "\n", RESULTS)
    print(json.dumps({k: v for k, v in result.items() if k not in ("curves", "rows")}, indent=2))


if __name__ == "__main__":
    main()
