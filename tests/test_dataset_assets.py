"""Real Dagster materializations of the dataset assets and their checks."""

from __future__ import annotations

import json

import pytest
from dagster import materialize

from assets import datasets as dataset_assets
from labeling.__main__ import main
from labeling.datasets import evaluation_texts
from labeling.emotions import EMOTIONS
from pipelines.resources import StorageResource


def storage_for(settings) -> StorageResource:
    return StorageResource(
        data_root=settings.data_root,
        artifacts_dir=str(settings.artifacts_dir),
        model_dir=str(settings.model_dir),
    )


@pytest.mark.slow
def test_both_datasets_materialize_with_passing_checks(settings):
    assets = [dataset_assets.emotion_dataset, dataset_assets.personality_dataset]
    with pytest.raises(FileNotFoundError):
        evaluation_texts(settings)
    result = materialize(assets, resources={"storage": storage_for(settings)})
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 6 and all(c.passed for c in evaluations), [
        (c.check_name, c.metadata) for c in evaluations if not c.passed
    ]
    for name, title in (("emotion_dataset", "emotion"), ("personality_dataset", "personality")):
        metadata = result.asset_materializations_for_node(name)[0].metadata
        assert f"# Rosie {title} dataset" in metadata["dataset_card"].value
        json.dumps({k: v.value for k, v in metadata.items()}, default=str)
        assert settings.layout.split_path(title, "test").exists()
    personality = result.asset_materializations_for_node("personality_dataset")[0].metadata
    assert 0 < personality["diversity_distinct_1"].value < personality["diversity_distinct_3"].value
    assert result.asset_materializations_for_node("emotion_dataset")[0].metadata["records_accounted"].value
    texts = evaluation_texts(settings)
    assert len(texts) > 10_000 and "" not in texts
    assert not settings.layout.baseline_path.exists()


@pytest.mark.slow
def test_emotion_baseline_asset_writes_figures_for_model_eval(settings):
    assets = [dataset_assets.emotion_dataset, dataset_assets.emotion_baseline]
    result = materialize(assets, resources={"storage": storage_for(settings)})
    assert result.success
    figures = json.loads(settings.layout.baseline_path.read_text())
    assert set(figures["per_class_f1"]) == set(EMOTIONS)
    assert 0.3 < figures["macro_f1"] < 1.0
    assert figures["macro_f1"] > 3 * figures["majority_class_macro_f1"]
    sources = {"goemotions", "dailydialog", "empatheticdialogues", "isear", "topical_chat"}
    assert set(figures["per_source"]) == {"all", *sources}  # gold test rows come from these
    assert figures["per_source"]["all"]["macro_f1"] == figures["macro_f1"]
    assert sum(figures["per_source"][s]["n"] for s in sources) == figures["n_test"]
    assert len(figures["predictions"]) == figures["n_test"]
    assert set(figures["predictions"].values()) <= set(EMOTIONS)


@pytest.mark.slow
def test_cli_builds_a_dataset_without_dagster(settings, capsys):
    assert main(["personality"]) == 0
    out = capsys.readouterr().out
    assert "ok   personality_minimum_size" in out
    assert (
        (settings.layout.split_path("personality", "train").parent / "CARD.md")
        .read_text()
        .startswith("# Rosie")
    )
