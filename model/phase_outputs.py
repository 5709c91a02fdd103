"""What a finished phase leaves behind: its weights with a lineage manifest (configs, tokenizer,
token shard hashes, initial weights, upstream run ids, code version, metrics), ``config.json`` and
the loss curve; and the metadata the materialization reports.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import statistics
import subprocess
from pathlib import Path
from typing import Any

import torch

from foundation.hashing import file_sha256
from foundation.settings import PROJECT_ROOT
from model.distributed import peak_memory_gib
from model.gpt import RosieGPT
from model.phase_run import PhaseRun, phase_shards
from model.reporting import loss_curve_png
from model.shards import read_meta, shard_content_hash
from model.train_config import PHASE_WEIGHTS
from model.weights import manifest_path, save_weights


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
    """A token shard as the manifest records it: content hash, counts, the files it came from."""
    meta = read_meta(directory)
    return {
        "path": str(directory),
        "content_sha256": shard_content_hash(directory),
        "n_tokens": meta["n_tokens"],
        "n_documents": meta["n_documents"],
        "sources": meta.get("sources", {}),
    }


def write_outputs(
    run: PhaseRun,
    state_dict: dict[str, torch.Tensor],
    history: list[dict[str, float]],
    evals: list[dict[str, float]],
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
        # medians: one slow step (the first, a checkpoint, a busy machine) does not move them
        "tokens_per_s": statistics.median(h["tokens_per_s"] for h in recent) if recent else 0.0,
        "mfu": statistics.median(h["mfu"] for h in recent) if recent else 0.0,
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
        "manifest": str(manifest_path(path)),
        "loss_curve": str(curve),
        "loss_curve_png_base64": base64.b64encode(png).decode(),
        "parameters": n_params,
        **metrics,
        **extra,
    }
