"""Dagster: the token assets, phase 1 launched through Dagster Pipes, and ``dagster job launch -j phase2``."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from dagster import DagsterInstance, PipesSubprocessClient, RunsFilter, materialize

from assets.training import base_model, emotion_tokens, personality_tokens, pretrain_tokens
from foundation.settings import PROJECT_ROOT
from model.weights import manifest_path
from pipelines.resources import CleaningResource, StorageResource
from tests.test_train_support import tiny_overrides, train_tokenizer, write_inputs


@pytest.fixture
def inputs(settings, data_root, monkeypatch):
    """Upstream outputs (corpus, datasets, tokenizer) in contract form, and tiny training settings."""
    monkeypatch.setenv("ROSIE_TRAIN_OVERRIDES", json.dumps(tiny_overrides()))
    train_tokenizer(settings, write_inputs(settings, data_root))
    return settings


def _storage(settings) -> StorageResource:
    return StorageResource(
        data_root=settings.data_root,
        artifacts_dir=str(settings.artifacts_dir),
        model_dir=str(settings.model_dir),
    )


def test_token_assets_and_phase_one_through_pipes(inputs):
    settings = inputs
    result = materialize(
        [pretrain_tokens, personality_tokens, emotion_tokens, base_model],
        resources={
            "storage": _storage(settings),
            "cleaning": CleaningResource(executor="local", workers=2),  # pretrain_tokens: 2 processes
            "training_launcher": PipesSubprocessClient(),
        },
        instance=DagsterInstance.ephemeral(),
    )
    assert result.success
    by_key = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    tokens = by_key["personality_tokens"].materialization.metadata
    assert (
        tokens["records_in"].value
        == tokens["kept"].value + tokens["filtered"].value + tokens["quarantined"].value
    )
    assert tokens["tokens"].value > 0
    model = by_key["base_model"].materialization
    metadata = model.metadata
    assert "data:image/png;base64," in metadata["loss_curve"].value
    assert metadata["tokens_per_s"].value > 0 and 0 < metadata["mfu"].value < 1
    assert metadata["val_perplexity"].value > 1
    assert metadata["train_config"].value["phases"]["base"]["max_steps"] == 6
    manifest = json.loads(manifest_path(settings.layout.model.weights_path("base")).read_text())
    assert model.tags["dagster/data_version"] == manifest["sha256"]
    lineage = manifest["upstream"]
    assert lineage["dagster_run_id"] == result.run_id
    assert set(lineage["upstream_run_ids"]) == {"pretrain_tokens"}, "the run that made its token shards"
    assert manifest["token_shards"]["pretrain/train"]["sources"], "the corpus files' hashes"


def _wait_for_run(instance: DagsterInstance, job: str, timeout_s: float = 600):
    """``dagster job launch`` returns once the run is launched; the run goes on in its own process."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=RunsFilter(job_name=job))
        if runs and runs[0].is_finished:
            return runs[0]
        time.sleep(1)
    raise AssertionError(f"run of {job} did not finish within {timeout_s}s")


@pytest.mark.slow
def test_dagster_job_launch_phase2_from_the_repo_root(inputs, tmp_path, monkeypatch):
    """The README's command, in a subprocess, against a fresh Dagster home. It runs from a
    workspace file beside the repo (same code location, imported via PYTHONPATH): from the repo
    root the CLI takes ``DAGSTER_HOME`` from the repo's ``.env``, and tests never write there."""
    settings = inputs
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    # PWD too: a .env read by the code server expands ${PWD}/dagster_home from the inherited PWD
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT), "PWD": str(tmp_path)}
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text("load_from:\n  - python_module:\n      module_name: pipelines.definitions\n")
    launch = [sys.executable, "-m", "dagster", "job", "launch", "-w", str(workspace)]
    runs = {}
    with DagsterInstance.get() as instance:
        for job in ("phase1", "phase2"):
            cli = subprocess.run(
                [*launch, "-j", job], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
            )
            assert cli.returncode == 0, cli.stderr[-3000:]
            runs[job] = _wait_for_run(instance, job)
            assert runs[job].is_success, f"{job}: {runs[job].status}"
        event = instance.get_latest_materialization_event(personality_tokens.key)
        assert event is not None and event.run_id == runs["phase2"].run_id
    manifest = json.loads(manifest_path(settings.layout.model.weights_path("personality")).read_text())
    assert manifest["phase"] == "personality"
    assert manifest["upstream"]["upstream_run_ids"]["base_model"] == runs["phase1"].run_id
