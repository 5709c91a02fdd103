"""The three phases end to end on a tiny model (a real DeepSpeed engine on CPU, in this process)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import torch
from dagster import DagsterInstance, materialize

from assets.evaluation import REPLY_PROMPTS, model_eval
from foundation.atomic import write_text_atomic
from foundation.settings import Settings
from labeling.baseline import train_and_score
from model.distributed import free_port
from model.gpt import RosieGPT
from model.shards import TokenShard
from model.train import main
from model.train_config import PHASE_WEIGHTS
from model.weights import load_model, manifest_path, read_state_dict
from pipelines.resources import StorageResource
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
        env.setenv("MASTER_PORT", str(free_port()))  # restored afterwards: later subprocesses pick their own
        env.setenv("ROSIE_TRAIN_OVERRIDES", json.dumps(tiny_overrides()))
        settings = Settings.from_env()
        tokenizer = prepare(settings, data_root)
        for phase in ("base", "personality", "emotion"):
            main(["--phase", phase])
        yield settings, tokenizer


def _sha(path) -> str:
    return json.loads(manifest_path(path).read_text())["sha256"]


def test_three_phases_write_weights_with_lineage(trained):
    settings, tokenizer = trained
    config = json.loads(settings.layout.model.config_path.read_text())
    assert {k: config[k] for k in TINY_MODEL} == TINY_MODEL
    assert config["vocab_size"] == tokenizer.vocab_size
    previous = None
    for phase in ("base", "personality", "emotion"):
        path = settings.layout.model.weights_path(PHASE_WEIGHTS[phase])
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
        assert settings.layout.model.loss_curve_path(phase).read_bytes().startswith(b"\x89PNG")
        assert list(settings.layout.model.tensorboard_dir(phase).glob("events.out.tfevents.*")), (
            "TensorBoard log"
        )
        assert set(state) == set(RosieGPT(load_model(settings.model_dir, str(path))[2]).state_dict())
        previous = path
    final = json.loads(manifest_path(settings.layout.model.weights_path("final")).read_text())
    assert 0 <= final["metrics"]["val_emotion_macro_f1"] <= 1
    assert "personality/train" in final["token_shards"], "phase 3 mixes in the personality data"
    # phase 3 fits the head's lexical path on every labelled turn of its train split first
    labelled = TokenShard(settings.layout.tokens_dir("emotion") / "train").emotion_counts(10)
    assert final["emotion_lexicon_turns"] == sum(labelled) > 0
    assert final["emotion_lexicon_iterations"] > 0
    weights = {p: settings.layout.model.weights_path(PHASE_WEIGHTS[p]) for p in ("personality", "emotion")}
    tables = {phase: read_state_dict(path)["emotion_lexicon"] for phase, path in weights.items()}
    assert not tables["personality"].any() and tables["emotion"].abs().sum() > 0


def test_finished_phase_resumes_from_its_last_checkpoint(trained):
    """Re-running a completed phase with the same inputs trains nothing and rewrites the same weights."""
    settings, _ = trained
    path = settings.layout.model.weights_path("personality")
    before = _sha(path)
    latest = (settings.layout.model.checkpoint_dir("personality") / "latest").read_text()
    main(["--phase", "personality"])
    assert _sha(path) == before
    assert (settings.layout.model.checkpoint_dir("personality") / "latest").read_text() == latest


def test_changed_settings_start_the_phase_over(trained, monkeypatch):
    settings, _ = trained
    monkeypatch.setenv("ROSIE_TRAIN_OVERRIDES", json.dumps(tiny_overrides(personality={"max_steps": 4})))
    main(["--phase", "personality"])
    manifest = json.loads(manifest_path(settings.layout.model.weights_path("personality")).read_text())
    assert manifest["metrics"]["steps"] == 4
    assert (
        settings.layout.model.checkpoint_dir("personality") / "latest"
    ).read_text().strip() == "step00000004"


def test_model_eval_reports_test_metrics_beside_the_baseline(trained):
    settings, _ = trained
    splits = {
        split: pq.read_table(settings.layout.split_path("emotion", split)) for split in ("train", "test")
    }
    baseline = train_and_score(splits["train"], splits["test"], max_features=5000)
    write_text_atomic(json.dumps(baseline), settings.layout.baseline_path)
    storage = StorageResource(
        data_root=settings.data_root,
        artifacts_dir=str(settings.artifacts_dir),
        model_dir=str(settings.model_dir),
    )
    result = materialize([model_eval], resources={"storage": storage}, instance=DagsterInstance.ephemeral())
    metadata = result.asset_materializations_for_node("model_eval")[0].metadata
    assert metadata["chat_test_perplexity"].value > 1
    assert 0 <= metadata["emotion_macro_f1"].value <= 1
    gold = [r for r in splits["test"].to_pylist() if r["label_source"] == "gold"]
    assert metadata["emotion_gold_examples"].value == len(gold), "one prediction per gold test row"
    report = json.loads((settings.layout.evaluation_report).read_text())
    comparison = report["emotion_test_gold"]
    # the baseline's figures here are its own predictions, rescored on the rows the head read
    assert comparison["baseline"]["all"]["macro_f1"] == baseline["macro_f1"]
    assert metadata["baseline_macro_f1"].value == baseline["macro_f1"]
    for source in ("goemotions", "dialogue"):
        n = sum(r["source"] == source for r in gold)
        assert comparison["head"][source]["n"] == comparison["baseline"][source]["n"] == n > 0
    assert "| goemotions |" in metadata["emotion_by_source"].value
    replies = report["replies"]
    prompts = pq.read_table(settings.layout.split_path("personality", "test")).num_rows
    assert len(replies) == min(REPLY_PROMPTS, prompts)
    assert all(r["emotion"] and r["user_emotion"] and r["prompt"] for r in replies)
    assert report["well_formed_reply_share"] == sum(not r["problems"] for r in replies) / len(replies)
    assert "| prompt | you | Rosie | her reply | well formed |" in metadata["replies"].value
