"""A phase's checkpoints: save, resume, prune, and the fp32 weights of the last one.

``checkpoints/<phase>/`` holds one ``step<NNNNNNNN>/`` folder per checkpoint (DeepSpeed's model,
optimizer and scheduler state, plus ``rng_rank<r>.pt`` per rank), ``latest`` (written last by
DeepSpeed, so it always names a complete checkpoint) and ``run.json``, the fingerprint of the run the
folder belongs to: a restarted phase resumes only when the fingerprint still matches, and then ends
bit-identical to an uninterrupted run on CPU.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from foundation.hashing import file_sha256
from model.phase_run import PhaseRun, phase_shards
from model.shards import shard_content_hash

log = logging.getLogger("rosie.train")  # the trainer's logger: a phase's lines read as one log

RUN_FILE = "run.json"  # the fingerprint of the run a checkpoint folder belongs to


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


def _tag(step: int) -> str:
    return f"step{step:08d}"


def _rng_file(tag_dir: Path, rank: int) -> Path:
    return tag_dir / f"rng_rank{rank}.pt"


def save_checkpoint(
    engine: Any, ckpt_dir: Path, step: int, history: list, evals: list, run: PhaseRun
) -> None:
    """DeepSpeed state (model, optimizer, scheduler) + per-rank RNG + data position, then prune."""
    tag = _tag(step)
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

    return get_fp32_state_dict_from_zero_checkpoint(str(ckpt_dir), tag=_tag(step))
