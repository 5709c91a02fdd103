"""A phase's checkpoints: save, resume, prune, and the fp32 weights of the last one.

``checkpoints/<phase>/`` holds one ``step<NNNNNNNN>/`` folder per checkpoint (DeepSpeed's model,
optimizer and scheduler state, ``rng_rank<r>.pt`` per rank, and ``manifest.json``, the sha256 of
every other file, written last), ``latest`` (the newest complete checkpoint, written atomically after
its manifest) and ``run.json``, the fingerprint of the run the folder belongs to: a restarted phase
resumes only when the fingerprint still matches, and then ends bit-identical to an uninterrupted
run on CPU.

Nothing in a checkpoint is unpickled as code: before loading, every file must match its manifest
(a checkpoint changed since it was written is refused, naming the file), and DeepSpeed's loads go
through ``torch.load(weights_only=True)`` with only the few DeepSpeed classes its optimizer state
holds allow-listed, so a planted ``__reduce__`` payload is refused even with a rewritten manifest.
A checkpoint cut short by a kill (no manifest) is passed over for the one before it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch
from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
from deepspeed.runtime.zero.config import ZeroStageEnum
from deepspeed.utils.tensor_fragment import fragment_address

from foundation.atomic import write_text_atomic
from foundation.hashing import file_sha256
from model.phase_run import PhaseRun, phase_shards
from model.shards import shard_content_hash

log = logging.getLogger("rosie.train")  # the trainer's logger: a phase's lines read as one log

RUN_FILE = "run.json"  # the fingerprint of the run a checkpoint folder belongs to
MANIFEST_FILE = "manifest.json"  # in each step folder: sha256 of its other files, written last
LATEST_FILE = "latest"
# What DeepSpeed's optimizer state pickles besides tensors and containers (ZeRO 0-3, fp32/bf16).
DEEPSPEED_GLOBALS = [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]


class CheckpointError(RuntimeError):
    """A checkpoint that does not match its manifest, or holds more than tensors and plain data."""


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
    """DeepSpeed state (model, optimizer, scheduler) + per-rank RNG + data position, then the
    manifest, then ``latest``, then prune: a kill at any moment leaves ``latest`` naming a complete,
    verifiable checkpoint (or none yet)."""
    tag = _tag(step)
    settings = run.settings_of_phase
    client_state = {
        "step": step,
        "samples_seen": step * settings.grad_accum_steps * settings.micro_batch_size * run.world,
        "history": history,
        "evals": evals,
    }
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    (ckpt_dir / tag).mkdir(parents=True, exist_ok=True)
    torch.save(rng, _rng_file(ckpt_dir / tag, run.rank))
    torch.distributed.barrier()
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state=client_state, save_latest=False)
    torch.distributed.barrier()
    if run.is_main:
        files = {p.name: file_sha256(p) for p in sorted((ckpt_dir / tag).iterdir()) if p.is_file()}
        write_text_atomic(json.dumps({"tag": tag, "sha256": files}, indent=1), ckpt_dir / tag / MANIFEST_FILE)
        write_text_atomic(tag + "\n", ckpt_dir / LATEST_FILE)
        complete = _complete_tags(ckpt_dir)[-run.train.keep_checkpoints :]
        for old in ckpt_dir.glob("step*"):
            if old.is_dir() and old.name not in complete:
                shutil.rmtree(old, ignore_errors=True)
    torch.distributed.barrier()


def _complete_tags(ckpt_dir: Path) -> list[str]:
    """Checkpoint tags whose manifest was written, oldest first."""
    return sorted(p.parent.name for p in ckpt_dir.glob(f"step*/{MANIFEST_FILE}"))


def resumable_tag(ckpt_dir: Path) -> str | None:
    """``latest`` when it names a complete checkpoint, else the newest complete one (``latest`` cut
    short by a kill, or a checkpoint from before manifests existed); None when there is none."""
    complete = _complete_tags(ckpt_dir)
    latest = ckpt_dir / LATEST_FILE
    named = latest.read_text().strip() if latest.exists() else ""
    if named in complete:
        return named
    if complete:
        log.warning("%s names no complete checkpoint (%r): resuming from %s", latest, named, complete[-1])
        return complete[-1]
    return None


def verify_checkpoint(tag_dir: Path) -> None:
    """Raise CheckpointError unless every file in ``tag_dir`` is exactly as its manifest records."""
    recorded = json.loads((tag_dir / MANIFEST_FILE).read_text())["sha256"]
    present = {p.name for p in tag_dir.iterdir() if p.is_file() and p.name != MANIFEST_FILE}
    for name in sorted(present | set(recorded)):
        if name not in recorded or name not in present or file_sha256(tag_dir / name) != recorded[name]:
            raise CheckpointError(
                f"{tag_dir / name} is not the file this run wrote (missing, added or changed since): "
                f"refusing to load it. Delete {tag_dir.parent} to start the phase over."
            )


def load_weights_only(path: str | Path, map_location: Any = None) -> Any:
    """``torch.load`` that unpickles tensors, containers and DEEPSPEED_GLOBALS, nothing else."""
    try:
        with torch.serialization.safe_globals(DEEPSPEED_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds more than tensors and plain data, so it was not loaded ({exc}). "
            f"Delete {Path(path).parent.parent} to start the phase over."
        ) from exc


def resume(engine: Any, ckpt_dir: Path, run_fingerprint: str, run: PhaseRun) -> dict[str, Any]:
    """Load the latest checkpoint of this exact run; start fresh (clearing stale ones) otherwise."""
    run_file = ckpt_dir / RUN_FILE
    matches = run_file.exists() and json.loads(run_file.read_text()).get("fingerprint") == run_fingerprint
    tag = resumable_tag(ckpt_dir) if matches else None
    if tag is None:
        torch.distributed.barrier()
        if run.is_main:
            if ckpt_dir.exists():
                log.warning(
                    "no resumable checkpoint of this run in %s (config, data or init changed): start fresh",
                    ckpt_dir,
                )
                shutil.rmtree(ckpt_dir)
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(json.dumps({"fingerprint": run_fingerprint, "phase": run.phase}), run_file)
        torch.distributed.barrier()
        return {}
    verify_checkpoint(ckpt_dir / tag)
    # DeepSpeed's own engine loads with weights_only=False: every load it makes goes through ours.
    engine.checkpoint_engine.load = load_weights_only
    path, client_state = engine.load_checkpoint(str(ckpt_dir), tag=tag)
    if path is None:
        raise RuntimeError(
            f"could not load checkpoint {ckpt_dir / tag}: delete {ckpt_dir} to start the phase over"
        )
    rng = load_weights_only(_rng_file(ckpt_dir / tag, run.rank))
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
