"""Reliability of datasets and training outputs (README "Reliability"): multi-file outputs are
published whole even when the writer is SIGKILLed half-way, and checkpoints never run pickled code."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest
import torch

from foundation.atomic import publish_directory
from foundation.hashing import file_sha256
from foundation.settings import PROJECT_ROOT, Settings
from labeling.datasets import read_split, write_splits
from labeling.splits import SPLITS
from model.checkpoint import CheckpointError, load_weights_only, resumable_tag, resume, save_checkpoint
from model.config import ModelConfig
from model.distributed import free_port, init_distributed
from model.gpt import RosieGPT
from model.phase_run import PhaseRun
from model.shard_building import build_text_shards
from model.shards import TokenShard
from model.tokenizer import RosieTokenizer
from model.train import build_engine
from model.train_config import TrainConfig

# Runs the Python code in argv[2] with ``module:attribute`` (argv[1]) patched to SIGKILL the process
# right after its n-th call (argv[3]): a real kill at an exact point of a real write.
KILL_AFTER = """
import importlib, os, signal, sys
module_name, _, path = sys.argv[1].partition(":")
*owners, function = path.split(".")
owner = importlib.import_module(module_name)
for name in owners:
    owner = getattr(owner, name)
real, calls = getattr(owner, function), [0]
def then_die(*args, **kwargs):
    result = real(*args, **kwargs)
    calls[0] += 1
    if calls[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(owner, function, then_die)
exec(sys.argv[2])
"""


def killed_after(target: str, calls: int, code: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-c", KILL_AFTER, target, code, str(calls)]
    done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == -9, done.stderr[-2000:]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# --- datasets ------------------------------------------------------------------------------------

WRITE_SPLITS = """
import pyarrow as pa
from foundation.settings import Settings
from labeling.datasets import write_splits
from labeling.splits import SPLITS
write_splits(Settings.from_env(), "emotion", {s: pa.table({"text": [f"new {s}"]}) for s in SPLITS})
"""


def texts(settings: Settings) -> list[str]:
    return [read_split(settings, "emotion", s)["text"][0].as_py() for s in SPLITS]


@pytest.mark.parametrize("files_written", [1, 2])
def test_a_killed_dataset_build_leaves_the_previous_splits_whole(settings, files_written):
    write_splits(settings, "emotion", {s: pa.table({"text": [f"old {s}"]}) for s in SPLITS})
    killed_after("pyarrow.parquet:write_table", files_written, WRITE_SPLITS)
    assert texts(settings) == [f"old {s}" for s in SPLITS]
    write_splits(settings, "emotion", {s: pa.table({"text": [f"new {s}"]}) for s in SPLITS})
    assert texts(settings) == [f"new {s}" for s in SPLITS]
    assert leftovers(settings.layout.dataset_dir("emotion").parent) == []  # the killed run's staging is gone


# --- token shards and the tokenizer ----------------------------------------------------------------

TEXTS = [f"document number {i} about {w}" for i, w in enumerate(["cats", "rain", "tea", "maps"] * 30)]
DOCUMENTS = [(str(i), text) for i, text in enumerate(TEXTS)]


def tokens(directory: Path) -> dict[str, list[int]]:
    return {split: TokenShard(directory / split).tokens.tolist() for split in ("train", "validation")}


def test_a_killed_token_shard_build_leaves_the_previous_shards_whole(tmp_path):
    tokenizer = RosieTokenizer.train(TEXTS, 300)
    tokenizer.save(tmp_path / "tokenizer")
    out = tmp_path / "tokens" / "pretrain"
    with publish_directory(out) as staging:  # what the pretrain_tokens asset does
        build_text_shards(DOCUMENTS, tokenizer, staging, validation_fraction=0.2)
    before = tokens(out)
    code = f"""
from pathlib import Path
from foundation.atomic import publish_directory
from foundation.hashing import file_sha256
from model.shard_building import build_text_shards
from model.tokenizer import RosieTokenizer
tokenizer = RosieTokenizer.load({str(tmp_path / "tokenizer")!r})
with publish_directory(Path({str(out)!r})) as staging:
    build_text_shards([(str(i), "other") for i in range(50)], tokenizer, staging, validation_fraction=0.5)
"""
    killed_after("model.shards:TokenShardWriter.close", 1, code)  # train published in staging, validation not
    assert tokens(out) == before
    assert leftovers(out.parent) != []  # what the kill left...
    with publish_directory(out) as staging:
        build_text_shards([("a", "tea")], tokenizer, staging, validation_fraction=0.0)
    assert leftovers(out.parent) == []  # ...the next build removes


def test_a_killed_tokenizer_save_leaves_the_previous_tokenizer_whole(tmp_path):
    old, new = RosieTokenizer.train(TEXTS, 300), RosieTokenizer.train(TEXTS[:10], 290)
    old.save(tmp_path / "tokenizer")
    before = {p.name: p.read_bytes() for p in (tmp_path / "tokenizer").iterdir()}
    new_dir = tmp_path / "new"
    new.save(new_dir)
    code = f"""
from model.tokenizer import RosieTokenizer
RosieTokenizer.load({str(new_dir)!r}).save({str(tmp_path / "tokenizer")!r})
"""
    killed_after("pathlib:Path.write_text", 1, code)  # tokenizer.json written, the special-token map not
    assert {p.name: p.read_bytes() for p in (tmp_path / "tokenizer").iterdir()} == before
    assert RosieTokenizer.load(tmp_path / "tokenizer").sha256 == old.sha256


# --- checkpoints -------------------------------------------------------------------------------------

TINY = {"vocab_size": 300, "block_size": 32, "n_layer": 2, "n_head": 2, "n_embd": 32, "memory_every": 2}


@pytest.fixture(scope="module")
def engine_and_run(tmp_path_factory):
    """A real DeepSpeed engine (ZeRO-2, so the optimizer state holds DeepSpeed's own classes) on CPU."""
    root = tmp_path_factory.mktemp("ckpt")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DS_ACCELERATOR", "cpu")
        env.setenv("MASTER_PORT", str(free_port()))
        env.setenv("ROSIE_MODEL_DIR", str(root / "model"))
        env.setenv("ROSIE_ARTIFACTS_DIR", str(root / "artifacts"))
        for name, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"}.items():
            env.setenv(name, value)
        env.setenv("MASTER_ADDR", "127.0.0.1")
        init_distributed()
        settings = Settings.from_env()
        train = dataclasses.replace(TrainConfig.from_settings(settings), zero_stage=2, keep_checkpoints=3)
        config = ModelConfig.from_preset("demo", **TINY)
        run = PhaseRun(settings, train, "base", 0, 1, torch.device("cpu"), None, config, {})

        def engine():
            return build_engine(RosieGPT(config), train, "base", "fp32", 1, "cpu")

        yield engine, run, root / "checkpoints"


def fresh_checkpoints(engine_and_run, name: str) -> tuple[Path, PhaseRun, object]:
    """Steps 1 and 2 saved by a real engine into a folder of this test's own."""
    make_engine, run, root = engine_and_run
    ckpt_dir = root / name
    engine = make_engine()
    assert resume(engine, ckpt_dir, "fingerprint", run) == {}  # nothing yet: a fresh start
    for step in (1, 2):
        save_checkpoint(engine, ckpt_dir, step, [{"step": step}], [], run)
    return ckpt_dir, run, make_engine


class Payload:
    """What an attacker plants: unpickling it runs ``touch marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def plant(file: Path, marker: Path) -> None:
    state = load_weights_only(file)  # the trainer's own safe loader reads the fresh file
    state["client_note"] = Payload(marker)
    torch.save(state, file)


@pytest.mark.parametrize("manifest_rewritten", [False, True])
def test_a_planted_pickle_payload_in_a_checkpoint_never_runs(engine_and_run, tmp_path, manifest_rewritten):
    ckpt_dir, run, make_engine = fresh_checkpoints(engine_and_run, f"planted-{manifest_rewritten}")
    marker = tmp_path / "payload-ran"
    target = ckpt_dir / "step00000002" / "mp_rank_00_model_states.pt"
    plant(target, marker)
    if manifest_rewritten:  # an attacker who can write the folder can rewrite the manifest too
        manifest = ckpt_dir / "step00000002" / "manifest.json"
        record = json.loads(manifest.read_text())
        record["sha256"][target.name] = file_sha256(target)
        manifest.write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="mp_rank_00_model_states.pt") as refused:
        resume(make_engine(), ckpt_dir, "fingerprint", run)
    assert not marker.exists(), "the pickled payload ran"
    assert ("not the file this run wrote" in str(refused.value)) != manifest_rewritten
    assert f"Delete {ckpt_dir}" in str(refused.value)


def test_a_checkpoint_cut_short_is_passed_over_for_the_one_before(engine_and_run):
    ckpt_dir, run, make_engine = fresh_checkpoints(engine_and_run, "cut")
    # A kill in the middle of step 3: DeepSpeed's files half there, no manifest, ``latest`` empty.
    (ckpt_dir / "step00000003").mkdir()
    (ckpt_dir / "step00000003" / "mp_rank_00_model_states.pt").write_bytes(b"PK\x03\x04 half a zip")
    (ckpt_dir / "latest").write_text("")
    assert resumable_tag(ckpt_dir) == "step00000002"
    state = resume(make_engine(), ckpt_dir, "fingerprint", run)
    assert state["step"] == 2 and state["history"] == [{"step": 2}]  # resumed, not wiped


def test_checkpoint_files_hold_only_allow_listed_classes(engine_and_run):
    """Guards the allow-list: every global a real ZeRO-2 checkpoint pickles is a tensor type, a
    container or one of DEEPSPEED_GLOBALS (a new DeepSpeed class would fail here, not at resume)."""
    ckpt_dir, _, _ = fresh_checkpoints(engine_and_run, "globals")
    names = set()
    for file in (ckpt_dir / "step00000002").glob("*.pt"):
        with zipfile.ZipFile(file) as archive:
            data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
        names |= {f"{m}.{n}" for m, n in _globals(data)}
    assert {n for n in names if n.startswith("deepspeed")} <= {
        "deepspeed.runtime.fp16.loss_scaler.LossScaler",
        "deepspeed.runtime.zero.config.ZeroStageEnum",
        "deepspeed.utils.tensor_fragment.fragment_address",
    }


def _globals(data: bytes) -> set[tuple[str, str]]:
    import pickletools

    ops = list(pickletools.genops(data))
    found = set()
    for i, (op, arg, _) in enumerate(ops):
        if op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
        elif op.name == "STACK_GLOBAL":
            found.add((ops[i - 2][1], ops[i - 1][1]))
    return found


def test_pickle_payload_class_is_really_dangerous(tmp_path):
    """The payload above does run under a plain ``pickle.loads`` (so the tests prove a refusal)."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()

