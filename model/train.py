"""Training entry point: one phase of Rosie's three, as a DeepSpeed job.

Runs as a plain process or under the DeepSpeed launcher (one or many processes, one or many hosts)::

    python -m model.train --phase base
    deepspeed --num_gpus 2 model/train.py --phase personality
    deepspeed --hostfile hosts.txt model/train.py --phase emotion --config run/train_config.json

Phases: ``base`` (LM on the pretraining tokens → ``weights/base.pth``), ``personality`` (chat LM on
Rosie's turns, from ``base.pth`` → ``personality.pth``), ``emotion`` (LM + weighted emotion-head
cross-entropy at each labelled turn's ``<|end|>``, from ``personality.pth`` → ``final.pth``).

Checkpoints (``checkpoints/<phase>/``, every ``checkpoint_interval`` steps) carry the optimizer,
scheduler, RNG states and data position; a restarted run resumes from the latest one as long as
its fingerprint (configs, data and initial weights) still matches, and ends bit-identical to an
uninterrupted run on CPU. Rank 0 logs to TensorBoard (``logs/<phase>/``), a progress bar, and —
when launched by Dagster — streams metrics and the final materialization through Dagster Pipes.

This module is the loop; what it wires together lives beside it: :mod:`model.phase_run` (the
resolved phase), :mod:`model.batches` (samples), :mod:`model.distributed` (processes, devices, MFU),
:mod:`model.checkpoint`, :mod:`model.reporting` and :mod:`model.phase_outputs` (weights + lineage).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (``deepspeed model/train.py``): import from the repo root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import dataclasses
import json
import logging
import math
import os
import time
from typing import Any

import torch

from foundation.settings import Settings
from labeling.special_tokens import PAD
from model.batches import MixtureSampler, ShardSampler, rank_positions
from model.checkpoint import consolidated_state_dict, fingerprint, resume, save_checkpoint
from model.config import training_flops_per_token
from model.distributed import device_for, init_distributed, peak_flops
from model.ds_config import PRECISIONS, deepspeed_config, resolve_zero, select_precision
from model.emotion_lexicon import fit_for_shard
from model.evaluate import emotion_scores, lm_loss
from model.gpt import RosieGPT, balanced_class_weights, emotion_loss
from model.optimizer import build_muon, parameter_groups, schedule
from model.phase_outputs import write_outputs
from model.phase_run import PhaseRun, resolve_model_config
from model.reporting import NullReporter, Reporter, dagster_pipes, report_materialization
from model.shards import TokenShard
from model.tokenizer import RosieTokenizer
from model.train_config import PHASE_INIT, PHASE_TOKENS, PHASE_WEIGHTS, PHASES, TrainConfig
from model.weights import load_weights


def build_sampler(run: PhaseRun) -> ShardSampler | MixtureSampler:
    """The phase's training samples, seeded per phase; phase 3 mixes in the personality shard."""
    pad_id = run.tokenizer.token_id(PAD)
    seed = run.train.seed + PHASES.index(run.phase) * 1000
    main = ShardSampler(
        TokenShard(run.settings.layout.tokens_dir(PHASE_TOKENS[run.phase]) / "train"),
        run.block_size,
        seed,
        pad_id,
        lm_targets=run.settings_of_phase.language_model_loss,
    )
    mix = run.settings_of_phase.personality_mix
    if mix <= 0:
        return main
    voice = ShardSampler(
        TokenShard(run.settings.layout.tokens_dir("personality") / "train"), run.block_size, seed + 1, pad_id
    )
    return MixtureSampler([main, voice], [1.0 - mix, mix], seed + 2)


def build_engine(
    model: torch.nn.Module, train: TrainConfig, phase: str, precision: str, world: int, device_type: str
) -> Any:
    """The DeepSpeed engine of one phase: its config, optimizer and learning-rate schedule."""
    import deepspeed

    settings = train.phase(phase)
    ds_config = deepspeed_config(train, phase, precision=precision, world_size=world, device_type=device_type)
    # AdamW comes from the DeepSpeed config (its CPU Adam under offload); Muon is passed in built.
    muon = build_muon(model, train, settings) if train.optimizer == "muon" else None
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=muon,
        model_parameters=None if muon else parameter_groups(model, train, settings),
        config=ds_config,
        lr_scheduler=lambda optimizer: schedule(optimizer, settings),
    )
    if world == 1 and not engine.zero_optimization():
        # One process has nothing to average, yet DeepSpeed would still flatten every gradient into
        # buckets, all-reduce them with itself and copy them back: 40% of gpt768's backward on CPU.
        engine.enable_backward_allreduce = False
    return engine


