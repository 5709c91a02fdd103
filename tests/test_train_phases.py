"""The three phases end to end on a tiny model (a real DeepSpeed engine on CPU, in this process)."""

from __future__ import annotations

import json

import pytest
import torch

from model.gpt import RosieGPT
from model.train import checkpoint_dir, loss_curve_path, main, weights_path
from model.train_config import OVERRIDES_ENV
from model.weights import load_model, manifest_path
from pipelines.settings import Settings
from tests.test_train_support import TINY_MODEL, prepare, tiny_overrides


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    """All three phases, in order, on the sample data (once for the module; tests run in order)."""
    root = tmp_path_factory.mktemp("phases")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ROSIE_ARTIFACTS_DIR", str(root / "artifacts"))
        env.setenv("ROSIE_MODEL_DIR", str(root / "models" / "rosie_model"))
        for name, value in (
            ("RANK", "0"),
            ("LOCAL_RANK", "0"),
            ("WORLD_SIZE", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
        ):
            env.setenv(name, value)
        env.setenv("DS_ACCELERATOR", "cpu")
        env.setenv(OVERRIDES_ENV, json.dumps(tiny_overrides()))
        settings = Settings.from_env()
        tokenizer = prepare(settings, data_root)
        for phase in ("base", "personality", "emotion"):
            main(["--phase", phase])
        yield settings, tokenizer


def _sha(path) -> str:
    return json.loads(manifest_path(path).read_text())["sha256"]


def test_three_phases_write_weights_with_lineage(trained):
    settings, tokenizer = trained
    config = json.loads((settings.model_dir / "config.json").read_text())
    assert {k: config[k] for k in TINY_MODEL} == TINY_MODEL
    assert config["vocab_size"] == tokenizer.vocab_size
    previous = None
    for phase in ("base", "personality", "emotion"):
        path = weights_path(settings, phase)
        state = torch.load(path, map_location="cpu", weights_only=True)
        manifest = json.loads(manifest_path(path).read_text())
        assert manifest["phase"] == phase
        assert manifest["tokenizer_sha256"] == tokenizer.sha256
        assert manifest["train_config"]["phases"][phase]["max_steps"] == 6
        assert manifest["code_version"]["model_code_sha256"]
        shard = {"base": "pretrain", "personality": "personality", "emotion": "emotion"}[phase]
        assert len(manifest["token_shards"][f"{shard}/train"]["content_sha256"]) == 64
        if previous is None:
            assert manifest["init_weights"] is None
        else:
            assert manifest["init_weights"]["sha256"] == _sha(previous), "each phase starts from the last"
        assert manifest["metrics"]["val_loss"] > 0 and manifest["metrics"]["tokens_per_s"] > 0
        assert 0 < manifest["metrics"]["mfu"] < 1
        assert loss_curve_path(settings, phase).read_bytes().startswith(b"\x89PNG")
        assert list((settings.model_dir / "logs" / phase).glob("events.out.tfevents.*")), "TensorBoard log"
        assert set(state) == set(RosieGPT(load_model(settings.model_dir, str(path))[2]).state_dict())
        previous = path
    final = json.loads(manifest_path(weights_path(settings, "emotion")).read_text())
    assert 0 <= final["metrics"]["val_emotion_macro_f1"] <= 1
    assert "personality/train" in final["token_shards"], "phase 3 mixes in the personality data"


def test_finished_phase_resumes_from_its_last_checkpoint(trained):
    """Re-running a completed phase with the same inputs trains nothing and rewrites the same weights."""
    settings, _ = trained
    path = weights_path(settings, "personality")
    before = _sha(path)
    latest = (checkpoint_dir(settings, "personality") / "latest").read_text()
    main(["--phase", "personality"])
    assert _sha(path) == before
    assert (checkpoint_dir(settings, "personality") / "latest").read_text() == latest


def test_changed_settings_start_the_phase_over(trained, monkeypatch):
    settings, _ = trained
    monkeypatch.setenv(OVERRIDES_ENV, json.dumps(tiny_overrides(personality={"max_steps": 4})))
    main(["--phase", "personality"])
    manifest = json.loads(manifest_path(weights_path(settings, "personality")).read_text())
    assert manifest["metrics"]["steps"] == 4
    assert (checkpoint_dir(settings, "personality") / "latest").read_text().strip() == "step00000004"
