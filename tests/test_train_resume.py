"""Fault tolerance and scale-out of the trainer, in real subprocesses (slow).

- A phase SIGKILLed mid-run and restarted resumes from its last checkpoint and ends with weights
  bit-identical to an uninterrupted run (CPU, fp32).
- The deepspeed launcher runs the same phase as two processes (ZeRO-2 partitions the optimizer
  state across them; the precision rank 0 picks, bf16 autocast where this CPU's bf16 is faster)
  and writes one set of weights.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from foundation.settings import PROJECT_ROOT, Settings
from model.weights import manifest_path
from tests.test_train_support import prepare, tiny_overrides

pytestmark = pytest.mark.slow

STEPS = 10


@pytest.fixture(scope="module")
def inputs(data_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    settings = Settings.from_env(
        data_root=str(data_root), artifacts_dir=root / "artifacts", model_dir=root / "model", preset="demo"
    )
    prepare(settings, data_root)
    return settings


def _env(settings: Settings, model_dir, precision: str = "auto", optimizer: str | None = None) -> dict:
    overrides = tiny_overrides(base={"max_steps": STEPS, "checkpoint_interval": 3, "eval_interval": 0})
    overrides["precision"] = precision
    if optimizer:
        overrides["optimizer"] = optimizer
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "DS_ACCELERATOR": "cpu",
        "ROSIE_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "ROSIE_MODEL_DIR": str(model_dir),
        "ROSIE_TRAIN_OVERRIDES": json.dumps(overrides),
    }


def _model_dir(settings: Settings, name: str):
    """A model folder of its own, sharing the tokenizer (and the token shards) of ``settings``."""
    model_dir = settings.model_dir.parent / name
    shutil.copytree(settings.layout.model.tokenizer_dir, model_dir / "tokenizer")
    return model_dir


def _train(env: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "model.train", "--phase", "base"]
    return subprocess.Popen(
        command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _weights(model_dir) -> dict[str, torch.Tensor]:
    return torch.load(model_dir / "weights" / "base.pth", map_location="cpu", weights_only=True)


@pytest.mark.parametrize("optimizer", ["muon", "adamw"])  # the demo's, and torch's fused AdamW
def test_sigkilled_run_resumes_to_identical_weights(inputs, optimizer):
    whole, killed = _model_dir(inputs, f"whole-{optimizer}"), _model_dir(inputs, f"killed-{optimizer}")
    run = _train(_env(inputs, whole, "fp32", optimizer))
    assert run.wait() == 0, run.stderr.read().decode()[-3000:]

    run = _train(_env(inputs, killed, "fp32", optimizer))
    latest = killed / "checkpoints" / "base" / "latest"
    deadline = time.monotonic() + 300
    while not (latest.exists() and latest.read_text().strip() == "step00000006"):
        assert run.poll() is None, "the run ended before its step-6 checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert not (killed / "weights" / "base.pth").exists(), "killed mid-phase, before its weights"

    resumed = _train(_env(inputs, killed, "fp32", optimizer))
    _, stderr = resumed.communicate()
    assert resumed.returncode == 0, stderr.decode()[-3000:]
    assert "steps 6->10 (resumed)" in stderr.decode()
    a, b = _weights(whole), _weights(killed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    history = json.loads(manifest_path(killed / "weights" / "base.pth").read_text())["metrics"]
    assert history["steps"] == STEPS


def test_deepspeed_launcher_two_processes(inputs):
    model_dir = _model_dir(inputs, "two")
    env = _env(inputs, model_dir)
    command = [
        sys.executable,
        "-m",
        "deepspeed.launcher.runner",
        "--num_gpus",
        "2",
        "--master_port",
        "29561",
        "--module",
        "model.train",
        "--phase",
        "base",
    ]
    run = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "world 2" in run.stderr + run.stdout
    settings = Settings.from_env(
        data_root=inputs.data_root, artifacts_dir=inputs.artifacts_dir, model_dir=model_dir, preset="demo"
    )
    tag = settings.layout.model.checkpoint_dir("base") / f"step{STEPS:08d}"
    assert len(list(tag.glob("zero_pp_rank_*_optim_states.pt"))) == 2, "optimizer state partitioned in two"
    assert sorted(p.name for p in tag.glob("rng_rank*.pt")) == ["rng_rank0.pt", "rng_rank1.pt"]
    manifest = json.loads(manifest_path(settings.layout.model.weights_path("base")).read_text())
    assert manifest["world_size"] == 2
    assert manifest["metrics"]["tokens_seen"] == 2 * STEPS * 4 * 2 * 64