def fit_lexicon(run: PhaseRun, model: RosieGPT) -> dict[str, float]:
    """Phase 3 fits the head's lexical path on its train split before training the rest of the head
    (:mod:`model.emotion_lexicon`); rank 0's table goes to every rank. Figures of the fit ({} when
    the phase or the model has none)."""
    buckets = run.config.emotion_lexicon_buckets
    if run.phase != "emotion" or not buckets:
        return {}
    shard = TokenShard(run.settings.layout.tokens_dir(PHASE_TOKENS[run.phase]) / "train")
    table, figures = fit_for_shard(shard, run.config.vocab_size, buckets, run.config.n_emotions)
    if run.world > 1:
        torch.distributed.broadcast(table, src=0)
    model.emotion_lexicon.copy_(table)
    return figures


def emotion_class_weights(run: PhaseRun) -> torch.Tensor | None:
    """Balanced label weights of the phase's own labelled data (None: unweighted, or no head loss)."""
    settings = run.settings_of_phase
    if not (settings.emotion_loss_weight and settings.balance_emotions):
        return None
    shard = TokenShard(run.settings.layout.tokens_dir(PHASE_TOKENS[run.phase]) / "train")
    return balanced_class_weights(shard.emotion_counts(run.config.n_emotions)).to(run.device)


def train_step(
    engine: Any,
    sampler: ShardSampler | MixtureSampler,
    run: PhaseRun,
    step: int,
    class_weights: torch.Tensor | None = None,
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
        output = engine(batch.idx.to(run.device), targets=batch.targets.to(run.device), full_logits=False)
        loss = output.loss
        emotion = (
            emotion_loss(output.emotion_logits.float(), batch.emotion.to(run.device), class_weights)
            if weight
            else None
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


def evaluate(run: PhaseRun, model: torch.nn.Module) -> dict[str, float]:
    """Held-out loss and perplexity of the phase's data; emotion macro-F1 in phase 3."""
    settings = run.settings_of_phase
    pad_id = run.tokenizer.token_id(PAD)
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


def agreed_precision(run: PhaseRun) -> str:
    """The precision every rank trains in: rank 0 resolves it (``auto`` measures) and the others follow."""
    choice = PRECISIONS.index(select_precision(run.train.precision, run.device.type)) if run.is_main else 0
    index = torch.tensor([choice], device=run.device)
    torch.distributed.broadcast(index, src=0)
    return PRECISIONS[int(index.item())]


def train_phase(run: PhaseRun, pipes: Any | None = None) -> dict[str, Any]:
    """Train one phase to its ``max_steps`` (resuming if possible) and write its weights."""
    precision = agreed_precision(run)
    # The resolved stage and precision are part of the run: its fingerprint, manifest and log.
    train = resolve_zero(run.train, run.config, run.phase, run.world, run.device)
    run = dataclasses.replace(run, train=dataclasses.replace(train, precision=precision))
    settings = run.settings_of_phase
    init = PHASE_INIT[run.phase]
    init_path = run.settings.layout.model.weights_path(PHASE_WEIGHTS[init]) if init else None
    torch.manual_seed(run.train.seed + run.rank)
    model = RosieGPT(run.config)
    if init_path is not None:
        load_weights(model, init_path)
    n_params = model.num_parameters()
    lexicon = fit_lexicon(run, model)
    sampler = build_sampler(run)
    class_weights = emotion_class_weights(run)

    engine = build_engine(model, run.train, run.phase, precision, run.world, run.device.type)

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
    if lexicon:
        reporter.info(
            f"emotion lexicon fitted on {lexicon['turns']:,} labelled turns in {lexicon['seconds']} s "
            f"({lexicon['iterations']} L-BFGS iterations, loss {lexicon['loss']})"
        )
    compute_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    peak, peak_source = peak_flops(run.device, compute_dtype)
    step_flops_per_token = training_flops_per_token(run.config, run.block_size)
    reporter.info(
        f"MFU = {step_flops_per_token / 1e6:,.1f} MFLOP/token (matmul FLOPs, model.config."
        f"training_flops_per_token) x tokens/s / peak ({peak_source})"
    )
    tokens_per_step = settings.micro_batch_size * settings.grad_accum_steps * run.world * run.block_size

    engine.train()
    for step in range(start_step, settings.max_steps):
        started = time.perf_counter()
        losses = train_step(engine, sampler, run, step, class_weights)
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
            {
                "precision": precision,
                "zero_stage": run.train.zero_stage,
                "mfu_peak": peak_source,
                "mfu_flops_per_token": step_flops_per_token,
                "world_size": run.world,
                **{f"emotion_lexicon_{name}": value for name, value in lexicon.items()},
            },
        )
        reporter.info(f"phase {run.phase} done: wrote {result['weights']}")
    torch.distributed.barrier()
    return result


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
